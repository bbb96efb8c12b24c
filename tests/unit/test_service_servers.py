"""`build.py serve`'s two HTTP servers (the Invoke API and an `--http` front) in-process on
127.0.0.1 over fake environments (no Docker): what they serve and to whom, how long a
connection may take, and how many are served at once."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from rlambda.local.runtime_api import InvokeResult
from rlambda.local.service import FunctionSpec, Service
from rlambda.local.service.server import Limits, allowed_hosts

INVOKE = "/2015-03-31/functions/echo/invocations"


class FakeEnvironment:
    """Answers each invoke with its payload, after `delay_s`."""

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s

    def invoke(self, payload: bytes, **_: object) -> tuple[InvokeResult, str | None]:
        time.sleep(self.delay_s)
        return InvokeResult(200, payload, None, None), None

    def close(self) -> None:
        pass


class FakeService(Service):
    """The service with its environments faked: nothing asks the Docker engine anything."""

    delay_s = 0.0

    def check(self) -> None:
        pass

    def _factory(self, spec: FunctionSpec):  # type: ignore[override]
        return lambda index: FakeEnvironment(self.delay_s)


@contextmanager
def serving(limits: Limits | None = None, delay_s: float = 0.0) -> Iterator[FakeService]:
    service = FakeService(
        [FunctionSpec("echo", "fake:image")],
        concurrency=2,
        queue=True,
        http_ports={"echo": 0},
        limits=limits,
    )
    service.delay_s = delay_s
    with service:
        yield service


def address(url: str) -> tuple[str, int]:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


def request(
    url: str, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    host, port = address(url)
    connection = http.client.HTTPConnection(host, port, timeout=10)
    try:
        connection.putrequest(method, path, skip_host=True)
        for name, value in {"Host": f"{host}:{port}", **(headers or {})}.items():
            connection.putheader(name, value)
        connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def raw_exchange(url: str, data: bytes, timeout: float = 10) -> bytes:
    """Send `data` as is and read until the server closes."""
    with socket.create_connection(address(url), timeout=timeout) as sock:
        sock.sendall(data)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
        return received


# ---- Host: DNS rebinding ----------------------------------------------------------------


def test_allowed_hosts_are_the_loopback_names_with_the_port():
    assert allowed_hosts("127.0.0.1", 3001) == {
        "127.0.0.1:3001",
        "localhost:3001",
        "[::1]:3001",
    }
    assert "localhost" in allowed_hosts("127.0.0.1", 80)


@pytest.mark.parametrize("which", ["invoke", "http"])
def test_a_foreign_host_is_refused_with_421_and_loopback_names_are_served(which):
    with serving() as service:
        url = service.endpoint_url if which == "invoke" else service.http_url("echo")
        method, path = ("POST", INVOKE) if which == "invoke" else ("POST", "/x")
        port = address(url)[1]
        for host in (
            f"127.0.0.1:{port}",
            f"localhost:{port}",
            f"LOCALHOST:{port}",
            f"[::1]:{port}",
        ):
            status, _, _ = request(url, method, path, b"{}", {"Host": host})
            assert status == 200, host
        for host in (f"rebound.example:{port}", "127.0.0.1", f"127.0.0.1:{port + 1}"):
            status, headers, body = request(url, method, path, b"{}", {"Host": host})
            assert status == 421, host
            assert "does not name this server" in json.loads(body)["message"]
            assert headers["Connection"] == "close"
        if which == "invoke":
            assert headers["x-amzn-ErrorType"] == "MisdirectedRequestException"
        # No Host at all (HTTP/1.0 allows it; a browser always sends one), or two of them.
        for heads in (b"", f"Host: 127.0.0.1:{port}\r\nHost: evil:{port}\r\n".encode()):
            answer = raw_exchange(
                url, f"POST {path} HTTP/1.0\r\n".encode() + heads + b"Content-Length: 0\r\n\r\n"
            )
            assert answer.startswith(b"HTTP/1.1 421 "), answer[:80]


# ---- time limits ------------------------------------------------------------------------

SHORT = Limits(idle_s=0.5, read_s=0.5, write_s=5.0)


@pytest.mark.parametrize("which", ["invoke", "http"])
def test_a_silent_client_is_dropped_after_the_idle_limit(which):
    with serving(SHORT) as service:
        url = service.endpoint_url if which == "invoke" else service.http_url("echo")
        started = time.monotonic()
        assert raw_exchange(url, b"", timeout=5) == b""  # closed by the server, not timed out
        assert time.monotonic() - started < 3


def test_a_slow_loris_is_dropped_however_it_trickles():
    with serving(SHORT) as service:
        sock = socket.create_connection(address(service.endpoint_url), timeout=5)
        started = time.monotonic()
        head = f"POST {INVOKE} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ".encode()
        try:
            for byte in head + b"a" * 100:  # 6 s at this pace, unless dropped
                sock.sendall(bytes([byte]))
                time.sleep(0.05)  # each read well within 0.5 s: only a deadline stops it
                if _peek_closed(sock):
                    break
        except OSError:
            pass  # reset by the server
        finally:
            sock.close()
        assert time.monotonic() - started < 2


def _peek_closed(sock: socket.socket) -> bool:
    try:
        return sock.recv(1, socket.MSG_DONTWAIT | socket.MSG_PEEK) == b""
    except BlockingIOError:
        return False


def test_an_invoke_longer_than_every_limit_is_answered_and_keep_alive_works():
    with serving(SHORT, delay_s=0.8) as service:
        host, port = address(service.endpoint_url)
        connection = http.client.HTTPConnection(host, port, timeout=10)
        for _ in range(2):  # the second on the same connection, within idle_s
            connection.request("POST", INVOKE, b'{"n": 1}')
            response = connection.getresponse()
            assert (response.status, response.read()) == (200, b'{"n": 1}')
        connection.close()


def test_a_body_that_does_not_come_is_dropped():
    with serving(SHORT) as service:
        head = f"POST {INVOKE} HTTP/1.1\r\nHost: 127.0.0.1:{address(service.endpoint_url)[1]}"
        started = time.monotonic()
        answer = raw_exchange(
            service.endpoint_url, f"{head}\r\nContent-Length: 10\r\n\r\n{{".encode()
        )
        assert answer == b"" and time.monotonic() - started < 3


# ---- connection count ---------------------------------------------------------------------


@pytest.mark.parametrize("which", ["invoke", "http"])
def test_connections_beyond_the_bound_are_answered_not_threaded(which):
    # refuse_s short: the refused exchange with no request waits it out (1 s by default).
    limits = Limits(idle_s=30, read_s=30, max_connections=4, refuse_s=0.2)
    with serving(limits) as service:
        url = service.endpoint_url if which == "invoke" else service.http_url("echo")
        before = threading.active_count()
        idle = [socket.create_connection(address(url), timeout=5) for _ in range(4)]
        try:
            time.sleep(0.2)
            assert threading.active_count() - before == 4
            path = INVOKE if which == "invoke" else "/"
            port = address(url)[1]
            whole = (
                f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 2\r\n\r\n{{}}"
            )
            for _ in range(10):
                answer = raw_exchange(url, whole.encode())
                status = answer.split(b"\r\n", 1)[0]
                body = json.loads(answer.partition(b"\r\n\r\n")[2])
                if which == "invoke":
                    assert status == b"HTTP/1.1 429 Too Many Requests"
                    assert b"x-amzn-ErrorType: TooManyRequestsException" in answer
                    assert body["Reason"] == "ConcurrentInvocationLimitExceeded"
                else:
                    assert status == b"HTTP/1.1 503 Service Unavailable"
                    assert body == {"message": "Service Unavailable"}
            # A client that writes its request after the answer has been sent still reads it
            # (no reset); one that sends nothing is answered after Limits.refuse_s.
            assert raw_exchange(url, b"").startswith(b"HTTP/1.1 ")
            status, _, _ = request(url, "POST", path, b"{}")
            assert status == (429 if which == "invoke" else 503)
            assert threading.active_count() - before == 4
        finally:
            for sock in idle:
                sock.close()
        deadline = time.monotonic() + 5
        while True:  # the slots come back as the idle connections' threads end
            status, _, _ = request(url, "POST", INVOKE if which == "invoke" else "/", b"{}")
            if status == 200:
                break
            assert time.monotonic() < deadline
            time.sleep(0.05)


# ---- chunked trailers -----------------------------------------------------------------------


def test_a_chunked_request_with_endless_trailers_is_400():
    with serving() as service:
        port = address(service.endpoint_url)[1]
        head = (
            f"POST {INVOKE} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n"
        )
        trailers = "".join(f"x-t{i}: {i}\r\n" for i in range(1000))
        answer = raw_exchange(service.endpoint_url, (head + trailers + "\r\n").encode())
        assert answer.startswith(b"HTTP/1.1 400 ")
        assert b"trailers beyond 100 fields" in answer


def test_closing_does_not_wait_for_idle_connections():
    service = FakeService([FunctionSpec("echo", "fake:image")], limits=Limits(idle_s=30))
    service.start()
    idle = socket.create_connection(address(service.endpoint_url), timeout=5)
    try:
        time.sleep(0.1)
        started = time.monotonic()
        service.close()
        assert time.monotonic() - started < 2
    finally:
        idle.close()
