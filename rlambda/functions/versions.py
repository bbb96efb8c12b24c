"""A function's published versions and aliases: reading a version's configuration and an
alias, finding the published version that matches $LATEST (or publishing one), and pointing an
alias at it, recording on the alias the version it left (for rollback.py)."""

import re

import botocore.exceptions

from rlambda import aws

# Where deploy records the version an alias pointed at before it moved (for --rollback).
_PREVIOUS = re.compile(r"rlambda: previous version ([0-9]+)")


def read_configuration(lam, function: str, qualifier: str | None = None) -> dict | None:
    kwargs = {"FunctionName": function} | ({"Qualifier": qualifier} if qualifier else {})
    try:
        return lam.get_function_configuration(**kwargs)
    except botocore.exceptions.ClientError as e:
        if aws.code(e) == "ResourceNotFoundException":
            return None
        raise aws.explain(e, f"reading function {function}") from None


def read_alias(lam, function: str, alias: str) -> dict | None:
    try:
        return lam.get_alias(FunctionName=function, Name=alias)
    except botocore.exceptions.ClientError as e:
        if aws.code(e) == "ResourceNotFoundException":
            return None
        raise aws.explain(e, f"reading alias {alias} of {function}") from None


# What makes two versions the same function, for deciding whether to publish.
_VERSION_KEYS = (
    "CodeSha256", "Role", "MemorySize", "Timeout", "EphemeralStorage", "Environment",
    "Description", "Architectures", "LoggingConfig",
)  # fmt: skip


def _same(a: dict, b: dict) -> bool:
    def apply_on(config: dict) -> str:
        # $LATEST reports OptimizationStatus Off, a version with a snapshot On: ApplyOn decides.
        return (config.get("SnapStart") or {}).get("ApplyOn", "None")

    return all(a.get(k) == b.get(k) for k in _VERSION_KEYS) and apply_on(a) == apply_on(b)


def _newest_version(lam, function: str) -> str | None:
    numbers = []
    for page in lam.get_paginator("list_versions_by_function").paginate(FunctionName=function):
        numbers += [int(v["Version"]) for v in page["Versions"] if v["Version"] != "$LATEST"]
    return str(max(numbers)) if numbers else None


def version(lam, function: str, alias: str | None, latest: dict) -> tuple[str, bool]:
    """The published version that is $LATEST now: (an existing one if it matches, False), else
    (a new one, True), which the caller waits for."""
    try:
        found = read_alias(lam, function, alias) if alias else None
        # The alias's version first (nothing moves), then the newest one (after a rollback).
        candidates = [found["FunctionVersion"]] if found else []
        candidates.append(_newest_version(lam, function))
        for candidate in dict.fromkeys(c for c in candidates if c and c != "$LATEST"):
            current = read_configuration(lam, function, candidate)
            if current is not None and _same(current, latest):
                return candidate, False
        published = lam.publish_version(FunctionName=function, CodeSha256=latest["CodeSha256"])
    except botocore.exceptions.ClientError as e:
        raise aws.explain(e, f"publishing a version of {function}") from None
    return published["Version"], True


def point_alias(lam, function: str, alias: str, version: str) -> tuple[str | None, str | None]:
    """(the version the alias pointed at before, a line saying what moved or None)."""
    current = read_alias(lam, function, alias)
    try:
        if current is None:
            lam.create_alias(FunctionName=function, Name=alias, FunctionVersion=version)
            return None, f"created alias {alias} -> version {version}"
        before = current["FunctionVersion"]
        if before == version:
            return recorded_previous(current), None
        move_alias(lam, function, alias, version, current)
    except botocore.exceptions.ClientError as e:
        raise aws.explain(e, f"pointing alias {alias} of {function} at version {version}") from None
    return before, f"moved alias {alias}: version {before} -> {version}"


def move_alias(lam, function: str, alias: str, version: str, current: dict) -> None:
    """Point the existing alias `current` at `version`, recording on it the version it leaves
    (what `recorded_previous` reads back for a rollback)."""
    lam.update_alias(
        FunctionName=function,
        Name=alias,
        FunctionVersion=version,
        Description=f"rlambda: previous version {current['FunctionVersion']}",
        RevisionId=current["RevisionId"],
    )


def recorded_previous(alias: dict) -> str | None:
    match = _PREVIOUS.search(alias.get("Description") or "")
    return match[1] if match else None
