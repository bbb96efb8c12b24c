"""Render Dockerfile.base into the committed Dockerfiles under images/."""

import hashlib
import shutil
from pathlib import Path

import jinja2

from rlambda.build.platforms import ARCHITECTURES, FAMILIES, build_packages, check_arch, family
from rlambda.recipes import (
    RECIPES_DIR,
    Lock,
    LockedPackage,
    Recipe,
    load_lock,
    load_recipe,
    recipe_dir,
)
from rlambda.recipes import build_packages as recipe_build_packages
from rlambda.build.tags import readable_tag
from rlambda.build.versions import RRelease, Versions

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "Dockerfile.base"
RECIPE_TEMPLATE = ROOT / "Dockerfile.recipe"
IMAGES_DIR = ROOT / "images"
BANNER = "# Generated from Dockerfile."


def dockerfile_path(
    r_version: str, family_name: str, arch: str, images_dir: Path = IMAGES_DIR
) -> Path:
    return images_dir / readable_tag(r_version, family_name, arch) / "Dockerfile"


def _template(path: Path) -> jinja2.Template:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(path.parent),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,  # a Dockerfile, not HTML; every value was validated on load
    )
    return env.get_template(path.name)


def render(versions: Versions, r: RRelease, family_name: str, arch: str) -> str:
    return _template(TEMPLATE).render(
        r=r,
        family=family(family_name),
        arch=arch,
        base=versions.bases[family_name],
        build_packages=build_packages(family_name),
        packages=list(versions.packages.values()),
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


def render_recipe(
    versions: Versions, recipe: Recipe, lock: Lock, r_version: str, family_name: str, arch: str
) -> str:
    packages = recipe_packages(versions, lock)
    # Compilers and R's build headers, plus what the packages' system requirements map to.
    toolchain = {*build_packages(family_name), *recipe_build_packages(lock, recipe, family_name)}
    return _template(RECIPE_TEMPLATE).render(
        recipe=recipe,
        r_version=r_version,
        family=family(family_name),
        arch=arch,
        base_tag=readable_tag(r_version, family_name, arch),
        packages=packages,
        build_packages=sorted(toolchain) if packages else [],
        lock_hash=hashlib.sha256(lock.path.read_bytes()).hexdigest(),
    )


def recipe_dockerfile_path(
    recipe: str, r_version: str, family_name: str, arch: str, images_dir: Path = IMAGES_DIR
) -> Path:
    return images_dir / readable_tag(r_version, family_name, arch) / recipe / "Dockerfile"


def write_one(versions: Versions, r_version: str, family_name: str, arch: str) -> Path:
    """Render one pinned combination into images/ and return the file's path."""
    r = versions.resolve_r(r_version)
    family(family_name)
    check_arch(arch)
    path = dockerfile_path(r.version, family_name, arch)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(versions, r, family_name, arch))
    return path


def render_all(versions: Versions, images_dir: Path = IMAGES_DIR) -> dict[Path, str]:
    """Every pinned R version x family x architecture, and every recipe on its lock's R
    version x family x architecture, keyed by its path under images/."""
    rendered = {
        dockerfile_path(r.version, fam, arch, images_dir): render(versions, r, fam, arch)
        for r in versions.r.values()
        for fam in FAMILIES
        for arch in ARCHITECTURES
    }
    for name in sorted(p.name for p in RECIPES_DIR.iterdir() if (p / "recipe.toml").is_file()):
        recipe = load_recipe(recipe_dir(name))
        lock = load_lock(recipe.path, recipe)
        for fam in FAMILIES:
            for arch in ARCHITECTURES:
                path = recipe_dockerfile_path(name, lock.r_version, fam, arch, images_dir)
                rendered[path] = render_recipe(versions, recipe, lock, lock.r_version, fam, arch)
    return rendered


def write_all(versions: Versions, images_dir: Path = IMAGES_DIR) -> list[Path]:
    """Write every render and delete generated directories no pin produces any more."""
    rendered = render_all(versions, images_dir)
    for path, text in rendered.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for stale in stale_dirs(set(rendered), images_dir):
        shutil.rmtree(stale)
    return sorted(rendered)


def stale_dirs(expected: set[Path], images_dir: Path = IMAGES_DIR) -> list[Path]:
    """Directories under images/ holding a generated Dockerfile that no pin renders any more."""
    if not images_dir.is_dir():
        return []
    return sorted(
        path.parent
        for path in [*images_dir.glob("*/Dockerfile"), *images_dir.glob("*/*/Dockerfile")]
        if path not in expected and path.read_text().startswith(BANNER)
    )
