"""Judging one invoke: did it do what its event file expects, and if not, why, in words."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlambda.local.runtime_api import InvokeResult

from .files import EventCase, compact

_REQUEST_ID_PREFIX = re.compile(r"^RequestId: \S+ Error: ")


@dataclass(frozen=True)
class EventOutcome:
    """One event file's invoke, and whether it did what the file expects."""

    path: Path
    passed: bool
    expected: str
    got: str
    duration_ms: float | None
    init_ms: float | None
    max_memory_mb: int | None
    memory_size_mb: int
    # Why it failed, in words, when the bare error type does not say it.
    detail: str | None = None
    # SnapStart: the after-restore steps of a restored environment's first invoke.
    restore_ms: float | None = None

    @property
    def name(self) -> str:
        return self.path.name


def _error_document(result: InvokeResult) -> dict[str, Any]:
    try:
        document = result.json()
    except ValueError:
        return {"errorMessage": result.body.decode("utf-8", "replace")}
    return document if isinstance(document, dict) else {"errorMessage": str(document)}


def _failed_in_init(result: InvokeResult) -> bool:
    # The emulator reports a cold start that failed before the runtime asked for the event
    # with the init time as the invoke's duration too (RuntimeApiServer._invoke_locked).
    report = result.report
    return (
        report is not None
        and report.init_duration_ms is not None
        and report.duration_ms == report.init_duration_ms
    )


def _explain(result: InvokeResult, error: dict[str, Any], timeout_s: float) -> str | None:
    """Lambda's terse error, said in words a person fixing the image can act on."""
    error_type = error.get("errorType")
    report = result.report
    in_init = _failed_in_init(result)
    if report is not None and report.error_type == "SnapStartException":
        return "an after-restore hook failed: the restored environment served no invoke"
    if error_type == "SnapStartTimeoutException":
        return "the after-restore hooks took longer than Lambda's 10 s"
    if error_type == "Sandbox.Timedout":
        if in_init:
            return (
                f"init did not finish within {timeout_s:g} s: the runtime never asked for an "
                "event (GET /2018-06-01/runtime/invocation/next)"
            )
        return f"the handler did not answer within {timeout_s:g} s"
    if error_type == "Runtime.ExitError":
        message = str(error.get("errorMessage", ""))
        status = message.rsplit("Runtime exited with error: ", 1)[-1]
        if report and report.max_memory_mb and report.max_memory_mb >= report.memory_size_mb:
            return f"out of memory: killed at the {report.memory_size_mb} MB limit"
        if in_init:
            # All the emulator knows: no GET /next arrived and no init error was posted. The
            # runtime's init may have finished and its first GET /next failed (R 4.0 and an
            # argument only newer R has, issue 20): the runtime's log says which.
            return (
                f"the runtime exited ({status}) before asking for its first event, "
                "without reporting an init error: the end of its log says why"
            )
        return f"the runtime exited while handling the event ({status})"
    if in_init:
        return f"init failed: {error.get('errorMessage', '')}".strip()
    return None


def judge(case: EventCase, result: InvokeResult, timeout_s: float, memory_mb: int) -> EventOutcome:
    """Compare one invoke's result with what its event file expects."""
    report = result.report
    detail = None
    if result.failed:
        error = _error_document(result)
        error_type = str(error.get("errorType") or result.error_type() or "")
        message = str(error.get("errorMessage", ""))
        # Lambda prefixes its own errors with "RequestId: <id> Error: "; noise in a table.
        shown = _REQUEST_ID_PREFIX.sub("", message)
        got = f"{error_type}: {shown}" if shown else error_type
        detail = _explain(result, error, timeout_s)
        passed = case.expects_error and error_type == case.expect_error_type
        if passed and case.expect_error_message is not None:
            passed = case.expect_error_message in message
    else:
        try:
            value = result.json()
            got = compact(value)
            passed = not case.expects_error and value == case.expect_response
        except ValueError:
            got = result.body.decode("utf-8", "replace")
            passed = False
            detail = f"the response is not JSON ({result.content_type})"
    return EventOutcome(
        path=case.path,
        passed=passed,
        expected=case.expected_text(),
        got=got,
        duration_ms=report.duration_ms if report else None,
        init_ms=report.init_duration_ms if report else None,
        max_memory_mb=report.max_memory_mb if report else None,
        memory_size_mb=memory_mb,
        detail=detail,
        restore_ms=report.restore_duration_ms if report else None,
    )
