"""HTTP as both local servers speak it: reading request bodies, writing answers.

The Runtime API emulator (runtime_api/) and the local service's fronts (service/) share it.
http.server does not read chunked request bodies (nor their trailers, where a streaming
runtime reports an error mid-stream), so bodies are read here by hand.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import BinaryIO

_MAX_LINE = 65536
_DISCARD_BLOCK = 1 << 16
# The trailer section is bounded as http.client bounds a header section (100 fields), and in
# bytes: two full lines, room for a streamed error's base64 body in its one trailer. Without a
# bound a client could send trailer lines for ever and be kept, one dict entry each.
MAX_TRAILERS = 100
MAX_TRAILER_BYTES = 2 * _MAX_LINE


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


def _line(rfile: BinaryIO, what: str) -> bytes:
    # readline(n) returns the first n bytes of a longer line: the rest would be read as the
    # next line (chunk data taken for a size line, one trailer split into several).
    line = rfile.readline(_MAX_LINE + 1)
    if len(line) > _MAX_LINE:
        raise BadRequest(f"{what} line longer than {_MAX_LINE} bytes")
    return line


def read_chunked(rfile: BinaryIO, limit: int) -> Body:
    """Read a chunked body and its trailers; keep at most `limit` bytes, count the rest.
    Trailers: at most MAX_TRAILERS fields in MAX_TRAILER_BYTES (else BadRequest)."""
    out = bytearray()
    size = 0
    while True:
        line = _line(rfile, "chunk size")
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
    count = received = 0
    while (line := _line(rfile, "trailer")) not in (b"\r\n", b"\n", b""):
        count += 1
        received += len(line)
        if count > MAX_TRAILERS or received > MAX_TRAILER_BYTES:
            raise BadRequest(f"trailers beyond {MAX_TRAILERS} fields or {MAX_TRAILER_BYTES} bytes")
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


class QuietHandler(BaseHTTPRequestHandler):
    """Keep-alive, no line per request, and one way to write an answer."""

    protocol_version = "HTTP/1.1"  # keep-alive, as the runtime clients and SDKs expect
    # Headers and body leave in separate writes; without TCP_NODELAY each small answer can
    # stall on Nagle plus delayed ACK (~40 ms).
    disable_nagle_algorithm = True
    # Sent when an answer names no Content-Type; None: none is added.
    default_content_type: str | None = None

    def handle(self) -> None:
        # The client may be gone before its answer is acknowledged (a runtime killed on a
        # timeout, the server closed): nothing to report.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            super().handle()

    def log_message(self, format: str, *args: object) -> None:
        pass  # one line per request would drown the runtime's output and the REPORT lines

    def send(
        self,
        status: int,
        body: bytes,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
        *,
        close: bool = False,
    ) -> None:
        """One answer; `headers` as pairs when a name repeats (Set-Cookie)."""
        pairs = list(headers.items() if isinstance(headers, Mapping) else headers)
        if self.default_content_type and not any(
            name.lower() == "content-type" for name, _ in pairs
        ):
            pairs.insert(0, ("Content-Type", self.default_content_type))
        self.send_response(status)
        for name, value in pairs:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
