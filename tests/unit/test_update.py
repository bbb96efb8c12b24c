"""`build.py update`: pins come from the bytes a mirror serves, never from a typed hash."""

import pytest
import tomlkit

from rlambda.errors import JobError, UsageError
from rlambda.pins import versions
from rlambda.update import pin_release

REAL_450 = versions.load().r["4.5.0"].sha256


@pytest.fixture
def versions_file(tmp_path):
    """A copy of VERSIONS.toml without the 4.5.0 pin."""
    path = tmp_path / "VERSIONS.toml"
    document = tomlkit.parse(versions.VERSIONS_FILE.read_text())
    del document["r"]["4.5.0"]
    path.write_text(tomlkit.dumps(document))
    return path


def test_pins_a_new_release_from_the_mirror(versions_file, tmp_path, cache, local_mirror):
    images = tmp_path / "images"
    assert pin_release("4.5.0", local_mirror, versions_file, images) == REAL_450
    pinned = versions.load(versions_file).r["4.5.0"]
    assert pinned.sha256 == REAL_450  # Debian's orig tarball is CRAN's, byte for byte
    assert pinned.url == "https://cloud.r-project.org/src/base/R-4/R-4.5.0.tar.gz"
    assert (images / "r-4.5.0-debian-x86_64" / "Dockerfile").is_file()
    assert (cache / "sha256" / REAL_450).is_file()


def test_existing_pin_that_agrees_is_kept(versions_file, tmp_path, cache, local_mirror):
    before = versions_file.read_text()
    pin_release("4.0.4", local_mirror, versions_file, tmp_path / "images")
    assert versions_file.read_text() == before


def test_existing_pin_is_never_overwritten(versions_file, tmp_path, cache, local_mirror):
    """The local mirror's R-4.2.2.tar.gz is Debian's patched snapshot, not CRAN's 4.2.2."""
    before = versions_file.read_text()
    with pytest.raises(JobError, match=r"(?s)checksum mismatch.*expected sha256 .* \(pinned\)"):
        pin_release("4.2.2", local_mirror, versions_file, tmp_path / "images")
    assert versions_file.read_text() == before
    assert not (tmp_path / "images").exists()


def test_release_missing_from_mirror(versions_file, tmp_path, cache, local_mirror):
    before = versions_file.read_text()
    with pytest.raises(JobError, match=r"(?s)R-4\.9\.9\.tar\.gz: HTTP 404.*--cran-mirror"):
        pin_release("4.9.9", local_mirror, versions_file, tmp_path / "images")
    assert versions_file.read_text() == before


@pytest.mark.parametrize("bad", ["4.5", "4.5.0; rm -rf /", "latest"])
def test_needs_an_exact_release(versions_file, bad):
    with pytest.raises(UsageError, match=r"X\.Y\.Z"):
        pin_release(bad, None, versions_file)
