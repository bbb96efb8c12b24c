"""One function running under AWS's RIE in a Lambda-like container.

    from rlambda.local.aws_rie.function import AwsRie
    with AwsRie("r-lambda:content-ef1f", memory_mb=512, timeout_s=30) as function:
        result = function.invoke(b'{"x": 1}')     # an InvokeResult, as RuntimeApiServer's

The binary is binary.py's (pinned and verified); its log lines are read by logs.py.

The container is the Lambda-like sandbox of DockerRuntime (read-only root, tmpfs /tmp, memory
limit without swap, Lambda's process and file quotas, no capabilities) with RIE mounted
read-only as its entrypoint, in front of the image's own ENTRYPOINT + CMD (as AWS SAM runs an
image). It has no network (`network_mode="none"`, as DockerRuntime's): rlambda-relay
(api_relay.py) wraps RIE, listens on a Unix socket in a bind-mounted private directory and
forwards to RIE's 127.0.0.1:8080 inside; the invokes go over that socket. RIE starts the
runtime lazily on the first invoke, and again after a crash or timeout.

Managed-instances mode (`max_concurrency=N`, AWS_LAMBDA_MAX_CONCURRENCY=N): init is eager, up to
N invokes run at once, and RIE gives the runtime Lambda's environment (LANG, TZ, the log
format...). RIE then runs as root in the container, because it execs the runtime under uid 993
itself (as uid 993 it fails: "fork/exec ... operation not permitted"); it needs CAP_SETUID and
CAP_SETGID for that, and gets nothing else.

What RIE cannot show, so tests must not ask it (measured with RIE 1.34):
- a function error is a bare 200 with the error document: no X-Amz-Function-Error header
  (InvokeResult.errors_marked is False; `failed` reads the body);
- a timeout is a 200 with the text "Task timed out after N.00 seconds";
- outside managed-instances mode, one invoke at a time (a second concurrent one crashes RIE 1.x
  upstream): invoke() serialises them;
- in normal mode RIE passes no trace id to the runtime and none of LANG, TZ, AWS_REGION;
  in managed-instances mode the deadline it sends is wrong (N s timeout -> N*10^6 s away);
- no Cognito identity on the invoke side; its "Max Memory Used" is the memory size (here it
  is the container cgroup's peak instead, RIE's own few MB included).
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import secrets
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TextIO

import docker.errors

import docker
from rlambda.errors import UsageError
from rlambda.local import api_relay
from rlambda.local.container_handle import ContainerHandle
from rlambda.local.docker_launcher import DockerRuntime
from rlambda.local.runtime_api.launcher import _children
from rlambda.local.runtime_api.model import InvokeReport, InvokeResult, RuntimeApiError, billed_ms
from rlambda.pins.platforms import lambda_arch

from .binary import rie_binary
from .logs import LogFollower

RIE_PORT = 8080
RIE_PATH = "/aws-lambda-rie"
INVOKE_PATH = "/2015-03-31/functions/function/invocations"
DEFAULT_TIMEOUT_S = 300.0
# How long to wait for RIE to listen after the container starts, and at most for a REPORT
# line: RIE flushes its log about once a second, but on a loaded machine (CI beside other
# builds) a re-init's REPORT came after more than 2 s. The wait ends as soon as it arrives.
READY_TIMEOUT_S = 20.0
REPORT_WAIT_S = 10.0
LABEL = "rlambda.aws-rie"
SOCKET_NAME = "rie.sock"  # in the bind-mounted directory: the relay's end of the invokes


class _UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP over the relay's Unix socket (the container has no network to reach)."""

    def __init__(self, path: Path, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)
            sock.connect(str(self.path))
        except BaseException:
            sock.close()
            raise
        self.sock = sock


# ---- the function -------------------------------------------------------------------------


class AwsRie:
    """One function running under AWS's RIE in a Lambda-like container; see the module doc.

    `invoke` has RuntimeApiServer.invoke's signature and returns its InvokeResult, so event
    files, tests and benchmarks run against either emulator the same way.
    """

    errors_marked = False

    def __init__(
        self,
        image: str,
        *,
        memory_mb: int = 512,
        timeout_s: float | None = None,
        handler: str | None = None,
        env: Mapping[str, str] | None = None,
        aws_credentials: Callable[[], Mapping[str, str]] | None = None,
        function_name: str = "test_function",
        max_concurrency: int | None = None,
        reports: bool = True,  # follow the container's output for its REPORT lines
        output: TextIO | None = None,
        arch: str | None = None,  # AWS's RIE for this architecture; default: the image's
        client: docker.DockerClient | None = None,
    ) -> None:
        if max_concurrency is not None and not 1 <= max_concurrency <= 1600:
            raise UsageError(f"max_concurrency={max_concurrency}: Lambda allows 1 to 1600")
        self.sandbox = DockerRuntime(
            image,
            memory_mb=memory_mb,
            env=env,
            handler=handler,
            client=client,
            aws_credentials=aws_credentials,
        )
        self.timeout_s = float(timeout_s or DEFAULT_TIMEOUT_S)
        self.function_name = function_name
        self.max_concurrency = max_concurrency
        self.follow_reports = reports
        self.output = output
        self.arch = arch
        self.handle: ContainerHandle | None = None
        self.socket_path: Path | None = None  # where the invokes go, once started
        self.started_at: float | None = None
        self._socket_dir: Path | None = None
        self._reports: LogFollower | None = None
        self._serial = threading.Lock()
        self._local = threading.local()
        self.invokes = 0
        self._elapsed_ms: list[float] = []

    @property
    def memory_mb(self) -> int:
        return self.sandbox.memory_mb

    # ---- lifecycle ---------------------------------------------------------------------

    def __enter__(self) -> AwsRie:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def container_options(self, binary: Path, socket_dir: Path) -> dict[str, Any]:
        """Keyword arguments for `containers.create`: DockerRuntime's sandbox, RIE in front,
        the relay in front of RIE; `socket_dir` is the host directory for the relay's socket."""
        config = self.sandbox.image_config()
        entrypoint = config.entrypoint
        command = self.sandbox.command()
        if not entrypoint and not command:
            raise UsageError(f"image {self.sandbox.image!r} has no ENTRYPOINT or CMD")
        env = dict(self.sandbox.env)
        env.update(
            {
                "AWS_LAMBDA_FUNCTION_NAME": self.function_name,
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.memory_mb),
                "AWS_LAMBDA_FUNCTION_TIMEOUT": str(max(1, round(self.timeout_s))),
            }
        )
        if command:
            # Managed-instances mode runs /var/runtime/bootstrap without arguments: the
            # handler reaches the runtime as _HANDLER, as Lambda gives it.
            env["_HANDLER"] = command[0]
        if self.max_concurrency is not None:
            env["AWS_LAMBDA_MAX_CONCURRENCY"] = str(self.max_concurrency)
        relay = api_relay.relay_command(
            f"unix:{api_relay.SOCKET_DIR}/{SOCKET_NAME}",
            f"tcp:127.0.0.1:{RIE_PORT}",
            report_exec_failure=False,  # RIE reports what it cannot start itself
        )
        options = self.sandbox.sandbox_options()
        options.update(
            {
                "entrypoint": [*relay, RIE_PATH],
                "command": [*entrypoint, *command],
                "environment": env,
                "volumes": {
                    str(binary): {"bind": RIE_PATH, "mode": "ro"},
                    str(self.sandbox.relay_binary()): {"bind": api_relay.RELAY_PATH, "mode": "ro"},
                    # Writable: the relay makes its socket there.
                    str(socket_dir): {"bind": api_relay.SOCKET_DIR, "mode": "rw"},
                },
                "network_mode": "none",
                "labels": {LABEL: "1"},
                "name": f"rlambda-rie-{secrets.token_hex(6)}",
            }
        )
        if self.max_concurrency is not None:
            options["user"] = "0:0"
            options["cap_add"] = ["SETUID", "SETGID"]
        return options

    def start(self) -> AwsRie:
        client = self.sandbox.client
        # A missing image fails here, by name; so does one this engine cannot run.
        config = self.sandbox.image_config()
        binary = rie_binary(self.arch or lambda_arch(config.platform.rpartition("/")[2]) or "")
        self.sandbox.relay_binary()  # so does a machine that cannot compile the relay
        self._socket_dir = Path(tempfile.mkdtemp(prefix="rlambda-rie-"))
        try:
            # The relay runs as uid 993 (root without DAC override in managed-instances mode)
            # and makes its socket here: others may create but not list (the name is random).
            self._socket_dir.chmod(0o733)
            self.socket_path = self._socket_dir / SOCKET_NAME
            options = self.container_options(binary, self._socket_dir)
            self.started_at = time.monotonic()
            container = client.containers.create(**options)
            try:
                if self.follow_reports:
                    self._reports = LogFollower(container, self.output)
                container.start()
            except docker.errors.APIError:
                container.remove(force=True)
                raise
            # After start: the handle reads the container's pid and cgroup.
            self.handle = ContainerHandle(container)
            self._wait_ready()
        except BaseException:
            self.close()
            raise
        return self

    def _wait_ready(self) -> None:
        # The relay's socket appears first, and passes a connection on only once RIE listens
        # (before, it ends it): probe with a request RIE answers without invoking anything
        # (404 for an unknown path).
        assert self.socket_path is not None
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            try:
                connection = _UnixHTTPConnection(self.socket_path, timeout=5)
                connection.request("GET", "/rlambda-ready")
                connection.getresponse().read()
                connection.close()
                return
            except (OSError, http.client.HTTPException):
                if self.handle is not None and self.handle.poll() is not None:
                    raise RuntimeApiError(
                        f"AWS's RIE exited before it listened: {self._tail_logs()}"
                    ) from None
                if time.monotonic() > deadline:
                    raise RuntimeApiError(
                        f"AWS's RIE did not listen within {READY_TIMEOUT_S:g} s"
                    ) from None
                time.sleep(0.002)

    def _tail_logs(self) -> str:
        if self.handle is None:
            return ""
        with contextlib.suppress(docker.errors.APIError):
            return self.handle.container.logs(tail=20).decode("utf-8", "replace").strip()
        return ""

    def close(self) -> None:
        if self.handle is not None:
            self.handle.kill()
            self.handle = None
        if self._socket_dir is not None:
            shutil.rmtree(self._socket_dir, ignore_errors=True)
            self._socket_dir = None

    # ---- invoke side -------------------------------------------------------------------

    def _connection(self) -> http.client.HTTPConnection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            assert self.socket_path is not None
            connection = _UnixHTTPConnection(self.socket_path, timeout=self.timeout_s + 30)
            self._local.connection = connection
        return connection

    def invoke(
        self,
        payload: bytes,
        *,
        trace_id: str | None = None,
        client_context: str | None = None,
        cognito_identity: str | None = None,
    ) -> InvokeResult:
        """Invoke synchronously; one at a time unless in managed-instances mode.

        `cognito_identity` is accepted for the common signature; RIE has no way to pass it.
        """
        del cognito_identity
        if self.handle is None:
            raise RuntimeApiError("AWS's RIE is not started (use AwsRie as a context manager)")
        headers = {"Content-Type": "application/json"}
        if trace_id:
            headers["X-Amzn-Trace-Id"] = trace_id
        if client_context:
            headers["X-Amz-Client-Context"] = base64.b64encode(client_context.encode()).decode()
        lock = self._serial if self.max_concurrency is None else contextlib.nullcontext()
        with lock:
            began = time.monotonic()
            status, body, response_headers = self._post(payload, headers)
            self.invokes += 1
            self._elapsed_ms.append((time.monotonic() - began) * 1000)
        return InvokeResult(
            status,
            body,
            response_headers.get("X-Amz-Function-Error"),
            None,  # RIE prints its REPORT about a second later: see reports()
            response_headers.get("Content-Type", "application/octet-stream"),
            errors_marked=False,
        )

    def _post(self, payload: bytes, headers: dict[str, str]) -> tuple[int, bytes, Any]:
        connection = self._connection()
        try:
            connection.request("POST", INVOKE_PATH, payload, headers)
            response = connection.getresponse()
            return response.status, response.read(), response.headers
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            self._local.connection = None
            raise RuntimeApiError(
                f"AWS's RIE dropped the invoke ({exc!r}); its last lines:\n{self._tail_logs()}"
            ) from exc

    def reports(self, timeout_s: float = REPORT_WAIT_S) -> list[InvokeReport] | None:
        """A report for every invoke so far, in order, from RIE's START/REPORT lines; for
        sequential invokes only.

        RIE flushes its log about once a second, so this waits for the lines (at most
        `timeout_s`). An invoke in which the runtime exited has no REPORT line: its duration
        is then the caller's round trip. None when the lines do not add up to one START per
        invoke: better no figures than another invoke's.
        """
        if self._reports is None:
            return None
        logged = self._reports.wait_for(self.invokes, timeout_s)
        if len(logged) != self.invokes:
            return None
        peak = self.handle.max_memory_mb() if self.handle else None
        out = []
        for entry, elapsed_ms in zip(logged, self._elapsed_ms, strict=True):
            if entry.fields is not None and "Duration" in entry.fields:
                # RIE counts a (re-)init into its invoke's Duration.
                duration = max(entry.fields["Duration"] - (entry.init_ms or 0.0), 0.0)
            else:
                duration = max(elapsed_ms - (entry.init_ms or 0.0), 0.0)
            out.append(
                InvokeReport(
                    request_id=entry.request_id,
                    duration_ms=duration,
                    billed_duration_ms=billed_ms(duration, entry.init_ms),
                    memory_size_mb=self.memory_mb,
                    max_memory_mb=peak,
                    init_duration_ms=entry.init_ms,
                    status="success" if entry.fields is not None else "error",
                )
            )
        return out


def runtime_pids(handle: ContainerHandle) -> list[int]:
    """The processes RIE started in the container (the runtime and its children), from /proc;
    not the relay, which RIE did not start."""
    if handle.pid is None:
        return []
    found, stack = [], list(_children(handle.pid))
    while stack:
        pid = stack.pop()
        with contextlib.suppress(OSError):
            if Path(f"/proc/{pid}/comm").read_text().strip() == Path(api_relay.RELAY_PATH).name:
                continue
        found.append(pid)
        stack.extend(_children(pid))
    return found
