"""From a pushed image digest to a callable function: create or update, publish, move an alias.

Every check that can fail on input runs before the first write call. A deploy that finds the
function, its version and its alias already right makes no write call at all, so running it
again is free and safe (the tests count the write calls). Each move of an alias records the
version it left, for rollback.py.

This module holds the order of that work; the settings it applies are in settings.py, and
finding or publishing the version and moving the alias in versions.py.
"""

import re
import sys
import time
from dataclasses import dataclass, field

import botocore.exceptions

from rlambda import aws
from rlambda.errors import HalfDone, JobError, UsageError
from rlambda.functions import roles, versions
from rlambda.functions.settings import (
    FunctionSettings,
    check_snapstart_function,
    check_snapstart_region,
    differences,
)
from rlambda.functions.versions import read_configuration

# Lambda refuses a freshly created role for a few seconds (IAM is eventually consistent):
# "The role defined for the function cannot be assumed by Lambda." Retried only then.
ROLE_PROPAGATION_TRIES = 10
ROLE_PROPAGATION_DELAY_S = 3.0
_DIGEST_URI = re.compile(r"[^@]+@(?P<digest>sha256:[0-9a-f]{64})")


@dataclass(frozen=True)
class DeployRequest:
    function: str
    image_uri: str  # …@sha256:… (a digest: the bytes this project pushed and checked)
    image_arch: str  # from the image's config, not from a flag
    role: str | None = None
    create_role: bool = False
    settings: FunctionSettings = field(default_factory=FunctionSettings)
    alias: str | None = None


@dataclass
class DeployResult:
    function: str
    function_arn: str
    image_uri: str
    digest: str
    version: str
    alias: str | None = None
    previous_version: str | None = None  # what the alias pointed at before its last move
    snapstart: bool = False  # the version runs from a SnapStart snapshot: smoke-test it
    alias_moved: bool = False  # this deploy moved an existing alias (so it can be rolled back)
    writes: list[str] = field(default_factory=list)  # what changed, in words; [] = nothing
    function_url: str | None = None
    http_api_url: str | None = None

    @property
    def target_arn(self) -> str:
        """What a caller invokes: the alias when there is one, else the function."""
        return f"{self.function_arn}:{self.alias}" if self.alias else self.function_arn

    def to_json(self) -> dict:
        return {
            "function": self.function,
            "function_arn": self.function_arn,
            "image_uri": self.image_uri,
            "image_digest": self.digest,
            "version": self.version,
            "alias": self.alias,
            "previous_version": self.previous_version,
            "alias_moved": self.alias_moved,
            "changed": self.writes,
            "function_url": self.function_url,
            "http_api_url": self.http_api_url,
        }


@dataclass(frozen=True)
class Waits:
    delay_s: int = 5
    attempts: int = 60

    def config(self) -> dict:
        return {"Delay": self.delay_s, "MaxAttempts": self.attempts}


def check_image_region(image_uri: str, region: str) -> None:
    # ECR hosts are ACCOUNT.dkr.ecr.REGION.amazonaws.com; Lambda pulls only from its own region.
    host = image_uri.split("/", 1)[0]
    parts = host.split(".")
    if len(parts) >= 4 and parts[1:3] == ["dkr", "ecr"] and parts[3] != region:
        raise UsageError(
            f"the image is in {parts[3]} but the function is in {region}: Lambda pulls images"
            f" from its own region only; push it there (registry.py push --region {region})"
        )


def _check_existing(config: dict, request: DeployRequest) -> None:
    if config.get("PackageType") != "Image":
        raise UsageError(
            f"Lambda function {request.function!r} is a zip-packaged function: a function's"
            " package type cannot change, so it cannot take an image. Deploy to a new name (or"
            " delete the zip function first)"
        )
    function_arch = (config.get("Architectures") or ["x86_64"])[0]
    if function_arch != request.image_arch:
        raise UsageError(
            f"the image is built for {request.image_arch} but function {request.function!r}"
            f" runs on {function_arch}: build with --arch {function_arch}, or deploy to a"
            f" {request.image_arch} function"
        )
    if request.settings.snapstart:
        check_snapstart_function(config, request.function, request.settings)


def _resolve_role(iam, request: DeployRequest, exists: bool) -> tuple[str | None, bool]:
    """(role ARN or None to keep the function's, whether it must be created first)."""
    if request.role and request.create_role:
        raise UsageError("--role and --create-role exclude each other: pass one")
    if request.role:
        return roles.check_role(iam, request.role), False
    if request.create_role:
        found = roles.find_created_role(iam, request.function)
        return found, found is None
    if not exists:
        raise UsageError(
            f"function {request.function!r} does not exist, and a new function needs an"
            " execution role: pass --role ARN, or --create-role to make a basic one"
        )
    return None, False


def _wait(lam, waiter: str, function: str, waits: Waits, qualifier: str | None = None) -> None:
    kwargs = {"FunctionName": function} | ({"Qualifier": qualifier} if qualifier else {})
    try:
        lam.get_waiter(waiter).wait(**kwargs, WaiterConfig=waits.config())
    except botocore.exceptions.WaiterError as e:
        reason = (e.last_response or {}).get("LastUpdateStatusReason") or e
        raise JobError(f"function {function} did not become ready: {reason}") from None


def preflight(clients: "aws.DeployClients", request: DeployRequest) -> tuple:
    """The checks that need no image: settings, the function as it is, the role. Read-only.

    build.py --deploy runs them before building, with the architecture it is about to build.
    Returns (the function's configuration or None, the role ARN or None, whether to create it).
    """
    request.settings.check()
    if request.settings.snapstart:
        check_snapstart_region(clients.region)
    config = read_configuration(clients.lam, request.function)
    if config is not None:
        _check_existing(config, request)
    role, create_role = _resolve_role(clients.iam, request, exists=config is not None)
    return config, role, create_role


def deploy(
    clients: "aws.DeployClients", request: DeployRequest, *, waits: Waits = Waits(), out=None
) -> DeployResult:
    """Create or update the function, publish a version if it changed, move the alias."""
    out = out or sys.stderr
    lam, iam = clients.lam, clients.iam
    match = _DIGEST_URI.fullmatch(request.image_uri)
    if match is None:
        raise UsageError(f"{request.image_uri}: deploy a digest (…@sha256:<64 hex>), not a tag")
    check_image_region(request.image_uri, clients.region)
    config, role, create_role = preflight(clients, request)
    # ---- checks done: writes from here on --------------------------------------------------
    writes: list[str] = []
    # What is still to do, in words: a failure half way says what it left undone.
    left = ["create the function" if config is None else "update the function", "publish a version"]
    if create_role:
        left.insert(0, f"create the role {roles.role_name_for(request.function)}")
    if request.alias:
        left.append(f"move alias {request.alias}")
    try:
        if create_role:
            role = roles.create_role(iam, request.function, out)
            writes.append(f"created role {role}")
            left.pop(0)
        if config is None:
            config = _create(
                lam, request, role, just_created_role=create_role, waits=waits, out=out,
                writes=writes,
            )  # fmt: skip
        else:
            _update(lam, request, config, role, waits, out, writes)
            config = read_configuration(lam, request.function) or config
        left.pop(0)
        version, published = versions.version(lam, request.function, request.alias, config)
        if published:
            _wait(lam, "published_version_active", request.function, waits, qualifier=version)
            writes.append(f"published version {version}")
        left.pop(0)
        result = DeployResult(
            request.function,
            config["FunctionArn"].removesuffix(":$LATEST"),
            request.image_uri,
            match["digest"],
            version,
            request.alias,
            writes=writes,
            snapstart=request.settings.snapstart,
        )
        if request.alias:
            result.previous_version, moved = versions.point_alias(
                lam, request.function, request.alias, version
            )
            if moved:
                writes.append(moved)
                result.alias_moved = result.previous_version is not None
    except (UsageError, JobError) as e:
        raise HalfDone.wrap(e, writes, left) from None
    for line in writes or ["function, version and alias: nothing to change"]:
        print(f"==> {request.function}: {line}", file=out)
    return result


def _create(
    lam, request: DeployRequest, role: str, *, just_created_role: bool, waits, out, writes: list
) -> dict:
    print(f"==> creating {request.function} from {request.image_uri}", file=out)
    params = {
        "FunctionName": request.function,
        "Role": role,
        "PackageType": "Image",
        "Code": {"ImageUri": request.image_uri},
        "Architectures": [request.image_arch],
        **request.settings.wanted(new=True),
    }
    tries = ROLE_PROPAGATION_TRIES if just_created_role else 1
    for attempt in range(1, tries + 1):
        try:
            created = lam.create_function(**params)
            break
        except botocore.exceptions.ClientError as e:
            propagating = aws.code(e) == "InvalidParameterValueException" and "role" in str(e)
            if propagating and attempt < tries:
                time.sleep(ROLE_PROPAGATION_DELAY_S)
                continue
            if propagating:
                raise UsageError(
                    f"Lambda cannot assume the role {role}: check its trust policy admits"
                    f" {roles.LAMBDA_SERVICE}"
                ) from None
            raise aws.explain(e, f"creating function {request.function}") from None
    writes.append("created the function")
    _wait(lam, "function_active_v2", request.function, waits)
    return created


def _update(
    lam, request: DeployRequest, config: dict, role: str | None, waits, out, writes: list[str]
) -> None:
    """Update what differs, adding each change to `writes` as it is made (a failure between
    the code and the configuration then says the code was updated)."""
    try:
        code = lam.get_function(FunctionName=request.function)["Code"]
    except botocore.exceptions.ClientError as e:
        raise aws.explain(e, f"reading function {request.function}") from None
    try:
        if code.get("ImageUri") != request.image_uri:
            print(f"==> updating {request.function} to {request.image_uri}", file=out)
            lam.update_function_code(FunctionName=request.function, ImageUri=request.image_uri)
            writes.append("updated the code")
            _wait(lam, "function_updated_v2", request.function, waits)
        wanted = request.settings.wanted(new=False) | ({"Role": role} if role else {})
        changes = differences(wanted, config)
        if changes:
            print(f"==> updating {request.function}: {', '.join(sorted(changes))}", file=out)
            lam.update_function_configuration(FunctionName=request.function, **changes)
            writes.append(f"updated {', '.join(sorted(changes))}")
            _wait(lam, "function_updated_v2", request.function, waits)
    except botocore.exceptions.ClientError as e:
        raise aws.explain(e, f"updating function {request.function}") from None
