"""The emulator: serves the Runtime API to one runtime it starts, and invokes it.

One runtime, one invoke at a time: a second concurrent invoke waits for the first to end
(Lambda would start a second environment; RIE crashes). Init is lazy: the first invoke, and
the first after a timeout, crash or init failure, starts the runtime.
The Runtime API routes and their state machine are in protocol.py.
"""

from __future__ import annotations

import errno
import os
import secrets
import shutil
import signal
import socketserver
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from http import HTTPStatus
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import TextIO

from rlambda.local.http_io import read_body
from rlambda.local.runtime_api.launcher import RuntimeHandle, RuntimeLauncher

from . import model
from .http_handler import RuntimeApiHandler
from .model import API_SOCKET_ENV, InvokeReport, InvokeResult, RuntimeApiError
from .protocol import Answer, Invocation, RuntimeProtocol, RuntimeState

DEFAULT_TIMEOUT_S = 300.0
_NO_RESTORE_NEXT = (
    "the runtime polled /runtime/invocation/next without calling /runtime/restore/next under "
    "snap-start: Lambda publishes a version of such an image only with "
    'LABEL com.amazonaws.lambda.feature.snapstart="Allow"'
)
DEFAULT_MEMORY_MB = 3008  # RIE's default when AWS_LAMBDA_FUNCTION_MEMORY_SIZE is unset


@dataclass(frozen=True)
class _Outcome:
    status_code: int
    body: bytes
    function_error: str | None
    status: str  # success | error | timeout
    error_type: str | None
    content_type: str = "application/json"

    @classmethod
    def failure(cls, error_type: str, body: bytes, status: str = "error") -> _Outcome:
        # Lambda's Invoke API answers every function error with 200 and the header
        # X-Amz-Function-Error: Unhandled (RIE answers 502 or a bare 200; we follow Lambda).
        return cls(HTTPStatus.OK, body, model.FUNCTION_ERROR_UNHANDLED, status, error_type)


def _new_trace_id() -> str:
    # X-Ray's format; Lambda sends one on every event, sampled or not.
    root = f"1-{int(time.time()):08x}-{secrets.token_hex(12)}"
    return f"Root={root};Parent={secrets.token_hex(8)};Sampled=0"


class _UnixSocketHandler(RuntimeApiHandler):
    """The runtime's side only: the container reaches this socket, and Lambda's Runtime API
    has no invoke route (a function cannot invoke itself through it)."""

    disable_nagle_algorithm = False  # TCP_NODELAY is not an option of a Unix socket

    def _invoke(self) -> None:
        read_body(self, 0)
        self.send(HTTPStatus.NOT_FOUND, b'{"message":"Not Found"}')


class _UnixSocketServer(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True


def _exit_text(code: int) -> str:
    # Go's ProcessState.String(), which rapid puts in "Runtime exited with error: …".
    if code < 0:
        try:
            return f"signal: {signal.strsignal(-code) or -code}".lower()
        except ValueError:
            return f"signal: {-code}"
    return f"exit status {code}"


class RuntimeApiServer(RuntimeProtocol):
    """Lambda Runtime API 2018-06-01 plus an RIE-style invoke route, on one port; for a
    launcher whose runtimes have no network, the Runtime API on a Unix socket too."""

    def __init__(
        self,
        runtime: RuntimeLauncher,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        timeout_s: float | None = None,
        memory_mb: int | None = None,
        function_name: str = "test_function",
        region: str = "us-east-1",
        log_stream: TextIO | None = None,
        quiet: bool = False,
        max_response_bytes: int = model.MAX_RESPONSE_BYTES,
        max_request_bytes: int = model.MAX_REQUEST_BYTES,
        snapstart: bool = False,
        init_limit_s: float | None = None,
    ) -> None:
        self.launcher = runtime
        self.host, self.port = host, port
        env_timeout = os.environ.get("AWS_LAMBDA_FUNCTION_TIMEOUT")
        self.timeout_s = float(timeout_s or env_timeout or DEFAULT_TIMEOUT_S)
        env_memory = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.memory_mb = int(memory_mb or env_memory or DEFAULT_MEMORY_MB)
        self.function_name = function_name
        self.region = region
        arn = f"arn:aws:lambda:{region}:012345678912:function:{function_name}"
        super().__init__(arn, max_response_bytes, snapstart)
        # On-demand init shares the invoke's timeout here (as before); a snap-start init has
        # its own, longer limit (model.SNAPSTART_MIN_INIT_LIMIT_S).
        default_limit = (
            max(model.SNAPSTART_MIN_INIT_LIMIT_S, self.timeout_s) if snapstart else self.timeout_s
        )
        self.init_limit_s = init_limit_s or default_limit
        # The last snap-start cold start's phases, in ms: init (before the snapshot, paid at
        # publish on Lambda), restore (after-restore steps until GET next), and first invoke.
        self.snapstart_timings: dict[str, float] = {}
        self.max_request_bytes = max_request_bytes
        self._log_stream = log_stream
        self._quiet = quiet
        self._invoke_lock = threading.Lock()
        # The last peak-memory reading of the current runtime, for REPORTs after it is gone.
        self._last_memory_mb: int | None = None
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        # For a launcher whose runtimes have no network (model.API_SOCKET_ENV).
        self._unix: _UnixSocketServer | None = None
        self._socket_dir: Path | None = None

    # ---- lifecycle -------------------------------------------------------------------

    def __enter__(self) -> RuntimeApiServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def start(self) -> RuntimeApiServer:
        try:
            httpd = ThreadingHTTPServer((self.host, self.port), RuntimeApiHandler)
        except OSError as exc:
            where = f"{self.host}:{self.port}"
            if exc.errno == errno.EADDRINUSE:
                raise RuntimeApiError(
                    f"cannot serve the Runtime API on {where}: port {self.port} is already in "
                    "use; stop what holds it or pass port=0 to take a free one"
                ) from exc
            raise RuntimeApiError(f"cannot serve the Runtime API on {where}: {exc}") from exc
        httpd.daemon_threads = True
        httpd.emulator = self  # type: ignore[attr-defined]
        self._httpd = httpd
        # A short poll interval only makes close() quick; requests never wait on it.
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        if getattr(self.launcher, "api_socket", False):
            try:
                self._serve_unix_socket()
            except BaseException:
                self.close()
                raise
        return self

    def _serve_unix_socket(self) -> None:
        """The Runtime API routes on a Unix socket in a private directory (close() removes
        it), for runtimes with no network: the launcher bind-mounts it."""
        self._socket_dir = Path(tempfile.mkdtemp(prefix="rlambda-api-"))
        path = self._socket_dir / "api.sock"
        try:
            unix = _UnixSocketServer(str(path), _UnixSocketHandler)
        except OSError as exc:
            raise RuntimeApiError(
                f"cannot serve the Runtime API on the Unix socket {path}: {exc} (a socket's "
                "path has at most 107 bytes: set TMPDIR to a shorter directory)"
            ) from exc
        unix.emulator = self  # type: ignore[attr-defined]
        self._unix = unix
        # The runtime connects as uid 993: it may traverse the directory (not list it, and
        # the name is random) and connect to the socket.
        path.chmod(0o666)
        self._socket_dir.chmod(0o711)
        threading.Thread(
            target=unix.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    @property
    def api_socket(self) -> Path | None:
        """The Unix socket serving the Runtime API, if the launcher asked for one."""
        return self._socket_dir / "api.sock" if self._socket_dir is not None else None

    def close(self) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._stop_runtime()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._unix is not None:
            self._unix.shutdown()
            self._unix.server_close()
            self._unix = None
        if self._socket_dir is not None:
            shutil.rmtree(self._socket_dir, ignore_errors=True)
            self._socket_dir = None

    @property
    def runtime_api(self) -> str:
        """host:port, the value a runtime gets as AWS_LAMBDA_RUNTIME_API."""
        if self._httpd is None:
            raise RuntimeApiError("the server is not started (use it as a context manager)")
        host, port = self._httpd.server_address[:2]
        return f"{host}:{port}"

    def lambda_environment(self) -> dict[str, str]:
        """The environment Lambda gives a runtime: its reserved variables, and its defaults
        for the ones a function may override (model.LAMBDA_DEFAULTS; the launcher lets the
        image's ENV or the function's own settings win for those)."""
        return {
            **model.LAMBDA_DEFAULTS,
            "AWS_LAMBDA_RUNTIME_API": self.runtime_api,
            "AWS_LAMBDA_FUNCTION_NAME": self.function_name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{self.function_name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": time.strftime("%Y/%m/%d/[$LATEST]")
            + secrets.token_hex(16),
            "AWS_LAMBDA_INITIALIZATION_TYPE": (
                model.INIT_SNAP_START if self.snapstart else model.INIT_ON_DEMAND
            ),
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "LAMBDA_TASK_ROOT": "/var/task",
            "LAMBDA_RUNTIME_DIR": "/var/runtime",
            "_AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1",
            "_AWS_XRAY_DAEMON_PORT": "2000",
        }

    # ---- invoke side -----------------------------------------------------------------

    def invoke(
        self,
        payload: bytes,
        *,
        trace_id: str | None = None,
        client_context: str | None = None,
        cognito_identity: str | None = None,
        request_id: str | None = None,
    ) -> InvokeResult:
        """Invoke the function synchronously, like Lambda's Invoke API (RequestResponse).

        Concurrent calls wait their turn: one event at a time per runtime. A payload over
        6 MiB is refused with 413 (no report: nothing ran), as Lambda refuses it.
        `request_id` lets a caller that answered first (an async invoke) keep its id.
        """
        if len(payload) > self.max_request_bytes:
            return self.request_too_large(len(payload))
        with self._invoke_lock:
            invocation = Invocation(
                request_id=request_id or str(uuid.uuid4()),
                payload=payload,
                deadline_epoch_ms=0,
                trace_id=trace_id or _new_trace_id(),
                client_context=client_context,
                cognito_identity=cognito_identity,
            )
            return self._invoke_locked(invocation)

    def request_too_large(self, size: int) -> InvokeResult:
        body = model.request_too_large(size, self.max_request_bytes)
        return InvokeResult(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, body, None, None)

    def _invoke_locked(self, invocation: Invocation) -> InvokeResult:
        self._log(f"START RequestId: {invocation.request_id} Version: $LATEST")
        init_ms: float | None = None
        restore_ms: float | None = None
        for attempt in range(2):
            if not self._runtime_running():
                init_ms, restore_ms, failure = self._cold_start(invocation.request_id)
                if failure is not None:
                    # Nothing ran: Lambda counts the failed init as the invoke's duration.
                    spent = restore_ms if restore_ms is not None else init_ms
                    return self._finish(invocation.request_id, failure, spent, init_ms, restore_ms)
            offered = time.monotonic()
            answer, exit_code, delivered = self._offer(invocation)
            # A warm runtime that exited before it took the event (e.g. awslambdaric exits
            # when its previous response was refused with 413) failed no event: start a
            # fresh one and offer the event again, once, as Lambda would on a new sandbox.
            if exit_code is None or delivered or init_ms is not None or attempt:
                break
            self._stop_runtime()
        ended = invocation.answered_at if answer is not None else time.monotonic()
        duration_ms = min(ended - offered, self.timeout_s) * 1000
        outcome = self._invoke_outcome(invocation.request_id, answer, exit_code)
        if restore_ms is not None:
            self.snapstart_timings["first_invoke_ms"] = duration_ms
        return self._finish(invocation.request_id, outcome, duration_ms, init_ms, restore_ms)

    def _offer(self, invocation: Invocation) -> tuple[Answer | None, int | None, bool]:
        """Offer the event to the runtime; wait for its answer, its exit, or the timeout."""
        invocation.deadline_epoch_ms = int((time.time() + self.timeout_s) * 1000)
        with self._cond:
            rt = self._rt
            rt.pending = invocation
            self._cond.notify_all()
            self._cond.wait_for(
                lambda: invocation.answer is not None or rt.exit_code is not None or self._closing,
                timeout=self.timeout_s,
            )
            if rt.pending is invocation:
                rt.pending = None
            self._raise_if_closing()
            return invocation.answer, rt.exit_code, rt.current is invocation

    def _invoke_outcome(
        self, request_id: str, answer: Answer | None, exit_code: int | None
    ) -> _Outcome:
        if answer is not None:
            if answer.error_type is None:
                return _Outcome(
                    HTTPStatus.OK, answer.body, None, "success", None, answer.content_type
                )
            return _Outcome.failure(answer.error_type, answer.body)
        self._sample_memory()
        self._stop_runtime()
        if exit_code is not None:
            return self._exit_error(request_id, exit_code)
        return self._timeout_error(request_id)

    def _cold_start(self, request_id: str) -> tuple[float, float | None, _Outcome | None]:
        """Start the runtime and wait for its init: (init ms, restore ms or None, failure).

        Under snap-start, init ends at GET restore/next; the emulator then restores at once
        (the same process goes on: no snapshot is taken here) and the restore ends at GET next.
        """
        started = time.monotonic()
        try:
            self._launch()
        except OSError as exc:
            message = f"RequestId: {request_id} Error: {exc}"
            body = model.error_body("Runtime.InvalidEntrypoint", message)
            return 0.0, None, _Outcome.failure("Runtime.InvalidEntrypoint", body)
        with self._cond:
            self._cond.wait_for(
                lambda: (
                    self._rt.init_done_at is not None
                    or self._rt.restore_asked_at is not None
                    or self._rt.init_error is not None
                    or self._rt.exit_code is not None
                    or self._closing
                ),
                timeout=self.init_limit_s,
            )
            self._raise_if_closing()
            done_at, init_error, exit_code = (
                self._rt.init_done_at,
                self._rt.init_error,
                self._rt.exit_code,
            )
            snapshot_at = self._rt.restore_asked_at
        if snapshot_at is not None:
            return self._restore(request_id, (snapshot_at - started) * 1000)
        if init_error is None and done_at is not None:
            if self.snapstart:
                failure = _Outcome.failure(
                    "Runtime.SnapStartNotImplemented",
                    model.error_body("Runtime.SnapStartNotImplemented", _NO_RESTORE_NEXT),
                )
                return self._fail_runtime(request_id, (done_at - started) * 1000, None, failure)
            # A first reading now: a runtime that dies mid-invoke leaves no /proc to read.
            self._sample_memory()
            return (done_at - started) * 1000, None, None
        init_ms = min(time.monotonic() - started, self.init_limit_s) * 1000
        if init_error is not None:
            # The runtime's own error document, reported on the invoke; the next invoke
            # tries init again.
            error_type = init_error.error_type or "Runtime.Unknown"
            failure = _Outcome.failure(error_type, init_error.body)
        elif exit_code is not None:
            failure = self._exit_error(request_id, exit_code)
        else:
            failure = self._timeout_error(request_id, self.init_limit_s)
        return self._fail_runtime(request_id, init_ms, None, failure)

    def _fail_runtime(
        self, request_id: str, init_ms: float, restore_ms: float | None, failure: _Outcome
    ) -> tuple[float, float | None, _Outcome]:
        self._sample_memory()
        self._stop_runtime()
        return init_ms, restore_ms, failure

    def _restore(
        self, request_id: str, init_ms: float
    ) -> tuple[float, float | None, _Outcome | None]:
        """Answer GET restore/next and wait for the after-restore hooks to end in GET next."""
        self._sample_memory()
        self.snapstart_timings = {"init_ms": init_ms}
        self._log(f"SNAPSTART init before the snapshot: {init_ms:.2f} ms")
        with self._cond:
            rt = self._rt
            rt.restore_released = True
            released = time.monotonic()
            self._cond.notify_all()
            self._cond.wait_for(
                lambda: (
                    rt.init_done_at is not None
                    or rt.restore_error is not None
                    or rt.exit_code is not None
                    or self._closing
                ),
                timeout=model.SNAPSTART_RESTORE_LIMIT_S,
            )
            self._raise_if_closing()
            ready_at, restore_error, exit_code = rt.init_done_at, rt.restore_error, rt.exit_code
        ended = ready_at if restore_error is None and ready_at is not None else time.monotonic()
        restore_ms = min(ended - released, model.SNAPSTART_RESTORE_LIMIT_S) * 1000
        self.snapstart_timings["restore_ms"] = restore_ms
        if restore_error is None and ready_at is not None:
            return init_ms, restore_ms, None
        if restore_error is not None:
            # Lambda's Invoke API answers SnapStartException (400): "The afterRestore() runtime
            # hook encountered an error" (botocore's Lambda model). The body here is the
            # runtime's own error document, so that R's message and class reach the caller.
            failure = _Outcome(
                HTTPStatus.BAD_REQUEST, restore_error.body, None, "error", "SnapStartException"
            )
        elif exit_code is not None:
            failure = self._exit_error(request_id, exit_code)
        else:
            message = "Lambda couldn't restore the snapshot within the timeout limit."
            failure = _Outcome(
                HTTPStatus.REQUEST_TIMEOUT,
                model.error_body("SnapStartTimeoutException", message),
                None,
                "timeout",
                "SnapStartTimeoutException",
            )
        return self._fail_runtime(request_id, init_ms, restore_ms, failure)

    def _exit_error(self, request_id: str, exit_code: int) -> _Outcome:
        message = (
            f"RequestId: {request_id} Error: Runtime exited with error: {_exit_text(exit_code)}"
        )
        return _Outcome.failure("Runtime.ExitError", model.error_body("Runtime.ExitError", message))

    def _timeout_error(self, request_id: str, limit_s: float | None = None) -> _Outcome:
        limit_s = self.timeout_s if limit_s is None else limit_s
        message = f"RequestId: {request_id} Error: Task timed out after {limit_s:.2f} seconds"
        body = model.error_body("Sandbox.Timedout", message)
        return _Outcome.failure("Sandbox.Timedout", body, status="timeout")

    def _finish(
        self,
        request_id: str,
        outcome: _Outcome,
        duration_ms: float,
        init_ms: float | None,
        restore_ms: float | None = None,
    ) -> InvokeResult:
        # Under SnapStart the init was paid when the version was published: not billed here.
        billed_init = None if restore_ms is not None else init_ms
        report = InvokeReport(
            request_id=request_id,
            duration_ms=duration_ms,
            billed_duration_ms=model.billed_ms(duration_ms, billed_init),
            memory_size_mb=self.memory_mb,
            max_memory_mb=self._sample_memory(),
            init_duration_ms=init_ms,
            restore_duration_ms=restore_ms,
            status=outcome.status,
            error_type=outcome.error_type,
        )
        self._log(f"END RequestId: {request_id}")
        self._log(report.line())
        return InvokeResult(
            outcome.status_code, outcome.body, outcome.function_error, report, outcome.content_type
        )

    # ---- the runtime process -------------------------------------------------------------

    def _runtime_running(self) -> bool:
        with self._cond:
            return self._rt.handle is not None and self._rt.exit_code is None

    def _launch(self) -> None:
        with self._cond:
            self._rt = RuntimeState(generation=self._rt.generation + 1)
            self._last_memory_mb = None
            generation = self._rt.generation
        env = self.lambda_environment()
        if self.api_socket is not None:
            env[API_SOCKET_ENV] = str(self.api_socket)
        handle = self.launcher.start(env)
        with self._cond:
            self._rt.handle = handle
        threading.Thread(target=self._watch, args=(handle, generation), daemon=True).start()

    def _watch(self, handle: RuntimeHandle, generation: int) -> None:
        code = handle.wait()
        with self._cond:
            if self._rt.generation == generation:
                self._rt.exit_code = code
                self._cond.notify_all()

    def _stop_runtime(self) -> None:
        """Kill the runtime (if any) and forget it; the next invoke starts a new one."""
        with self._cond:
            handle = self._rt.handle
            self._rt.handle = None
            # A new generation releases GET next calls still parked for the old process.
            self._rt.generation += 1
            self._rt.pending = self._rt.current = None
            self._cond.notify_all()
        if handle is not None:
            handle.kill()

    def _sample_memory(self) -> int | None:
        with self._cond:
            handle = self._rt.handle
            if handle is None:
                return self._last_memory_mb
        mb = handle.max_memory_mb()
        with self._cond:
            if mb is not None:
                self._last_memory_mb = mb
            return self._last_memory_mb

    def _raise_if_closing(self) -> None:
        # Called with _cond held. An invoke cut short by close() has no Lambda equivalent.
        if self._closing:
            raise RuntimeApiError("the emulator was closed while an invoke was running")

    def _log(self, line: str) -> None:
        if not self._quiet:
            stream = self._log_stream or sys.stdout
            stream.write(line + "\n")
            stream.flush()
