"""Build images: resolve → fetch and verify → render → build → tag.

A base image is R (and the runtime client) on a family's base; a recipe image is a function
and its locked packages on top of a base image.
"""

import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from docker import DockerClient
from rlambda.build import engine, render
from rlambda.build.context import ROOT, BuildContext, make_context, project_files
from rlambda.errors import UsageError
from rlambda.build.fetch import cache_dir, fetch_verified
from rlambda.build.platforms import ARCHITECTURES, check_arch, family
from rlambda.recipes import Recipe, fetch_locked, load_lock, load_recipe, recipe_dir
from rlambda.build.tags import REPOSITORY, content_tag, readable_tag
from rlambda.build.versions import RRelease, Versions

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
    recipe: str | None = None


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
    base_id = engine.base_identity(client, base_ref, ARCHITECTURES[arch])
    files = {r.filename: tarball, **packages, **project_files()}
    context = make_context(dockerfile, files, base_identity=f"{base_ref} {base_id}")
    labels = {
        "org.opencontainers.image.base.name": base_ref,
        # The pinned digest, or the local stand-in's image ID when --base-image replaced it.
        "org.opencontainers.image.base.digest": base.digests[arch]
        if request.base_image is None
        else base_id,
        "io.rlambda.r.version": r.version,
        "io.rlambda.r.source.sha256": r.sha256,
        "io.rlambda.family": fam.name,
    }
    buildargs = {"BASE_IMAGE": base_ref} if request.base_image else {}
    readable = readable_tag(r.version, fam.name, arch)
    return _build_and_tag(client, context, readable, labels, buildargs, arch, request, r.version)


def build_recipe_image(versions: Versions, request: BuildRequest, base: BuildResult) -> BuildResult:
    """A recipe's function and locked packages on top of `base`, which is never rebuilt here."""
    assert request.recipe is not None
    recipe = load_recipe(recipe_dir(request.recipe))
    lock = load_lock(recipe.path, recipe, r_version=base.r_version)
    fam = family(request.family)
    arch = check_arch(request.arch)
    client = engine.connect()

    wanted = {p.name for p in render.recipe_packages(versions, lock)}
    fetched = fetch_locked(lock, cran_mirror=request.cran_mirror)
    files = {f"r-packages/{p.filename}": path for p, path in fetched if p.name in wanted}
    files |= function_files(recipe)
    files |= project_files(include_runtime=False)
    dockerfile = render.render_recipe(versions, recipe, lock, base.r_version, fam.name, arch)
    context = make_context(dockerfile, files, base_identity=base.image_id)
    labels = {
        "org.opencontainers.image.base.name": f"{base.repository}:{base.tags[0]}",
        "org.opencontainers.image.base.digest": base.image_id,
        "io.rlambda.r.version": base.r_version,
        "io.rlambda.family": fam.name,
        "io.rlambda.recipe": recipe.name,
    }
    readable = readable_tag(base.r_version, fam.name, arch, recipe.name)
    buildargs = {"BASE_IMAGE": base.image_id}
    return _build_and_tag(
        client, context, readable, labels, buildargs, arch, request, base.r_version
    )


def function_files(recipe: Recipe) -> dict[str, Path]:
    """The recipe's code, for /var/task: everything but its recipe, lock and events."""
    skip = {"recipe.toml", "lock.toml"}
    return {
        f"function/{path.relative_to(recipe.path).as_posix()}": path
        for path in sorted(recipe.path.rglob("*"))
        if path.is_file()
        and path.name not in skip
        and recipe.events_dir not in path.parents
        and "__pycache__" not in path.parts
    }


def _build_and_tag(
    client: DockerClient,
    context: BuildContext,
    readable: str,
    labels: dict[str, str],
    buildargs: dict[str, str],
    arch: str,
    request: BuildRequest,
    r_version: str,
) -> BuildResult:
    """Build unless an image with this content hash exists; tag only after success."""
    tags = [readable, content_tag(context.content_hash)]
    existing = engine.find_image(client, f"{REPOSITORY}:{tags[1]}")
    if existing and not request.no_cache:
        engine.tag(client, existing, REPOSITORY, tags)
        print(f"==> up to date: {REPOSITORY}:{tags[1]} (nothing changed)", file=sys.stderr)
        return BuildResult(existing, REPOSITORY, tags, r_version, built=False)

    stamp = time.strftime("%Y%m%d-%H%M%S")
    log_path = cache_dir() / "logs" / f"{readable}-{stamp}.log"
    print(f"==> building {REPOSITORY}:{readable} (full log: {log_path})", file=sys.stderr)
    labels = {
        **labels,
        "org.opencontainers.image.revision": git_commit(),
        "io.rlambda.content-hash": context.content_hash,
    }
    image_id = engine.build(
        client,
        context.tar,
        buildargs=buildargs,
        labels=labels,
        platform=ARCHITECTURES[arch],
        log_path=log_path,
        no_cache=request.no_cache,
    )
    engine.tag(client, image_id, REPOSITORY, tags)
    return BuildResult(image_id, REPOSITORY, tags, r_version, built=True)
