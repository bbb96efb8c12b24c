"""Pin a new R release: download it, hash it, write the pin into VERSIONS.toml, re-render.

No sha256 is ever typed by hand. An existing pin is never overwritten: if the mirror now serves
different bytes for a pinned release, that is reported and nothing changes.
"""

import os
import sys
import tempfile
from pathlib import Path

import tomlkit

from rlambda import render, versions
from rlambda.errors import JobError, UsageError
from rlambda.fetch import cache_dir, download, fetch_verified
from rlambda.versions import R_VERSION


def pin_release(
    r_version: str,
    mirror: str | None,
    versions_file: Path = versions.VERSIONS_FILE,
    images_dir: Path = render.IMAGES_DIR,
) -> str:
    """Pin `r_version` and return its sha256."""
    if not R_VERSION.fullmatch(r_version):
        raise UsageError(f"--r {r_version!r}: give an exact release, X.Y.Z")
    pins = versions.load(versions_file)
    mirror_path = f"src/base/R-{r_version.split('.')[0]}/R-{r_version}.tar.gz"
    url = f"{(mirror or pins.cran_mirror).rstrip('/')}/{mirror_path}"
    hint = "\nChoose another mirror with --cran-mirror URL."

    if r_version in pins.r:
        pinned = pins.r[r_version].sha256
        # fetch_verified refuses (and deletes) a download whose hash differs from the pin.
        fetch_verified(url, pinned, mirror_hint=hint)
        print(f"R {r_version} is already pinned and the mirror agrees: {pinned}", file=sys.stderr)
        return pinned

    sha256 = _download_and_hash(url, hint)
    document = tomlkit.parse(versions_file.read_text())
    entry = tomlkit.table()
    entry["url"] = f"{pins.cran_mirror}/{mirror_path}"
    entry["sha256"] = sha256
    document["r"][r_version] = entry
    # Validate the new file the way every build will read it before it replaces the old one.
    tmp = versions_file.with_name(versions_file.name + ".new")
    tmp.write_text(tomlkit.dumps(document))
    try:
        updated = versions.load(tmp)
    except UsageError:
        tmp.unlink()
        raise
    tmp.replace(versions_file)
    render.write_all(updated, images_dir)
    print(f"pinned R {r_version}: sha256 {sha256} (from {url})", file=sys.stderr)
    return sha256


def _download_and_hash(url: str, hint: str) -> str:
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
            raise JobError(f"{e}{hint}") from None
        tmp.replace(store / sha256)
    finally:
        tmp.unlink(missing_ok=True)
    return sha256
