"""FunctionName and Qualifier as Lambda's Invoke API reads them.

FunctionName may be a name (`my-function`, `my-function:QUALIFIER`), a full ARN
(`arn:aws:lambda:REGION:ACCOUNT:function:my-function[:QUALIFIER]`) or a partial ARN
(`ACCOUNT:function:my-function[:QUALIFIER]`), as the API reference lists. Only `$LATEST` is
served here (there are no published versions or aliases); any other qualifier, or an ARN of
another region or account, names a function that does not exist: 404, as on Lambda.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from . import errors

ACCOUNT_ID = "012345678912"  # the account the emulator puts in invoked-function ARNs
LATEST = "$LATEST"
_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
_FULL_ARN = re.compile(
    r"arn:aws[a-zA-Z-]*:lambda:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):function:"
    r"(?P<name>[^:]+)(?::(?P<qualifier>[^:]+))?"
)
_PARTIAL_ARN = re.compile(r"(?P<account>\d{12}):function:(?P<name>[^:]+)(?::(?P<qualifier>[^:]+))?")
_PLAIN = re.compile(r"(?P<name>[^:]+)(?::(?P<qualifier>[^:]+))?")


def function_arn(region: str, name: str, qualifier: str | None = None) -> str:
    arn = f"arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{name}"
    return f"{arn}:{qualifier}" if qualifier else arn


@dataclass(frozen=True)
class FunctionRef:
    name: str
    qualifier: str  # always $LATEST once resolved


def resolve_function(
    function_name: str, qualifier: str | None, region: str, served: set[str]
) -> FunctionRef:
    """The served function `function_name` (+ `qualifier`) names, or ApiError (404/400)."""
    match = (
        _FULL_ARN.fullmatch(function_name)
        or _PARTIAL_ARN.fullmatch(function_name)
        or _PLAIN.fullmatch(function_name)
    )
    if match is None:
        raise errors.not_found(function_arn(region, function_name))
    parts = match.groupdict()
    name, derived = parts["name"], parts.get("qualifier")
    if derived and qualifier and derived != qualifier:
        raise errors.invalid_parameter(
            "The derived qualifier from the function name does not match the specified qualifier."
        )
    wanted = qualifier or derived
    other_place = parts.get("region", region) != region or parts.get("account", ACCOUNT_ID) != (
        ACCOUNT_ID
    )
    if other_place or name not in served or wanted not in (None, LATEST):
        arn_region = parts.get("region") or region
        account = parts.get("account") or ACCOUNT_ID
        arn = f"arn:aws:lambda:{arn_region}:{account}:function:{name}"
        raise errors.not_found(f"{arn}:{wanted}" if wanted else arn)
    return FunctionRef(name, LATEST)


def check_name(name: str) -> str:
    """A function name the service can serve (Lambda's rule: 1-64 of [a-zA-Z0-9_-])."""
    if not _NAME.fullmatch(name):
        raise ValueError(
            f"function name {name!r}: use 1 to 64 letters, digits, '-' or '_' (Lambda's rule)"
        )
    return name
