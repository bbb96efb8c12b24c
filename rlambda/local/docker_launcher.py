"""Run a container image the way Lambda runs it, as a runtime for RuntimeApiServer.

    from rlambda.local.runtime_api import RuntimeApiServer
    from rlambda.local.docker_launcher import DockerRuntime
    runtime = DockerRuntime("r-lambda:content-ef1f", memory_mb=512)
    with RuntimeApiServer(runtime, memory_mb=512, timeout_s=30) as server:
        result = server.invoke(b'{"x": 1}')

What Lambda does to a container image, and how each cold start here reproduces it:
- read-only root filesystem; a writable `/tmp` of the function's ephemeral-storage size (a
  tmpfs here, mode 0700 and owned by the function's user, as Lambda's `/tmp` is);
- a non-root user whatever the image's USER says: uid 993, gid 990 (what `id` prints inside
  Lambda: uid=993(sbx_user1051) gid=990);
- the memory setting as a hard limit with no swap (a cgroup limit; exceeding it is an OOM kill,
  reported as "Runtime exited with error: signal: killed"), 1,024 processes/threads and 1,024
  file descriptors (Lambda's quotas);
- a zip function (`mounts`): its layers read-only at /opt and its code at /var/task on a bare
  base image, started through `entrypoint` as Lambda starts an OS-only runtime;
- ENTRYPOINT, CMD, WORKDIR and ENV from the image are honoured; the handler argument replaces
  CMD like Lambda's ImageConfig.Command, `entrypoint`/`working_dir` like its EntryPoint and
  WorkingDirectory overrides;
- the Lambda environment from the emulator plus `LAMBDA_TASK_ROOT`, `LAMBDA_RUNTIME_DIR`,
  `AWS_EXECUTION_ENV=AWS_Lambda_Image` and `_HANDLER`; credentials only when given as
  `aws_credentials` (the host's are never passed on);
- "Max Memory Used" is the container cgroup's peak (memory.max_usage_in_bytes on cgroup v1,
  memory.peak on v2), as Lambda reads its sandbox's.

Networking: none but the Runtime API, as inside Lambda. The container runs with
`network_mode="none"` (a loopback interface only), so recipe code and R packages reach neither
the host's services (its loopback included), nor the instance metadata address, nor the
internet. Its entrypoint is wrapped in rlambda-relay (rlambda/local/api_relay.py, bind-mounted
read-only), which listens on 127.0.0.1:9001 inside, Lambda's own AWS_LAMBDA_RUNTIME_API, then
execs the image's ENTRYPOINT + CMD in its place (PID 1, its exit status and signals are the
runtime's). It forwards each connection to the emulator's Unix socket, bind-mounted from a
private host directory; the emulator keeps its TCP port on the host's 127.0.0.1 for the
invoke side only. An entrypoint that cannot be executed is reported by the relay as
Runtime.InvalidEntrypoint. Cost: BENCHMARKS.md (bench/local_lambda.py): ~100 ms per cold
start, the engine making a network namespace; nothing measurable per warm invoke. The bind
mounts need the engine on this machine (as `mounts` do). `host_network=True` is the opt-in
for a function that must reach the host's services (e.g. a local S3 stand-in): the host's
network and the emulator's TCP port, no relay, as before.

Images on AWS's bases (ENTRYPOINT /lambda-entrypoint.sh, with /usr/local/bin/aws-lambda-rie):
their entrypoint runs the RIE only when AWS_LAMBDA_RUNTIME_API is unset and otherwise execs
/var/runtime/bootstrap with the handler — so they run here unchanged, against this emulator,
exactly as on Lambda. `DockerRuntime.uses_rie_entrypoint` detects them (so callers can say so);
none can be pulled on the machines this was written on, so that path is not exercised here.
"""

from __future__ import annotations

import contextlib
import errno
import math
import signal
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import docker.errors
from docker.models.containers import Container
from docker.types import Ulimit

import docker
from rlambda.build import engine
from rlambda.local import api_relay
from rlambda.local.runtime_api.model import API_SOCKET_ENV, LAMBDA_DEFAULTS, RuntimeApiError

LAMBDA_UID = 993
LAMBDA_GID = 990
TASK_ROOT = "/var/task"
RUNTIME_DIR = "/var/runtime"
# Lambda's value for functions deployed as container images (seen in env dumps of such
# functions; the managed runtimes use AWS_Lambda_<runtime>).
EXECUTION_ENV = "AWS_Lambda_Image"
RIE_ENTRYPOINT = "/lambda-entrypoint.sh"
# Lambda quotas: "Execution processes/threads 1024", "File descriptors 1024".
MAX_PROCESSES = 1024
MAX_OPEN_FILES = 1024
MEMORY_RANGE_MB = (128, 10240)
TMP_RANGE_MB = (512, 10240)
CREDENTIAL_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
# Lambda refuses these in a function's environment configuration: they are its own.
RESERVED_KEYS = frozenset(
    {
        "_HANDLER",
        "_X_AMZN_TRACE_ID",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_INITIALIZATION_TYPE",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_LAMBDA_RUNTIME_API",
        "AWS_ACCESS_KEY",
        "LAMBDA_TASK_ROOT",
        "LAMBDA_RUNTIME_DIR",
        "_AWS_XRAY_DAEMON_ADDRESS",
        "_AWS_XRAY_DAEMON_PORT",
        *CREDENTIAL_KEYS,
    }
)
BUILD_HINT = (
    "build it first (python build.py --r VERSION [--family debian] ...; it prints the tag) "
    "or pull it (docker pull REF)"
)


class ImageNotFoundError(RuntimeApiError):
    """The image to run is not in the local engine."""


@dataclass(frozen=True)
class ImageConfig:
    """The parts of an image's config that decide how its runtime starts (ENV the engine
    applies itself; its names are kept, so Lambda's defaults do not replace the image's)."""

    entrypoint: list[str]
    cmd: list[str]
    working_dir: str
    env_names: frozenset[str] = frozenset()


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


def _check_range(name: str, value: int, bounds: tuple[int, int]) -> None:
    low, high = bounds
    if not low <= value <= high:
        raise ValueError(f"{name}={value} is outside Lambda's range {low}..{high} MB")


def _credentials(given: Mapping[str, str] | None) -> dict[str, str]:
    if not given:
        return {}
    unknown = sorted(set(given) - set(CREDENTIAL_KEYS))
    if unknown:
        raise ValueError(f"aws_credentials takes {', '.join(CREDENTIAL_KEYS)}; not {unknown}")
    missing = [key for key in CREDENTIAL_KEYS[:2] if not given.get(key)]
    if missing:
        raise ValueError(f"aws_credentials lacks {', '.join(missing)}")
    return dict(given)


def _function_env(given: Mapping[str, str] | None) -> dict[str, str]:
    env = dict(given or {})
    reserved = sorted(RESERVED_KEYS & set(env))
    if reserved:
        hint = (
            " (pass credentials as aws_credentials)" if set(reserved) & set(CREDENTIAL_KEYS) else ""
        )
        raise ValueError(f"env sets Lambda's reserved keys {reserved}{hint}")
    return env


class DockerRuntime:
    """Start `image` as Lambda would, once per cold start; see the module docstring."""

    def __init__(
        self,
        image: str,
        *,
        memory_mb: int = 512,
        tmp_size_mb: int = 512,
        env: Mapping[str, str] | None = None,
        handler: str | None = None,
        aws_credentials: Mapping[str, str] | None = None,
        entrypoint: Sequence[str] | None = None,
        working_dir: str | None = None,
        mounts: Mapping[str, str | Path] | None = None,
        output: TextIO | None = None,
        client: docker.DockerClient | None = None,
        host_network: bool = False,
    ) -> None:
        _check_range("memory_mb", memory_mb, MEMORY_RANGE_MB)
        _check_range("tmp_size_mb", tmp_size_mb, TMP_RANGE_MB)
        self.image = image
        self.memory_mb = memory_mb
        self.tmp_size_mb = tmp_size_mb
        self.env = _function_env(env)
        self.handler = handler
        self.aws_credentials = _credentials(aws_credentials)
        self.entrypoint = list(entrypoint) if entrypoint is not None else None
        self.working_dir = working_dir
        # Container path -> host directory, mounted read-only: a zip function's layers at /opt
        # and its code at /var/task, as Lambda unpacks them (Lambda's filesystem is read-only).
        self.mounts = {str(inside): str(host) for inside, host in (mounts or {}).items()}
        self.output = output
        # Opt-in, as DockerRuntime ran before: the host's network, the emulator's TCP port in
        # AWS_LAMBDA_RUNTIME_API, no relay; the function reaches what the host reaches (a local
        # S3 stand-in, the metadata address, the internet).
        self.host_network = host_network
        # Without it the containers have no network and the emulator serves them the Runtime
        # API on a Unix socket (model.API_SOCKET_ENV).
        self.api_socket = not host_network
        self._client = client
        self._config: ImageConfig | None = None
        self._relay: Path | None = None

    @property
    def client(self) -> docker.DockerClient:
        if self._client is None:
            # engine.connect: an engine that is down is a JobError saying how to start it.
            self._client = engine.connect()
        return self._client

    def image_config(self) -> ImageConfig:
        """The image's ENTRYPOINT, CMD, WORKDIR and ENV; ImageNotFoundError if it is absent."""
        if self._config is None:
            try:
                attrs = self.client.images.get(self.image).attrs
            except docker.errors.ImageNotFound as exc:
                raise ImageNotFoundError(
                    f"image {self.image!r} is not in the local Docker engine: {BUILD_HINT}"
                ) from exc
            config = attrs.get("Config") or {}
            self._config = ImageConfig(
                entrypoint=list(config.get("Entrypoint") or []),
                cmd=list(config.get("Cmd") or []),
                working_dir=config.get("WorkingDir") or "",
                env_names=frozenset(item.partition("=")[0] for item in config.get("Env") or []),
            )
        return self._config

    def relay_binary(self) -> Path:
        """rlambda-relay for this engine (compiled on first use; see api_relay.py)."""
        if self._relay is None:
            api_relay.check_engine_architecture(self.client.info().get("Architecture", ""))
            self._relay = api_relay.relay_binary()
        return self._relay

    @property
    def uses_rie_entrypoint(self) -> bool:
        """True for images on AWS's bases, whose entrypoint would start the RIE if it were
        not given AWS_LAMBDA_RUNTIME_API (it always is here: the emulator replaces the RIE)."""
        entrypoint = (
            self.entrypoint if self.entrypoint is not None else self.image_config().entrypoint
        )
        return bool(entrypoint) and entrypoint[0].endswith(RIE_ENTRYPOINT)

    def command(self) -> list[str]:
        """What follows the entrypoint: the handler if one was given, else the image's CMD."""
        return [self.handler] if self.handler else self.image_config().cmd

    def environment(self, lambda_env: Mapping[str, str]) -> dict[str, str]:
        """The container's environment: Lambda's reserved variables over the function's."""
        memory = lambda_env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        if memory is not None and memory != str(self.memory_mb):
            raise ValueError(
                f"the emulator says the function has {memory} MB but DockerRuntime limits "
                f"the container to {self.memory_mb} MB: pass the same memory_mb to both"
            )
        command = self.command()
        # Lambda's defaults for what a function may override (LANG, TZ, PATH, ...) give way
        # to the image's ENV (the engine applies it) and to the function's own variables.
        given = self.image_config().env_names | set(self.env)
        merged = {k: v for k, v in lambda_env.items() if k not in LAMBDA_DEFAULTS or k not in given}
        merged.update(self.env)
        merged.update(
            {
                "LAMBDA_TASK_ROOT": TASK_ROOT,
                "LAMBDA_RUNTIME_DIR": RUNTIME_DIR,
                "AWS_EXECUTION_ENV": EXECUTION_ENV,
                # Lambda fills _HANDLER from the image's CMD (or the ImageConfig.Command
                # override); empty when there is none.
                "_HANDLER": command[0] if command else "",
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.memory_mb),
            }
        )
        merged.update(self.aws_credentials)
        if API_SOCKET_ENV in merged:
            # The emulator's socket is the relay's business; the runtime sees Lambda's address.
            del merged[API_SOCKET_ENV]
            merged["AWS_LAMBDA_RUNTIME_API"] = api_relay.RUNTIME_API
        return merged

    def container_options(self, lambda_env: Mapping[str, str]) -> dict[str, Any]:
        """Keyword arguments for `containers.create`: the sandbox described above."""
        config = self.image_config()
        entrypoint = self.entrypoint if self.entrypoint is not None else config.entrypoint
        command = self.command()
        if not entrypoint and not command:
            raise OSError(
                errno.ENOEXEC, f"image {self.image!r} has no ENTRYPOINT or CMD and no handler"
            )
        if self.host_network:
            return {
                **self.sandbox_options(),
                "entrypoint": entrypoint or None,
                "command": command or None,
                "environment": self.environment(lambda_env),
                "network_mode": "host",
                "labels": {"rlambda.runtime": "docker-launcher"},
            }
        socket = lambda_env.get(API_SOCKET_ENV)
        if not socket:
            raise RuntimeApiError(
                "DockerRuntime's containers have no network: start them through "
                "RuntimeApiServer, which serves them the Runtime API on a Unix socket"
            )
        socket_dir = Path(socket).parent
        relay = api_relay.relay_command(
            f"tcp:{api_relay.RUNTIME_API}",
            f"unix:{api_relay.SOCKET_DIR}/{Path(socket).name}",
            report_exec_failure=True,
        )
        options = self.sandbox_options()
        options["volumes"].update(
            {
                str(self.relay_binary()): {"bind": api_relay.RELAY_PATH, "mode": "ro"},
                # Read-only is enough: connect() needs no write access to the filesystem.
                str(socket_dir): {"bind": api_relay.SOCKET_DIR, "mode": "ro"},
            }
        )
        return {
            **options,
            # Docker appends the command: relay ... -- ENTRYPOINT CMD.
            "entrypoint": [*relay, *entrypoint],
            "command": command or None,
            "environment": self.environment(lambda_env),
            "network_mode": "none",
            "labels": {"rlambda.runtime": "docker-launcher"},
        }

    def sandbox_options(self) -> dict[str, Any]:
        """The sandbox alone (user, read-only root, /tmp, limits), whatever runs in it."""
        memory = f"{self.memory_mb}m"
        return {
            "image": self.image,
            "working_dir": self.working_dir or self.image_config().working_dir or None,
            "user": f"{LAMBDA_UID}:{LAMBDA_GID}",
            "read_only": True,
            "tmpfs": {
                "/tmp": f"rw,exec,nosuid,nodev,size={self.tmp_size_mb}m,mode=0700,"
                f"uid={LAMBDA_UID},gid={LAMBDA_GID}"
            },
            "mem_limit": memory,
            "memswap_limit": memory,  # the same figure: no swap, as on Lambda
            "pids_limit": MAX_PROCESSES,
            "ulimits": [Ulimit(name="nofile", soft=MAX_OPEN_FILES, hard=MAX_OPEN_FILES)],
            "cap_drop": ["ALL"],
            "security_opt": ["no-new-privileges"],
            "volumes": {
                host: {"bind": inside, "mode": "ro"} for inside, host in self.mounts.items()
            },
        }

    def start(self, env: Mapping[str, str]) -> ContainerHandle:
        options = self.container_options(env)
        container = self.client.containers.create(**options)
        try:
            container.start()
        except docker.errors.APIError as exc:
            # The relay reports an entrypoint it cannot exec; what fails before it (a mount,
            # the relay itself) fails here. The emulator reports an OSError from start() as
            # Runtime.InvalidEntrypoint, as Lambda does.
            with contextlib.suppress(docker.errors.APIError):
                container.remove(force=True)
            raise OSError(errno.ENOEXEC, f"cannot start the runtime: {exc.explanation}") from exc
        return ContainerHandle(container, output=self.output)


class ComposeServiceRuntime:
    """A runtime container created by docker-compose (e.g. through pytest-docker).

    Compose owns the container and its configuration (the sandbox settings are in the compose
    file, AWS_LAMBDA_RUNTIME_API among them). Each cold start restarts it: the emulator starts
    a fresh runtime for every cold start and drops the connections of earlier ones, and a
    restart is the container's equivalent of a new process. kill() stops it and leaves it for
    `docker-compose down`.
    """

    def __init__(
        self,
        project: str,
        service: str,
        *,
        client: docker.DockerClient | None = None,
        output: TextIO | None = None,
    ) -> None:
        self.project = project
        self.service = service
        self.output = output
        self._client = client or docker.from_env()

    def container(self) -> Container:
        labels = [
            f"com.docker.compose.project={self.project}",
            f"com.docker.compose.service={self.service}",
        ]
        found = self._client.containers.list(all=True, filters={"label": labels})
        if not found:
            raise RuntimeApiError(
                f"no container for compose service {self.service!r} in project "
                f"{self.project!r}: is the compose project up?"
            )
        return found[0]

    def start(self, env: Mapping[str, str]) -> ContainerHandle:
        container = self.container()
        configured = _env_list_value(
            container.attrs["Config"].get("Env") or [], "AWS_LAMBDA_RUNTIME_API"
        )
        if configured != env["AWS_LAMBDA_RUNTIME_API"]:
            raise RuntimeApiError(
                f"compose service {self.service!r} points AWS_LAMBDA_RUNTIME_API at "
                f"{configured!r}, but the emulator listens on {env['AWS_LAMBDA_RUNTIME_API']!r}"
            )
        # The log keeps earlier runs' lines: copy only this run's.
        since = time.time()
        container.restart(timeout=0)
        return ContainerHandle(
            container, remove_on_kill=False, output=self.output, logs_since=since
        )


def _env_list_value(env: list[str], name: str) -> str | None:
    for item in env:
        key, _, value = item.partition("=")
        if key == name:
            return value
    return None
