"""Point a Lambda function at a pushed image digest, after checking it can run it."""

import sys
from dataclasses import dataclass

import botocore.exceptions

from rlambda.errors import JobError, UsageError
from rlambda.registry import aws


@dataclass(frozen=True)
class DeployResult:
    function: str
    function_arn: str
    image_uri: str
    version: str  # "$LATEST", or the published version number

    def to_json(self) -> dict:
        return {
            "function": self.function,
            "function_arn": self.function_arn,
            "image_uri": self.image_uri,
            "version": self.version,
        }


def deploy_function(
    lam,
    function: str,
    image_uri: str,
    image_arch: str,
    *,
    publish: bool = False,
    wait_delay: int = 5,
    wait_attempts: int = 60,
    out=None,
) -> DeployResult:
    """update_function_code to `image_uri` (a digest URI), then wait until Lambda is done.

    A digest, not a tag: Lambda resolves a tag once at update time anyway, and the digest is the
    one this project verified.
    """
    if "@sha256:" not in image_uri:
        raise UsageError(f"{image_uri}: deploy a digest (…@sha256:…), not a tag")
    try:
        config = lam.get_function_configuration(FunctionName=function)
    except botocore.exceptions.ClientError as e:
        if aws.code(e) == "ResourceNotFoundException":
            raise UsageError(
                f"Lambda function {function!r} does not exist in {lam.meta.region_name}:"
                " check the name and --region (this command updates functions, it does not"
                " create them)"
            ) from None
        raise aws.explain(e, f"reading function {function}") from None
    if config.get("PackageType") != "Image":
        raise UsageError(
            f"Lambda function {function!r} is a zip-packaged function; only container-image"
            " functions can take an image"
        )
    function_arch = (config.get("Architectures") or ["x86_64"])[0]
    if function_arch != image_arch:
        raise UsageError(
            f"the image is built for {image_arch} but function {function!r} runs on"
            f" {function_arch}: build with --arch {function_arch}, or deploy to a"
            f" {image_arch} function"
        )
    print(f"==> updating {function} to {image_uri}", file=out or sys.stderr)
    try:
        updated = lam.update_function_code(
            FunctionName=function, ImageUri=image_uri, Publish=publish
        )
        lam.get_waiter("function_updated_v2").wait(
            FunctionName=function,
            WaiterConfig={"Delay": wait_delay, "MaxAttempts": wait_attempts},
        )
    except botocore.exceptions.WaiterError as e:
        raise JobError(f"function {function} did not finish updating: {e}") from None
    except botocore.exceptions.ClientError as e:
        raise aws.explain(e, f"updating function {function}") from None
    return DeployResult(
        function, updated["FunctionArn"], image_uri, updated.get("Version", "$LATEST")
    )
