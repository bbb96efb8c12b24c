"""AWS's RIE: the pin and the verified binary, and the emulator settings checked before anything
runs (no Docker; the runs under RIE are in tests/docker/test_aws_rie.py)."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

import build
from rlambda.errors import JobError, UsageError
from rlambda.local.aws_rie.binary import rie_binary
from rlambda.local.events.settings import check_emulator
from rlambda.pins.versions import RiePin, load_rie_pin

# ---- the pin and the verified binary --------------------------------------------------------


def fake_wheel(tmp_path: Path, binary: bytes) -> RiePin:
    wheel = tmp_path / "aws_sam_cli-0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("samcli/local/rapid/aws-lambda-rie-x86_64", binary)
        archive.writestr("samcli/local/rapid/aws-lambda-rie-arm64", b"arm")
    return RiePin(
        version="1.0",
        wheel_url=wheel.as_uri(),
        wheel_sha256=hashlib.sha256(wheel.read_bytes()).hexdigest(),
        binaries={
            "x86_64": hashlib.sha256(binary).hexdigest(),
            "arm64": hashlib.sha256(b"arm").hexdigest(),
        },
    )


def test_the_pin_names_the_wheel_and_both_binaries() -> None:
    pin = load_rie_pin()
    assert pin.wheel_url.startswith("https://files.pythonhosted.org/")
    assert pin.wheel_url.endswith("aws_sam_cli-1.170.0-py3-none-any.whl")
    assert set(pin.binaries) == {"x86_64", "arm64"}


def test_a_bad_pin_names_its_key(tmp_path: Path) -> None:
    path = tmp_path / "VERSIONS.toml"
    path.write_text('[aws_rie]\nversion = "1.34"\nwheel = "https://x/y.whl"\nwheel_sha256 = "no"\n')
    with pytest.raises(UsageError, match=r"aws_rie\.wheel_sha256"):
        load_rie_pin(path)


def test_binary_is_extracted_verified_and_rehashed_on_every_use(tmp_path: Path) -> None:
    pin = fake_wheel(tmp_path, b"#!/bin/sh\necho rie\n")
    cache = tmp_path / "cache"
    path = rie_binary("x86_64", pin=pin, cache=cache)
    assert path.read_bytes() == b"#!/bin/sh\necho rie\n"
    assert path.stat().st_mode & 0o111
    path.write_bytes(b"tampered")  # a changed file is never used: extracted again
    assert rie_binary("x86_64", pin=pin, cache=cache).read_bytes() == b"#!/bin/sh\necho rie\n"


def test_a_binary_that_does_not_match_its_pin_is_refused(tmp_path: Path) -> None:
    pin = fake_wheel(tmp_path, b"real")
    wrong = RiePin(
        pin.version, pin.wheel_url, pin.wheel_sha256, {**pin.binaries, "x86_64": "0" * 64}
    )
    cache = tmp_path / "cache"
    with pytest.raises(JobError, match="pins 0000"):
        rie_binary("x86_64", pin=wrong, cache=cache)
    assert not (cache / "sha256" / ("0" * 64)).exists()
    assert not list((cache / "sha256").glob(".extract-*"))


def test_emulator_settings_are_checked_before_anything_runs(capsys) -> None:
    with pytest.raises(UsageError, match="add --emulator aws"):
        check_emulator("ours", 2)
    with pytest.raises(UsageError, match="1 to 1600"):
        check_emulator("aws", 0)
    assert build.main(["--r", "4.5.0", "--emulator", "aws"]) == 2
    assert "add --test" in capsys.readouterr().err
    status = build.main(["test", "--image", "x", "--events", ".", "--max-concurrency", "2"])
    assert status == 2
