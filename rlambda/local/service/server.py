"""The HTTP servers of `build.py serve` (the Invoke API, each `--http` front): for clients on
this machine only, each connection bounded in time and their number bounded.

- Host: a web page can reach 127.0.0.1 through DNS rebinding (its own name made to resolve to
  127.0.0.1, so the browser sends the page's requests, and shows it the answers, as same-origin).
  The browser still sends the page's name as Host, so only Host values naming this server's
  loopback address and port are served: 127.0.0.1:PORT, localhost:PORT, [::1]:PORT and the
  bound address with its port (the name alone when PORT is 80). Anything else, or no Host at
  all, is refused (421) before its body is read.
- Time: on a kept-alive connection the next request must begin within `idle_s`; once its
  first byte has come, the whole request (line, headers, body) within `read_s`, however
  slowly it trickles in (a per-read timeout would let a client sending one byte a second hold
  its thread for ever); each write of the answer within `write_s`. The invoke in between is
  bounded by the function's own timeout, not here.
- Threads: at most `max_connections` connections are served at once, one thread each; beyond
  that one more thread per server (Refuser) answers them all (the handler's `busy_response`:
  503, or Lambda's 429 from the Invoke API) and closes them, so idle or slow clients cannot
  make the process start threads without end.
"""

from __future__ import annotations

import contextlib
import io
import json
import selectors
import socket
import threading
import time
from dataclasses import dataclass
from http import HTTPStatus
from http.server import ThreadingHTTPServer

from rlambda.local.http_io import QuietHandler


@dataclass(frozen=True)
class Limits:
    """A connection's time limits, and how many connections are served at once."""

    idle_s: float = 60.0  # as an AWS load balancer's default idle timeout
    read_s: float = 30.0  # 6 MB from a local client takes milliseconds
    write_s: float = 30.0
    max_connections: int = 128  # bench/service.py opens 64 at once
    # A connection over the bound waits this long for its request, then for the client to
    # close after the answer (Refuser).
    refuse_s: float = 1.0


LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


def allowed_hosts(host: str, port: int) -> frozenset[str]:
    """The Host header values served by a server bound to `host`:`port`."""
    bound = f"[{host}]" if ":" in host else host
    names = {bound.lower(), *LOOPBACK_NAMES}
    allowed = {f"{name}:{port}" for name in names}
    if port == 80:  # the port may be left out only when it is HTTP's default
        allowed |= names
    return frozenset(allowed)


class DeadlineReader(io.RawIOBase):
    """The socket as a raw stream whose reads share one deadline, set per request."""

    def __init__(self, sock: socket.socket, limits: Limits) -> None:
        self._sock = sock
        self._limits = limits
        self._waiting = True
        self._deadline = 0.0
        self.expect_request()

    def expect_request(self) -> None:
        """Wait up to idle_s for the next request; its first byte starts the read_s clock."""
        self._waiting = True
        self._deadline = time.monotonic() + self._limits.idle_s

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the request was not received in time")
        self._sock.settimeout(remaining)
        count = self._sock.recv_into(buffer)
        if count and self._waiting:
            self._waiting = False
            self._deadline = time.monotonic() + self._limits.read_s
        return count


class TimedWriter(io.BufferedIOBase):
    """socketserver's unbuffered writer, each write bounded by write_s (sendall's timeout
    covers the whole call)."""

    def __init__(self, sock: socket.socket, limits: Limits) -> None:
        self._sock = sock
        self._limits = limits

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self._sock.settimeout(self._limits.write_s)
        self._sock.sendall(data)
        with memoryview(data) as view:
            return view.nbytes

    def fileno(self) -> int:
        return self._sock.fileno()


class GuardedHandler(QuietHandler):
    """A handler that reads and writes through the server's limits and serves only requests
    whose Host names the server. Subclasses say how they refuse (`refuse_host`) and what the
    accepting thread answers when every connection slot is taken (`busy_response`)."""

    server: LoopbackServer
    _reader: DeadlineReader

    @classmethod
    def busy_response(cls) -> bytes:
        return raw_response(503, b'{"message":"Service Unavailable"}')

    def setup(self) -> None:
        # StreamRequestHandler.setup() with the bounded reader and writer (its makefile()
        # streams would hold the socket open after close until collected).
        self.connection = self.request
        if self.disable_nagle_algorithm:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, True)
        self._reader = DeadlineReader(self.connection, self.server.limits)
        self.rfile = io.BufferedReader(self._reader)
        self.wfile = TimedWriter(self.connection, self.server.limits)

    def handle_one_request(self) -> None:
        self._reader.expect_request()
        super().handle_one_request()

    def parse_request(self) -> bool:
        if not super().parse_request():
            return False
        given = self.headers.get_all("Host") or []
        if len(given) == 1 and given[0].strip().lower() in self.server.hosts:
            return True
        if len(given) == 1:
            shown = f"Host {given[0][:100]!r} does not name this server"
        else:
            shown = f"{len(given) or 'no'} Host headers"
        served = ", ".join(sorted(self.server.hosts))
        self.refuse_host(f"{shown}: it serves requests for {served} only")
        return False

    def refuse_host(self, message: str) -> None:
        body = json_message(message)
        self.send(
            HTTPStatus.MISDIRECTED_REQUEST, body, [("Content-Type", "application/json")], close=True
        )


def json_message(message: str) -> bytes:
    return json.dumps({"message": message}).encode()


def raw_response(status: int, body: bytes, headers: tuple[tuple[str, str], ...] = ()) -> bytes:
    """A whole HTTP/1.1 answer as bytes, for the accepting thread to send as is."""
    lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}"]
    lines += [f"{name}: {value}" for name, value in headers]
    lines += [
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        "Connection: close",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class Refuser:
    """One thread that answers the connections over the bound, many at once (a selector).

    Answering on accept would race the client: one that sends its request after the answer
    and the close gets a reset (BrokenPipeError in http.client), not the answer. So each
    connection is read until its request's headers have come (or `wait_s`), answered, shut
    for writing, read until the client closes (or `wait_s` again), and closed. At most `most`
    connections wait here; beyond that one is closed unanswered.
    """

    def __init__(self, answer: bytes, wait_s: float, most: int = 256) -> None:
        self._answer = answer
        self._wait_s = wait_s
        self._most = most
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ)
        self._lock = threading.Lock()
        self._incoming: list[socket.socket] = []
        # socket -> [deadline, bytes seen so far (their last 3), answered]
        self._pending: dict[socket.socket, list] = {}
        self._closed = False
        self._thread = threading.Thread(target=self._run, daemon=True, name="refuser")
        self._thread.start()

    def add(self, sock: socket.socket) -> None:
        with self._lock:
            if self._closed or len(self._incoming) + len(self._pending) >= self._most:
                sock.close()
                return
            self._incoming.append(sock)
        with contextlib.suppress(OSError):
            self._wake_w.send(b"\0")

    def close(self) -> None:
        with self._lock:
            self._closed = True
        with contextlib.suppress(OSError):
            self._wake_w.send(b"\0")
        self._thread.join(timeout=5)

    def _run(self) -> None:
        try:
            while True:
                with self._lock:
                    if self._closed:
                        break
                    incoming, self._incoming = self._incoming, []
                now = time.monotonic()
                for sock in incoming:
                    sock.setblocking(False)
                    self._pending[sock] = [now + self._wait_s, b"", False]
                    self._selector.register(sock, selectors.EVENT_READ)
                deadlines = [state[0] for state in self._pending.values()]
                timeout = max(0.0, min(deadlines) - now) if deadlines else None
                for key, _ in self._selector.select(timeout):
                    if key.fileobj is self._wake_r:
                        with contextlib.suppress(OSError):
                            self._wake_r.recv(4096)
                    else:
                        self._readable(key.fileobj)  # type: ignore[arg-type]
                now = time.monotonic()
                for sock, state in list(self._pending.items()):
                    if state[0] <= now:
                        self._step(sock, state, eof=False)
        finally:
            for sock in [*self._pending, *self._incoming]:
                sock.close()
            self._selector.close()
            self._wake_r.close()
            self._wake_w.close()

    def _readable(self, sock: socket.socket) -> None:
        state = self._pending[sock]
        try:
            data = sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not state[2]:
            seen = state[1] + data
            state[1] = seen[-3:]
            if data and b"\r\n\r\n" not in seen:
                return  # the headers are not all here yet
        elif data:
            return  # the client's body, after the answer: read and dropped
        self._step(sock, state, eof=not data)

    def _step(self, sock: socket.socket, state: list, eof: bool) -> None:
        if state[2] or eof:
            self._drop(sock)
            return
        try:
            sock.send(self._answer)  # a few hundred bytes: a fresh socket's buffer takes them
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            self._drop(sock)
            return
        state[0] = time.monotonic() + self._wait_s
        state[2] = True

    def _drop(self, sock: socket.socket) -> None:
        del self._pending[sock]
        self._selector.unregister(sock)
        sock.close()


class LoopbackServer(ThreadingHTTPServer):
    daemon_threads = True
    # http.server's default listen backlog is 5: a burst of clients (64 at once in
    # bench/service.py, a parallel map from R) would see SYNs dropped and retried after 1 s.
    request_queue_size = 256

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[GuardedHandler],
        limits: Limits | None = None,
    ) -> None:
        self.limits = limits or Limits()
        self._slots = threading.BoundedSemaphore(self.limits.max_connections)
        # Made before the bind: socketserver calls server_close() when the bind fails (a taken
        # port), and that closes the refuser too.
        self._refuser = Refuser(handler.busy_response(), self.limits.refuse_s)
        super().__init__(address, handler)
        host, port = self.server_address[:2]
        self.hosts = allowed_hosts(str(host), int(port))

    def process_request(self, request: socket.socket, client_address: object) -> None:  # type: ignore[override]
        if not self._slots.acquire(blocking=False):
            self._refuser.add(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()  # no thread started (out of threads): the slot is free
            raise

    def process_request_thread(self, request: socket.socket, client_address: object) -> None:  # type: ignore[override]
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def server_close(self) -> None:
        super().server_close()
        self._refuser.close()
