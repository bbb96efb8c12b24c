"""Values the emulator hands back, and the limits and error bodies Lambda uses.

Sources for the numbers and texts below (checked against AWS's Runtime Interface Emulator,
github.com/aws/aws-lambda-runtime-interface-emulator, which shares `rapid` with Lambda):
- lambda/interop/model.go: `MaxPayloadSize = 6*1024*1024 + 100`, the response limit, and
  `ErrorResponseTooLarge` ("Response payload size (N bytes) exceeded maximum allowed payload
  size (M bytes)."). Lambda itself answers without the "(N bytes)" part, as moto's tests and
  users' reports show: "Response payload size exceeded maximum allowed payload size
  (6291556 bytes)." with errorType `Function.ResponseSizeTooLarge`; we give Lambda's text.
- lambda/rapi/rendering/render_error.go: 413 `RequestEntityTooLarge`, 400 `InvalidRequestID`,
  403 `InvalidStateTransition` bodies sent back to the runtime.
- cmd/aws-lambda-rie/handlers.go: "Task timed out after %d.00 seconds" and the REPORT line.
  Lambda's Invoke API wraps it as {"errorType": "Sandbox.Timedout", "errorMessage":
  "RequestId: <id> Error: Task timed out after 1.00 seconds"} (seen in public payloads).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

# A launcher whose runtimes have no network (DockerRuntime: a container with
# network_mode="none") has a true `api_socket` attribute. The emulator then serves the Runtime
# API on a Unix socket too, and passes the socket's host path in the start environment under
# this key, for the launcher to bind-mount (and not to pass on).
API_SOCKET_ENV = "_RLAMBDA_RUNTIME_API_SOCKET"
# The largest response a runtime may post (6 MiB + 100 bytes, rapid's MaxPayloadSize).
MAX_RESPONSE_BYTES = 6 * 1024 * 1024 + 100
# The largest synchronous invoke request Lambda's Invoke API accepts ("limit 6291456 bytes").
MAX_REQUEST_BYTES = 6 * 1024 * 1024

# Runtime state names exactly as rapid renders them in InvalidStateTransition messages
# (lambda/core/runtime_state_names.go).
STATE_STARTED = "Started"
STATE_INIT_ERROR = "InitError"
STATE_READY = "Ready"
STATE_INVOCATION_RESPONSE = "InvocationResponse"
STATE_INVOCATION_ERROR_RESPONSE = "InvocationErrorResponse"
STATE_RESPONSE_SENT = "RuntimeResponseSentState"
# SnapStart (same file): Started -> RestoreReady (GET restore/next, the snapshot is taken while
# it waits) -> Restoring (the call returned in a restored environment) -> Ready (GET next), or
# -> RuntimeRestoreErrorState (POST restore/error, allowed only while Restoring).
STATE_RESTORE_READY = "RestoreReady"
STATE_RESTORING = "Restoring"
STATE_RESTORE_ERROR = "RuntimeRestoreErrorState"

# AWS_LAMBDA_INITIALIZATION_TYPE: "on-demand" for a cold start, "snap-start" when Lambda
# initialises a published version to snapshot it (AWS: "Implementing SnapStart hooks for
# container images", snapstart-runtime-hooks-custom).
INIT_ON_DEMAND = "on-demand"
INIT_SNAP_START = "snap-start"
# Init before a snapshot may take 15 minutes; Lambda's timeout for it is 130 s or the function's
# timeout, whichever is higher (AWS: "Lambda SnapStart", snapstart.html, and the execution
# environment lifecycle page, "Init phase"). After-restore hooks must finish within 10 s, or
# the invoke fails with SnapStartTimeoutException (AWS: snapstart-troubleshooting.html).
SNAPSTART_MIN_INIT_LIMIT_S = 130.0
SNAPSTART_RESTORE_LIMIT_S = 10.0

FUNCTION_ERROR_UNHANDLED = "Unhandled"

# Lambda's "defined runtime environment variables" that a function's configuration (or, for a
# container image, its ENV) may override, with Lambda's values. Sources: AWS's Lambda guide
# (configuration-envvars, "Unreserved environment variables") and rapid's environment setup
# (RIE: internal/lambda-managed-instances/rapidcore/env/environment.go, its `overridable`
# set), which RIE's managed-instances mode was seen to apply. The X-Ray daemon is at
# 169.254.79.129:2000 on Lambda; here nothing listens, and nothing may leave the machine, so
# the address is loopback's.
LAMBDA_DEFAULTS = {
    "LANG": "en_US.UTF-8",
    "TZ": ":UTC",
    "PATH": "/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin",
    "LD_LIBRARY_PATH": "/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:"
    "/var/task:/var/task/lib:/opt/lib",
    "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
    "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
}


class RuntimeApiError(Exception):
    """The emulator itself could not do what was asked (e.g. its port is taken)."""


def error_body(error_type: str, message: str) -> bytes:
    """An error document the way Lambda and rapid write one."""
    return json.dumps({"errorMessage": message, "errorType": error_type}).encode()


def state_transition_error(current: str, target: str) -> bytes:
    # lambda/rapi/handler/constants.go StateTransitionFailedForRuntimeMessageFormat, with
    # core.ErrNotAllowed as the error.
    return error_body(
        "InvalidStateTransition",
        f"State transition from {current} to {target} failed for runtime. "
        "Error: State transition is not allowed",
    )


INVALID_REQUEST_ID = error_body("InvalidRequestID", "Invalid request ID")
ACCEPTED = json.dumps({"status": "OK"}).encode()


def response_too_large_for_runtime(limit: int) -> bytes:
    return error_body(
        "RequestEntityTooLarge", f"Exceeded maximum allowed payload size ({limit} bytes)."
    )


def response_too_large_for_caller(limit: int) -> bytes:
    return error_body(
        "Function.ResponseSizeTooLarge",
        f"Response payload size exceeded maximum allowed payload size ({limit} bytes).",
    )


def request_too_large(size: int, limit: int) -> bytes:
    # Lambda's Invoke API: RequestTooLargeException, HTTP 413, body {"Message": ...}.
    message = f"{size} byte payload is too large for the RequestResponse invocation type"
    return json.dumps({"Message": f"{message} (limit {limit} bytes)"}).encode()


@dataclass(frozen=True)
class InvokeReport:
    """What Lambda's REPORT log line says about one invoke."""

    request_id: str
    duration_ms: float
    billed_duration_ms: int
    memory_size_mb: int
    max_memory_mb: int | None
    # Runtime process start until its first GET next; only on a cold start.
    init_duration_ms: float | None
    # SnapStart only, on the first invoke of a restored environment: from the restore (GET
    # restore/next answered) until the runtime's GET next, i.e. the after-restore hooks. Lambda
    # writes it as "Restore Duration" (the init, before the snapshot, is paid at publish).
    restore_duration_ms: float | None = None
    # "success", "error" or "timeout": Lambda adds "Status: …" to REPORT for the last two.
    status: str = "success"
    error_type: str | None = None

    def line(self) -> str:
        """The REPORT line, tab-separated like Lambda's."""
        parts = [
            f"REPORT RequestId: {self.request_id}",
            f"Duration: {self.duration_ms:.2f} ms",
            f"Billed Duration: {self.billed_duration_ms} ms",
            f"Memory Size: {self.memory_size_mb} MB",
            f"Max Memory Used: {self.max_memory_mb if self.max_memory_mb is not None else '-'} MB",
        ]
        if self.restore_duration_ms is not None:
            parts.append(f"Restore Duration: {self.restore_duration_ms:.2f} ms")
        elif self.init_duration_ms is not None:
            parts.append(f"Init Duration: {self.init_duration_ms:.2f} ms")
        if self.status != "success":
            parts.append(f"Status: {self.status}")
            if self.error_type:
                parts.append(f"Error Type: {self.error_type}")
        return "\t".join(parts) + "\t"


def billed_ms(duration_ms: float, init_duration_ms: float | None) -> int:
    # Custom runtimes and container images are billed for init too, rounded up to the ms.
    return math.ceil(duration_ms + (init_duration_ms or 0.0))


@dataclass(frozen=True)
class InvokeResult:
    """The answer to one invoke, shaped like Lambda's Invoke API response."""

    status_code: int
    body: bytes
    # Lambda's X-Amz-Function-Error header: "Unhandled" for any function error, else None.
    function_error: str | None
    report: InvokeReport | None
    content_type: str = "application/json"
    # False when the emulator cannot mark function errors (AWS's RIE answers them with a bare
    # 200 and the error document): `failed` then reads the body.
    errors_marked: bool = True

    @property
    def request_id(self) -> str | None:
        return self.report.request_id if self.report else None

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def failed(self) -> bool:
        """Whether the invoke failed, as far as the emulator that answered can show it."""
        if self.function_error is not None or self.status_code != 200:
            return True
        return not self.errors_marked and unmarked_error_type(self.body) is not None

    def error_type(self) -> str | None:
        """The failure's errorType (Lambda's own, or the handler's), None on success."""
        if not self.failed:
            return None
        found = unmarked_error_type(self.body)
        if found is None and self.report is not None:
            found = self.report.error_type
        return found


# RIE's whole answer to an invoke that timed out (cmd/aws-lambda-rie: "Task timed out after
# %d.00 seconds"), sent with 200; Lambda answers {"errorType": "Sandbox.Timedout", ...}.
_RIE_TIMEOUT = re.compile(rb"Task timed out after \d+\.\d\d seconds")


def unmarked_error_type(body: bytes) -> str | None:
    """The errorType an answer's body carries: an error document's, or Sandbox.Timedout for
    RIE's timeout text; None for anything else.

    A handler that returns {"errorType": ..., "errorMessage": ...} itself looks the same: where
    errors are not marked (AWS's RIE), the two cannot be told apart.
    """
    if _RIE_TIMEOUT.fullmatch(body.strip()):
        return "Sandbox.Timedout"
    try:
        document = json.loads(body)
    except ValueError:
        return None
    if (
        isinstance(document, dict)
        and isinstance(document.get("errorType"), str)
        and "errorMessage" in document
    ):
        return document["errorType"]
    return None
