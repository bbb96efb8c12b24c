"""AWS's RIE binary, pinned and verified.

AWS publishes RIE inside the aws-sam-cli wheel on PyPI
(samcli/local/rapid/aws-lambda-rie-{x86_64,arm64}). VERSIONS.toml's [aws_rie] pins the wheel's
URL and sha256 and each binary's sha256 (rlambda.pins.versions.RiePin); the wheel goes through
the verified download cache (rlambda.sources.fetch), the binary is extracted next to it under
its own hash and hashed again on every use, so a changed file is never run.
"""

from __future__ import annotations

import secrets
import zipfile
from pathlib import Path

from rlambda.errors import JobError, UsageError
from rlambda.pins.versions import RIE_ARCHES, RiePin, load_rie_pin
from rlambda.sources.fetch import cache_dir, fetch_verified, sha256_file


def rie_binary(
    arch: str = "x86_64", *, pin: RiePin | None = None, cache: Path | None = None
) -> Path:
    """The verified RIE binary for `arch`, downloaded (the wheel) and extracted if needed.

    Hashed on every call: a cached file that no longer matches its pin is deleted, and
    extracted again from the (verified) wheel.
    """
    if arch not in RIE_ARCHES:
        raise UsageError(f"AWS's RIE exists for {', '.join(RIE_ARCHES)}, not {arch!r}")
    pin = pin or load_rie_pin()
    expected = pin.binaries[arch]
    store = (cache or cache_dir()) / "sha256"
    target = store / expected
    if target.is_file():
        if sha256_file(target) == expected:
            return target
        target.unlink()
    wheel = fetch_verified(
        pin.wheel_url,
        pin.wheel_sha256,
        cache=cache,
        mirror_hint=" (AWS's RIE comes from the aws-sam-cli wheel on PyPI)",
    )
    store.mkdir(parents=True, exist_ok=True)
    tmp = store / f".extract-{secrets.token_hex(8)}"
    try:
        with zipfile.ZipFile(wheel) as archive, archive.open(pin.member(arch)) as src:
            tmp.write_bytes(src.read())
        actual = sha256_file(tmp)
        if actual != expected:
            raise JobError(
                f"{pin.member(arch)} in {wheel.name} has sha256 {actual}, but VERSIONS.toml "
                f"pins {expected}: fix the pin in [aws_rie] (or the wheel it names)"
            )
        tmp.chmod(0o755)
        tmp.replace(target)
    except KeyError:
        raise JobError(f"the pinned aws-sam-cli wheel has no {pin.member(arch)}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return target
