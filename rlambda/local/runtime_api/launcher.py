"""How the emulator starts a runtime: a small protocol, and a local-process launcher.

Any launcher only has to return a handle that can be polled, waited on, killed and asked for
its peak memory: ProcessRuntime here runs a local process, DockerRuntime (docker_launcher.py) a
container with Lambda's limits.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import subprocess
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Protocol, runtime_checkable

from rlambda.local.runtime_api.model import LAMBDA_DEFAULTS


@runtime_checkable
class RuntimeHandle(Protocol):
    """One started runtime (a process, or later a container)."""

    @property
    def pid(self) -> int | None: ...

    def poll(self) -> int | None:
        """The exit status if it has ended (negative: killed by that signal), else None."""
        ...

    def wait(self) -> int:
        """Block until it ends; return its exit status."""
        ...

    def kill(self) -> None:
        """End it and everything it started, at once (Lambda does not wait either)."""
        ...

    def max_memory_mb(self) -> int | None:
        """Peak resident memory so far, in MB (rounded up), or None if unknown."""
        ...


@runtime_checkable
class RuntimeLauncher(Protocol):
    def start(self, env: Mapping[str, str]) -> RuntimeHandle:
        """Start the runtime with the Lambda environment `env` (AWS_LAMBDA_RUNTIME_API etc.).

        A launcher whose runtimes have no network sets a true `api_socket` attribute; `env`
        then also holds model.API_SOCKET_ENV (see there).
        """
        ...


def _children(pid: int) -> list[int]:
    # /proc/<pid>/task/<tid>/children lists direct children (CONFIG_PROC_CHILDREN, on in
    # Debian and Amazon Linux kernels); far cheaper than scanning every /proc/*/stat.
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in tasks:
        try:
            text = Path(f"/proc/{pid}/task/{tid}/children").read_text()
        except OSError:
            continue
        found.extend(int(child) for child in text.split())
    return found


def _vmhwm_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def process_tree_vmhwm_kb(pid: int) -> int:
    """Sum of VmHWM over a process and its descendants.

    Each process's high-water mark may come from a different moment, so this is an upper
    bound of the tree's true peak; Lambda reads its cgroup's peak instead. A runtime is
    nearly always one process (R, or python), where the two agree.
    """
    total, stack, seen = 0, [pid], set()
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        total += _vmhwm_kb(current)
        stack.extend(_children(current))
    return total


class ProcessHandle:
    """A runtime running as a local process in its own session (so kill takes the tree)."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self._process = process
        self._peak_kb = 0
        self._lock = threading.Lock()

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def poll(self) -> int | None:
        return self._process.poll()

    def wait(self) -> int:
        return self._process.wait()

    def kill(self) -> None:
        # Sample first: once killed, /proc no longer has the figures.
        self.max_memory_mb()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._process.pid, signal.SIGKILL)
        self._process.wait()

    def max_memory_mb(self) -> int | None:
        # Remember the best reading: after the process exits /proc is gone, and a REPORT
        # for the invoke it crashed in still wants the figure.
        kb = process_tree_vmhwm_kb(self._process.pid) if self._process.poll() is None else 0
        with self._lock:
            self._peak_kb = max(self._peak_kb, kb)
            peak = self._peak_kb
        return math.ceil(peak / 1024) if peak else None


class ProcessRuntime:
    """Start the runtime as a local process: `argv` in `cwd`, with `env` over Lambda's.

    Lambda gives a runtime only its own environment, so the host's is not passed on unless
    `inherit_env`; the variables a function may override (PATH, LANG, TZ, LD_LIBRARY_PATH...)
    are, where the host sets them, so the runtime finds its tools.
    """

    def __init__(
        self,
        argv: Sequence[str],
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        *,
        inherit_env: bool = False,
        stdout: IO[bytes] | int | None = None,
        stderr: IO[bytes] | int | None = None,
    ) -> None:
        if not argv:
            raise ValueError("ProcessRuntime needs a command to run (argv is empty)")
        self.argv = list(argv)
        self.env = dict(env or {})
        self.cwd = cwd
        self.inherit_env = inherit_env
        self.stdout = stdout
        self.stderr = stderr

    def environment(self, lambda_env: Mapping[str, str]) -> dict[str, str]:
        merged: dict[str, str] = dict(os.environ) if self.inherit_env else {}
        merged.update(lambda_env)
        # The host stands in for the image: where it sets one of the variables a function may
        # override (PATH, LANG, ...), it wins over Lambda's default, as an image's ENV does.
        merged.update({key: os.environ[key] for key in LAMBDA_DEFAULTS if key in os.environ})
        merged.update(self.env)
        # The server's address must win over anything the caller passed.
        merged["AWS_LAMBDA_RUNTIME_API"] = lambda_env["AWS_LAMBDA_RUNTIME_API"]
        return merged

    def start(self, env: Mapping[str, str]) -> ProcessHandle:
        process = subprocess.Popen(
            self.argv,
            cwd=self.cwd,
            env=self.environment(env),
            stdin=subprocess.DEVNULL,
            stdout=self.stdout,
            stderr=self.stderr,
            start_new_session=True,
        )
        return ProcessHandle(process)
