"""Pushing images to Amazon ECR and deploying them to Lambda (registry.py's internals).

build.py --push calls `push_image`; see cli.py for the command line and publish.py for the
order of work.
"""

from rlambda.registry.cli import (
    add_build_deploy_arguments,
    add_push_arguments,
    build_deploy_plan,
    push_options,
)
from rlambda.registry.deploy import DeployRequest, DeployResult
from rlambda.registry.publish import (
    ImageFacts,
    PushOptions,
    PushResult,
    publish,
    push_image,
    pushed_digest,
)
from rlambda.registry.repository import RepositorySettings
from rlambda.registry.transport import RetryPolicy

__all__ = [
    "DeployRequest",
    "DeployResult",
    "ImageFacts",
    "PushOptions",
    "PushResult",
    "RepositorySettings",
    "RetryPolicy",
    "add_build_deploy_arguments",
    "add_push_arguments",
    "build_deploy_plan",
    "publish",
    "push_image",
    "push_options",
    "pushed_digest",
]
