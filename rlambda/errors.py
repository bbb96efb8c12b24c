"""The two ways a command fails: the user's input was wrong, or the job itself failed."""

import json
import sys


class UsageError(Exception):
    """Bad input: a flag, a pin or a file the user can fix. Exit status 2."""


class JobError(Exception):
    """The job failed (a download, a build, the engine). Exit status 1."""


class HalfDone(JobError):
    """The job failed after it had changed something: what it did, and what it did not do, so
    nobody has to guess the state it left (a function created, its alias not moved)."""

    def __init__(self, cause: Exception, done: list[str], not_done: list[str]):
        self.cause = cause
        self.done = list(done)
        self.not_done = list(not_done)
        text = f"{cause}. Done before the failure: {'; '.join(self.done)}"
        if self.not_done:
            text += f". Not done: {'; '.join(self.not_done)}"
        super().__init__(text)

    @classmethod
    def wrap(
        cls, error: "UsageError | JobError", done: list[str], not_done: list[str]
    ) -> "UsageError | JobError":
        """`error` said with what was done before it (nothing done: `error` as it is)."""
        if isinstance(error, HalfDone):
            return cls(error.cause, [*done, *error.done], [*error.not_done, *not_done])
        if not done:
            return error
        return cls(error, done, not_done)


def report(error: UsageError | JobError, *, as_json: bool = False) -> int:
    """Print a failure the way every command does and return its exit status (2 or 1). With
    `as_json` a JSON document on stdout says the same, for whoever reads only that."""
    status = 2 if isinstance(error, UsageError) else 1
    print(f"{'error' if status == 2 else 'failed'}: {error}", file=sys.stderr)
    if as_json:
        document: dict = {"error": str(error), "exit_status": status}
        if isinstance(error, HalfDone):
            document |= {"cause": str(error.cause), "done": error.done, "not_done": error.not_done}
        print(json.dumps(document, indent=2, sort_keys=True))
    return status
