"""boto3 clients with one retry policy, and plain-language AWS errors.

Every AWS failure becomes one line (a UsageError or a JobError) here, in `explain`, and nowhere
else: the clients `client` makes turn a failure below the API (no credentials, an endpoint that
does not answer) into one as it happens, naming the call; call sites still catch ClientError for
the codes they expect; `guard` is the last net around a command, for what slips past both (a
parameter botocore refuses before sending).
"""

import argparse
import contextlib
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import boto3
import botocore.config
import botocore.exceptions
import botocore.loaders

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


# AWS's region names (us-east-1, eu-central-2, us-gov-west-1, ap-southeast-5, ...): checked here,
# so that a typo is bad input (exit 2) and not botocore's InvalidRegionError at the first call.
_REGION = re.compile(r"[a-z]{2}(?:-[a-z]+)+-\d{1,2}")


def region_or_fail(region: str | None) -> str:
    """--region (None: not given), else AWS_REGION / AWS_DEFAULT_REGION, checked."""
    where = "--region"
    if region is None:
        for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
            if os.environ.get(name):
                region, where = os.environ[name], name
                break
        else:
            raise UsageError("no AWS region: pass --region or set AWS_REGION")
    if not _REGION.fullmatch(region):
        raise UsageError(f"{where} {region!r}: not an AWS region name (e.g. eu-west-1)")
    return region


# botocore's JSON service models, loaded once: a fresh session parsed them again for every
# client (~0.1 s of json.loads per client, most of a moto-backed unit test).
_LOADER = botocore.loaders.create_loader()


def client(service: str, region: str):
    """One boto3 client with the retry policy. AWS_ENDPOINT_URL (botocore's own variable) points
    it at a stand-in such as moto; nothing here knows about it."""
    config = RETRIES
    if os.environ.get(MAX_ATTEMPTS_ENV):
        config = RETRIES.merge(botocore.config.Config(retries={"mode": "standard"}))  # no count
    try:
        session = boto3.session.Session(region_name=region)
        # A session per client, so each reads the environment as it is now (credentials, the
        # endpoint); the service models, parsed JSON, come from one loader shared by all.
        session._session.register_component("data_loader", _LOADER)
        made = session.client(service, config=config)
    except botocore.exceptions.BotoCoreError as e:
        raise explain(e, f"setting up the {service} client") from None
    # After botocore's own retries: a failure below the API (no credentials, no answer) is one
    # line naming the call, whichever call it was (waiters and paginators too).
    made.meta.events.register("after-call-error", _translate)
    return made


def _translate(exception: Exception, context: dict | None = None, **kwargs) -> None:
    if isinstance(exception, botocore.exceptions.BotoCoreError):
        event = kwargs.get("event_name", "")
        doing = "calling AWS"
        if event.count(".") >= 2:
            _, service, operation = event.split(".", 2)
            doing = f"calling {service} {operation}"
        raise explain(exception, doing) from None


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
    """A UsageError/JobError for an AWS failure while `doing` something; never the request (it
    may hold secrets: an environment, a token), never a parameter's value."""
    if isinstance(error, UsageError | JobError):
        return error
    if isinstance(
        error,
        botocore.exceptions.NoCredentialsError | botocore.exceptions.PartialCredentialsError,
    ):
        return JobError(
            f"no AWS credentials while {doing}: set AWS_PROFILE or AWS_ACCESS_KEY_ID/"
            "AWS_SECRET_ACCESS_KEY (or run where an IAM role provides them)"
        )
    if isinstance(error, botocore.exceptions.NoRegionError):
        return UsageError(f"no AWS region while {doing}: pass --region or set AWS_REGION")
    if isinstance(error, botocore.exceptions.InvalidRegionError):
        region = error.kwargs.get("region_name")
        return UsageError(f"{region!r} is not an AWS region name (while {doing})")
    if isinstance(error, botocore.exceptions.ProfileNotFound):
        return UsageError(f"AWS profile {error.kwargs.get('profile')!r} not found ({doing})")
    if isinstance(error, botocore.exceptions.ParamValidationError):
        # botocore's report names the parameter and the rule, and some lines quote the value
        # (which may be a secret: an environment variable's): those quotes are cut.
        report = str(error.kwargs.get("report", error)).replace("\n", "; ").strip()
        report = re.sub(r", value: .*?(?=, (?:type|valid))", "", report)
        return UsageError(f"AWS would refuse the request while {doing}: {report}")
    if isinstance(error, botocore.exceptions.EndpointConnectionError):
        return JobError(
            f"cannot reach AWS at {error.kwargs.get('endpoint_url')} while {doing}"
            " (the network, the region, or AWS_ENDPOINT_URL)"
        )
    if isinstance(error, botocore.exceptions.ConnectionError | botocore.exceptions.HTTPClientError):
        return JobError(f"no answer from AWS while {doing}: {type(error).__name__}")
    if isinstance(error, botocore.exceptions.ClientError):
        c = code(error)
        message = error.response.get("Error", {}).get("Message", "")
        if c in BAD_CREDENTIALS:
            return JobError(f"AWS rejected the credentials while {doing} ({c}): check them")
        if denied(error):
            return JobError(f"not allowed while {doing} ({c})")
        return JobError(f"AWS error while {doing} ({c}): {message}")
    if isinstance(error, botocore.exceptions.BotoCoreError):
        return JobError(f"AWS failed while {doing}: {error}")
    return error


@contextlib.contextmanager
def guard(doing: str) -> Iterator[None]:
    """The last net around a command's AWS calls: any botocore failure left is one line."""
    try:
        yield
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
        raise explain(e, doing) from None


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


CREDENTIALS_OPTION = "--aws-credentials"
CALLERS = ""  # --aws-credentials without a profile: the caller's chain


def add_credentials_argument(parser: argparse.ArgumentParser) -> None:
    """--aws-credentials [PROFILE], for `build.py serve` and `build.py test`."""
    parser.add_argument(
        CREDENTIALS_OPTION,
        nargs="?",
        const=CALLERS,
        metavar="PROFILE",
        help="give the functions AWS credentials as Lambda gives a function its role's "
        "(AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN): alone, the caller's "
        "(environment, AWS_PROFILE, SSO login, assume-role, ...); with PROFILE, that profile's. "
        "Off by default; never printed or put in a label",
    )


def credentials_from_args(args: argparse.Namespace) -> Callable[[], dict[str, str]] | None:
    """--aws-credentials resolved (None when not given); UsageError as caller_credentials."""
    given = getattr(args, "aws_credentials", None)
    if given is None:
        return None
    return caller_credentials(given or None)


def caller_credentials(profile: str | None) -> Callable[[], dict[str, str]]:
    """The caller's AWS credentials for functions run here, as Lambda hands a function its
    role's: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (, AWS_SESSION_TOKEN). Found through
    botocore's chain, the SDKs' order (environment, assume-role and web identity, SSO,
    credential_process, shared files, container endpoint, IMDS), for `profile` (None: the
    caller's AWS_PROFILE or default).

    Checked now, before anything starts: UsageError, one line naming the profile and what to
    run. The returned function gives the current ones (botocore refreshes temporary ones);
    callers must never print or label what it returns.
    """
    name = profile or os.environ.get("AWS_PROFILE") or "default"
    login = f"`aws sso login --profile {name}` or `aws configure --profile {name}`"
    try:
        found = boto3.Session(profile_name=profile or None).get_credentials()
    except botocore.exceptions.ProfileNotFound:
        raise UsageError(f"{CREDENTIALS_OPTION}: no profile {name!r} in the AWS config") from None
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        raise UsageError(f"{CREDENTIALS_OPTION} (profile {name}): {exc}; run {login}") from None
    if found is None:
        raise UsageError(
            f"{CREDENTIALS_OPTION}: no AWS credentials found for profile {name!r} (environment, "
            f"shared config, SSO, container, instance metadata); run {login}"
        )

    def current() -> dict[str, str]:
        try:
            frozen = found.get_frozen_credentials()
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise UsageError(
                f"{CREDENTIALS_OPTION} (profile {name}, from {found.method}): {exc}; run {login}"
            ) from None
        out = {"AWS_ACCESS_KEY_ID": frozen.access_key, "AWS_SECRET_ACCESS_KEY": frozen.secret_key}
        if frozen.token:
            out["AWS_SESSION_TOKEN"] = frozen.token
        return out

    current()
    return current
