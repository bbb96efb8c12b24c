"""The runtime's side of the emulator: the Runtime API routes and rapid's state machine.

The runtime's protocol state follows rapid's (lambda/core/states.go in AWS's RIE):
Started -> Ready (an event delivered) -> InvocationResponse / InvocationErrorResponse (an
answer being read) -> RuntimeResponseSentState -> Ready ... An answer in any other state gets
403 InvalidStateTransition; an answer for another request id gets 400 InvalidRequestID.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler

from rlambda.local.http_io import BadRequest, Body, read_body
from rlambda.local.runtime_api.launcher import RuntimeHandle

from . import model

ERROR_TYPE_HEADER = "Lambda-Runtime-Function-Error-Type"
ERROR_BODY_TRAILER = "Lambda-Runtime-Function-Error-Body"
RESPONSE_MODE_HEADER = "Lambda-Runtime-Function-Response-Mode"


@dataclass(frozen=True)
class Answer:
    """What the runtime said about one event (or about its init)."""

    body: bytes
    error_type: str | None  # None: a successful response
    content_type: str = "application/json"


@dataclass
class Invocation:
    request_id: str
    payload: bytes
    deadline_epoch_ms: int
    trace_id: str
    client_context: str | None
    cognito_identity: str | None
    answer: Answer | None = None
    answered_at: float = 0.0


@dataclass
class RuntimeState:
    """Everything about the current runtime process; replaced on every (re)start."""

    generation: int = 0
    handle: RuntimeHandle | None = None
    state: str = model.STATE_STARTED
    init_done_at: float | None = None
    init_error: Answer | None = None
    exit_code: int | None = None
    pending: Invocation | None = None  # offered, not yet taken by GET next
    current: Invocation | None = None  # delivered to the runtime
    # SnapStart: when GET restore/next came (init done, snapshot point), whether the emulator
    # has "restored" (answers that call), when, and the runtime's POST restore/error.
    restore_asked_at: float | None = None
    restore_released: bool = False
    restored_at: float | None = None
    restore_error: Answer | None = None


def decode_trailer_error(body: Body) -> tuple[str | None, bytes]:
    """(error type, error body) from a streamed response's trailers; type None if no error."""
    error_type = body.trailers.get(ERROR_TYPE_HEADER.lower())
    if not error_type:
        return None, b""
    encoded = body.trailers.get(ERROR_BODY_TRAILER.lower(), "")
    try:
        return error_type, base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        # Pass on what the runtime sent rather than losing its error.
        return error_type, encoded.encode()


def _error_type(handler: BaseHTTPRequestHandler, body: bytes) -> str:
    """The error's type: the runtime's header, else the body's errorType (awslambdaric sends no
    header), else Runtime.Unknown."""
    if header := handler.headers.get(ERROR_TYPE_HEADER):
        return header
    try:
        value = json.loads(body).get("errorType")
    except (ValueError, AttributeError):
        value = None
    return value if isinstance(value, str) and value else "Runtime.Unknown"


class RuntimeProtocol:
    """Serves the Runtime API routes against the state of the current runtime.

    RuntimeApiServer builds on this; the invoke side hands events over through `_rt.pending`
    and waits on `_cond` for `Invocation.answer`.
    """

    def __init__(self, function_arn: str, max_response_bytes: int, snapstart: bool = False) -> None:
        self.function_arn = function_arn
        self.max_response_bytes = max_response_bytes
        self.snapstart = snapstart
        # One lock and condition for all runtime state: every change is notified on it.
        self._cond = threading.Condition()
        self._rt = RuntimeState()
        self._closing = False

    def next_invocation(
        self, peer_gone: Callable[[], bool]
    ) -> tuple[int, bytes, dict[str, str]] | None:
        """GET /runtime/invocation/next: long-polls until an event is offered.

        None means: drop the connection (the runtime was replaced, or the server closes).
        """
        with self._cond:
            rt = self._rt
            generation = rt.generation
            if rt.state in (model.STATE_STARTED, model.STATE_RESTORING) and rt.init_done_at is None:
                # Init done (or, after a restore, the after-restore hooks): ready for events.
                rt.init_done_at = time.monotonic()
                self._cond.notify_all()
            elif rt.state == model.STATE_READY and rt.current and rt.current.answer is None:
                # rapid renders the event in flight again when next is called twice
                # (rapi/handler/invocationnext.go: Ready() is a no-op in state Ready).
                return self._render(rt.current)
            elif rt.state not in (
                model.STATE_STARTED,
                model.STATE_RESTORING,
                model.STATE_RESPONSE_SENT,
            ):
                body = model.state_transition_error(rt.state, model.STATE_READY)
                return HTTPStatus.FORBIDDEN, body, {}
            while True:
                if self._closing or rt is not self._rt or rt.generation != generation:
                    return None
                if rt.pending is not None:
                    if peer_gone():
                        return None
                    invocation, rt.pending = rt.pending, None
                    rt.current, rt.state = invocation, model.STATE_READY
                    return self._render(invocation)
                self._cond.wait()

    def _render(self, invocation: Invocation) -> tuple[int, bytes, dict[str, str]]:
        headers = {
            "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
            "Lambda-Runtime-Deadline-Ms": str(invocation.deadline_epoch_ms),
            "Lambda-Runtime-Invoked-Function-Arn": self.function_arn,
            "Lambda-Runtime-Trace-Id": invocation.trace_id,
        }
        # Like rapid: these two only when the caller gave them.
        if invocation.client_context:
            headers["Lambda-Runtime-Client-Context"] = invocation.client_context
        if invocation.cognito_identity:
            headers["Lambda-Runtime-Cognito-Identity"] = invocation.cognito_identity
        return HTTPStatus.OK, invocation.payload, headers

    def answer(
        self, handler: BaseHTTPRequestHandler, request_id: str, kind: str
    ) -> tuple[int, bytes]:
        """POST /runtime/invocation/{id}/response or /error.

        As rapi/handler/invocationresponse.go and invocationerror.go: the state transition
        is checked first (403), then the request id (400); 202 {"status":"OK"} on success.
        """
        target = (
            model.STATE_INVOCATION_RESPONSE
            if kind == "response"
            else model.STATE_INVOCATION_ERROR_RESPONSE
        )
        with self._cond:
            rt, refusal = self._rt, None
            if rt.state != model.STATE_READY:
                refusal = (HTTPStatus.FORBIDDEN, model.state_transition_error(rt.state, target))
            elif rt.current is None or rt.current.request_id != request_id:
                # rapid moves to `target` before it checks the id (then refuses the real
                # answer too); we leave the state alone so the runtime can still answer.
                refusal = (HTTPStatus.BAD_REQUEST, model.INVALID_REQUEST_ID)
            else:
                invocation = rt.current
                rt.state = target
        if refusal is not None:
            read_body(handler, 0)  # keep the connection usable
            return refusal
        # Read the body outside the lock: a 6 MB answer must not hold up the other routes.
        try:
            status, body, answer = (
                self._read_response(handler) if kind == "response" else self._read_error(handler)
            )
        except BadRequest:
            with self._cond:
                if rt.state == target:
                    rt.state = model.STATE_READY
            raise
        with self._cond:
            invocation.answer = answer
            invocation.answered_at = time.monotonic()
            rt.state = model.STATE_RESPONSE_SENT
            self._cond.notify_all()
        return status, body

    def _read_response(self, handler: BaseHTTPRequestHandler) -> tuple[int, bytes, Answer]:
        mode = handler.headers.get(RESPONSE_MODE_HEADER)
        if mode is not None and mode != "streaming":
            read_body(handler, 0)
            error_type = "Runtime.InvalidResponseModeHeader"
            answer = Answer(
                model.error_body(error_type, f"Invalid response mode {mode!r}"), error_type
            )
            body = model.error_body("InvalidFunctionResponseMode", "Invalid function response mode")
            return HTTPStatus.BAD_REQUEST, body, answer
        received = read_body(handler, self.max_response_bytes)
        if received.too_large(self.max_response_bytes):
            return self._too_large()
        # A streamed response that failed part-way says so in its trailers; the bytes sent
        # before the error are dropped, as a buffered invoke of a streaming function would.
        error_type, error_body = decode_trailer_error(received)
        if error_type is not None:
            return HTTPStatus.ACCEPTED, model.ACCEPTED, Answer(error_body, error_type)
        content_type = handler.headers.get("Content-Type") or "application/json"
        return HTTPStatus.ACCEPTED, model.ACCEPTED, Answer(received.data, None, content_type)

    def _too_large(self) -> tuple[int, bytes, Answer]:
        """A response or error body over the limit: 413 to the runtime, the invoke fails."""
        limit = self.max_response_bytes
        answer = Answer(model.response_too_large_for_caller(limit), "Function.ResponseSizeTooLarge")
        return (
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            model.response_too_large_for_runtime(limit),
            answer,
        )

    def _read_error(self, handler: BaseHTTPRequestHandler) -> tuple[int, bytes, Answer]:
        received = read_body(handler, self.max_response_bytes)
        if received.too_large(self.max_response_bytes):
            return self._too_large()
        error_type = _error_type(handler, received.data)
        return HTTPStatus.ACCEPTED, model.ACCEPTED, Answer(received.data, error_type)

    def init_error(self, handler: BaseHTTPRequestHandler) -> tuple[int, bytes]:
        """POST /runtime/init/error: only allowed before the first event (state Started)."""
        received = read_body(handler, self.max_response_bytes)
        error_type = _error_type(handler, received.data)
        with self._cond:
            rt = self._rt
            if rt.state != model.STATE_STARTED:
                body = model.state_transition_error(rt.state, model.STATE_INIT_ERROR)
                return HTTPStatus.FORBIDDEN, body
            rt.state = model.STATE_INIT_ERROR
            rt.init_error = Answer(received.data, error_type)
            self._cond.notify_all()
        return HTTPStatus.ACCEPTED, model.ACCEPTED

    # ---- SnapStart -------------------------------------------------------------------

    def restore_next(
        self, peer_gone: Callable[[], bool]
    ) -> tuple[int, bytes, dict[str, str]] | None:
        """GET /runtime/restore/next: init is done; the call waits while the snapshot is
        taken and returns in the restored environment (rapid: Started -> RestoreReady ->
        Restoring). Only under snap-start, and only once, before the first GET next.

        None means: drop the connection (the runtime was replaced, or the server closes).
        """
        with self._cond:
            rt = self._rt
            generation = rt.generation
            if not self.snapstart or rt.state != model.STATE_STARTED or rt.init_done_at:
                # rapid allows the call from Started whatever the initialization type; an
                # on-demand environment is never snapshotted, so here it is refused.
                state = rt.state if self.snapstart else f"{rt.state} (on-demand init)"
                body = model.state_transition_error(state, model.STATE_RESTORE_READY)
                return HTTPStatus.FORBIDDEN, body, {}
            rt.state = model.STATE_RESTORE_READY
            rt.restore_asked_at = time.monotonic()
            self._cond.notify_all()
            while not rt.restore_released:
                if self._closing or rt is not self._rt or rt.generation != generation:
                    return None
                self._cond.wait()
            if peer_gone():
                return None
            rt.state = model.STATE_RESTORING
            rt.restored_at = time.monotonic()
            self._cond.notify_all()
        return HTTPStatus.OK, b"", {}

    def restore_error(self, handler: BaseHTTPRequestHandler) -> tuple[int, bytes]:
        """POST /runtime/restore/error: an after-restore hook failed; allowed only while
        Restoring (before the runtime's GET next). The environment then serves no invoke."""
        received = read_body(handler, self.max_response_bytes)
        error_type = _error_type(handler, received.data)
        with self._cond:
            rt = self._rt
            if rt.state != model.STATE_RESTORING or rt.init_done_at is not None:
                state = model.STATE_READY if rt.init_done_at is not None else rt.state
                body = model.state_transition_error(state, model.STATE_RESTORE_ERROR)
                return HTTPStatus.FORBIDDEN, body
            rt.state = model.STATE_RESTORE_ERROR
            rt.restore_error = Answer(received.data, error_type)
            self._cond.notify_all()
        return HTTPStatus.ACCEPTED, model.ACCEPTED
