"""Deterministic zip files for Lambda layers, and unpacking them the way Lambda does.

The same tree gives the same bytes: entries sorted by path, every timestamp 1980-01-01 (the
earliest a zip can hold), modes reduced to 0755/0644, no owner, no extra fields. Python's
zipfile writes exactly what it is given, so nothing else varies but zlib's output, which is
fixed for a given zlib version.
"""

import hashlib
import json
import os
import stat
import zipfile
from collections.abc import Iterable
from pathlib import Path

FIXED_TIME = (1980, 1, 1, 0, 0, 0)
COMPATIBLE_RUNTIME = "provided.al2023"  # the OS-only runtime a layer's manifest names
MANIFEST_PREFIX = "rlambda-layer"  # rlambda-layer-<kind>.json at the layer's root


def _mode(path: Path) -> int:
    return 0o755 if path.stat().st_mode & 0o111 else 0o644


def write(root: Path, files: Iterable[Path], dest: Path, manifest: dict) -> str:
    """Zip `files` (paths under `root`) and the manifest into `dest`; returns its sha256.

    Written to a temporary name first: a failure leaves no zip behind."""
    manifest_name = f"{MANIFEST_PREFIX}-{manifest['kind']}.json"
    entries = sorted({p.relative_to(root).as_posix(): p for p in files}.items())
    tmp = dest.with_name(dest.name + ".partial")
    try:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
            items = [*entries, (manifest_name, None)]
            for name, path in sorted(items, key=lambda item: item[0]):
                info = zipfile.ZipInfo(name, FIXED_TIME)
                info.create_system = 3  # Unix: the mode bits below are honoured on unzip
                info.compress_type = zipfile.ZIP_DEFLATED
                if path is None:
                    data = json.dumps(manifest, indent=2, sort_keys=True).encode() + b"\n"
                    mode = 0o644
                else:
                    data = path.read_bytes()
                    mode = _mode(path)
                info.external_attr = (stat.S_IFREG | mode) << 16
                zf.writestr(info, data)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return sha256(dest)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def extract(zip_path: Path, dest: Path) -> None:
    """Unpack as Lambda unpacks a layer into /opt: paths and Unix modes kept (zipfile's own
    extractall drops the modes, so bootstrap would not be executable)."""
    with zipfile.ZipFile(zip_path) as zf:
        for info in zf.infolist():
            target = dest / info.filename
            if not target.resolve().is_relative_to(dest.resolve()):
                raise ValueError(f"{zip_path}: entry {info.filename!r} leaves the layer")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(zf.read(info))
            target.chmod((info.external_attr >> 16) & 0o777 or 0o644)


def unzipped_size(zip_path: Path) -> int:
    with zipfile.ZipFile(zip_path) as zf:
        return sum(info.file_size for info in zf.infolist())


def manifest(zip_path: Path) -> dict | None:
    """The rlambda manifest of a layer zip, or None if it holds none."""
    with zipfile.ZipFile(zip_path) as zf:
        for name in zf.namelist():
            if name.startswith(MANIFEST_PREFIX) and name.endswith(".json") and "/" not in name:
                return json.loads(zf.read(name))
    return None
