"""Render Dockerfile.base into the committed Dockerfiles under images/."""

import shutil
from pathlib import Path

import jinja2

from rlambda.platforms import ARCHITECTURES, FAMILIES, build_packages, check_arch, family
from rlambda.tags import readable_tag
from rlambda.versions import RRelease, Versions

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "Dockerfile.base"
IMAGES_DIR = ROOT / "images"
BANNER = "# Generated from Dockerfile.base"


def dockerfile_path(
    r_version: str, family_name: str, arch: str, images_dir: Path = IMAGES_DIR
) -> Path:
    return images_dir / readable_tag(r_version, family_name, arch) / "Dockerfile"


def render(versions: Versions, r: RRelease, family_name: str, arch: str) -> str:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE.parent),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # a Dockerfile, not HTML; every value was validated on load
    )
    return env.get_template(TEMPLATE.name).render(
        r=r,
        family=family(family_name),
        arch=arch,
        base=versions.bases[family_name],
        build_packages=build_packages(family_name),
        packages=list(versions.packages.values()),
    )


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
    """Every pinned R version x family x architecture, keyed by its path under images/."""
    return {
        dockerfile_path(r.version, fam, arch, images_dir): render(versions, r, fam, arch)
        for r in versions.r.values()
        for fam in FAMILIES
        for arch in ARCHITECTURES
    }


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
        d
        for d in images_dir.iterdir()
        if (d / "Dockerfile").is_file()
        and d / "Dockerfile" not in expected
        and (d / "Dockerfile").read_text().startswith(BANNER)
    )
