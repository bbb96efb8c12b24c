"""The emulator: serves the Runtime API to one runtime it starts, and invokes it.

One runtime, one invoke at a time: a second concurrent invoke waits for the first to end
(Lambda would start a second environment; RIE crashes). Init is lazy: the first invoke, and
the first after a timeout, crash or init failure, starts the runtime.
The Runtime API routes and their state machine are in protocol.py; what an invoke ends in
(and the errors the emulator reports itself) in outcomes.py; the Runtime API on a Unix socket,
for runtimes with no network, in unix_socket.py.
"""

from __future__ import annotations

import errno
import os
import secrets
import sys
import threading
import time
import uuid
from http import HTTPStatus
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import TextIO

from rlambda.local.runtime_api.launcher import RuntimeHandle, RuntimeLauncher

from . import model, outcomes
from .http_handler import RuntimeApiHandler
from .model import API_SOCKET_ENV, InvokeReport, InvokeResult, RuntimeApiError
from .outcomes import Outcome
from .protocol import Answer, Invocation, RuntimeProtocol, RuntimeState
from .unix_socket import UnixSocketApi

DEFAULT_TIMEOUT_S = 300.0
DEFAULT_MEMORY_MB = 3008  # RIE's default when AWS_LAMBDA_FUNCTION_MEMORY_SIZE is unset


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
        self._unix: UnixSocketApi | None = None

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
                self._unix = UnixSocketApi(self)
            except BaseException:
                self.close()
                raise
        return self

    @property
    def api_socket(self) -> Path | None:
        """The Unix socket serving the Runtime API, if the launcher asked for one."""
        return self._unix.path if self._unix is not None else None

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
            self._unix.close()
            self._unix = None

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
                trace_id=trace_id or outcomes.new_trace_id(),
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
    ) -> Outcome:
        if answer is not None:
            if answer.error_type is None:
                return Outcome(
                    HTTPStatus.OK, answer.body, None, "success", None, answer.content_type
                )
            return Outcome.failure(answer.error_type, answer.body)
        self._sample_memory()
        self._stop_runtime()
        if exit_code is not None:
            return outcomes.exit_error(request_id, exit_code)
        return outcomes.timeout_error(request_id, self.timeout_s)

    def _cold_start(self, request_id: str) -> tuple[float, float | None, Outcome | None]:
        """Start the runtime and wait for its init: (init ms, restore ms or None, failure).

        Under snap-start, init ends at GET restore/next; the emulator then restores at once
        (the same process goes on: no snapshot is taken here) and the restore ends at GET next.
        """
        started = time.monotonic()
        try:
            self._launch()
        except OSError as exc:
            return 0.0, None, outcomes.invalid_entrypoint(request_id, exc)
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
                failure = outcomes.no_restore_next()
                return self._fail_runtime(request_id, (done_at - started) * 1000, None, failure)
            # A first reading now: a runtime that dies mid-invoke leaves no /proc to read.
            self._sample_memory()
            return (done_at - started) * 1000, None, None
        init_ms = min(time.monotonic() - started, self.init_limit_s) * 1000
        if init_error is not None:
            # The runtime's own error document, reported on the invoke; the next invoke
            # tries init again.
            error_type = init_error.error_type or "Runtime.Unknown"
            failure = Outcome.failure(error_type, init_error.body)
        elif exit_code is not None:
            failure = outcomes.exit_error(request_id, exit_code)
        else:
            failure = outcomes.timeout_error(request_id, self.init_limit_s)
        return self._fail_runtime(request_id, init_ms, None, failure)

    def _fail_runtime(
        self, request_id: str, init_ms: float, restore_ms: float | None, failure: Outcome
    ) -> tuple[float, float | None, Outcome]:
        self._sample_memory()
        self._stop_runtime()
        return init_ms, restore_ms, failure

    def _restore(
        self, request_id: str, init_ms: float
    ) -> tuple[float, float | None, Outcome | None]:
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
            failure = outcomes.restore_error(restore_error.body)
        elif exit_code is not None:
            failure = outcomes.exit_error(request_id, exit_code)
        else:
            failure = outcomes.restore_timeout()
        return self._fail_runtime(request_id, init_ms, restore_ms, failure)

    def _finish(
        self,
        request_id: str,
        outcome: Outcome,
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
