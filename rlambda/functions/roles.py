"""The function's execution role: check one that is given, or make a basic one (--create-role)."""

import contextlib
import json
import re
import sys
import urllib.parse

import botocore.exceptions

from rlambda import aws
from rlambda.errors import UsageError

LAMBDA_SERVICE = "lambda.amazonaws.com"
# AWS's managed policy for a function's own logs (CreateLogGroup, CreateLogStream, PutLogEvents).
BASIC_EXECUTION_POLICY = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
TRUST_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": LAMBDA_SERVICE},
            "Action": "sts:AssumeRole",
        }
    ],
}
_ROLE_ARN = re.compile(
    r"arn:aws[a-z-]*:iam::(?P<account>\d{12}):role/(?:[\w+=,.@/-]+/)?(?P<name>[\w+=,.@-]{1,64})"
)


def role_name_for(function: str) -> str:
    return f"rlambda-{function}"[:64]


def _trust_document(role: dict) -> dict:
    # IAM returns the document URL-encoded; boto3 usually decodes it to a dict already.
    document = role.get("AssumeRolePolicyDocument") or {}
    if isinstance(document, str):
        document = json.loads(urllib.parse.unquote(document))
    return document


def admits_lambda(document: dict) -> bool:
    statements = document.get("Statement", [])
    for s in statements if isinstance(statements, list) else [statements]:
        services = (
            (s.get("Principal") or {}).get("Service", [])
            if isinstance(s.get("Principal"), dict)
            else []
        )
        services = [services] if isinstance(services, str) else services
        actions = s.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        if (
            s.get("Effect") == "Allow"
            and LAMBDA_SERVICE in services
            and {"sts:AssumeRole", "sts:*", "*"} & set(actions)
        ):
            return True
    return False


def check_role(iam, role_arn: str) -> str:
    """The role ARN, after checking it exists and that Lambda may assume it (before any write)."""
    match = _ROLE_ARN.fullmatch(role_arn)
    if match is None:
        raise UsageError(f"--role {role_arn!r}: expected arn:aws:iam::ACCOUNT:role/NAME")
    try:
        role = iam.get_role(RoleName=match["name"])["Role"]
    except botocore.exceptions.ClientError as e:
        if aws.code(e) == "NoSuchEntity":
            raise UsageError(
                f"role {role_arn} does not exist: create it, or pass --create-role to make a"
                " basic execution role"
            ) from None
        raise aws.explain(e, f"reading role {role_arn}") from None
    if role["Arn"] != role_arn:
        raise UsageError(f"--role {role_arn}: IAM knows this role as {role['Arn']}")
    if not admits_lambda(_trust_document(role)):
        raise UsageError(
            f"role {role_arn} cannot be assumed by Lambda: its trust policy must allow"
            f" sts:AssumeRole to the service {LAMBDA_SERVICE}"
        )
    return role_arn


def find_created_role(iam, function: str) -> str | None:
    """The ARN of the role --create-role made for `function` earlier, checked; None if none."""
    name = role_name_for(function)
    try:
        role = iam.get_role(RoleName=name)["Role"]
    except botocore.exceptions.ClientError as e:
        if aws.code(e) == "NoSuchEntity":
            return None
        raise aws.explain(e, f"reading role {name}") from None
    return check_role(iam, role["Arn"])


def create_role(iam, function: str, out=None) -> str:
    """A role whose trust policy admits only Lambda, with the basic execution policy."""
    name = role_name_for(function)
    print(f"==> creating role {name} (trusted by {LAMBDA_SERVICE} only)", file=out or sys.stderr)
    try:
        arn = iam.create_role(
            RoleName=name,
            AssumeRolePolicyDocument=json.dumps(TRUST_POLICY),
            Description=f"rlambda: execution role of the Lambda function {function}",
        )["Role"]["Arn"]
    except botocore.exceptions.ClientError as e:
        raise aws.explain(e, f"creating role {name}") from None
    try:
        iam.attach_role_policy(RoleName=name, PolicyArn=BASIC_EXECUTION_POLICY)
        iam.get_waiter("role_exists").wait(RoleName=name)
    except botocore.exceptions.ClientError as e:
        # Not half-done: a role without its policy would be reused by the next --create-role.
        with contextlib.suppress(botocore.exceptions.ClientError):
            iam.delete_role(RoleName=name)
        raise aws.explain(e, f"attaching {BASIC_EXECUTION_POLICY} to role {name}") from None
    return arn
