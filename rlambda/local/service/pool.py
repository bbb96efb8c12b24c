"""A function's execution environments: started on demand up to N, one invoke each at a time.

Each environment is one Runtime API emulator (RuntimeApiServer) with its own port, whose
runtime is the image in a Lambda-like container (DockerRuntime: read-only root, uid 993, tmpfs
/tmp, memory limit, Lambda's environment). The emulator starts the container on the first
invoke and again after a crash or a timeout (it kills and removes the old one), so a broken
environment is replaced and the invoke that broke it gets Lambda's error body.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO

import docker.errors

from rlambda.local.container_handle import ContainerHandle
from rlambda.local.docker_launcher import DockerRuntime
from rlambda.local.runtime_api import InvokeResult, RuntimeApiError, RuntimeApiServer

# Lambda's Tail: "the last 4 KB of the execution log".
TAIL_BYTES = 4096
# Container output reaches us through the engine's log stream a few ms after the runtime wrote
# it; a Tail invoke waits until the stream has been quiet this long (at most _TAIL_WAIT_S).
_QUIET_S = 0.05
_TAIL_WAIT_S = 0.3
LABEL = "rlambda.service"


@dataclass(frozen=True)
class FunctionSpec:
    """One function the service serves."""

    name: str
    image: str
    handler: str | None = None  # overrides the image's CMD, like ImageConfig.Command
    memory_mb: int = 512
    timeout_s: float = 30.0
    env: Mapping[str, str] = field(default_factory=dict)
    # `--aws-credentials`: the caller's credentials, anew at each cold start; not in a repr.
    aws_credentials: Callable[[], Mapping[str, str]] | None = field(
        default=None, repr=False, compare=False
    )
    # The host's network instead of none but the Runtime API (DockerRuntime.host_network).
    host_network: bool = False
    # Every environment starts as a SnapStart restore would (RuntimeApiServer's snapstart).
    snapstart: bool = False


class _Lines:
    """Text written in arbitrary chunks, passed on to the service log line by line."""

    def __init__(self, write_line: Callable[[str], None]) -> None:
        self._write_line = write_line
        self._partial = ""

    def feed(self, text: str) -> None:
        *lines, self._partial = (self._partial + text).split("\n")
        for line in lines:
            self._write_line(line)


class EnvironmentLog:
    """One environment's log stream: to the service log, and kept per invoke for Tail."""

    def __init__(self, prefix: str, sink: TextIO, sink_lock: threading.Lock) -> None:
        self._prefix = prefix
        self._sink, self._sink_lock = sink, sink_lock
        self._lock = threading.Lock()
        self._runtime_text: list[str] = []
        self._emulator_lines: list[str] = []
        self._last_write = 0.0
        self._runtime_lines = _Lines(self._to_sink)
        self.runtime_output = _Writer(self._from_runtime)
        self.emulator_output = _Writer(self._from_emulator)

    def _to_sink(self, line: str) -> None:
        with self._sink_lock:
            self._sink.write(f"{self._prefix} {line}\n")
            self._sink.flush()

    def _from_runtime(self, text: str) -> None:
        with self._lock:
            self._runtime_text.append(text)
            self._last_write = time.monotonic()
        self._runtime_lines.feed(text)

    def _from_emulator(self, text: str) -> None:
        with self._lock:
            self._emulator_lines.append(text)
        for line in text.rstrip("\n").split("\n"):
            self._to_sink(line)

    def begin(self) -> None:
        with self._lock:
            self._runtime_text.clear()
            self._emulator_lines.clear()

    def invoke_log(self) -> str:
        """This invoke's log as Lambda orders it: START, the runtime's output, END, REPORT."""
        deadline = time.monotonic() + _TAIL_WAIT_S
        while time.monotonic() < deadline:
            with self._lock:
                if time.monotonic() - self._last_write >= _QUIET_S:
                    break
            time.sleep(0.01)
        with self._lock:
            start = [line for line in self._emulator_lines if line.startswith("START ")]
            rest = [line for line in self._emulator_lines if not line.startswith("START ")]
            return "".join(start + self._runtime_text + rest)


class _Writer:
    """The file-like object DockerRuntime and RuntimeApiServer write to."""

    def __init__(self, write: Callable[[str], None]) -> None:
        self.write = write

    def flush(self) -> None:
        pass


def tail(text: str) -> bytes:
    return text.encode("utf-8", "replace")[-TAIL_BYTES:]


class ServiceRuntime(DockerRuntime):
    """DockerRuntime whose containers carry the service's labels and a readable name."""

    def __init__(self, image: str, *, labels: Mapping[str, str], name: str, **kw: Any) -> None:
        super().__init__(image, **kw)
        self.labels = dict(labels)
        self.name = name

    def container_options(self, lambda_env: Mapping[str, str]) -> dict[str, Any]:
        options = super().container_options(lambda_env)
        options["labels"] = {**options["labels"], **self.labels}
        options["name"] = f"{self.name}-{secrets.token_hex(3)}"
        return options

    def start(self, env: Mapping[str, str]) -> ContainerHandle:
        handle = super().start(env)
        # A runtime that exits on its own (R reports its exit as the invoke's error, then
        # quits) is not killed by the emulator, which only starts a new one on the next
        # invoke: remove its container as soon as it exits, as Lambda drops the environment.
        threading.Thread(target=_remove_when_exited, args=(handle,), daemon=True).start()
        return handle


def _remove_when_exited(handle: ContainerHandle) -> None:
    handle.wait()
    with contextlib.suppress(docker.errors.DockerException):
        handle.kill()  # removes the container (already gone: nothing to do)


class Environment:
    def __init__(self, server: RuntimeApiServer, log: EnvironmentLog) -> None:
        self.server = server
        self.log = log

    def invoke(
        self,
        payload: bytes,
        *,
        request_id: str,
        trace_id: str | None = None,
        client_context: str | None = None,
        want_log: bool = False,
    ) -> tuple[InvokeResult, str | None]:
        """Invoke once; the result and (if `want_log`) this invoke's log text."""
        self.log.begin()
        result = self.server.invoke(
            payload, request_id=request_id, trace_id=trace_id, client_context=client_context
        )
        return result, self.log.invoke_log() if want_log else None

    def close(self) -> None:
        with contextlib.suppress(RuntimeApiError):
            self.server.close()


class Closed(Exception):
    """The service is shutting down."""


class Pool:
    """Up to `concurrency` environments of one function, each serving one invoke at a time."""

    def __init__(self, concurrency: int, factory: Callable[[int], Environment]) -> None:
        self.concurrency = concurrency
        self._factory = factory
        self._cond = threading.Condition()
        self._idle: list[Environment] = []
        self._all: list[Environment] = []
        self._starting = 0
        self._created = 0
        self._closing = False

    def acquire(self, wait: bool) -> Environment | None:
        """A free environment (the most recently used: warmest), a new one, or None if all N
        are busy and not `wait`."""
        with self._cond:
            while True:
                if self._closing:
                    raise Closed
                if self._idle:
                    return self._idle.pop()
                if len(self._all) + self._starting < self.concurrency:
                    self._starting += 1
                    self._created += 1
                    index = self._created
                    break
                if not wait:
                    return None
                self._cond.wait()
        try:
            environment = self._factory(index)
        finally:
            with self._cond:
                self._starting -= 1
                self._cond.notify_all()
        with self._cond:
            self._all.append(environment)
            if self._closing:
                environment.close()
                raise Closed
        return environment

    def release(self, environment: Environment) -> None:
        with self._cond:
            self._idle.append(environment)
            self._cond.notify_all()

    @property
    def size(self) -> int:
        with self._cond:
            return len(self._all)

    def close(self) -> None:
        with self._cond:
            self._closing = True
            everything = list(self._all)
            self._cond.notify_all()
        threads = [threading.Thread(target=env.close) for env in everything]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
