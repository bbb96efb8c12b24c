"""Pushing images to Amazon ECR (registry.py push, build.py --push).

build.py --push calls `push_image`; see publish.py for the order of work. Deploying to Lambda is
rlambda.functions, which imports this package and never the other way round.
"""

from rlambda.registry.facts import ImageFacts
from rlambda.registry.publish import (
    PushOptions,
    PushResult,
    publish,
    push_image,
    pushed_digest,
)
from rlambda.registry.repository import RepositorySettings
from rlambda.registry.transport import RetryPolicy

__all__ = [
    "ImageFacts",
    "PushOptions",
    "PushResult",
    "RepositorySettings",
    "RetryPolicy",
    "publish",
    "push_image",
    "pushed_digest",
]
