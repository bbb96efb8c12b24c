"""Render Dockerfile.base and Dockerfile.recipe for a Target, and every pinned Target into the
committed Dockerfiles under images/."""

import functools
import hashlib
import shutil
from pathlib import Path

import jinja2

from rlambda.pins import package_db
from rlambda.pins.package_db import check_names
from rlambda.pins.platforms import runtime_packages, toolchain_packages
from rlambda.pins.versions import Versions
from rlambda.recipes import (
    Lock,
    LockedPackage,
    recipe_requirements,
)
from rlambda.recipes.data_files import data_packages, recipe_data_rules
from rlambda.recipes.system_sources import PREFIX as SYSTEM_SOURCES_PREFIX
from rlambda.target import Target
from rlambda.target.tags import readable_tag
from rlambda.target.variants import pinned_variants

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "Dockerfile.base"
RECIPE_TEMPLATE = ROOT / "Dockerfile.recipe"
IMAGES_DIR = ROOT / "images"
BANNER = "# Generated from Dockerfile."


def dockerfile_path(
    r_version: str, family_name: str, arch: str, images_dir: Path | None = None
) -> Path:
    return (images_dir or IMAGES_DIR) / readable_tag(r_version, family_name, arch) / "Dockerfile"


@functools.cache
def _environment(directory: Path) -> jinja2.Environment:
    """One environment per template directory: it keeps each template compiled (compiling
    Dockerfile.base took most of a render, 66 of them for `render_all`) and compiles it again
    when the file changes (jinja2's auto_reload compares the file's mtime)."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(directory),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,  # a Dockerfile, not HTML; every value was validated on load
    )


def _template(path: Path) -> jinja2.Template:
    return _environment(path.parent).get_template(path.name)


def render(target: Target) -> str:
    """Dockerfile.base for the target's R release, family and architecture."""
    family_name = target.family.name
    check_names(family_name, toolchain_packages(family_name), "the family table (BUILD_PACKAGES)")
    check_names(family_name, runtime_packages(family_name), "the family table (RUNTIME_PACKAGES)")
    return _template(TEMPLATE).render(
        r=target.r,
        family=target.family,
        arch=target.arch,
        base=target.base,
        build_packages=toolchain_packages(target.family.name),
        runtime_packages=runtime_packages(target.family.name),
        packages=list(target.pins.packages.values()),
    )


def recipe_packages(versions: Versions, lock: Lock) -> list[LockedPackage]:
    """The lock's packages a recipe image installs: all but those its base image already
    carries byte for byte (the runtime client's own, pinned in VERSIONS.toml)."""
    return [
        p
        for p in lock.packages
        if not (
            p.name in versions.packages
            and versions.packages[p.name].version == p.version
            and versions.packages[p.name].sha256 == p.sha256
        )
    ]


def render_recipe(target: Target) -> str:
    """Dockerfile.recipe for the target's recipe on its base R image."""
    assert target.recipe is not None
    recipe, lock = target.recipe.recipe, target.recipe.lock
    family_name = target.family.name
    packages = recipe_packages(target.pins, lock)
    # Compilers and R's build headers, plus what the packages' system requirements map to.
    requirements = recipe_requirements(lock, recipe, family_name)
    toolchain = {*toolchain_packages(family_name), *(r.os_package for r in requirements)}
    # What the final stage installs beside ldd's finds: the files the libraries open at run time.
    data_rules = recipe_data_rules(lock) if packages else []
    extra = data_packages(data_rules, family_name)
    check_names(family_name, extra, "rlambda/recipes/data/runtime-data.toml")
    # SPAL is enabled where a package only SPAL has is installed, and only there.
    db = package_db.load()
    spal_packages = [
        name for name in sorted({*toolchain, *extra}) if db.repo(family_name, name) == "spal"
    ]
    spal = bool(packages and spal_packages and target.family.enable_spal)
    return _template(RECIPE_TEMPLATE).render(
        recipe=recipe,
        r_version=target.r.version,
        family=target.family,
        arch=target.arch,
        base_tag=target.base_tag,
        packages=packages,
        build_packages=sorted(toolchain) if packages else [],
        requirements=requirements if packages else [],
        lock_hash=hashlib.sha256(lock.path.read_bytes()).hexdigest(),
        system_sources=recipe.system_sources.get(family_name, ()) if packages else (),
        system_sources_prefix=SYSTEM_SOURCES_PREFIX,
        spal=spal,
        spal_packages=spal_packages,
        data_rules=data_rules,
        data_packages=extra,
        data_checks=[
            f"{{ found {' '.join(choices)} || {{ echo 'data rule {rule.name}"
            f" (rlambda/recipes/data/runtime-data.toml) names {' or '.join(choices)}, which the"
            " final stage does not have' >&2; exit 1; }; }"
            for rule in data_rules
            for choices in rule.files
        ],
    )


def recipe_dockerfile_path(
    recipe: str, r_version: str, family_name: str, arch: str, images_dir: Path | None = None
) -> Path:
    return dockerfile_path(r_version, family_name, arch, images_dir).parent / recipe / "Dockerfile"


def write_one(target: Target) -> Path:
    """Render the target's base Dockerfile into images/ and return the file's path."""
    path = dockerfile_path(target.r.version, target.family.name, target.arch)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(target))
    return path


def render_all(versions: Versions, images_dir: Path | None = None) -> dict[Path, str]:
    """Every pinned variant (rlambda.target.variants), keyed by its path under images/."""
    rendered = {}
    for target in pinned_variants(versions):
        r, family_name, arch = target.r.version, target.family.name, target.arch
        if target.recipe is None:
            rendered[dockerfile_path(r, family_name, arch, images_dir)] = render(target)
        else:
            path = recipe_dockerfile_path(target.recipe.name, r, family_name, arch, images_dir)
            rendered[path] = render_recipe(target)
    return rendered


def write_all(versions: Versions, images_dir: Path | None = None) -> list[Path]:
    """Write every render and delete generated directories no pin produces any more."""
    images_dir = images_dir or IMAGES_DIR
    rendered = render_all(versions, images_dir)
    for path, text in rendered.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for stale in stale_dirs(set(rendered), images_dir):
        shutil.rmtree(stale)
    return sorted(rendered)


def stale_dirs(expected: set[Path], images_dir: Path | None = None) -> list[Path]:
    """Directories under images/ holding a generated Dockerfile that no pin renders any more."""
    images_dir = images_dir or IMAGES_DIR
    if not images_dir.is_dir():
        return []
    return sorted(
        path.parent
        for path in [*images_dir.glob("*/Dockerfile"), *images_dir.glob("*/*/Dockerfile")]
        if path not in expected and path.read_text().startswith(BANNER)
    )
