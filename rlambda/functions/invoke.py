"""Invoke a deployed function once: the result, the tail of its log, and whether it failed.

The event is either a plain JSON payload or a recipe's event file (`{"event": …, "expect": …}`),
in which case the answer is also judged against what the file expects, the same way
`build.py test` judges a local run (rlambda.local.events.judge.judge).
"""

import base64
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import botocore.exceptions

from rlambda import aws
from rlambda.errors import UsageError
from rlambda.functions.rollback import Rollback, rollback
from rlambda.local.events.files import EventCase, load_event_file
from rlambda.local.events.judge import EventOutcome, judge
from rlambda.local.runtime_api import InvokeResult


@dataclass(frozen=True)
class Invocation:
    result: InvokeResult
    log_tail: str  # the last 4 KB of the invoke's log (LogType=Tail), "" when none came back
    executed_version: str | None
    outcome: EventOutcome | None  # when the event file says what to expect

    @property
    def passed(self) -> bool:
        if self.outcome is not None:
            return self.outcome.passed
        return self.result.function_error is None

    def to_json(self) -> dict:
        try:
            payload = self.result.json()
        except ValueError:
            payload = self.result.body.decode("utf-8", "replace")
        return {
            "status_code": self.result.status_code,
            "function_error": self.result.function_error,
            "executed_version": self.executed_version,
            "payload": payload,
            "passed": self.passed,
            "expected": self.outcome.expected if self.outcome else None,
        }


def load_event(path: Path) -> tuple[object, EventCase | None]:
    """(payload, the event file's case when it is one)."""
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        raise UsageError(f"--event {path}: no such file") from None
    except json.JSONDecodeError as e:
        raise UsageError(f"--event {path}: not JSON (line {e.lineno}: {e.msg})") from None
    if isinstance(document, dict) and "expect" in document:
        case = load_event_file(path)
        return case.payload, case
    return document, None


def invoke(
    lam, function: str, qualifier: str | None, path: Path, timeout_s: float = 30
) -> Invocation:
    payload, case = load_event(path)
    kwargs = {"FunctionName": function} | ({"Qualifier": qualifier} if qualifier else {})
    try:
        answer = lam.invoke(**kwargs, Payload=json.dumps(payload).encode(), LogType="Tail")
    except botocore.exceptions.ClientError as e:
        raise aws.explain(
            e, f"invoking {function}" + (f":{qualifier}" if qualifier else "")
        ) from None
    result = InvokeResult(
        status_code=answer["StatusCode"],
        body=answer["Payload"].read(),
        function_error=answer.get("FunctionError"),
        report=None,
    )
    log = base64.b64decode(answer.get("LogResult") or "").decode("utf-8", "replace")
    outcome = judge(case, result, timeout_s, memory_mb=0) if case else None
    return Invocation(result, log, answer.get("ExecutedVersion"), outcome)


def show(invocation: Invocation, out=None, err=None) -> None:
    """The payload on stdout; the log tail and the verdict on stderr."""
    out, err = out or sys.stdout, err or sys.stderr
    print(invocation.result.body.decode("utf-8", "replace"), file=out)
    if invocation.log_tail:
        print("---- log (tail) ----", file=err)
        print(invocation.log_tail.rstrip("\n"), file=err)
    if invocation.result.function_error:
        print(f"function error ({invocation.result.function_error})", file=err)
    if invocation.outcome is not None and not invocation.outcome.passed:
        print(
            f"not what {invocation.outcome.name} expects: expected {invocation.outcome.expected},"
            f" got {invocation.outcome.got}",
            file=err,
        )


def smoke_test(lam, deployed, event: Path, out=None) -> tuple[Invocation, Rollback | None]:
    """Invoke what was just deployed with `event`; if it fails, roll the alias back.

    Returns (the invocation, the Rollback or None). The alias is rolled back only when this
    deploy moved it (a new alias has nothing to go back to; that is said instead).
    """
    err = out or sys.stderr
    # SnapStart applies to published versions only: the version itself is what is tested.
    qualifier = deployed.version if deployed.snapstart else deployed.alias
    print(f"==> smoke test: {event.name} -> {deployed.function}:{qualifier or '$LATEST'}", file=err)
    invocation = invoke(lam, deployed.function, qualifier, event)
    show(invocation, out=err, err=err)
    if invocation.passed:
        print("==> smoke test passed", file=err)
        return invocation, None
    if not deployed.alias:
        print("==> smoke test FAILED (no --alias: nothing to roll back)", file=err)
        return invocation, None
    if not deployed.alias_moved:
        print(
            f"==> smoke test FAILED; alias {deployed.alias} did not move in this deploy, so it is"
            " left as it is",
            file=err,
        )
        return invocation, None
    print("==> smoke test FAILED: rolling the alias back", file=err)
    return invocation, rollback(lam, deployed.function, deployed.alias, out=err)
