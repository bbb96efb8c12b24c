"""Conformance tests of the Runtime API emulator.

Most run AWS's own Python runtime client (awslambdaric) as the runtime, so the emulator is
checked against a client that works on Lambda. The strict protocol checks play the runtime
by hand over raw HTTP, with a stand-in for the process (ManualRuntime).
"""

from __future__ import annotations

import base64
import http.client
import io
import json
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from rlambda.local.runtime_api import (
    InvokeResult,
    ProcessRuntime,
    RuntimeApiError,
    RuntimeApiServer,
)
from rlambda.local.runtime_api.model import MAX_RESPONSE_BYTES

HANDLERS = Path(__file__).parent / "handlers"
NEXT = "/2018-06-01/runtime/invocation/next"
INVOKE = "/2015-03-31/functions/function/invocations"


def ric(handler: str, env: Mapping[str, str] | None = None) -> ProcessRuntime:
    return ProcessRuntime(
        argv=[sys.executable, "-m", "awslambdaric", handler], env=env, cwd=HANDLERS
    )


@contextmanager
def serve(handler: str, **options: Any) -> Iterator[RuntimeApiServer]:
    options.setdefault("timeout_s", 10)
    options.setdefault("quiet", True)
    env = options.pop("env", None)
    with RuntimeApiServer(ric(handler, env), **options) as server:
        yield server


def invoke_json(server: RuntimeApiServer, event: Any) -> InvokeResult:
    return server.invoke(json.dumps(event).encode())


def raw(
    server: RuntimeApiServer,
    method: str,
    path: str,
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
) -> tuple[int, http.client.HTTPMessage, bytes]:
    host, port = server.runtime_api.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.request(method, path, body=body, headers=dict(headers or {}))
        response = conn.getresponse()
        return response.status, response.headers, response.read()
    finally:
        conn.close()


def raw_bytes(server: RuntimeApiServer, request: bytes) -> tuple[int, bytes]:
    """Send a hand-written HTTP request (chunked bodies with trailers) and read the answer."""
    host, port = server.runtime_api.split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(request)
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response.status, response.read()


# ---- a stand-in process, for playing the runtime by hand ------------------------------------


class ManualHandle:
    pid = None

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = dict(env)
        self.code: int | None = None
        self._ended = threading.Event()

    def poll(self) -> int | None:
        return self.code

    def wait(self) -> int:
        self._ended.wait()
        assert self.code is not None
        return self.code

    def kill(self) -> None:
        self.code = -9
        self._ended.set()

    def max_memory_mb(self) -> int | None:
        return None


class ManualRuntime:
    """No process at all: the test itself speaks the Runtime API."""

    def __init__(self) -> None:
        self.handles: list[ManualHandle] = []
        self._started = threading.Condition()

    def start(self, env: Mapping[str, str]) -> ManualHandle:
        handle = ManualHandle(env)
        with self._started:
            self.handles.append(handle)
            self._started.notify_all()
        return handle

    def wait_running(self) -> None:
        """Like a real runtime, ask for events only once the emulator has started us."""
        with self._started:
            running = self._started.wait_for(
                lambda: any(h.code is None for h in self.handles), timeout=10
            )
        assert running, "the emulator never started the runtime"


@contextmanager
def by_hand(**options: Any) -> Iterator[tuple[RuntimeApiServer, ManualRuntime, ThreadPoolExecutor]]:
    options.setdefault("timeout_s", 10)
    runtime = ManualRuntime()
    with (
        RuntimeApiServer(runtime, quiet=True, **options) as server,
        ThreadPoolExecutor(4) as pool,
    ):
        yield server, runtime, pool


def next_event(server: RuntimeApiServer) -> tuple[str, http.client.HTTPMessage, bytes]:
    assert isinstance(server.launcher, ManualRuntime)
    server.launcher.wait_running()
    status, headers, body = raw(server, "GET", NEXT)
    assert status == 200
    return headers["Lambda-Runtime-Aws-Request-Id"], headers, body


def answer_path(request_id: str, kind: str = "response") -> str:
    return f"/2018-06-01/runtime/invocation/{request_id}/{kind}"


# ---- with AWS's runtime client ----------------------------------------------------------------


def test_success_and_report_only_cold_start_has_init() -> None:
    log = io.StringIO()
    with serve("fn.echo", memory_mb=512, function_name="test", log_stream=log, quiet=False) as s:
        first = invoke_json(s, {"x": 1})
        second = invoke_json(s, {"x": 2})

    assert (first.status_code, first.json(), first.function_error) == (200, {"x": 1}, None)
    assert second.json() == {"x": 2}
    cold, warm = first.report, second.report
    assert cold is not None and warm is not None
    assert cold.init_duration_ms is not None and 0 < cold.init_duration_ms < 10_000
    assert warm.init_duration_ms is None
    for report in (cold, warm):
        assert 0 < report.duration_ms < 5_000
        assert report.memory_size_mb == 512
        # A Python interpreter with awslambdaric: more than 5 MB, far less than 512.
        assert report.max_memory_mb is not None and 5 < report.max_memory_mb < 512
    # Custom runtimes are billed for init, rounded up to the millisecond.
    assert cold.billed_duration_ms >= cold.duration_ms + cold.init_duration_ms
    assert warm.billed_duration_ms == int(-(-warm.duration_ms // 1))

    lines = log.getvalue().splitlines()
    reports = [line for line in lines if line.startswith("REPORT ")]
    assert len(reports) == 2
    assert f"START RequestId: {first.request_id} Version: $LATEST" in lines
    assert f"END RequestId: {first.request_id}" in lines
    assert reports[0].startswith(f"REPORT RequestId: {first.request_id}\tDuration: ")
    for field in ("Billed Duration: ", "Memory Size: 512 MB", "Max Memory Used: "):
        assert field in reports[0] and field in reports[1]
    assert "Init Duration: " in reports[0] and "Init Duration" not in reports[1]


def test_event_headers_reach_the_handler_context() -> None:
    client_context = json.dumps({"custom": {"tenant": "acme"}, "client": {}, "env": {}})
    identity = json.dumps({"cognitoIdentityId": "id-1", "cognitoIdentityPoolId": "pool-1"})
    env = {"CUSTOM_VAR": "kept", "AWS_LAMBDA_RUNTIME_API": "wrong:1"}
    with serve("fn.context_info", timeout_s=7, function_name="ctx", env=env) as s:
        before = time.time()
        result = s.invoke(
            b"{}",
            trace_id="Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
            client_context=client_context,
            cognito_identity=identity,
        )
        plain = s.invoke(b"{}")
        api = s.runtime_api

    info = result.json()
    assert info["request_id"] == result.request_id
    assert info["function_arn"] == "arn:aws:lambda:us-east-1:012345678912:function:ctx"
    assert 0 < info["remaining_ms"] <= 7000
    assert info["remaining_ms"] > 7000 - (time.time() - before) * 1000 - 1000
    assert info["client_context"] == {"tenant": "acme"}
    assert info["identity_id"] == "id-1"
    assert info["trace_env"].startswith("Root=1-5759e988-bd862e3fe1be46a994272793")
    assert info["env"] == {
        "AWS_LAMBDA_FUNCTION_NAME": "ctx",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "3008",
        "AWS_LAMBDA_RUNTIME_API": api,  # the server's address wins over the caller's
        "AWS_REGION": "us-east-1",
        "CUSTOM_VAR": "kept",
    }
    # Without a trace id from the caller, Lambda still sends one of its own.
    assert plain.json()["trace_env"].startswith("Root=1-")
    assert plain.json()["client_context"] is None


def test_handler_exception_is_an_unhandled_function_error() -> None:
    with serve("fn.fail") as s:
        result = invoke_json(s, {"why": "no luck"})
        again = invoke_json(s, {"why": "still"})

    assert result.status_code == 200
    assert result.function_error == "Unhandled"
    body = result.json()
    assert body["errorType"] == "ValueError"
    assert body["errorMessage"] == "boom: no luck"
    assert isinstance(body["stackTrace"], list) and any("fn.py" in f for f in body["stackTrace"])
    assert result.report is not None and result.report.status == "error"
    assert result.report.error_type == "ValueError"
    # A handled exception leaves the runtime warm.
    assert again.json()["errorMessage"] == "boom: still"
    assert again.report is not None and again.report.init_duration_ms is None


def test_init_error_is_reported_on_every_invoke_and_init_retried() -> None:
    with serve("broken.handler") as s:
        results = [s.invoke(b"{}") for _ in range(2)]

    for result in results:
        assert result.status_code == 200
        assert result.function_error == "Unhandled"
        body = result.json()
        assert body["errorType"] == "Runtime.ImportModuleError"
        assert "Unable to import module 'broken'" in body["errorMessage"]
        assert "module_that_does_not_exist" in body["errorMessage"]
        # Each invoke tried init again, so each is a cold start.
        assert result.report is not None and result.report.init_duration_ms is not None
        assert result.report.error_type == "Runtime.ImportModuleError"


def test_response_at_the_limit_fits_and_one_byte_more_fails() -> None:
    with serve("fn.sized") as s:
        fits = invoke_json(s, {"bytes": MAX_RESPONSE_BYTES})
        too_big = invoke_json(s, {"bytes": MAX_RESPONSE_BYTES + 1})
        after = invoke_json(s, {"bytes": 10})

    assert fits.status_code == 200 and fits.function_error is None
    assert len(fits.body) == MAX_RESPONSE_BYTES == 6291556
    assert too_big.status_code == 200 and too_big.function_error == "Unhandled"
    assert too_big.json() == {
        "errorMessage": "Response payload size exceeded maximum allowed payload size "
        "(6291556 bytes).",
        "errorType": "Function.ResponseSizeTooLarge",
    }
    assert after.json() == "x" * 8


def test_request_over_6_mib_is_refused_before_the_runtime_sees_it() -> None:
    with serve("fn.echo") as s:
        refused = s.invoke(b"x" * (6 * 1024 * 1024 + 1))
        status, headers, body = raw(s, "POST", INVOKE, b"x" * (6 * 1024 * 1024 + 1))
        accepted = s.invoke(json.dumps("y" * (6 * 1024 * 1024 - 2)).encode())

    assert refused.status_code == 413 and refused.report is None
    assert "limit 6291456 bytes" in refused.json()["Message"]
    assert status == 413 and headers["X-Amzn-ErrorType"] == "RequestTooLargeException"
    assert json.loads(body) == refused.json()
    assert accepted.status_code == 200 and len(accepted.body) == 6 * 1024 * 1024


def test_unicode_both_ways() -> None:
    event = {"text": "naïve café ✓ Ωμέγα 日本語 😀", "emoji": "🦙"}
    with serve("fn.echo") as s:
        result = s.invoke(json.dumps(event, ensure_ascii=False).encode())
    assert result.json() == event


def test_timeout_kills_the_runtime_and_the_next_invoke_starts_again(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    with serve("fn.sleep", timeout_s=1) as s:
        started = time.monotonic()
        timed_out = invoke_json(s, {"seconds": 30, "pidfile": str(pidfile)})
        elapsed = time.monotonic() - started
        with pytest.raises(ProcessLookupError):
            os.kill(int(pidfile.read_text()), 0)  # killed and reaped
        after = invoke_json(s, {"seconds": 0})

    assert 1 <= elapsed < 5
    assert timed_out.status_code == 200 and timed_out.function_error == "Unhandled"
    body = timed_out.json()
    assert body["errorType"] == "Sandbox.Timedout"
    assert body["errorMessage"] == (
        f"RequestId: {timed_out.request_id} Error: Task timed out after 1.00 seconds"
    )
    assert timed_out.report is not None and timed_out.report.status == "timeout"
    assert 900 <= timed_out.report.duration_ms <= 1000
    assert after.json() == "woke up"
    assert after.report is not None and after.report.init_duration_ms is not None


def test_init_is_bounded_by_the_timeout_too() -> None:
    with serve("slow_init.handler", timeout_s=1) as s:
        result = s.invoke(b"{}")
    assert result.function_error == "Unhandled"
    assert result.json()["errorMessage"].endswith("Task timed out after 1.00 seconds")
    assert result.report is not None and result.report.init_duration_ms == 1000.0


def test_a_runtime_that_cannot_start_fails_the_invoke() -> None:
    runtime = ProcessRuntime(argv=["/nonexistent/bootstrap"])
    with RuntimeApiServer(runtime, timeout_s=5, quiet=True) as server:
        result = server.invoke(b"{}")
    assert result.function_error == "Unhandled"
    assert result.json()["errorType"] == "Runtime.InvalidEntrypoint"
    assert "/nonexistent/bootstrap" in result.json()["errorMessage"]


def test_runtime_exit_is_reported_and_the_next_invoke_starts_again() -> None:
    with serve("fn.crash") as s:
        crashed = invoke_json(s, {"status": 3})
        second = invoke_json(s, {"status": 4})

    for result, status in ((crashed, 3), (second, 4)):
        assert result.status_code == 200 and result.function_error == "Unhandled"
        assert result.json() == {
            "errorMessage": f"RequestId: {result.request_id} Error: Runtime exited with error: "
            f"exit status {status}",
            "errorType": "Runtime.ExitError",
        }
        assert result.report is not None and result.report.init_duration_ms is not None
        assert result.report.max_memory_mb is not None  # read before the process died


def test_concurrent_invokes_all_succeed_on_one_runtime() -> None:
    with serve("fn.timed") as s, ThreadPoolExecutor(3) as pool:
        invoke_json(s, {"seconds": 0})  # warm up, so all below hit the same process
        barrier = threading.Barrier(3)

        def go() -> InvokeResult:
            barrier.wait()
            return invoke_json(s, {"seconds": 0.2})

        results = [f.result(timeout=30) for f in [pool.submit(go) for _ in range(3)]]

    assert all(r.status_code == 200 and r.function_error is None for r in results)
    assert len({r.request_id for r in results}) == 3
    assert len({r.json()["pid"] for r in results}) == 1
    assert all(r.report is not None and r.report.init_duration_ms is None for r in results)


def test_max_memory_used_follows_the_runtime() -> None:
    with serve("fn.allocate", memory_mb=1024) as s:
        small = invoke_json(s, {"mb": 1})
        large = invoke_json(s, {"mb": 200})
    assert small.report is not None and large.report is not None
    assert small.report.max_memory_mb is not None and large.report.max_memory_mb is not None
    assert large.report.max_memory_mb >= small.report.max_memory_mb + 190


def test_rie_style_http_invoke_answers_like_lambda() -> None:
    with serve("fn.echo") as ok, serve("fn.fail") as failing:
        status, headers, body = raw(ok, "POST", INVOKE, b'{"via": "http"}')
        e_status, e_headers, e_body = raw(failing, "POST", INVOKE, b'{"why": "http"}')
        missing, _, _ = raw(ok, "GET", "/2018-06-01/nowhere")

    assert status == 200 and json.loads(body) == {"via": "http"}
    assert "X-Amz-Function-Error" not in headers
    assert headers["X-Amz-Executed-Version"] == "$LATEST"
    # RIE answers a function error with a bare 200; Lambda adds the header. We follow Lambda.
    assert e_status == 200 and e_headers["X-Amz-Function-Error"] == "Unhandled"
    assert json.loads(e_body)["errorMessage"] == "boom: http"
    assert missing == 404


def test_port_already_taken_is_a_clear_error() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with (
            pytest.raises(RuntimeApiError, match=f"port {port} is already in use"),
            RuntimeApiServer(ric("fn.echo"), port=port, quiet=True),
        ):
            pass


# ---- strict protocol checks, playing the runtime by hand --------------------------------------


def test_next_carries_lambdas_headers_and_optional_ones_only_when_given() -> None:
    with by_hand(timeout_s=9, function_name="hand") as (server, runtime, pool):
        plain: Future[InvokeResult] = pool.submit(server.invoke, b'{"n": 1}')
        request_id, headers, body = next_event(server)
        assert body == b'{"n": 1}'
        now_ms = time.time() * 1000
        assert now_ms < int(headers["Lambda-Runtime-Deadline-Ms"]) <= now_ms + 9000
        assert headers["Lambda-Runtime-Invoked-Function-Arn"].endswith(":function:hand")
        assert headers["Lambda-Runtime-Trace-Id"].startswith("Root=1-")
        assert "Lambda-Runtime-Client-Context" not in headers
        assert "Lambda-Runtime-Cognito-Identity" not in headers
        assert raw(server, "POST", answer_path(request_id), b'"one"')[0] == 202
        assert plain.result(timeout=10).body == b'"one"'

        full = pool.submit(server.invoke, b"{}", client_context="{}", cognito_identity='{"a":1}')
        request_id, headers, _ = next_event(server)
        assert headers["Lambda-Runtime-Client-Context"] == "{}"
        assert headers["Lambda-Runtime-Cognito-Identity"] == '{"a":1}'
        raw(server, "POST", answer_path(request_id), b"{}")
        assert full.result(timeout=10).status_code == 200
        env = runtime.handles[0].env
        assert env["AWS_LAMBDA_RUNTIME_API"] == server.runtime_api
        assert env["AWS_LAMBDA_FUNCTION_NAME"] == "hand"
        assert len(runtime.handles) == 1


def test_second_answer_and_unknown_request_id_are_refused_like_lambda() -> None:
    with by_hand() as (server, _, pool):
        before_any = raw(server, "POST", answer_path("nobody"), b"{}")
        future = pool.submit(server.invoke, b"{}")
        request_id, _, _ = next_event(server)

        unknown = raw(server, "POST", answer_path("not-" + request_id), b'"wrong"')
        first = raw(server, "POST", answer_path(request_id), b'"first"')
        second = raw(server, "POST", answer_path(request_id), b'"second"')
        error_after = raw(server, "POST", answer_path(request_id, "error"), b"{}")
        result = future.result(timeout=10)

    # rapid (lambda/core/states.go): no answer is allowed before an event is delivered...
    assert before_any[0] == 403
    assert json.loads(before_any[2])["errorType"] == "InvalidStateTransition"
    # ...an answer for another request id is 400 InvalidRequestID (rendering/render_error.go)
    assert unknown[0] == 400
    assert json.loads(unknown[2]) == {
        "errorMessage": "Invalid request ID",
        "errorType": "InvalidRequestID",
    }
    assert first[0] == 202 and json.loads(first[2]) == {"status": "OK"}
    # ...and once answered, another answer is 403 InvalidStateTransition.
    assert second[0] == 403
    assert json.loads(second[2]) == {
        "errorMessage": "State transition from RuntimeResponseSentState to InvocationResponse "
        "failed for runtime. Error: State transition is not allowed",
        "errorType": "InvalidStateTransition",
    }
    assert error_after[0] == 403
    assert "to InvocationErrorResponse" in json.loads(error_after[2])["errorMessage"]
    assert result.body == b'"first"' and result.function_error is None


def test_error_endpoint_passes_the_runtimes_error_through() -> None:
    error = {"errorMessage": "R said no", "errorType": "simpleError", "stackTrace": ["f()"]}
    with by_hand() as (server, _, pool):
        future = pool.submit(server.invoke, b"{}")
        request_id, _, _ = next_event(server)
        status, _, body = raw(
            server,
            "POST",
            answer_path(request_id, "error"),
            json.dumps(error).encode(),
            {"Lambda-Runtime-Function-Error-Type": "Runtime.HandlerError"},
        )
        result = future.result(timeout=10)
    assert status == 202 and json.loads(body) == {"status": "OK"}
    assert result.function_error == "Unhandled" and result.json() == error
    assert result.report is not None and result.report.error_type == "Runtime.HandlerError"


def streamed(request_id: str, chunks: list[bytes], trailers: Mapping[str, str]) -> bytes:
    head = (
        f"POST {answer_path(request_id)} HTTP/1.1\r\nHost: runtime\r\n"
        "Lambda-Runtime-Function-Response-Mode: streaming\r\n"
        "Transfer-Encoding: chunked\r\nContent-Type: application/octet-stream\r\n"
        "Trailer: Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    body = b"".join(b"%x;ext=1\r\n%s\r\n" % (len(c), c) for c in chunks)
    tail = "".join(f"{name}: {value}\r\n" for name, value in trailers.items())
    return head + body + b"0\r\n" + tail.encode() + b"\r\n"


def test_streamed_response_is_read_whole() -> None:
    with by_hand() as (server, _, pool):
        future = pool.submit(server.invoke, b"{}")
        request_id, _, _ = next_event(server)
        status, _ = raw_bytes(server, streamed(request_id, [b"hello", b", ", b"world"], {}))
        result = future.result(timeout=10)
    assert status == 202
    assert result.body == b"hello, world" and result.function_error is None
    assert result.content_type == "application/octet-stream"


def test_streamed_error_in_trailers_fails_the_invoke() -> None:
    error = {"errorMessage": "disk on fire", "errorType": "Runtime.StreamError"}
    trailers = {
        "Lambda-Runtime-Function-Error-Type": "Runtime.StreamError",
        "Lambda-Runtime-Function-Error-Body": base64.b64encode(json.dumps(error).encode()).decode(),
    }
    with by_hand() as (server, _, pool):
        future = pool.submit(server.invoke, b"{}")
        request_id, _, _ = next_event(server)
        status, _ = raw_bytes(server, streamed(request_id, [b"partial"], trailers))
        result = future.result(timeout=10)
    assert status == 202
    assert result.function_error == "Unhandled" and result.json() == error


def test_streamed_response_over_the_limit_is_413() -> None:
    with by_hand(max_response_bytes=10) as (server, _, pool):
        future = pool.submit(server.invoke, b"{}")
        request_id, _, _ = next_event(server)
        status, body = raw_bytes(server, streamed(request_id, [b"123456", b"789012"], {}))
        result = future.result(timeout=10)
    assert status == 413
    assert json.loads(body) == {
        "errorMessage": "Exceeded maximum allowed payload size (10 bytes).",
        "errorType": "RequestEntityTooLarge",
    }
    assert result.json()["errorType"] == "Function.ResponseSizeTooLarge"


def test_init_error_fails_the_invoke_and_is_refused_after_init() -> None:
    error = {"errorMessage": "cannot source handler.R", "errorType": "Runtime.HandlerNotFound"}
    with by_hand() as (server, runtime, pool):
        failed = pool.submit(server.invoke, b"{}")
        runtime.wait_running()  # a runtime can only report once the emulator has started it
        status, _, body = raw(
            server,
            "POST",
            "/2018-06-01/runtime/init/error",
            json.dumps(error).encode(),
            {"Lambda-Runtime-Function-Error-Type": "Runtime.HandlerNotFound"},
        )
        result = failed.result(timeout=10)
        assert status == 202 and json.loads(body) == {"status": "OK"}
        assert result.function_error == "Unhandled" and result.json() == error
        assert runtime.handles[0].code == -9  # the failed runtime was stopped

        # The next invoke starts a fresh runtime; once it has an event, init/error is refused.
        ok = pool.submit(server.invoke, b"{}")
        request_id, _, _ = next_event(server)
        late = raw(server, "POST", "/2018-06-01/runtime/init/error", b"{}")
        raw(server, "POST", answer_path(request_id), b"1")
        assert ok.result(timeout=10).body == b"1"
    assert late[0] == 403
    assert json.loads(late[2])["errorMessage"].startswith(
        "State transition from Ready to InitError"
    )
    assert len(runtime.handles) == 2


def test_a_second_invoke_waits_until_the_first_is_answered() -> None:
    with by_hand() as (server, _, pool):
        first = pool.submit(server.invoke, b'"first"')
        first_id, _, _ = next_event(server)
        second = pool.submit(server.invoke, b'"second"')
        # Asking again before answering gets the event in flight again (rapid re-renders
        # it), never the queued one.
        again_id, _, again_body = next_event(server)
        assert (again_id, again_body) == (first_id, b'"first"')
        assert not second.done()

        raw(server, "POST", answer_path(first_id), b"1")
        second_id, _, second_body = next_event(server)
        raw(server, "POST", answer_path(second_id), b"2")

        assert second_id != first_id and second_body == b'"second"'
        assert (first.result(timeout=10).body, second.result(timeout=10).body) == (b"1", b"2")


def test_closing_the_server_ends_a_running_invoke() -> None:
    with by_hand() as (server, runtime, pool):
        future = pool.submit(server.invoke, b"{}")
        next_event(server)
        server.close()
        with pytest.raises(RuntimeApiError, match="closed while an invoke was running"):
            future.result(timeout=10)
        assert runtime.handles[0].code == -9


def test_http_invoke_hands_client_context_and_trace_id_to_the_runtime() -> None:
    trace = "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1"
    context = base64.b64encode(b'{"custom": {"k": "v"}}').decode()
    headers = {"X-Amz-Client-Context": context, "X-Amzn-Trace-Id": trace}
    with by_hand() as (server, _, pool):
        future = pool.submit(raw, server, "POST", INVOKE, b'{"via": "http"}', headers)
        request_id, event_headers, body = next_event(server)
        raw(server, "POST", answer_path(request_id), b'"done"')
        status, response_headers, response_body = future.result(timeout=10)
    assert body == b'{"via": "http"}'
    assert event_headers["Lambda-Runtime-Client-Context"] == '{"custom": {"k": "v"}}'
    assert event_headers["Lambda-Runtime-Trace-Id"] == trace
    assert (status, response_body) == (200, b'"done"')
    assert response_headers["X-Amzn-RequestId"] == request_id


@pytest.mark.parametrize("size", [b"-1", b"0x5", b"1_0", b"+3", b"", b"5 5"])
def test_chunk_sizes_are_hex_digits_only(size):
    from rlambda.local.http_io import BadRequest, read_chunked

    body = io.BytesIO(size + b"\r\nhello\r\n0\r\n\r\n")
    with pytest.raises(BadRequest, match="bad chunk size line"):
        read_chunked(body, 1024)


def test_a_well_formed_chunked_body_is_read():
    from rlambda.local.http_io import read_chunked

    body = read_chunked(
        io.BytesIO(b"5;ext=1\r\nhello\r\nA\r\n0123456789\r\n0\r\nx-t: 1\r\n\r\n"), 1024
    )
    assert (body.data, body.size, body.trailers) == (b"hello0123456789", 15, {"x-t": "1"})


@pytest.mark.parametrize(
    ("trailers", "message"),
    [
        (b"".join(b"x-t%d: %d\r\n" % (i, i) for i in range(101)), "beyond 100 fields"),
        (b"".join(b"x-t%d: %s\r\n" % (i, b"v" * 60000) for i in range(3)), "beyond 100 fields"),
        (b"x-t: " + b"v" * 70000 + b"\r\n", "trailer line longer than 65536"),
    ],
)
def test_trailers_are_bounded(trailers, message):
    from rlambda.local.http_io import BadRequest, read_chunked

    body = io.BytesIO(b"5\r\nhello\r\n0\r\n" + trailers + b"\r\n")
    with pytest.raises(BadRequest, match=message):
        read_chunked(body, 1024)


def test_a_chunk_size_line_longer_than_the_limit_is_not_split():
    from rlambda.local.http_io import BadRequest, read_chunked

    # Before: the first 65536 bytes were the size line, the rest read as chunk data.
    body = io.BytesIO(b"5;" + b"e" * 70000 + b"\r\nhello\r\n0\r\n\r\n")
    with pytest.raises(BadRequest, match="chunk size line longer than 65536"):
        read_chunked(body, 1024)


# ---- SnapStart ------------------------------------------------------------------------------

RESTORE_NEXT = "/2018-06-01/runtime/restore/next"
RESTORE_ERROR = "/2018-06-01/runtime/restore/error"


def test_snap_start_order_init_restore_then_events() -> None:
    with by_hand(snapstart=True) as (server, runtime, pool):
        result = pool.submit(server.invoke, b'"x"')
        runtime.wait_running()
        assert runtime.handles[0].env["AWS_LAMBDA_INITIALIZATION_TYPE"] == "snap-start"
        # Before restore/next: restore/error is out of order.
        early = raw(server, "POST", RESTORE_ERROR, b"{}")
        restored = raw(server, "GET", RESTORE_NEXT)
        again = raw(server, "GET", RESTORE_NEXT)  # once only
        request_id, _, body = next_event(server)
        late = raw(server, "POST", RESTORE_ERROR, b"{}")  # after GET next
        raw(server, "POST", answer_path(request_id), b'"ok"')
        first = result.result(timeout=10)
    assert early[0] == 403 and "from Started to RuntimeRestoreErrorState" in early[2].decode()
    assert restored[0] == 200 and body == b'"x"'
    assert again[0] == 403 and "from Restoring to RestoreReady" in again[2].decode()
    assert late[0] == 403 and "from Ready to RuntimeRestoreErrorState" in late[2].decode()
    assert first.body == b'"ok"'
    assert first.report.restore_duration_ms is not None
    assert "Restore Duration:" in first.report.line()
    assert set(server.snapstart_timings) == {"init_ms", "restore_ms", "first_invoke_ms"}


def test_restore_next_is_refused_on_demand() -> None:
    with by_hand() as (server, runtime, pool):
        result = pool.submit(server.invoke, b"1")
        runtime.wait_running()
        refused = raw(server, "GET", RESTORE_NEXT)
        request_id, _, _ = next_event(server)
        raw(server, "POST", answer_path(request_id), b"1")
        assert result.result(timeout=10).report.restore_duration_ms is None
    assert runtime.handles[0].env["AWS_LAMBDA_INITIALIZATION_TYPE"] == "on-demand"
    assert refused[0] == 403


def test_a_restore_error_fails_the_invoke_as_snap_start_exception() -> None:
    error = {"errorMessage": "no credentials", "errorType": "credentialsExpired"}
    with by_hand(snapstart=True) as (server, runtime, pool):
        result = pool.submit(server.invoke, b"1")
        runtime.wait_running()
        assert raw(server, "GET", RESTORE_NEXT)[0] == 200
        posted = raw(server, "POST", RESTORE_ERROR, json.dumps(error).encode())
        failed = result.result(timeout=10)
    assert posted[0] == 202
    assert failed.status_code == 400 and failed.json() == error
    assert failed.report.error_type == "SnapStartException"
    assert runtime.handles[0].code == -9  # the environment served nothing


def test_next_without_restore_next_under_snap_start_fails_init() -> None:
    with by_hand(snapstart=True) as (server, runtime, pool):
        result = pool.submit(server.invoke, b"1")
        runtime.wait_running()
        pool.submit(raw, server, "GET", NEXT)  # parked, then dropped with the runtime
        failed = result.result(timeout=10)
    assert failed.error_type() == "Runtime.SnapStartNotImplemented"
    assert "com.amazonaws.lambda.feature.snapstart" in failed.json()["errorMessage"]


def test_snap_start_init_limit_is_130_s_or_the_timeout() -> None:
    with by_hand(snapstart=True, timeout_s=3) as (server, _, _):
        assert server.init_limit_s == 130
    with by_hand(snapstart=True, timeout_s=900) as (server, _, _):
        assert server.init_limit_s == 900
