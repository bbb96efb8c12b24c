"""A stand-in for Lambda's Invoke API in front of N R runtimes run as host processes, for
lambdaparallel's end-to-end tests (tests/test_parallel_e2e.py) and bench/parallel.py.

It stays beside the local Lambda service (`rlambda/local/service/`, `build.py serve`) because
that service runs each environment in a Docker container (its pool's DockerRuntime; start()
checks the engine and the image), while these tests run without Docker: each environment here
is a `RuntimeApiServer` whose runtime is the project's R runtime (runtime/bootstrap) with the
worker recipe's handler as a local process (ProcessRuntime), the client's package from a
temporary library. It also does what the tests need and the service does not:

- `throttle(n)`: the next n invokes get 429 TooManyRequestsException (the service throttles
  only when all N environments are busy);
- `denied`: invokes get 403 AccessDeniedException;
- GetFunctionConfiguration (`GET .../configuration`), whose Timeout the client reads;
- counters the tests and the benchmark read: invokes, throttled, dry_runs, bad_signatures,
  max_in_flight, invoke_seconds, session_tokens.

What it shares with the service: every request's SigV4 signature is checked by the service's
Verifier (botocore's signer), and its errors are the service's (rlambda.local.service.errors).
The same client runs against the service itself, in containers, in
tests/test_parallel_service_e2e.py (docker).
"""

from __future__ import annotations

import json
import queue
import re
import threading
import time
from collections.abc import Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from rlambda.local.runtime_api import ProcessRuntime, RuntimeApiServer
from rlambda.local.service import Verifier, errors
from rlambda.local.service.errors import ApiError

ROOT = Path(__file__).resolve().parent.parent
BUCKET = "lambdaparallel-test"  # the S3 staging bucket the lambdaparallel tests use
WORKER = ROOT / "recipes" / "worker"
ACCESS_KEY = "AKIDLAMBDAPARALLEL"
SECRET_KEY = "lambdaparallel-test-secret"
REGION = "us-east-1"
_VERIFIER = Verifier(ACCESS_KEY, SECRET_KEY)
_ROUTE = re.compile(r"^/2015-03-31/functions/([^/?]+)/(invocations|configuration)(\?.*)?$")


class InvokeService:
    def __init__(
        self,
        function_name: str,
        environments: int,
        runtime_env: Mapping[str, str],
        *,
        timeout_s: float = 30,
        memory_mb: int = 512,
    ) -> None:
        self.function_name = function_name
        self.timeout_s = timeout_s
        self.idle: queue.Queue[RuntimeApiServer] = queue.Queue()
        self.servers = [
            RuntimeApiServer(
                ProcessRuntime(
                    argv=[str(ROOT / "runtime" / "bootstrap"), "worker.handle"],
                    env={"LAMBDA_TASK_ROOT": str(WORKER), **runtime_env},
                    cwd=str(WORKER),
                ),
                timeout_s=timeout_s,
                memory_mb=memory_mb,
                function_name=function_name,
                quiet=True,
            )
            for _ in range(environments)
        ]
        self.denied = False
        self._lock = threading.Lock()
        self._throttle = 0
        self.invokes = 0
        self.throttled = 0
        self.dry_runs = 0
        self.bad_signatures = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.invoke_seconds: list[float] = []  # each invoke's time in the runtime (benchmarks)
        self.session_tokens: list[str | None] = []  # each signed request's X-Amz-Security-Token
        self._httpd: ThreadingHTTPServer | None = None

    def throttle(self, count: int) -> None:
        with self._lock:
            self._throttle = count

    @property
    def endpoint(self) -> str:
        assert self._httpd is not None
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> InvokeService:
        for server in self.servers:
            server.start()
            self.idle.put(server)
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        httpd.daemon_threads = True
        httpd.service = self  # type: ignore[attr-defined]
        self._httpd = httpd
        threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        for server in self.servers:
            server.close()

    def handle(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        try:
            return self._handle(method, path, headers, body)
        except ApiError as error:
            return error.status, error.headers(), error.body()

    def _handle(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        match = _ROUTE.match(path)
        if not match:
            raise errors.unknown_operation(method, path)
        received = {name.lower(): [value] for name, value in headers.items()}
        try:
            _VERIFIER.check(method, path, received, body)
        except ApiError:
            with self._lock:
                self.bad_signatures += 1
            raise
        with self._lock:
            self.session_tokens.append(headers.get("X-Amz-Security-Token"))
        name, operation = match.group(1), match.group(2)
        if name != self.function_name:
            raise errors.not_found(f"arn:aws:lambda:{REGION}:012345678912:function:{name}")
        if self.denied:
            raise ApiError(
                HTTPStatus.FORBIDDEN,
                "AccessDeniedException",
                f"User is not authorized to perform: lambda:InvokeFunction on {name}",
            )
        if operation == "configuration":
            config = {"FunctionName": name, "Timeout": int(self.timeout_s), "MemorySize": 512}
            return HTTPStatus.OK, {"Content-Type": "application/json"}, json.dumps(config).encode()
        if headers.get("X-Amz-Invocation-Type") == "DryRun":
            with self._lock:
                self.dry_runs += 1
            return HTTPStatus.NO_CONTENT, {}, b""
        with self._lock:
            if self._throttle > 0:
                self._throttle -= 1
                self.throttled += 1
                raise errors.throttled()
            self.invokes += 1
        server = self.idle.get()
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        started = time.perf_counter()
        try:
            result = server.invoke(body)
        finally:
            with self._lock:
                self.in_flight -= 1
                self.invoke_seconds.append(time.perf_counter() - started)
            self.idle.put(server)
        out = {"Content-Type": result.content_type}
        if result.function_error:
            out["X-Amz-Function-Error"] = result.function_error
        return result.status_code, out, result.body


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: with Nagle's algorithm on, the body waits for the
    # client's delayed ACK (~40 ms per invoke, measured with bench/parallel.py).
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        service: InvokeService = self.server.service  # type: ignore[attr-defined]
        status, headers, payload = service.handle(self.command, self.path, dict(self.headers), body)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = _serve
    do_POST = _serve
