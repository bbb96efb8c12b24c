"""boto3 clients with one retry policy, and plain-language AWS errors."""

import os
from dataclasses import dataclass

import boto3
import botocore.config
import botocore.exceptions

from rlambda.errors import JobError, UsageError

# botocore's "standard" mode retries throttling (ThrottlingException, 429, ...) and transient
# errors (5xx, connection resets) with exponential backoff and jitter; "adaptive" would also
# rate-limit the client, which one push a minute does not need.
RETRIES = botocore.config.Config(
    retries={"mode": "standard", "max_attempts": 8},
    connect_timeout=10,
    read_timeout=60,
)
# botocore's own AWS_MAX_ATTEMPTS, when set, wins over the 8 above (tests of the retry path set a
# small number: with full jitter, 8 attempts wait up to ~70 s).
MAX_ATTEMPTS_ENV = "AWS_MAX_ATTEMPTS"
# Error codes that mean "these credentials may not do that".
DENIED = {"AccessDeniedException", "AccessDenied", "UnauthorizedOperation"}
# Error codes that mean "these are not valid credentials".
BAD_CREDENTIALS = {
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
    "ExpiredTokenException",
    "ExpiredToken",
}


def region_or_fail(region: str | None) -> str:
    region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if not region:
        raise UsageError("no AWS region: pass --region or set AWS_REGION")
    return region


def client(service: str, region: str):
    """One boto3 client with the retry policy. AWS_ENDPOINT_URL (botocore's own variable) points
    it at a stand-in such as moto; nothing here knows about it."""
    config = RETRIES
    if os.environ.get(MAX_ATTEMPTS_ENV):
        config = RETRIES.merge(botocore.config.Config(retries={"mode": "standard"}))  # no count
    return boto3.session.Session(region_name=region).client(service, config=config)


def clients(region: str) -> tuple:
    """(ecr, lambda) clients."""
    return client("ecr", region), client("lambda", region)


def code(error: botocore.exceptions.ClientError) -> str:
    return error.response.get("Error", {}).get("Code", "")


def denied(error: botocore.exceptions.ClientError) -> bool:
    # A 403 whose body botocore could not parse (seen from moto's IAM simulation) is a denial too.
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return code(error) in DENIED or status == 403


def explain(error: Exception, doing: str) -> Exception:
    """A UsageError/JobError for an AWS failure while `doing` something; never the request."""
    if isinstance(error, botocore.exceptions.NoCredentialsError):
        return JobError(
            f"no AWS credentials while {doing}: set AWS_PROFILE or AWS_ACCESS_KEY_ID/"
            "AWS_SECRET_ACCESS_KEY (or run where an IAM role provides them)"
        )
    if isinstance(error, botocore.exceptions.ClientError):
        c = code(error)
        message = error.response.get("Error", {}).get("Message", "")
        if c in BAD_CREDENTIALS:
            return JobError(f"AWS rejected the credentials while {doing} ({c}): check them")
        if denied(error):
            return JobError(f"not allowed while {doing} ({c})")
        return JobError(f"AWS error while {doing} ({c}): {message}")
    if isinstance(error, botocore.exceptions.BotoCoreError):
        return JobError(f"cannot reach AWS while {doing}: {error}")
    return error


@dataclass(frozen=True)
class DeployClients:
    """The clients a deploy talks to, made once (tests wrap them to count write calls)."""

    region: str
    ecr: object
    lam: object
    iam: object
    apigw: object

    @classmethod
    def make(cls, region: str) -> "DeployClients":
        return cls(
            region,
            client("ecr", region),
            client("lambda", region),
            client("iam", region),
            client("apigatewayv2", region),
        )
