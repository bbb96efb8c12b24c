"""VERSIONS.toml: loading, validation that names the key at fault, and resolving --r."""

import shutil
import tomllib
from pathlib import Path

import pytest
from packaging.version import Version

from rlambda.errors import UsageError
from rlambda.pins import versions
from rlambda.pins.platforms import ARCHITECTURES, FAMILIES

from ..conftest import REFERENCE


@pytest.fixture(scope="module")
def pins() -> versions.Versions:
    return versions.load()


def test_every_family_and_arch_is_pinned_by_digest(pins):
    assert set(pins.bases) == set(FAMILIES)
    for base in pins.bases.values():
        for arch in ARCHITECTURES:
            assert base.ref(arch).startswith(f"{base.image}@sha256:")


def test_default_mirror_is_cloud_r_project(pins):
    assert pins.cran_mirror == "https://cloud.r-project.org"
    assert "4.0.2" in pins.r  # the release our first users asked for


def test_pins_match_published_cran_checksums(pins):
    """Each pin equals the published sha256 of CRAN's tarball, so a real download verifies."""
    published = tomllib.loads((REFERENCE / "r-tarballs.toml").read_text())["versions"]
    for version, release in pins.r.items():
        assert release.sha256 == published[version]["sha256"], version
        assert release.mirror_path == f"src/base/R-4/R-{version}.tar.gz"


def test_exact_version(pins):
    assert pins.resolve_r("4.0.2").version == "4.0.2"


def test_prefix_resolves_to_newest_pinned_patch(pins):
    newest_40 = max((v for v in pins.r if v.startswith("4.0.")), key=lambda v: v.split("."))
    assert pins.resolve_r("4.0").version == newest_40 == "4.0.5"
    assert pins.resolve_r("4").version == max(pins.r, key=lambda v: tuple(map(int, v.split("."))))


@pytest.mark.parametrize("requested", ["4.0.3", "3.6", "9"])
def test_unknown_version_lists_the_pinned_ones(pins, requested):
    with pytest.raises(UsageError, match=r"not pinned.*pinned: 4\.0\.2, 4\.0\.4"):
        pins.resolve_r(requested)


@pytest.mark.parametrize("requested", ["latest", "4.0rc1", "4!4.0", "4.0.2.1", "v4.0", "4.0.2 "])
def test_non_release_is_refused(pins, requested):
    # packaging reads 4.0rc1 and 4!4.0 as versions whose release part is 4.0: they must not
    # resolve to the newest 4.0.x.
    with pytest.raises(UsageError, match=r"is not an R release \(X\.Y\.Z"):
        pins.resolve_r(requested)


def _broken(tmp_path: Path, old: str, new: str) -> Path:
    path = tmp_path / "VERSIONS.toml"
    shutil.copy(versions.VERSIONS_FILE, path)
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            'sha256 = "d3bceab364da',
            'sha256 = "D3BCEAB364DA',
            r'key r\."4\.0\.2"\.sha256: expected a string matching',
        ),
        (
            'sha256 = "d3bceab364da',
            "sha256 = 12 #",
            r'key r\."4\.0\.2"\.sha256: expected a string, found an integer',
        ),
        (  # a mistyped key beside the right one is not ignored
            'sha256 = "d3bceab364da',
            'sha265 = "x"\nsha256 = "d3bceab364da',
            r'key r\."4\.0\.2"\.sha265: expected one of url, sha256 \(did you mean .sha256.\?\)',
        ),
        (
            '[r."4.0.2"]\nurl',
            '[r."4.0.2"]\nurls',
            r'key r\."4\.0\.2"\.url: expected a string, found nothing',
        ),
        (
            "https://cloud.r-project.org/src/base/R-4/R-4.0.2.tar.gz",
            "https://example.org/R-4.0.2.tar.gz",
            r'key r\."4\.0\.2"\.url: expected a URL under cran\.mirror',
        ),
        (
            '[r."4.0.2"]',
            '[r."4.0.2; rm -rf /"]',
            r'key r\."4\.0\.2; rm -rf /": expected an R version',
        ),
        (
            'x86_64 = "sha256:362e',
            'x86_64 = "362e',
            r"key bases\.debian\.x86_64: expected a string matching",
        ),
        ("[bases.al2]", "[bases.al3]", r"key bases\.al3: expected one of the known families"),
        ('mirror = "https://cloud.r-project.org"', 'mirror = "ftp://x"', r"key cran\.mirror"),
        ('image = "debian"', 'image = "debian\\nRUN rm -rf /"', r"key bases\.debian\.image"),
        (
            'image = "debian"',
            'image = "debian"\nimgae = "x"',
            r"key bases\.debian\.imgae: .*unknown",
        ),
        ("[bases.al2]", "[mirrors]\n[bases.al2]", r"key mirrors: .*unknown key"),
    ],
)
def test_malformed_file_names_file_and_key(tmp_path, old, new, message):
    path = _broken(tmp_path, old, new)
    with pytest.raises(UsageError, match=message) as raised:
        versions.load(path)
    assert str(path) in str(raised.value)


def test_invalid_toml_names_the_file(tmp_path):
    path = tmp_path / "VERSIONS.toml"
    path.write_text("[r\n")
    with pytest.raises(UsageError, match=rf"{path}: not valid TOML"):
        versions.load(path)


def test_newest_is_the_highest_pinned_release() -> None:
    pins = versions.load()
    newest = pins.newest()
    assert all(Version(v) <= Version(newest.version) for v in pins.r)
    assert newest.version == pins.pinned_list().split(", ")[-1]


@pytest.mark.parametrize("requested", ["\u0664.\u0660.\u0662", "\u0664.\u0665", "4.5.\uff10"])
def test_only_ascii_digits_name_an_r_release(requested: str) -> None:
    """Python's \\d matches other scripts' digits: --r with them is a usage error, not a crash."""
    with pytest.raises(UsageError, match="is not an R release"):
        versions.load().resolve_r(requested)
