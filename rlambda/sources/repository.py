"""R packages that come from this repository, never from a mirror: lambdaparallel (parallel/).

CRAN does not carry lambdaparallel, and a mirror that does (the local one once did) holds a copy
nobody reviewed. So the resolver takes it from the checkout, and a lock records it with
`path = "parallel"` and the sha256 of the tarball made from it here, which every build makes
again and checks: a change to the package's files makes the lock stale ("re-lock"), it never
builds a package other than the one locked.

The tarball is a source tarball like CRAN's (R CMD INSTALL takes it as it is): one top
directory named after the package, its tests and README left out, and reproducible bytes:
sorted names, owner 0, modes u=rwX,go=rX, a fixed time stamp. The sha256 is of the tar before
compression: gzip's bytes depend on the zlib the Python was built with (zlib-ng differs), the
tar's do not. What is installed is the gzip of those bytes (mtime 0), made by the same code.
"""

import gzip
import hashlib
import io
import secrets
import tarfile
from pathlib import Path

from rlambda.errors import UsageError
from rlambda.sources import dcf

ROOT = Path(__file__).resolve().parents[2]
# Package name -> its directory in this repository, relative to the root (the lock's `path`).
PACKAGES = {"lambdaparallel": "parallel"}
_LEFT_OUT = ("tests", "README.md")
_MTIME = 1767225600  # 2026-01-01T00:00:00Z: the same bytes from every checkout


def directory(name: str) -> Path:
    path = ROOT / PACKAGES[name]
    if not (path / "DESCRIPTION").is_file():
        raise UsageError(
            f"{name} comes from this repository's {PACKAGES[name]}/, which this checkout lacks"
            f" ({path / 'DESCRIPTION'} is missing): run rlambda from a full clone"
        )
    return path


def description(name: str) -> dict[str, str]:
    """The package's DESCRIPTION, as the resolver reads a tarball's."""
    file = directory(name) / "DESCRIPTION"
    try:
        return dcf.parse(file.read_text())[0]
    except (dcf.DcfError, IndexError) as e:
        raise UsageError(f"{file}: {e}") from None


def tar_bytes(name: str) -> bytes:
    """The uncompressed source tarball of `name`, the same bytes from every checkout."""
    source = directory(name)
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for path in [source, *sorted(source.rglob("*"))]:
            relative = path.relative_to(source)
            if relative.parts and relative.parts[0] in _LEFT_OUT:
                continue
            info = tarfile.TarInfo("/".join((name, *relative.parts)))
            info.mtime = _MTIME
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            if path.is_dir():
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                data = path.read_bytes()
                info.size = len(data)
                info.mode = 0o755 if path.stat().st_mode & 0o100 else 0o644
                tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def sha256(name: str) -> str:
    """What a lock records for `name`: the sha256 of its tarball before compression."""
    return hashlib.sha256(tar_bytes(name)).hexdigest()


def write_tarball(name: str, sha256_wanted: str, dest_dir: Path) -> Path:
    """`name`'s .tar.gz in `dest_dir`, after checking the checkout still makes the locked bytes;
    UsageError (re-lock) when its files changed since the lock was made."""
    data = tar_bytes(name)
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha256_wanted:
        raise UsageError(
            f"{name} (from this repository's {PACKAGES[name]}/) is not what the lock recorded:\n"
            f"  locked sha256 {sha256_wanted}\n  now    sha256 {actual}\n"
            "Its files changed since the lock was made: re-lock"
        )
    dest_dir.mkdir(parents=True, exist_ok=True)
    # Written at every use (a few KB): a file left in the cache is never trusted.
    target = dest_dir / f"{actual}.tar.gz"
    part = target.with_name(f".{target.name}.{secrets.token_hex(4)}")
    part.write_bytes(gzip.compress(data, compresslevel=9, mtime=0))
    part.replace(target)
    return target


__all__ = ["PACKAGES", "description", "sha256", "tar_bytes", "write_tarball"]
