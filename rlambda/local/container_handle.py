"""One running container, as the emulator's RuntimeHandle: its exit status (a signal, an OOM
kill), its peak memory (the cgroup's, as Lambda reads its sandbox's) and its output.

"Max Memory Used" is the container cgroup's peak (memory.max_usage_in_bytes on cgroup v1,
memory.peak on v2). Exceeding the memory limit is an OOM kill, reported as "Runtime exited
with error: signal: killed".
"""

from __future__ import annotations

import contextlib
import math
import signal
import threading
from pathlib import Path
from typing import TextIO

import docker.errors
from docker.models.containers import Container


def _exit_status(code: int) -> int:
    """Docker's exit code as a Popen-style status: negative for a signal.

    The engine reports a process killed by signal N as 128+N (the shell's convention); rapid
    reports those as "signal: killed" etc., so the emulator wants the signal back. A runtime
    that calls exit(137) itself is indistinguishable, and rare.
    """
    if code > 128:
        with contextlib.suppress(ValueError):
            return -int(signal.Signals(code - 128))
    return code


def _cgroup_peak_file(pid: int) -> Path | None:
    """The host file holding the peak memory of the cgroup `pid` runs in, if readable here.

    cgroup v1: <memory mount>/<path>/memory.max_usage_in_bytes; v2: <path>/memory.peak
    (kernel 5.19+). None inside a cgroup namespace that hides the path, or without /proc.
    """
    try:
        lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        hierarchy, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            candidate = Path("/sys/fs/cgroup/memory") / path.lstrip("/")
            candidate = candidate / "memory.max_usage_in_bytes"
        elif hierarchy == "0" and not controllers:
            candidate = Path("/sys/fs/cgroup") / path.lstrip("/") / "memory.peak"
        else:
            continue
        if candidate.is_file():
            return candidate
    return None


class ContainerHandle:
    """One running container, as the emulator's RuntimeHandle."""

    def __init__(
        self,
        container: Container,
        *,
        remove_on_kill: bool = True,
        output: TextIO | None = None,
        logs_since: float | None = None,
    ) -> None:
        self._container = container
        self._remove_on_kill = remove_on_kill
        container.reload()
        state = container.attrs["State"]
        self._pid: int | None = state.get("Pid") or None
        self._limit_mb = (container.attrs["HostConfig"].get("Memory") or 0) // (1024 * 1024)
        self._peak_file = _cgroup_peak_file(self._pid) if self._pid else None
        self._peak_bytes = 0
        self._oom_killed = False
        self._status: int | None = None
        self._lock = threading.Lock()
        self._wait_lock = threading.Lock()
        if output is not None:
            args = (output, logs_since)
            threading.Thread(target=self._copy_logs, args=args, daemon=True).start()

    @property
    def container(self) -> Container:
        return self._container

    @property
    def pid(self) -> int | None:
        return self._pid

    def poll(self) -> int | None:
        if self._status is not None:
            return self._status
        try:
            self._container.reload()
        except docker.errors.NotFound:
            return self.wait()
        if self._container.status in ("running", "created", "restarting"):
            return None
        return self.wait()

    def wait(self) -> int:
        # One caller talks to the engine; later ones get the status it found.
        with self._wait_lock:
            if self._status is None:
                try:
                    code = int(self._container.wait()["StatusCode"])
                except docker.errors.NotFound:
                    code = 128 + signal.SIGKILL  # removed by kill() before it was waited on
                self._oom_killed = self._read_oom_killed()
                # The kernel's OOM killer sends SIGKILL; report it as such whatever the code.
                self._status = -signal.SIGKILL if self._oom_killed else _exit_status(code)
            return self._status

    def kill(self) -> None:
        # Sample first: the cgroup, and its peak, go with the container.
        self.max_memory_mb()
        try:
            if self._remove_on_kill:
                self._container.remove(force=True)
            else:
                self._container.kill()
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            # 409: it had already stopped, which is what kill() wants.
            if exc.status_code != 409:
                raise
        self.wait()

    def max_memory_mb(self) -> int | None:
        reading = self._read_peak_bytes()
        with self._lock:
            self._peak_bytes = max(self._peak_bytes, reading or 0)
            peak = self._peak_bytes
        if self._oom_killed and self._limit_mb:
            # It died at the limit; the cgroup is gone before anyone could read it again.
            return self._limit_mb
        return math.ceil(peak / (1024 * 1024)) if peak else None

    def _read_peak_bytes(self) -> int | None:
        if self._peak_file is not None:
            try:
                return int(self._peak_file.read_text())
            except (OSError, ValueError):
                return None  # the container (and its cgroup) is gone
        if self._status is not None:
            return None
        # No cgroup file visible from here (e.g. a remote engine): ask the engine. Its
        # max_usage exists on cgroup v1 only.
        try:
            stats = self._container.stats(stream=False, one_shot=True)
        except docker.errors.APIError:
            return None
        value = stats.get("memory_stats", {}).get("max_usage")
        return int(value) if value else None

    def _read_oom_killed(self) -> bool:
        try:
            self._container.reload()
        except docker.errors.NotFound:
            return False
        return bool(self._container.attrs["State"].get("OOMKilled"))

    def _copy_logs(self, output: TextIO, since: float | None) -> None:
        # Lambda sends the runtime's stdout and stderr to CloudWatch; here they go to `output`.
        with contextlib.suppress(docker.errors.APIError, OSError, ValueError):
            for chunk in self._container.logs(stream=True, follow=True, since=since):
                output.write(chunk.decode("utf-8", "replace"))
                output.flush()
