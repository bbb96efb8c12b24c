"""The image a deploy is given by URI: in the function's region, in ECR, and built for an
architecture Lambda runs (read from the image's config in the registry, not from a flag)."""

import json
import re

from rlambda.errors import UsageError
from rlambda.functions.deploy import check_image_region
from rlambda.pins.platforms import lambda_arch
from rlambda.registry import images, transport
from rlambda.registry.auth import authorize, endpoint_override
from rlambda.registry.transport import RetryPolicy

_IMAGE_URI = re.compile(r"(?P<host>[^/@]+)/(?P<repo>[a-z0-9._/-]+)@(?P<digest>sha256:[0-9a-f]{64})")


def image_architecture(ecr, image_uri: str, region: str, endpoint: str | None) -> str:
    """The Lambda architecture of a pushed image, from its config in the registry."""
    match = _IMAGE_URI.fullmatch(image_uri)
    if match is None:
        raise UsageError(f"--image-uri {image_uri!r}: expected HOST/REPOSITORY@sha256:<64 hex>")
    check_image_region(image_uri, region)
    repo, digest = match["repo"], match["digest"]
    record = images.find_digest(ecr, repo, digest)
    if record is None:
        raise UsageError(f"ECR has no image {repo}@{digest}: push it first (registry.py push)")
    registry_id = match["host"].split(".")[0]
    auth = authorize(ecr, registry_id, endpoint_override(endpoint))
    config = json.loads(transport.read_blob(auth, repo, record.config_digest, RetryPolicy()))
    arch = lambda_arch(config.get("architecture", ""))
    if arch is None:
        raise UsageError(
            f"{image_uri} is built for {config.get('architecture')!r}, which Lambda does not run"
        )
    return arch
