"""Build images for a resolved Target: fetch and verify → render → build → tag.

A base image is R (and the runtime client) on a family's base; a recipe image is a function
and its locked packages on top of a base image.
"""

import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from docker import DockerClient
from rlambda.build import engine, render, sbom
from rlambda.build.context import ROOT, BuildContext, make_context, project_files
from rlambda.build.function_code import describe, function_files
from rlambda.recipes import fetch_locked
from rlambda.recipes.system_sources import SystemSource
from rlambda.sources.fetch import cache_dir, fetch_verified, public_url
from rlambda.target import Target
from rlambda.target.tags import REPOSITORY, content_tag


@dataclass(frozen=True)
class BuildResult:
    image_id: str
    repository: str
    readable_tag: str  # r-<version>[-<recipe>]-<family>-<arch>
    content_tag: str  # content-<hash>: names exactly this image's inputs
    r_version: str
    built: bool  # False when an image with the same content hash already existed
    content_hash: str = ""  # the full sha256 the content tag is cut from
    sbom_path: Path | None = None  # the SBOM written beside the build log (None when reused)
    log_path: Path | None = None  # the engine's whole output (None when reused)

    @property
    def tags(self) -> list[str]:
        return [self.readable_tag, self.content_tag]

    @property
    def ref(self) -> str:
        """The content tag's reference: the image itself, whatever else moves."""
        return f"{self.repository}:{self.content_tag}"


def fetch_source(target: Target) -> Path:
    r = target.r
    url = f"{target.mirror}/{r.mirror_path}"
    print(f"==> R {r.version} source: {public_url(url)}", file=sys.stderr)
    return fetch_verified(url, r.sha256, mirror_hint=_mirror_hint(target))


def fetch_packages(target: Target) -> dict[str, Path]:
    """The runtime client's R packages, verified, by their name in the build context."""
    files = {}
    for package in target.pins.packages.values():
        urls = package.urls(target.mirror)
        print(f"==> {package.name} {package.version}: {public_url(urls[0])}", file=sys.stderr)
        files[f"r-packages/{package.filename}"] = fetch_verified(
            urls, package.sha256, mirror_hint=_mirror_hint(target)
        )
    return files


def fetch_system_sources(sources: Iterable[SystemSource]) -> dict[str, Path]:
    """A recipe's [system-sources] tarballs for one family, verified, by their context name."""
    files = {}
    for source in sources:
        print(f"==> {source.name} {source.version} source: {source.url}", file=sys.stderr)
        where = f"recipe.toml's [system-sources.{source.family}.{source.name}]"
        files[source.context_name] = fetch_verified(
            list(source.urls),
            source.sha256,
            mirror_hint=f"\nThe URLs are {where}: give one that serves the pinned file.",
            mismatch_advice=f"The URL ({where}) serves another file than the pinned one: find"
            " out why before pinning its sha256 (a release re-rolled, or a changed server).",
        )
    return files


def _mirror_hint(target: Target) -> str:
    return (
        "\nThe mirror did not answer; choose another with --cran-mirror URL"
        f" (now: {public_url(target.mirror)})."
    )


def git_commit() -> str:
    result = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True
    )
    return result.stdout.strip() if result.returncode == 0 else "unknown"


@dataclass(frozen=True)
class Prepared:
    """An image's build context and settings, made before anything is built: its content hash
    is known, so a push can ask ECR whether these inputs were pushed already."""

    context: BuildContext
    readable: str
    labels: dict[str, str]
    buildargs: dict[str, str]
    sbom_inputs: sbom.SbomInputs
    packages: int = 0  # how many R packages the build installs (its progress lines say n/N)

    @property
    def content_hash(self) -> str:
        return self.context.content_hash


def prepare_base(target: Target, client: DockerClient) -> Prepared:
    """R and the runtime client on the target's base. The target was checked when it was
    resolved; the base image is found (or pulled) before anything is downloaded."""
    r, fam, arch = target.r, target.family, target.arch
    if fam.deprecated:
        print(f"==> warning: family {fam.name} is deprecated: {fam.deprecated}", file=sys.stderr)
    base_id = engine.base_identity(client, target.base_ref, target.platform)
    tarball = fetch_source(target)
    packages = fetch_packages(target)
    dockerfile = render.render(target.with_recipe(None))
    files = {r.filename: tarball, **packages, **project_files()}
    identity = f"{target.base_ref} {base_id} {sbom.GENERATOR}"
    context = make_context(dockerfile, files, base_identity=identity)
    labels = {
        "org.opencontainers.image.base.name": target.base_ref,
        # The pinned digest, or the local stand-in's image ID when --base-image replaced it.
        "org.opencontainers.image.base.digest": base_id
        if target.stand_in
        else target.base.digests[arch],
        "io.rlambda.r.version": r.version,
        "io.rlambda.r.source.sha256": r.sha256,
        "io.rlambda.family": fam.name,
    }
    # The OS base by its own labels too: recipe images inherit these, their base.* name ours.
    labels["io.rlambda.os-base.name"] = labels["org.opencontainers.image.base.name"]
    labels["io.rlambda.os-base.digest"] = labels["org.opencontainers.image.base.digest"]
    buildargs = {"BASE_IMAGE": target.base_ref} if target.stand_in else {}
    inputs = sbom.inputs(target.with_recipe(None))
    return Prepared(context, target.base_tag, labels, buildargs, inputs, len(target.pins.packages))


def prepare_recipe(target: Target, base_content_hash: str) -> Prepared:
    """The target's recipe (its function and locked packages) on a base image named by its
    content hash. The hash, not the base's image ID, goes into the recipe's content hash: the
    classic builder's IDs change on every fresh build (they carry timestamps), inputs do not.
    The base's ID is filled in at build time (BASE_IMAGE)."""
    assert target.recipe is not None
    recipe, lock = target.recipe.recipe, target.recipe.lock
    code = function_files(recipe)  # refuses a symlink leaving the recipe: before downloading
    print(describe(code), file=sys.stderr)
    wanted = {p.name for p in render.recipe_packages(target.pins, lock)}
    dockerfile = render.render_recipe(target)  # checks the names it installs: before downloading
    fetched = fetch_locked(lock, cran_mirror=target.mirror)
    files = {f"r-packages/{p.filename}": path for p, path in fetched if p.name in wanted}
    if wanted:
        files |= fetch_system_sources(recipe.system_sources.get(target.family.name, ()))
    files |= code
    files |= project_files(include_runtime=False)
    identity = f"content {base_content_hash} {sbom.GENERATOR}"
    context = make_context(dockerfile, files, base_identity=identity)
    labels = {
        "org.opencontainers.image.base.name": f"{REPOSITORY}:{target.base_tag}",
        "io.rlambda.r.version": target.r.version,
        "io.rlambda.family": target.family.name,
        "io.rlambda.recipe": recipe.name,
    }
    return Prepared(context, target.readable_tag, labels, {}, sbom.inputs(target), len(wanted))


def build_base_image(target: Target, client: DockerClient) -> BuildResult:
    return build_prepared(client, prepare_base(target, client), target)


def build_recipe_image(
    target: Target, base: BuildResult, client: DockerClient, prepared: Prepared | None = None
) -> BuildResult:
    """The target's recipe on top of `base`, which is never rebuilt here: its packages compile
    on the base's r-only stage. `prepared`: its inputs, when the caller made them already."""
    prepared = prepared or prepare_recipe(target, base.content_hash)
    r_only = r_only_image(client, target, base)
    return build_prepared(client, prepared, target, base, r_only)


# Dockerfile.base's stage holding R without the runtime client. A recipe's packages compile on
# it, so that a new runtime client (a different base image) finds them in Docker's layer cache:
# plumber-api's 19 packages took 21 min to compile on a loaded machine.
R_ONLY_STAGE = "r-only"


def r_only_tag(base_content_tag: str) -> str:
    return f"{base_content_tag}-{R_ONLY_STAGE}"


def r_only_image(client: DockerClient, target: Target, base: BuildResult) -> str:
    """The r-only stage of `base`, tagged when the base was built; built again (from the
    layer cache, as a rule) for a base built before that tag existed."""
    found = engine.find_image(client, f"{REPOSITORY}:{r_only_tag(base.content_tag)}")
    if found:
        return found
    prepared = prepare_base(target.with_recipe(None), client)
    return build_r_only(client, prepared, target, base.content_tag)


def build_r_only(
    client: DockerClient, prepared: Prepared, target: Target, base_content_tag: str
) -> str:
    log_path = cache_dir() / "logs" / f"{prepared.readable}-{R_ONLY_STAGE}.log"
    image_id = engine.build(
        client,
        prepared.context.tar,
        buildargs=prepared.buildargs,
        labels={},
        platform=target.platform,
        log_path=log_path,
        stage=R_ONLY_STAGE,
    )
    engine.tag(client, image_id, REPOSITORY, [r_only_tag(base_content_tag)])
    return image_id


def build_prepared(
    client: DockerClient,
    prepared: Prepared,
    target: Target,
    base: BuildResult | None = None,
    r_only: str | None = None,
) -> BuildResult:
    """Build unless an image with this content hash exists; tag only after success. A recipe
    image is built FROM `base`, its packages on `r_only` (the base's r-only stage)."""
    content = content_tag(prepared.content_hash)
    readable = prepared.readable
    tags = [readable, content]
    r_version = target.r.version
    existing = engine.find_image(client, f"{REPOSITORY}:{content}")
    # An image from before SBOMs is built again: every layer comes from the cache, and the
    # SBOM layer is added (seconds).
    if existing and not target.no_cache and sbom.carries_sbom(client, existing):
        engine.tag(client, existing, REPOSITORY, tags)
        print(f"==> up to date: {REPOSITORY}:{content} (nothing changed)", file=sys.stderr)
        return BuildResult(
            existing, REPOSITORY, readable, content, r_version, False, prepared.content_hash
        )

    stamp = time.strftime("%Y%m%d-%H%M%S")
    log_path = cache_dir() / "logs" / f"{readable}-{stamp}.log"
    print(f"==> building {REPOSITORY}:{readable} (full log: {log_path})", file=sys.stderr)
    labels = {
        **prepared.labels,
        "org.opencontainers.image.revision": git_commit(),
        "io.rlambda.content-hash": prepared.content_hash,
    }
    buildargs = dict(prepared.buildargs)
    if base is not None:
        labels["org.opencontainers.image.base.digest"] = base.image_id
        buildargs["BASE_IMAGE"] = base.image_id
        if r_only is not None:
            buildargs["R_IMAGE"] = r_only
    image_id = engine.build(
        client,
        prepared.context.tar,
        buildargs=buildargs,
        labels=labels,
        platform=target.platform,
        log_path=log_path,
        no_cache=target.no_cache,
        packages=prepared.packages,
    )
    sbom_path = log_path.with_suffix(".cdx.json")
    image_id = sbom.attach(
        client,
        image_id,
        prepared.sbom_inputs,
        image_name=f"{REPOSITORY}:{readable}",
        platform=target.platform,
        written_to=sbom_path,
    )
    print(f"==> SBOM (CycloneDX 1.5): {sbom_path}", file=sys.stderr)
    if base is None:
        # Every layer is in the cache now; the tag keeps the stage when the cache is pruned.
        build_r_only(client, prepared, target, content)
    engine.tag(client, image_id, REPOSITORY, tags)
    return BuildResult(
        image_id,
        REPOSITORY,
        readable,
        content,
        r_version,
        True,
        prepared.content_hash,
        sbom_path,
        log_path,
    )
