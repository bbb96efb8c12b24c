"""Image names and tags, as pure functions of a build's inputs.

Three kinds of tag reach a registry (see `plan_tags`; the policy is in the README, "Tags"):
- fixed tags name one image forever: the content tag (one set of inputs) and the dated tag (one
  scheduled run). A fixed tag that already names another image is a conflict, never overwritten.
- the readable tag (`r-4.5.0-debian-x86_64`) names the newest push of that variant: it moves
  when the content changes (a new base digest from a pin update), where the repository lets it.
- moving tags follow the newest release of a line: `r-4.2`, `r-4`, `latest` (with the variant's
  suffix, and bare for the default variant). They only exist where the repository lets tags move.
"""

import datetime
import re
from dataclasses import dataclass

from packaging.version import Version

from rlambda.pins.platforms import ARCHITECTURES, DEFAULT_FAMILY, FAMILIES
from rlambda.recipes.recipe import check_recipe_name
from rlambda.sources.rversion import R_RELEASE

# The local repository every image is tagged into; registry.py maps it to ECR.
REPOSITORY = "r-lambda"

# The variant whose moving tags may also go bare (`latest`, `r-4.2`): the one a user gets
# without asking for a family, an architecture or a recipe.
DEFAULT_ARCH = "x86_64"

_READABLE = re.compile(
    rf"r-(?P<version>{R_RELEASE.pattern})(?:-(?P<recipe>.+?))?"
    rf"-(?P<family>{'|'.join(FAMILIES)})-(?P<arch>{'|'.join(ARCHITECTURES)})"
)


def check_recipe(recipe: str | None) -> str | None:
    """A recipe name that may go into a tag (the recipes' one rule), or None."""
    return None if recipe is None else check_recipe_name(recipe)


def variant_suffix(family_name: str, arch: str, recipe: str | None = None) -> str:
    """`-debian-x86_64`, or `-geo-debian-x86_64` for the recipe `geo`."""
    return f"{'-' + recipe if recipe else ''}-{family_name}-{arch}"


def readable_tag(r_version: str, family_name: str, arch: str, recipe: str | None = None) -> str:
    """The tag people read and the directory under images/: r-4.5.0-debian-x86_64."""
    return f"r-{r_version}{variant_suffix(family_name, arch, recipe)}"


def content_tag(content_hash: str) -> str:
    """The tag naming exactly one set of inputs (the build context and the base image)."""
    return f"content-{content_hash[:16]}"


def dated_tag(
    r_version: str, family_name: str, arch: str, date: datetime.date, recipe: str | None = None
) -> str:
    """A scheduled rebuild's tag: r-4.2.2-debian-x86_64-20261121 (fixed, one per day)."""
    return f"{readable_tag(r_version, family_name, arch, recipe)}-{date:%Y%m%d}"


def moving_tags(
    r_version: str, family_name: str, arch: str, recipe: str | None = None
) -> list[str]:
    """Tags that follow the newest release: minor line, major line, latest.

    Every variant gets suffixed ones (`r-4.2-debian-x86_64`); only the default variant (no
    recipe, the default family, x86_64) also gets the bare `r-4.2`, `r-4`, `latest`, so two
    variants never fight over one name.
    """
    v = Version(r_version)
    lines = [f"r-{v.major}.{v.minor}", f"r-{v.major}", "latest"]
    suffix = variant_suffix(family_name, arch, recipe)
    tags = [line + suffix for line in lines]
    if recipe is None and family_name == DEFAULT_FAMILY and arch == DEFAULT_ARCH:
        tags += lines
    return tags


@dataclass(frozen=True)
class TagPlan:
    fixed: tuple[str, ...]  # content tag first: it is the one pushed, the others point at it
    readable: str  # follows the newest content of the variant
    moving: tuple[str, ...]

    @property
    def content(self) -> str:
        return self.fixed[0]


def plan_tags(
    r_version: str,
    family_name: str,
    arch: str,
    content_hash: str,
    *,
    recipe: str | None = None,
    date: datetime.date | None = None,
    moving: bool = False,
) -> TagPlan:
    """Which tags one push puts in the registry."""
    check_recipe(recipe)
    fixed = [content_tag(content_hash)]
    if date is not None:
        fixed.append(dated_tag(r_version, family_name, arch, date, recipe))
    moves = moving_tags(r_version, family_name, arch, recipe) if moving else []
    return TagPlan(tuple(fixed), readable_tag(r_version, family_name, arch, recipe), tuple(moves))


def moves_forward(current_version: str | None, new_version: str) -> bool:
    """Whether a moving tag now on `current_version` may move to `new_version`.

    A rebuild of the same release moves it (a scheduled rebuild picks up base-image fixes); an
    older release never takes it back. An image without a version label is replaced.
    """
    if current_version is None:
        return True
    return Version(new_version) >= Version(current_version)


@dataclass(frozen=True)
class Variant:
    r_version: str
    family: str
    arch: str
    recipe: str | None


def parse_readable_tag(tag: str) -> Variant | None:
    """The inverse of `readable_tag`, or None for any other tag."""
    match = _READABLE.fullmatch(tag)
    if match is None:
        return None
    return Variant(match["version"], match["family"], match["arch"], match["recipe"])
