"""The resolved target: what one build makes, looked up and checked once, at the CLI's edge.

`resolve` turns what was asked for (`build.py build`'s flags) into a frozen `Target`: the R
release, the family and architecture, the base image and its digest, the mirror, the recipe and
its lock. render, builder, sbom and layer take a Target and never look anything up or check it
again, so every input error is raised here, before a byte is downloaded or a layer built. What
the job does with the image (its test and push settings) is the job's (rlambda/job.py: `Job`).
"""

import re
from dataclasses import dataclass, replace

from rlambda.errors import UsageError
from rlambda.pins.platforms import ARCHITECTURES, Family, check_arch, family
from rlambda.pins.versions import BaseImage, RRelease, Versions
from rlambda.recipes import Lock, Recipe, check_system_requirements, load, load_lock
from rlambda.sources import cran
from rlambda.target.tags import readable_tag

# A Docker image reference: name[:tag][@sha256:digest], nothing a shell could misread.
_IMAGE_REF = re.compile(r"[a-z0-9][a-z0-9._/:-]*(@sha256:[0-9a-f]{64})?")

# A base image is tested through this recipe: base R only, its own events.
SMOKE_RECIPE = "hello"


@dataclass(frozen=True)
class RecipeTarget:
    """A recipe and its lock, checked against the R release it is built on."""

    recipe: Recipe
    lock: Lock

    @property
    def name(self) -> str:
        return self.recipe.name


@dataclass(frozen=True)
class Target:
    pins: Versions
    r: RRelease
    family: Family
    arch: str
    base: BaseImage  # the family's pinned base
    base_ref: str  # what FROM names: the pinned digest, or a local stand-in (--base-image)
    stand_in: bool  # base_ref is a local image given with --base-image
    mirror: str  # the CRAN mirror sources come from, validated, without a trailing slash
    recipe: RecipeTarget | None = None
    no_cache: bool = False

    @property
    def platform(self) -> str:
        """Docker's name for the architecture (linux/amd64, linux/arm64)."""
        return ARCHITECTURES[self.arch]

    @property
    def base_tag(self) -> str:
        """The readable tag of the base R image (no recipe)."""
        return readable_tag(self.r.version, self.family.name, self.arch)

    @property
    def readable_tag(self) -> str:
        return readable_tag(
            self.r.version, self.family.name, self.arch, self.recipe.name if self.recipe else None
        )

    def with_recipe(self, recipe: RecipeTarget | None) -> "Target":
        return replace(self, recipe=recipe)


def variant(
    pins: Versions, r: RRelease, family_name: str, arch: str, recipe: RecipeTarget | None = None
) -> Target:
    """A Target for a combination taken from the pins themselves (render, matrix): the values
    were validated when VERSIONS.toml was loaded."""
    base = pins.bases[family_name]
    return Target(
        pins=pins,
        r=r,
        family=family(family_name),
        arch=arch,
        base=base,
        base_ref=base.ref(arch),
        stand_in=False,
        mirror=pins.cran_mirror,
        recipe=recipe,
    )


def recipe_target(ref: str, r: RRelease) -> RecipeTarget:
    """recipes/<ref>, or the project directory at path `ref`, and its lock, which must be
    current and made for R `r`."""
    recipe = load(ref)
    return RecipeTarget(recipe, load_lock(recipe.path, recipe, r_version=r.version))


def resolve(
    pins: Versions,
    *,
    r_version: str,
    family_name: str,
    arch: str,
    cran_mirror: str | None = None,
    base_image: str | None = None,
    recipe: str | None = None,
    no_cache: bool = False,
) -> Target:
    """Check everything a build job was asked for; raise UsageError for the first bad input."""
    r = pins.resolve_r(r_version)
    fam = family(family_name)
    check_arch(arch)
    if base_image is not None and not _IMAGE_REF.fullmatch(base_image):
        raise UsageError(f"--base-image {base_image!r} is not an image reference")
    mirror = cran.check_mirror(cran_mirror) if cran_mirror else pins.cran_mirror
    wanted = recipe_target(recipe, r) if recipe is not None else None  # "" is refused
    if wanted and fam.name in wanted.recipe.not_built_on:
        raise UsageError(
            f"recipe {wanted.recipe.name} is not built on {fam.name}:"
            f" {wanted.recipe.not_built_on[fam.name]} ({wanted.recipe.file}, [not-built-on])"
        )
    if wanted:
        wanted.lock.check_sources(mirror)  # its sha256 are of one mirror's bytes
        # A system requirement the family cannot install stops the build here, not half an
        # hour into it.
        check_system_requirements(wanted.lock, wanted.recipe, [fam.name])
    base = pins.bases[fam.name]
    return Target(
        pins=pins,
        r=r,
        family=fam,
        arch=arch,
        base=base,
        base_ref=base_image or base.ref(arch),
        stand_in=base_image is not None,
        mirror=mirror,
        recipe=wanted,
        no_cache=no_cache,
    )
