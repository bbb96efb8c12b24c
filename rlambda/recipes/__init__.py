"""Recipes: image variants with pinned CRAN packages (recipes/<name>/recipe.toml + lock.toml),
or a user's project directory given by path (its recipe.toml, or its renv.lock or DESCRIPTION).

What a build uses:
    recipe = load(name_or_path)                              # locate() + load_recipe()
    lock = load_lock(recipe.path, recipe, r_version=...)     # never resolves; stale -> re-lock
    tarballs = fetch_locked(lock, cran_mirror=...)           # [(LockedPackage, cache path)]
    os_packages = build_packages(lock, recipe, family)       # -dev/-devel names for the builder
and `lock_recipe(recipe_dir, r_version=..., cran_mirror=..., default_mirror=...)` for
`build.py lock`.
"""

from rlambda.recipes.install_check import check_system_requirements
from rlambda.recipes.lock import lock_recipe
from rlambda.recipes.lockfile import (
    Lock,
    LockedPackage,
    fetch_locked,
    load_lock,
    locked_r_version,
)
from rlambda.recipes.recipe import (
    RECIPES_DIR,
    Recipe,
    is_path,
    load,
    load_recipe,
    locate,
    name_from_directory,
    recipe_dir,
    recipe_name,
)
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
    "check_system_requirements",
    "fetch_locked",
    "is_path",
    "load",
    "load_lock",
    "load_recipe",
    "locate",
    "lock_recipe",
    "locked_r_version",
    "name_from_directory",
    "recipe_dir",
    "recipe_name",
    "recipe_requirements",
]
