"""Recipes: image variants with pinned CRAN packages (recipes/<name>/recipe.toml + lock.toml).

What a build uses:
    recipe = load_recipe(recipe_dir(name))
    lock = load_lock(recipe.path, recipe, r_version=...)     # never resolves; stale -> re-lock
    tarballs = fetch_locked(lock, cran_mirror=...)           # [(LockedPackage, cache path)]
    os_packages = build_packages(lock, recipe, family)       # -dev/-devel names for the builder
and `lock_recipe(recipe_dir, r_version=..., cran_mirror=..., default_mirror=...)` for
`build.py lock`.
"""

from rlambda.recipes.lock import (
    Lock,
    LockedPackage,
    fetch_locked,
    load_lock,
    lock_recipe,
    locked_r_version,
)
from rlambda.recipes.recipe import RECIPES_DIR, Recipe, load_recipe, recipe_dir
from rlambda.recipes.sysreqs import (
    Requirement,
    build_packages,
    build_requirements,
    recipe_requirements,
)

__all__ = [
    "RECIPES_DIR",
    "Lock",
    "LockedPackage",
    "Recipe",
    "Requirement",
    "build_packages",
    "build_requirements",
    "fetch_locked",
    "load_lock",
    "load_recipe",
    "lock_recipe",
    "locked_r_version",
    "recipe_dir",
    "recipe_requirements",
]
