"""A small stand-in for Lambda's Invoke API in front of N real R runtimes, for lambdaparallel.

Until the local Lambda service (issue 10) lands, the R client's end-to-end tests run against
this: `POST /2015-03-31/functions/{name}/invocations` on 127.0.0.1, dispatched to one of N
`RuntimeApiServer`s, each running the project's R runtime (runtime/bootstrap) with the
worker recipe's handler as a local process. What it checks and can inject:

- every request's SigV4 signature is recomputed with botocore's signer for the same request
  and credentials; a mismatch is 403 InvalidSignatureException, as AWS answers;
- DryRun (204), unknown functions (404), denied callers (403), GetFunctionConfiguration;
- `throttle(n)`: the next n invokes get 429 TooManyRequestsException.
"""

from __future__ import annotations

import json
import queue
import re
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from rlambda.local.runtime_api import ProcessRuntime, RuntimeApiServer

ROOT = Path(__file__).resolve().parent.parent
BUCKET = "lambdaparallel-test"  # the S3 staging bucket the lambdaparallel tests use
WORKER = ROOT / "recipes" / "worker"
ACCESS_KEY = "AKIDLAMBDAPARALLEL"
SECRET_KEY = "lambdaparallel-test-secret"
REGION = "us-east-1"
_ROUTE = re.compile(r"^/2015-03-31/functions/([^/?]+)/(invocations|configuration)(\?.*)?$")


def botocore_authorization(method: str, url: str, headers: Mapping[str, str], body: bytes) -> str:
    """The Authorization header botocore's SigV4 signer computes for this request: the same
    method, URL, body, time stamp and signed headers (those the client's header lists)."""
    given = headers.get("Authorization", "")
    match = re.search(r"SignedHeaders=([^,]+)", given)
    names = match.group(1).split(";") if match else []
    lower = {name.lower(): value for name, value in headers.items()}
    request = AWSRequest(method=method, url=url, data=body)
    for name in names:
        if name in lower:
            request.headers[name] = lower[name]
    signer = SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "lambda", REGION)
    request.context["timestamp"] = lower.get("x-amz-date", "")
    canonical = signer.canonical_request(request)
    signature = signer.signature(signer.string_to_sign(request, canonical), request)
    return signer._inject_signature_to_request(request, signature).headers["Authorization"]


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
        match = _ROUTE.match(path)
        if not match:
            return _error(HTTPStatus.NOT_FOUND, "UnknownOperationException", "no such route")
        expected = botocore_authorization(method, self.endpoint + path, headers, body)
        if headers.get("Authorization") != expected:
            with self._lock:
                self.bad_signatures += 1
            return _error(
                HTTPStatus.FORBIDDEN,
                "InvalidSignatureException",
                "The request signature we calculated does not match the signature you provided.",
            )
        name, operation = match.group(1), match.group(2)
        if name != self.function_name:
            arn = f"arn:aws:lambda:{REGION}:012345678912:function:{name}"
            return _error(
                HTTPStatus.NOT_FOUND, "ResourceNotFoundException", f"Function not found: {arn}"
            )
        if self.denied:
            return _error(
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
                return _error(
                    HTTPStatus.TOO_MANY_REQUESTS, "TooManyRequestsException", "Rate Exceeded."
                )
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


def _error(status: int, error_type: str, message: str) -> tuple[int, dict[str, str], bytes]:
    body = json.dumps({"Type": "User", "message": message}).encode()
    return status, {"Content-Type": "application/json", "X-Amzn-ErrorType": error_type}, body


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


@contextmanager
def invoke_service(
    environments: int, runtime_env: Mapping[str, str], **options: Any
) -> Iterator[InvokeService]:
    with ExitStack() as stack:
        yield stack.enter_context(InvokeService("r-worker", environments, runtime_env, **options))
