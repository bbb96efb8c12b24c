"""What an image is: the facts its tags are computed from (R version, family, architecture,
recipe, content hash), read from a local image's labels for `registry.py push IMAGE` (a build
passes its own), and the check that a content tag found in ECR names an image of these inputs.
"""

import json
from dataclasses import dataclass

from rlambda.errors import JobError, UsageError
from rlambda.pins.platforms import lambda_arch
from rlambda.registry import transport
from rlambda.registry.auth import RegistryAuth
from rlambda.registry.transport import RetryPolicy
from rlambda.target import tags

# The labels build.py sets (rlambda/build/builder.py) that say which inputs an image is.
R_VERSION_LABEL = "io.rlambda.r.version"
FAMILY_LABEL = "io.rlambda.family"
CONTENT_HASH_LABEL = "io.rlambda.content-hash"
SOURCE_SHA256_LABEL = "io.rlambda.r.source.sha256"  # base images; recipe images inherit it
RECIPE_LABEL = "io.rlambda.recipe"


@dataclass(frozen=True)
class ImageFacts:
    image_id: str | None  # None: no local image; ECR must already hold the content tag
    r_version: str
    family: str
    arch: str
    recipe: str | None
    content_hash: str
    source_sha256: str | None = None  # R's source tarball; None: not known, not compared


def identity_mismatches(facts: ImageFacts, config: dict) -> list[str]:
    """How an image config (the registry's JSON) differs from the image `facts` describe, one
    "what: found X, expected Y" each; [] when it is that image's inputs."""
    labels = (config.get("config") or {}).get("Labels") or {}
    expected: dict[str, str | None] = {
        R_VERSION_LABEL: facts.r_version,
        FAMILY_LABEL: facts.family,
        CONTENT_HASH_LABEL: facts.content_hash,
        RECIPE_LABEL: facts.recipe,  # None: a base image, which carries no recipe label
    }
    if facts.source_sha256 is not None:
        expected[SOURCE_SHA256_LABEL] = facts.source_sha256
    found_arch = config.get("architecture")
    wrong = []
    if lambda_arch(found_arch or "") != facts.arch:
        wrong.append(f"architecture: found {found_arch!r}, expected {facts.arch!r}")
    for label, want in expected.items():
        have = labels.get(label)
        if have != want:
            wrong.append(
                f"{label}: found {'no label' if have is None else repr(have)},"
                f" expected {'no label' if want is None else repr(want)}"
            )
    return wrong


def read_config(auth: RegistryAuth, repository: str, digest: str, retry: RetryPolicy) -> dict:
    raw = transport.read_blob(auth, repository, digest, retry)
    try:
        config = json.loads(raw)
    except ValueError:
        config = None
    if not isinstance(config, dict):
        raise JobError(f"{repository}: the image config {digest} is not a JSON object")
    return config


def check_reused(
    auth: RegistryAuth, repo_name: str, tag: str, record, facts: ImageFacts, retry: RetryPolicy
) -> None:
    """Refuse to reuse what `tag` names in ECR unless its config says it is `facts`' inputs."""
    config = read_config(auth, repo_name, record.config_digest, retry)
    if wrong := identity_mismatches(facts, config):
        raise JobError(
            f"{repo_name}:{tag} names an image ({record.digest}) that is not these inputs:"
            f" {'; '.join(wrong)}. Nothing was built on it or tagged. A content tag is never"
            " overwritten: find out who pushed it (CloudTrail), delete it if it is not yours,"
            " or push to another --repository"
        )


def image_facts(image, recipe: str | None = None) -> ImageFacts:
    """What the tags are computed from, read off a local image built by build.py."""
    labels = image.labels or {}
    r_version = labels.get("io.rlambda.r.version")
    content_hash = labels.get("io.rlambda.content-hash")
    if not r_version or not content_hash:
        raise UsageError(
            f"image {image.short_id} has no io.rlambda.r.version/io.rlambda.content-hash labels:"
            " push images built by build.py"
        )
    arch = lambda_arch(image.attrs.get("Architecture", ""))
    if arch is None:
        raise UsageError(
            f"image architecture {image.attrs.get('Architecture')!r}:"
            " Lambda runs x86_64 or arm64 only"
        )
    variants = [v for t in image.tags if (v := tags.parse_readable_tag(t.rpartition(":")[2]))]
    family = labels.get("io.rlambda.family") or next((v.family for v in variants), None)
    if family is None:
        raise UsageError(
            f"cannot tell the family of image {image.short_id}: tag it r-<version>-<family>-<arch>"
            " (build.py does) or label it io.rlambda.family"
        )
    if recipe is None:
        recipe = labels.get("io.rlambda.recipe") or next(
            (v.recipe for v in variants if v.recipe), None
        )
    return ImageFacts(
        image.id, r_version, family, arch, tags.check_recipe(recipe), content_hash,
        labels.get(SOURCE_SHA256_LABEL),
    )  # fmt: skip
