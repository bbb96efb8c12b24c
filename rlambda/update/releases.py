"""Pinning one R release or runtime R package from a mirror, and writing VERSIONS.toml.

No sha256 is ever typed by hand: a pin is the hash of the bytes the mirror served, checked
whole (fetch.download), against CRAN's published sha256 where reference/ has the release, and
over https unless asked. An existing pin is never overwritten.
"""

import sys
import tomllib
from collections.abc import Collection
from pathlib import Path

import tomlkit
from packaging.version import Version

from rlambda.build import render
from rlambda.errors import JobError, UsageError
from rlambda.pins import versions
from rlambda.pins.versions import R_VERSION
from rlambda.sources import cran
from rlambda.sources.dcf import PACKAGE_NAME
from rlambda.sources.fetch import cache_dir, fetch_verified

HINT = "\nChoose another mirror with --cran-mirror URL."


# CRAN's published sha256 of R's tarballs, collected from independent public build recipes: a
# new pin must agree with it where it has the release (reference/README.md says how it was made).
PUBLISHED_R = Path(__file__).resolve().parents[2] / "reference" / "r-tarballs.toml"


def pin_release(
    r_version: str,
    mirror: str | None,
    versions_file: Path = versions.VERSIONS_FILE,
    images_dir: Path | None = render.IMAGES_DIR,
    *,
    allow_http: bool = False,
) -> str:
    """Pin R `r_version` and return its sha256."""
    if not R_VERSION.fullmatch(r_version):
        raise UsageError(f"--r {r_version!r}: give an exact release, X.Y.Z")
    pins = versions.load(versions_file)
    mirror_path = cran.r_source_path(r_version)
    url = f"{cran.check_mirror(mirror) if mirror else pins.cran_mirror}/{mirror_path}"
    if r_version in pins.r:
        return _confirm(f"R {r_version}", url, pins.r[r_version].sha256)
    _check_scheme(url, allow_http)
    sha256 = _download_and_hash(url)
    _check_published(r_version, url, sha256)
    entry = {"url": f"{pins.cran_mirror}/{mirror_path}", "sha256": sha256}
    _write_pin(versions_file, images_dir, ("r", r_version), entry)
    print(f"pinned R {r_version}: sha256 {sha256} (from {url})", file=sys.stderr)
    return sha256


def pin_package(
    name: str,
    mirror: str | None,
    versions_file: Path = versions.VERSIONS_FILE,
    images_dir: Path | None = render.IMAGES_DIR,
    *,
    allow_http: bool = False,
) -> str:
    """Pin the mirror's current release of the runtime's R package `name`; return its sha256."""
    if not PACKAGE_NAME.fullmatch(name):
        raise UsageError(f"--package {name!r} is not an R package name")
    pins = versions.load(versions_file)
    base = cran.check_mirror(mirror) if mirror else pins.cran_mirror
    version = _current_version(base, name)
    mirror_path = cran.package_path(name, version)
    url = f"{base}/{mirror_path}"
    pinned = pins.packages.get(name)
    if pinned and pinned.version == version:
        return _confirm(f"{name} {version}", url, pinned.sha256)
    _check_scheme(url, allow_http)
    sha256 = _download_and_hash(url)
    entry = {"version": version, "url": f"{pins.cran_mirror}/{mirror_path}", "sha256": sha256}
    _write_pin(versions_file, images_dir, ("packages", name), entry)
    print(f"pinned {name} {version}: sha256 {sha256} (from {url})", file=sys.stderr)
    return sha256


def _current_version(mirror: str, name: str) -> str:
    """The version of `name` in the mirror's PACKAGES index."""
    try:
        return str(cran.Mirror(mirror).current(name).version)
    except JobError as e:
        raise JobError(f"{e}{HINT}") from None


def _confirm(what: str, url: str, pinned: str) -> str:
    # fetch_verified refuses (and deletes) a download whose hash differs from the pin.
    fetch_verified(url, pinned, mirror_hint=HINT)
    print(f"{what} is already pinned and the mirror agrees: {pinned}", file=sys.stderr)
    return pinned


def _check_scheme(url: str, allow_http: bool) -> None:
    """A new pin vouches for bytes from then on: over plain http anyone on the path chooses them."""
    if url.startswith("http://") and not allow_http:
        raise UsageError(
            f"{url}: a new pin over plain http:// could be altered in transit, and the pin would"
            " then vouch for those bytes. Use an https:// mirror, or pass --allow-http for a"
            " mirror you trust (a local one)."
        )


def _check_published(r_version: str, url: str, sha256: str) -> None:
    """Refuse a tarball whose hash differs from CRAN's published one, and drop the download."""
    published = tomllib.loads(PUBLISHED_R.read_text())["versions"].get(r_version)
    if published is None or published["sha256"] == sha256:
        return
    (cache_dir() / "sha256" / sha256).unlink(missing_ok=True)
    raise JobError(
        f"R {r_version} from {url} is not CRAN's tarball:\n"
        f"  published sha256 {published['sha256']} ({PUBLISHED_R.name})\n"
        f"  got       sha256 {sha256}\n"
        f"Nothing was pinned and the download was deleted.{HINT}"
    )


def _download_and_hash(url: str) -> str:
    """Download into the cache under the hash of what arrived; the bytes are what we pin."""
    try:
        return cran.download_to_cache(url)[1]
    except JobError as e:
        raise JobError(f"{e}{HINT}") from None


def _write_pin(
    versions_file: Path, images_dir: Path | None, key: tuple[str, str], entry: dict[str, str]
) -> None:
    """Add or replace one pin, validating the new file before it replaces the old one."""
    document = tomlkit.parse(versions_file.read_text())
    table = tomlkit.table()
    table.update(entry)
    document[key[0]][key[1]] = table
    replace_versions_file(versions_file, document, images_dir)


def replace_versions_file(
    versions_file: Path, document: tomlkit.TOMLDocument, images_dir: Path | None
) -> versions.Versions:
    """Write an edited VERSIONS.toml: validated as every build reads it before it replaces the
    old file (a bad edit leaves the old one untouched), then images/ re-rendered."""
    tmp = versions_file.with_name(versions_file.name + ".new")
    tmp.write_text(tomlkit.dumps(document))
    try:
        updated = versions.load(tmp)
    except UsageError:
        tmp.unlink()
        raise
    tmp.replace(versions_file)
    if images_dir is not None:
        render.write_all(updated, images_dir)
    return updated


def new_r_releases(mirror: str, pinned: Collection[str] | None = None) -> list[str]:
    """Releases on `mirror` newer than the newest of `pinned` (default: VERSIONS.toml's)."""
    if pinned is None:
        pinned = list(versions.load().r)
    if not pinned:
        raise UsageError("no pinned R release to compare the mirror with")
    newest = max(Version(v) for v in pinned)
    mirror = mirror.rstrip("/")
    found: list[str] = []
    for major in (newest.major, newest.major + 1):
        releases = cran.r_releases(mirror, major)
        if releases is None:
            if major == newest.major:
                raise JobError(
                    f"{mirror}/src/base/R-{major}/: not found; is {mirror} a CRAN mirror?"
                    " (--cran-mirror)"
                )
            continue  # no R-(major+1)/ yet: the usual case
        found += [v for v in releases if Version(v) > newest]
    return sorted(set(found), key=Version)
