"""HTTP side of the emulator: the Runtime API routes and the RIE-style invoke route.

http.server does not read chunked request bodies (nor their trailers, where a streaming
runtime reports an error mid-stream), so bodies are read here by hand.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import re
import select
import socket
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, BinaryIO

from .model import RuntimeApiError

if TYPE_CHECKING:
    from .server import RuntimeApiServer

RUNTIME_PREFIX = "/2018-06-01/runtime"
NEXT_PATH = f"{RUNTIME_PREFIX}/invocation/next"
INIT_ERROR_PATH = f"{RUNTIME_PREFIX}/init/error"
ANSWER_PATH = re.compile(rf"^{RUNTIME_PREFIX}/invocation/([^/]+)/(response|error)$")
# RIE serves any function name here; so do we.
INVOKE_PATH = re.compile(r"^/2015-03-31/functions/[^/]+/invocations$")

ERROR_TYPE_HEADER = "Lambda-Runtime-Function-Error-Type"
ERROR_BODY_TRAILER = "Lambda-Runtime-Function-Error-Body"
RESPONSE_MODE_HEADER = "Lambda-Runtime-Function-Response-Mode"
_MAX_LINE = 65536
_DISCARD_BLOCK = 1 << 16


class BadRequest(Exception):
    """The client's request cannot be read (malformed chunking, bad length)."""


@dataclass
class Body:
    data: bytes
    size: int  # bytes received, also those past the limit that were not kept
    trailers: dict[str, str] = field(default_factory=dict)

    def too_large(self, limit: int) -> bool:
        return self.size > limit


def _read_exactly(rfile: BinaryIO, count: int, keep: bool, out: bytearray) -> None:
    remaining = count
    while remaining:
        block = rfile.read(min(remaining, _DISCARD_BLOCK) if not keep else remaining)
        if not block:
            raise BadRequest("connection closed in the middle of the body")
        if keep:
            out += block
        remaining -= len(block)


_HEXDIG = re.compile(rb"[0-9A-Fa-f]{1,16}")
_DIGITS = re.compile(r"[0-9]{1,19}")


def read_chunked(rfile: BinaryIO, limit: int) -> Body:
    """Read a chunked body and its trailers; keep at most `limit` bytes, count the rest."""
    out = bytearray()
    size = 0
    while True:
        line = rfile.readline(_MAX_LINE)
        digits = line.split(b";", 1)[0].strip(b" \t\r\n")
        # RFC 9112 7.1: chunk-size = 1*HEXDIG. int(x, 16) also takes -1, 0x5, 1_0 and +3.
        if not _HEXDIG.fullmatch(digits):
            raise BadRequest(f"bad chunk size line {line[:40]!r}")
        chunk = int(digits, 16)
        if chunk == 0:
            break
        keep = size + chunk <= limit
        _read_exactly(rfile, chunk, keep, out)
        size += chunk
        if rfile.read(2) != b"\r\n":
            raise BadRequest("chunk not followed by CRLF")
    trailers: dict[str, str] = {}
    while (line := rfile.readline(_MAX_LINE)) not in (b"\r\n", b"\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        trailers[name.strip().lower()] = value.strip()
    return Body(bytes(out), size, trailers)


def read_body(handler: BaseHTTPRequestHandler, limit: int) -> Body:
    if "chunked" in handler.headers.get("Transfer-Encoding", "").lower():
        return read_chunked(handler.rfile, limit)
    value = handler.headers.get("Content-Length", "0").strip()
    if not _DIGITS.fullmatch(value):  # RFC 9110 8.6: 1*DIGIT (int() takes +3 and 1_0)
        raise BadRequest(f"bad Content-Length {value[:40]!r}")
    length = int(value)
    out = bytearray()
    _read_exactly(handler.rfile, length, length <= limit, out)
    return Body(bytes(out), length)


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


def peer_closed(sock: socket.socket) -> bool:
    """True when the other end has hung up (a killed runtime's pending GET next)."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        return bool(readable) and sock.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


class RuntimeApiHandler(BaseHTTPRequestHandler):
    """One connection; the emulator is found as `self.server.emulator`."""

    protocol_version = "HTTP/1.1"  # keep-alive, as the runtime clients expect
    # Headers and body leave in separate writes; without TCP_NODELAY each small answer can
    # stall on Nagle plus delayed ACK (~40 ms).
    disable_nagle_algorithm = True
    server_version = "rlambda-runtime-api"

    @property
    def emulator(self) -> RuntimeApiServer:
        return self.server.emulator  # type: ignore[attr-defined]

    def handle(self) -> None:
        # The runtime may be gone before its answer is acknowledged (killed on a timeout, or
        # the server closed): nothing to report.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            super().handle()

    def log_message(self, format: str, *args: object) -> None:
        pass  # one line per request would drown the runtime's own output

    def send(
        self,
        status: int,
        body: bytes,
        headers: dict[str, str] | None = None,
        *,
        close: bool = False,
    ) -> None:
        self.send_response(status)
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        for name, value in all_headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path != NEXT_PATH:
            self.send(HTTPStatus.NOT_FOUND, b'{"message":"Not Found"}')
            return
        outcome = self.emulator.next_invocation(lambda: peer_closed(self.connection))
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
        self.send(result.status_code, result.body, headers)


def _message(text: str) -> bytes:
    return json.dumps({"errorMessage": text, "errorType": "InvalidRequestFormat"}).encode()


def _b64_text(value: str) -> str:
    # The Invoke API takes ClientContext base64-encoded; the runtime receives the JSON text.
    try:
        return base64.b64decode(value, validate=True).decode()
    except (binascii.Error, ValueError):
        return value
