"""The two ways a command fails: the user's input was wrong, or the job itself failed."""

import sys


class UsageError(Exception):
    """Bad input: a flag, a pin or a file the user can fix. Exit status 2."""


class JobError(Exception):
    """The job failed (a download, a build, the engine). Exit status 1."""


def report(error: UsageError | JobError) -> int:
    """Print a failure the way every command does and return its exit status (2 or 1)."""
    if isinstance(error, UsageError):
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"failed: {error}", file=sys.stderr)
    return 1
