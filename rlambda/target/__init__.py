"""What one build makes: `resolve` checks a build's flags once into a frozen `Target` (the R
release, family, architecture, base image, mirror, recipe and lock); `tags` names its images.
Everything that builds, tests or pushes takes a Target and looks nothing up again.
"""

from rlambda.target.resolve import (
    SMOKE_RECIPE,
    RecipeTarget,
    Target,
    recipe_target,
    resolve,
    variant,
)

__all__ = ["SMOKE_RECIPE", "RecipeTarget", "Target", "recipe_target", "resolve", "variant"]
