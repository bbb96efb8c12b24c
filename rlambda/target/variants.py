"""Every variant the pins produce: the one walk over VERSIONS.toml and recipes/ that the
committed renders (images/) and the CI build matrix share, so the two never disagree on what
exists."""

from pathlib import Path

from packaging.version import Version

from rlambda.errors import UsageError
from rlambda.pins.platforms import ARCHITECTURES, FAMILIES
from rlambda.pins.versions import Versions
from rlambda.recipes import load_lock, load_recipe, recipe
from rlambda.recipes.recipe import RECIPE_FILE
from rlambda.target.resolve import RecipeTarget, Target, variant


def recipe_targets(pins: Versions, root: Path | None = None) -> dict[str, RecipeTarget]:
    """Each recipe under `root` (default recipes/) with its lock, by recipe name.

    A stale or missing lock, or a lock for an R release VERSIONS.toml does not pin, is an error
    here rather than 30 failed jobs later.
    """
    root = root or recipe.RECIPES_DIR  # read at call time: tests point it at a copy
    found = {}
    for path in sorted(p.parent for p in root.glob(f"*/{RECIPE_FILE}")):
        loaded = load_recipe(path)
        lock = load_lock(path, loaded)
        if lock.r_version not in pins.r:
            raise UsageError(
                f"{lock.path}: locked for R {lock.r_version}, which {pins.path.name} does not"
                f" pin; pin it (python build.py update --r {lock.r_version}) or re-lock"
                f" (python build.py lock {loaded.name})"
            )
        found[loaded.name] = RecipeTarget(loaded, lock)
    return found


def pinned_variants(pins: Versions, root: Path | None = None) -> list[Target]:
    """Base images first (every pinned R release x family x architecture, in version order),
    then every recipe on its lock's R release x family x architecture (but the families its
    recipe.toml's [not-built-on] names)."""
    releases = [pins.r[v] for v in sorted(pins.r, key=Version)]
    targets = [variant(pins, r, f, a) for r in releases for f in FAMILIES for a in ARCHITECTURES]
    for rt in recipe_targets(pins, root).values():
        r = pins.r[rt.lock.r_version]
        targets += [
            variant(pins, r, f, a, rt)
            for f in FAMILIES
            if f not in rt.recipe.not_built_on
            for a in ARCHITECTURES
        ]
    return targets
