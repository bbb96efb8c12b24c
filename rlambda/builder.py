"""Build one base R image: resolve → fetch and verify → render → build → tag."""

import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from rlambda import engine, render
from rlambda.context import ROOT, make_context, project_files
from rlambda.errors import UsageError
from rlambda.fetch import cache_dir, fetch_verified
from rlambda.platforms import ARCHITECTURES, check_arch, family
from rlambda.tags import REPOSITORY, content_tag, readable_tag
from rlambda.versions import RRelease, Versions

_MIRROR = re.compile(r"(https?|file)://\S+")
# A Docker image reference: name[:tag][@sha256:digest], nothing a shell could misread.
_IMAGE_REF = re.compile(r"[a-z0-9][a-z0-9._/:-]*(@sha256:[0-9a-f]{64})?")


@dataclass(frozen=True)
class BuildRequest:
    r_version: str
    family: str
    arch: str
    cran_mirror: str | None = None
    base_image: str | None = None  # a local stand-in for the pinned base
    no_cache: bool = False  # rebuild every layer even if this content was built before


@dataclass(frozen=True)
class BuildResult:
    image_id: str
    repository: str
    tags: list[str]
    r_version: str
    built: bool  # False when an image with the same content hash already existed


def source_url(r: RRelease, mirror: str | None) -> str:
    if mirror is None:
        return r.url
    if not _MIRROR.fullmatch(mirror):
        raise UsageError(f"--cran-mirror {mirror!r}: expected an http://, https:// or file:// URL")
    return f"{mirror.rstrip('/')}/{r.mirror_path}"


def fetch_source(r: RRelease, versions: Versions, mirror: str | None) -> Path:
    url = source_url(r, mirror)
    print(f"==> R {r.version} source: {url}", file=sys.stderr)
    return fetch_verified(url, r.sha256, mirror_hint=_mirror_hint(versions, mirror))


def fetch_packages(versions: Versions, mirror: str | None) -> dict[str, Path]:
    """The runtime client's R packages, verified, by their name in the build context."""
    files = {}
    for package in versions.packages.values():
        urls = package.urls((mirror or versions.cran_mirror).rstrip("/"))
        print(f"==> {package.name} {package.version}: {urls[0]}", file=sys.stderr)
        files[f"r-packages/{package.filename}"] = fetch_verified(
            urls, package.sha256, mirror_hint=_mirror_hint(versions, mirror)
        )
    return files


def _mirror_hint(versions: Versions, mirror: str | None) -> str:
    return (
        "\nThe mirror did not answer; choose another with --cran-mirror URL"
        f" (now: {mirror or versions.cran_mirror})."
    )


def git_commit() -> str:
    result = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True
    )
    return result.stdout.strip() if result.returncode == 0 else "unknown"


def build_base_image(versions: Versions, request: BuildRequest) -> BuildResult:
    # Every input is checked before anything is downloaded or built.
    r = versions.resolve_r(request.r_version)
    fam = family(request.family)
    arch = check_arch(request.arch)
    if request.base_image is not None and not _IMAGE_REF.fullmatch(request.base_image):
        raise UsageError(f"--base-image {request.base_image!r} is not an image reference")
    source_url(r, request.cran_mirror)
    client = engine.connect()

    tarball = fetch_source(r, versions, request.cran_mirror)
    packages = fetch_packages(versions, request.cran_mirror)
    dockerfile = render.render(versions, r, fam.name, arch)
    base = versions.bases[fam.name]
    base_ref = request.base_image or base.ref(arch)
    platform = ARCHITECTURES[arch]
    base_id = engine.base_identity(client, base_ref, platform)
    files = {r.filename: tarball, **packages, **project_files()}
    context = make_context(dockerfile, files, base_identity=f"{base_ref} {base_id}")
    tags = [readable_tag(r.version, fam.name, arch), content_tag(context.content_hash)]

    existing = engine.find_image(client, f"{REPOSITORY}:{tags[1]}")
    if existing and not request.no_cache:
        engine.tag(client, existing, REPOSITORY, tags)
        print(f"==> up to date: {REPOSITORY}:{tags[1]} (nothing changed)", file=sys.stderr)
        return BuildResult(existing, REPOSITORY, tags, r.version, built=False)

    stamp = time.strftime("%Y%m%d-%H%M%S")
    log_path = cache_dir() / "logs" / f"{tags[0]}-{stamp}.log"
    print(f"==> building {REPOSITORY}:{tags[0]} (full log: {log_path})", file=sys.stderr)
    labels = {
        "org.opencontainers.image.revision": git_commit(),
        "org.opencontainers.image.base.name": base_ref,
        # The pinned digest, or the local stand-in's image ID when --base-image replaced it.
        "org.opencontainers.image.base.digest": base.digests[arch]
        if request.base_image is None
        else base_id,
        "io.rlambda.r.version": r.version,
        "io.rlambda.r.source.sha256": r.sha256,
        "io.rlambda.content-hash": context.content_hash,
    }
    buildargs = {"BASE_IMAGE": base_ref} if request.base_image else {}
    image_id = engine.build(
        client,
        context.tar,
        buildargs=buildargs,
        labels=labels,
        platform=platform,
        log_path=log_path,
        no_cache=request.no_cache,
    )
    engine.tag(client, image_id, REPOSITORY, tags)
    return BuildResult(image_id, REPOSITORY, tags, r.version, built=True)
