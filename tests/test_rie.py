"""AWS's RIE from the pinned aws-sam-cli wheel on PyPI, verified (rlambda/local/rie.py)."""

import shutil

import pytest

from rlambda.build import versions
from rlambda.build.fetch import sha256_file
from rlambda.errors import JobError, UsageError
from rlambda.local.rie import rie_binary, rie_pin


@pytest.fixture
def pins_copy(tmp_path):
    path = tmp_path / "VERSIONS.toml"
    shutil.copy(versions.VERSIONS_FILE, path)
    return path


def test_binary_is_fetched_verified_and_cached(cache):
    path = rie_binary("x86_64")
    assert path == cache / "sha256" / rie_pin()["x86_64"]
    assert sha256_file(path) == rie_pin()["x86_64"]
    assert path.read_bytes()[:4] == b"\x7fELF" and path.stat().st_mode & 0o111
    assert rie_binary("x86_64") == path  # a cache hit: nothing downloaded again
    assert [p.name for p in (cache / "sha256").iterdir()] == [path.name]


def test_a_wrong_pin_keeps_nothing(cache, pins_copy):
    text = pins_copy.read_text().replace(rie_pin()["x86_64"], "0" * 64)
    pins_copy.write_text(text)
    with pytest.raises(JobError, match=r"checksum mismatch for samcli/local/rapid/aws-lambda-rie"):
        rie_binary("x86_64", pins_copy)
    assert not any((cache / "sha256").iterdir())


def test_a_malformed_pin_is_a_usage_error(pins_copy):
    pins_copy.write_text(pins_copy.read_text().replace('pip = "aws-sam-cli==', 'pip = "other=='))
    with pytest.raises(UsageError, match=r"key rie\.pip"):
        rie_pin(pins_copy)
    with pytest.raises(UsageError, match="unknown architecture"):
        rie_binary("armv7")
