"""The build context: exactly the files a build reads, as a reproducible tar, and its hash.

The tar is byte-for-byte the same for the same inputs (sorted names, zero mtimes, fixed owners),
so its sha256 together with the base image's identity is the content hash that names the image:
equal hash, equal image, nothing to rebuild.
"""

import hashlib
import io
import tarfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# What every build copies in, as glob patterns relative to the repository root: the builder's
# helper script and the runtime client (its tests, docs and package metadata stay out).
CONTEXT_FILES = (
    "docker/runtime-libs.sh",
    "runtime/bootstrap",
    "runtime/main.R",
    "runtime/NAMESPACE",  # main.R attaches the exports it lists
    "runtime/R/*.R",
    "runtime/LICENSE",
    "runtime/DESCRIPTION",  # its version and licence, for the SBOM
)


@dataclass(frozen=True)
class BuildContext:
    tar: bytes
    content_hash: str  # sha256 hex over the tar and the base image identity


def make_context(dockerfile: str, files: dict[str, Path], base_identity: str) -> BuildContext:
    """A context holding `Dockerfile` plus `files` (name in the context -> file on disk)."""
    members = {"Dockerfile": dockerfile.encode()}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted({*members, *files}):
            info = tarfile.TarInfo(name)
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            if name in members:
                data = members[name]
                info.size = len(data)
                info.mode = 0o644
                tar.addfile(info, io.BytesIO(data))
            else:
                path = files[name]
                info.size = path.stat().st_size
                info.mode = 0o755 if path.stat().st_mode & 0o111 else 0o644
                with path.open("rb") as f:
                    tar.addfile(info, f)
    data = buf.getvalue()
    digest = hashlib.sha256(data)
    digest.update(b"\0base\0" + base_identity.encode())
    return BuildContext(tar=data, content_hash=digest.hexdigest())


def project_files(include_runtime: bool = True) -> dict[str, Path]:
    """The repository's files a build context holds, by their name in the context. A recipe
    build takes only the builder's script: the runtime client comes with its base image."""
    patterns = [p for p in CONTEXT_FILES if include_runtime or not p.startswith("runtime/")]
    return {
        str(path.relative_to(ROOT)): path
        for pattern in patterns
        for path in sorted(ROOT.glob(pattern))
    }
