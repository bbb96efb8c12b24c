"""ECR's records of images: which digest a tag names, and adding a tag to a pushed manifest.

ECR's API is the record this project trusts: a tag counts as pushed when batch_get_image
reports it with the digest whose manifest the registry sent back. After a push the manifest read
back from the registry is put with put_image: on ECR that is a no-op for the tag the engine
pushed (ImageAlreadyExistsException) and the documented way to add a tag without pushing again;
on the test stand-ins (moto for the API, a registry server for the bytes) it is what records the
push in the API, so both worlds take the same code path.
"""

import json
from dataclasses import dataclass

import botocore.exceptions

from rlambda import aws
from rlambda.errors import JobError
from rlambda.registry.transport import SINGLE_MANIFESTS, Manifest


@dataclass(frozen=True)
class ImageRecord:
    tag: str
    digest: str
    manifest: str
    media_type: str

    def as_manifest(self) -> Manifest:
        return Manifest(self.manifest.encode(), self.media_type, self.digest)

    @property
    def config_digest(self) -> str:
        # For images built by the Docker engine, the config digest is the local image ID.
        return json.loads(self.manifest)["config"]["digest"]


def find(ecr, repository: str, tag: str) -> ImageRecord | None:
    try:
        answer = ecr.batch_get_image(
            repositoryName=repository,
            imageIds=[{"imageTag": tag}],
            acceptedMediaTypes=list(SINGLE_MANIFESTS),
        )
    except botocore.exceptions.ClientError as e:
        raise aws.explain(e, f"looking up {repository}:{tag}") from None
    for image in answer.get("images", []):
        manifest = image["imageManifest"]
        media_type = image.get("imageManifestMediaType") or json.loads(manifest).get("mediaType")
        return ImageRecord(tag, image["imageId"]["imageDigest"], manifest, media_type)
    for failure in answer.get("failures", []):
        if failure.get("failureCode") not in ("ImageNotFound", "ImageTagDoesNotMatchDigest"):
            raise JobError(
                f"looking up {repository}:{tag}: {failure.get('failureCode')}"
                f" {failure.get('failureReason', '')}"
            )
    return None


def tags_of(ecr, repository: str, digest: str) -> set[str]:
    try:
        details = ecr.describe_images(repositoryName=repository, imageIds=[{"imageDigest": digest}])
    except botocore.exceptions.ClientError as e:
        if aws.code(e) == "ImageNotFoundException":
            return set()
        raise aws.explain(e, f"reading back {repository}@{digest}") from None
    return {t for d in details["imageDetails"] for t in d.get("imageTags", [])}


def conflict(repository: str, tag: str, existing: str, ours: str) -> JobError:
    return JobError(
        f"{repository}:{tag} already names another image ({existing}), not this one ({ours});"
        " fixed tags (content-…, dated …-YYYYMMDD) are never overwritten. A dated tag names one"
        " run a day: an earlier run today pushed other inputs; give this one another --date."
    )


def put_tag(ecr, repository: str, tag: str, manifest: Manifest) -> None:
    """Make `tag` name `manifest`. Refuses (JobError) when an immutable tag names another image."""
    try:
        ecr.put_image(
            repositoryName=repository,
            imageManifest=manifest.text,
            imageManifestMediaType=manifest.media_type,
            imageTag=tag,
            imageDigest=manifest.digest,
        )
    except botocore.exceptions.ClientError as e:
        # ImageAlreadyExists: the tag already names this manifest (ECR, after the engine's push)
        # or, on some implementations, another one in an immutable repository: read it back.
        if aws.code(e) not in ("ImageAlreadyExistsException", "ImageTagAlreadyExistsException"):
            raise aws.explain(e, f"tagging {repository}:{tag}") from None
        record = find(ecr, repository, tag)
        if record is None or record.digest != manifest.digest:
            raise conflict(
                repository, tag, record.digest if record else "?", manifest.digest
            ) from None


def find_digest(ecr, repository: str, digest: str) -> ImageRecord | None:
    try:
        answer = ecr.batch_get_image(
            repositoryName=repository,
            imageIds=[{"imageDigest": digest}],
            acceptedMediaTypes=list(SINGLE_MANIFESTS),
        )
    except botocore.exceptions.ClientError as e:
        if aws.code(e) == "RepositoryNotFoundException":
            return None
        raise aws.explain(e, f"looking up {repository}@{digest}") from None
    for image in answer.get("images", []):
        manifest = image["imageManifest"]
        media_type = image.get("imageManifestMediaType") or json.loads(manifest).get("mediaType")
        return ImageRecord("", image["imageId"]["imageDigest"], manifest, media_type)
    return None
