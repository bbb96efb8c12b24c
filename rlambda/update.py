"""Pin from a mirror: download, hash, write the pin into VERSIONS.toml, re-render images/.

No sha256 is ever typed by hand. An existing pin is never overwritten: if the mirror now serves
different bytes for a pinned file, that is reported and nothing changes.
"""

import gzip
import os
import sys
import tempfile
import urllib.request
from pathlib import Path

import tomlkit

from rlambda import render, versions
from rlambda.errors import JobError, UsageError
from rlambda.fetch import cache_dir, download, fetch_verified
from rlambda.versions import R_PACKAGE, R_VERSION

HINT = "\nChoose another mirror with --cran-mirror URL."


def pin_release(
    r_version: str,
    mirror: str | None,
    versions_file: Path = versions.VERSIONS_FILE,
    images_dir: Path | None = render.IMAGES_DIR,
) -> str:
    """Pin R `r_version` and return its sha256."""
    if not R_VERSION.fullmatch(r_version):
        raise UsageError(f"--r {r_version!r}: give an exact release, X.Y.Z")
    pins = versions.load(versions_file)
    mirror_path = f"src/base/R-{r_version.split('.')[0]}/R-{r_version}.tar.gz"
    url = f"{(mirror or pins.cran_mirror).rstrip('/')}/{mirror_path}"
    if r_version in pins.r:
        return _confirm(f"R {r_version}", url, pins.r[r_version].sha256)
    sha256 = _download_and_hash(url)
    entry = {"url": f"{pins.cran_mirror}/{mirror_path}", "sha256": sha256}
    _write_pin(versions_file, images_dir, ("r", r_version), entry)
    print(f"pinned R {r_version}: sha256 {sha256} (from {url})", file=sys.stderr)
    return sha256


def pin_package(
    name: str,
    mirror: str | None,
    versions_file: Path = versions.VERSIONS_FILE,
    images_dir: Path | None = render.IMAGES_DIR,
) -> str:
    """Pin the mirror's current release of the runtime's R package `name`; return its sha256."""
    if not R_PACKAGE.fullmatch(name):
        raise UsageError(f"--package {name!r} is not an R package name")
    pins = versions.load(versions_file)
    base = (mirror or pins.cran_mirror).rstrip("/")
    version = _current_version(base, name)
    mirror_path = f"src/contrib/{name}_{version}.tar.gz"
    url = f"{base}/{mirror_path}"
    pinned = pins.packages.get(name)
    if pinned and pinned.version == version:
        return _confirm(f"{name} {version}", url, pinned.sha256)
    sha256 = _download_and_hash(url)
    entry = {"version": version, "url": f"{pins.cran_mirror}/{mirror_path}", "sha256": sha256}
    _write_pin(versions_file, images_dir, ("packages", name), entry)
    print(f"pinned {name} {version}: sha256 {sha256} (from {url})", file=sys.stderr)
    return sha256


def _current_version(mirror: str, name: str) -> str:
    """The version of `name` in the mirror's src/contrib/PACKAGES.gz index."""
    url = f"{mirror}/src/contrib/PACKAGES.gz"
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            text = gzip.decompress(response.read()).decode("utf-8", "replace")
    except (OSError, ValueError) as e:
        raise JobError(f"cannot read {url}: {getattr(e, 'reason', e)}{HINT}") from None
    # DCF records: blank-line separated "Field: value" lines.
    for record in text.split("\n\n"):
        fields = dict(
            line.split(": ", 1) for line in record.splitlines() if ": " in line and line[0] != " "
        )
        if fields.get("Package") == name:
            return fields["Version"]
    raise UsageError(f"{name} is not in {url}")


def _confirm(what: str, url: str, pinned: str) -> str:
    # fetch_verified refuses (and deletes) a download whose hash differs from the pin.
    fetch_verified(url, pinned, mirror_hint=HINT)
    print(f"{what} is already pinned and the mirror agrees: {pinned}", file=sys.stderr)
    return pinned


def _download_and_hash(url: str) -> str:
    """Download into the cache under the hash of what arrived; the bytes are what we pin."""
    store = cache_dir() / "sha256"
    store.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=store, prefix=".download-")
    os.close(fd)
    tmp = Path(name)
    try:
        try:
            sha256 = download(url, tmp, lambda done, total: None)
        except JobError as e:
            raise JobError(f"{e}{HINT}") from None
        tmp.replace(store / sha256)
    finally:
        tmp.unlink(missing_ok=True)
    return sha256


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
