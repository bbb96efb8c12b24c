"""--rollback: point an alias back at the version deploy recorded on it when it last moved."""

import sys
from dataclasses import dataclass

import botocore.exceptions

from rlambda import aws
from rlambda.errors import UsageError
from rlambda.functions.versions import (
    move_alias,
    read_alias,
    read_configuration,
    recorded_previous,
)


@dataclass(frozen=True)
class Rollback:
    function: str
    alias: str
    from_version: str
    to_version: str

    def to_json(self) -> dict:
        return {
            "function": self.function,
            "alias": self.alias,
            "from_version": self.from_version,
            "to_version": self.to_version,
        }


def rollback(lam, function: str, alias: str, out=None) -> Rollback:
    """Point `alias` back at the version recorded on it, and record the one it leaves.

    Rolling back twice therefore returns to where it started: the record is always "the
    version this alias pointed at before its last move".
    """
    current = read_alias(lam, function, alias)
    if current is None:
        raise UsageError(
            f"function {function!r} has no alias {alias!r}: nothing to roll back (deploy with"
            f" --alias {alias} creates it)"
        )
    before = current["FunctionVersion"]
    previous = recorded_previous(current)
    if previous is None:
        raise UsageError(
            f"alias {alias!r} of {function!r} (version {before}) records no earlier version:"
            " nothing to roll back to (deploy records one each time it moves the alias)"
        )
    if read_configuration(lam, function, previous) is None:
        raise UsageError(f"alias {alias!r} records version {previous}, which no longer exists")
    try:
        move_alias(lam, function, alias, previous, current)
    except botocore.exceptions.ClientError as e:
        raise aws.explain(e, f"rolling back alias {alias} of {function}") from None
    print(
        f"==> rolled back {function}:{alias}: version {before} -> {previous}",
        file=out or sys.stderr,
    )
    return Rollback(function, alias, before, previous)
