"""What an invoke ends in, as the emulator answers it: the Invoke API's status, body and
function-error header, and the report's status and error type. Made here for the runtime's
answer and for each failure the emulator itself reports (the runtime's exit, a timeout, a
failed launch, a snap-start restore that fails or never ends); also the trace id an event
carries."""

from __future__ import annotations

import secrets
import signal
import time
from dataclasses import dataclass
from http import HTTPStatus

from . import model

_NO_RESTORE_NEXT = (
    "the runtime polled /runtime/invocation/next without calling /runtime/restore/next under "
    "snap-start: Lambda publishes a version of such an image only with "
    'LABEL com.amazonaws.lambda.feature.snapstart="Allow"'
)


@dataclass(frozen=True)
class Outcome:
    status_code: int
    body: bytes
    function_error: str | None
    status: str  # success | error | timeout
    error_type: str | None
    content_type: str = "application/json"

    @classmethod
    def failure(cls, error_type: str, body: bytes, status: str = "error") -> Outcome:
        # Lambda's Invoke API answers every function error with 200 and the header
        # X-Amz-Function-Error: Unhandled (RIE answers 502 or a bare 200; we follow Lambda).
        return cls(HTTPStatus.OK, body, model.FUNCTION_ERROR_UNHANDLED, status, error_type)


def new_trace_id() -> str:
    # X-Ray's format; Lambda sends one on every event, sampled or not.
    root = f"1-{int(time.time()):08x}-{secrets.token_hex(12)}"
    return f"Root={root};Parent={secrets.token_hex(8)};Sampled=0"


def exit_text(code: int) -> str:
    # Go's ProcessState.String(), which rapid puts in "Runtime exited with error: …".
    if code < 0:
        try:
            return f"signal: {signal.strsignal(-code) or -code}".lower()
        except ValueError:
            return f"signal: {-code}"
    return f"exit status {code}"


def exit_error(request_id: str, exit_code: int) -> Outcome:
    """The runtime exited before it answered the event (or ended its init)."""
    message = f"RequestId: {request_id} Error: Runtime exited with error: {exit_text(exit_code)}"
    return Outcome.failure("Runtime.ExitError", model.error_body("Runtime.ExitError", message))


def timeout_error(request_id: str, limit_s: float) -> Outcome:
    """The invoke (or the init) ran past its limit."""
    message = f"RequestId: {request_id} Error: Task timed out after {limit_s:.2f} seconds"
    body = model.error_body("Sandbox.Timedout", message)
    return Outcome.failure("Sandbox.Timedout", body, status="timeout")


def invalid_entrypoint(request_id: str, exc: OSError) -> Outcome:
    """The runtime could not be started at all."""
    message = f"RequestId: {request_id} Error: {exc}"
    body = model.error_body("Runtime.InvalidEntrypoint", message)
    return Outcome.failure("Runtime.InvalidEntrypoint", body)


def no_restore_next() -> Outcome:
    """Under snap-start, the runtime ended its init without asking for the restore."""
    return Outcome.failure(
        "Runtime.SnapStartNotImplemented",
        model.error_body("Runtime.SnapStartNotImplemented", _NO_RESTORE_NEXT),
    )


def restore_error(body: bytes) -> Outcome:
    # Lambda's Invoke API answers SnapStartException (400): "The afterRestore() runtime
    # hook encountered an error" (botocore's Lambda model). The body here is the
    # runtime's own error document, so that R's message and class reach the caller.
    return Outcome(HTTPStatus.BAD_REQUEST, body, None, "error", "SnapStartException")


def restore_timeout() -> Outcome:
    message = "Lambda couldn't restore the snapshot within the timeout limit."
    return Outcome(
        HTTPStatus.REQUEST_TIMEOUT,
        model.error_body("SnapStartTimeoutException", message),
        None,
        "timeout",
        "SnapStartTimeoutException",
    )
