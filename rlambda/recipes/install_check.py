"""Can a family install what a recipe's lock needs? Checked when the lock is made (every family
the recipe is built on) and when a build is resolved (its family), before anything is
downloaded for the build: the build packages (sysreqs) and the data rules' packages
(data_files), each name checked against AWS's lists for al2023 (rlambda/pins/package_db.py)."""

from collections.abc import Sequence

from rlambda.pins.package_db import check_names
from rlambda.recipes.data_files import data_packages, recipe_data_rules
from rlambda.recipes.lockfile import Lock
from rlambda.recipes.recipe import Recipe
from rlambda.recipes.sysreqs import recipe_requirements


def check_system_requirements(lock: Lock, recipe: Recipe, families: Sequence[str]) -> None:
    """Raise UsageError, naming the CRAN package, the requirement and what to write in
    recipe.toml, for what one of `families` (those the recipe is built on) cannot install."""
    for family in families:
        if family in recipe.not_built_on:
            continue
        recipe_requirements(lock, recipe, family)
        check_names(
            family,
            data_packages(recipe_data_rules(lock), family),
            "rlambda/recipes/data/runtime-data.toml",
        )
