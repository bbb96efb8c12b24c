"""HTTP side of the emulator: the Runtime API routes and the RIE-style invoke route.

Bodies are read, and answers written, by rlambda.local.http_io; what a route means is the
emulator's (protocol.py, server.py), reached through the `Emulator` protocol below so this
module needs neither.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import select
import socket
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Protocol

from rlambda.local.http_io import BadRequest, QuietHandler, read_body

from .model import InvokeResult, RuntimeApiError

RUNTIME_PREFIX = "/2018-06-01/runtime"
NEXT_PATH = f"{RUNTIME_PREFIX}/invocation/next"
INIT_ERROR_PATH = f"{RUNTIME_PREFIX}/init/error"
RESTORE_NEXT_PATH = f"{RUNTIME_PREFIX}/restore/next"
RESTORE_ERROR_PATH = f"{RUNTIME_PREFIX}/restore/error"
ANSWER_PATH = re.compile(rf"^{RUNTIME_PREFIX}/invocation/([^/]+)/(response|error)$")
# RIE serves any function name here; so do we.
INVOKE_PATH = re.compile(r"^/2015-03-31/functions/[^/]+/invocations$")


class Emulator(Protocol):
    """What the routes ask of the emulator (RuntimeApiServer)."""

    max_request_bytes: int

    def next_invocation(
        self, peer_gone: Callable[[], bool]
    ) -> tuple[int, bytes, dict[str, str]] | None: ...

    def answer(
        self, handler: BaseHTTPRequestHandler, request_id: str, kind: str
    ) -> tuple[int, bytes]: ...

    def init_error(self, handler: BaseHTTPRequestHandler) -> tuple[int, bytes]: ...

    def restore_next(
        self, peer_gone: Callable[[], bool]
    ) -> tuple[int, bytes, dict[str, str]] | None: ...

    def restore_error(self, handler: BaseHTTPRequestHandler) -> tuple[int, bytes]: ...

    def invoke(
        self, payload: bytes, *, trace_id: str | None = None, client_context: str | None = None
    ) -> InvokeResult: ...

    def request_too_large(self, size: int) -> InvokeResult: ...


def peer_closed(sock: socket.socket) -> bool:
    """True when the other end has hung up (a killed runtime's pending GET next)."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        return bool(readable) and sock.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


class RuntimeApiHandler(QuietHandler):
    """One connection; the emulator is found as `self.server.emulator`."""

    server_version = "rlambda-runtime-api"
    default_content_type = "application/json"

    @property
    def emulator(self) -> Emulator:
        return self.server.emulator  # type: ignore[attr-defined]

    def do_GET(self) -> None:
        if self.path == NEXT_PATH:
            wait = self.emulator.next_invocation
        elif self.path == RESTORE_NEXT_PATH:
            wait = self.emulator.restore_next
        else:
            self.send(HTTPStatus.NOT_FOUND, b'{"message":"Not Found"}')
            return
        outcome = wait(lambda: peer_closed(self.connection))
        if outcome is None:
            # The runtime this connection served is gone, or the server is closing.
            self.close_connection = True
            return
        status, body, headers = outcome
        self.send(status, body, headers)

    def do_POST(self) -> None:
        try:
            self._route_post()
        except BadRequest as exc:
            self.send(HTTPStatus.BAD_REQUEST, _message(str(exc)), close=True)

    def _route_post(self) -> None:
        if match := ANSWER_PATH.match(self.path):
            status, body = self.emulator.answer(self, match.group(1), match.group(2))
            self.send(status, body)
        elif self.path == INIT_ERROR_PATH:
            status, body = self.emulator.init_error(self)
            self.send(status, body)
        elif self.path == RESTORE_ERROR_PATH:
            status, body = self.emulator.restore_error(self)
            self.send(status, body)
        elif INVOKE_PATH.match(self.path):
            self._invoke()
        else:
            read_body(self, 0)
            self.send(HTTPStatus.NOT_FOUND, b'{"message":"Not Found"}')

    def _invoke(self) -> None:
        body = read_body(self, self.emulator.max_request_bytes)
        context = self.headers.get("X-Amz-Client-Context")
        if body.too_large(self.emulator.max_request_bytes):
            result = self.emulator.request_too_large(body.size)
        else:
            try:
                result = self.emulator.invoke(
                    body.data,
                    trace_id=self.headers.get("X-Amzn-Trace-Id"),
                    client_context=_b64_text(context) if context else None,
                )
            except RuntimeApiError as exc:
                self.send(HTTPStatus.SERVICE_UNAVAILABLE, _message(str(exc)), close=True)
                return
        headers = {"Content-Type": result.content_type, "X-Amz-Executed-Version": "$LATEST"}
        if result.request_id:
            headers["X-Amzn-RequestId"] = result.request_id
        if result.function_error:
            headers["X-Amz-Function-Error"] = result.function_error
        if result.status_code == HTTPStatus.REQUEST_ENTITY_TOO_LARGE:
            headers["X-Amzn-ErrorType"] = "RequestTooLargeException"
        elif result.status_code != HTTPStatus.OK and result.report and result.report.error_type:
            headers["X-Amzn-ErrorType"] = result.report.error_type  # SnapStart's exceptions
        self.send(result.status_code, result.body, headers)


def _message(text: str) -> bytes:
    return json.dumps({"errorMessage": text, "errorType": "InvalidRequestFormat"}).encode()


def _b64_text(value: str) -> str:
    # The Invoke API takes ClientContext base64-encoded; the runtime receives the JSON text.
    try:
        return base64.b64decode(value, validate=True).decode()
    except (binascii.Error, ValueError):
        return value
