"""Run a container image the way Lambda runs it, as a runtime for RuntimeApiServer.

    from rlambda.local.runtime_api import RuntimeApiServer
    from rlambda.local.docker_launcher import DockerRuntime
    runtime = DockerRuntime("r-lambda:content-ef1f", memory_mb=512)
    with RuntimeApiServer(runtime, memory_mb=512, timeout_s=30) as server:
        result = server.invoke(b'{"x": 1}')

What Lambda does to a container image is lambda_sandbox.py's (read-only root, uid 993, tmpfs
/tmp, the memory limit without swap, Lambda's quotas and environment rules); each cold start
here creates a container in that sandbox, and the running container is a ContainerHandle
(container_handle.py: exit status, OOM kill, peak memory). ENTRYPOINT, CMD, WORKDIR and ENV
from the image are honoured; the handler argument replaces CMD like Lambda's
ImageConfig.Command, `entrypoint`/`working_dir` like its EntryPoint and WorkingDirectory
overrides; a zip function (`mounts`): its layers read-only at /opt and its code at /var/task on
a bare base image, started through `entrypoint` as Lambda starts an OS-only runtime.

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
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import docker.errors
from docker.models.containers import Container

import docker
from rlambda.build import engine
from rlambda.local import api_relay, lambda_sandbox
from rlambda.local.container_handle import ContainerHandle
from rlambda.local.lambda_sandbox import (
    EXECUTION_ENV,
    MEMORY_RANGE_MB,
    RUNTIME_DIR,
    TASK_ROOT,
    TMP_RANGE_MB,
)
from rlambda.local.runtime_api.model import API_SOCKET_ENV, LAMBDA_DEFAULTS, RuntimeApiError

RIE_ENTRYPOINT = "/lambda-entrypoint.sh"
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
    platform: str = "linux/amd64"  # os/architecture, as Docker records them


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
        aws_credentials: Mapping[str, str] | Callable[[], Mapping[str, str]] | None = None,
        entrypoint: Sequence[str] | None = None,
        working_dir: str | None = None,
        mounts: Mapping[str, str | Path] | None = None,
        output: TextIO | None = None,
        client: docker.DockerClient | None = None,
        host_network: bool = False,
    ) -> None:
        lambda_sandbox.check_range("memory_mb", memory_mb, MEMORY_RANGE_MB)
        lambda_sandbox.check_range("tmp_size_mb", tmp_size_mb, TMP_RANGE_MB)
        self.image = image
        self.memory_mb = memory_mb
        self.tmp_size_mb = tmp_size_mb
        self.env = lambda_sandbox.function_env(env)
        self.handler = handler
        # A function gives the credentials anew at each cold start (temporary ones, refreshed
        # by their source: `build.py serve --aws-credentials`); a mapping is fixed.
        self._aws_credentials = (
            aws_credentials
            if callable(aws_credentials)
            else lambda_sandbox.credentials(aws_credentials)
        )
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
        self._engine_checked = False

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
            platform = f"{attrs.get('Os', 'linux')}/{attrs.get('Architecture', '')}"
            # An arm64 image on an x86_64 engine runs under QEMU, or is refused here, by name.
            engine.check_runs(self.client, platform)
            self._config = ImageConfig(
                entrypoint=list(config.get("Entrypoint") or []),
                cmd=list(config.get("Cmd") or []),
                working_dir=config.get("WorkingDir") or "",
                env_names=frozenset(item.partition("=")[0] for item in config.get("Env") or []),
                platform=platform,
            )
        return self._config

    def relay_binary(self) -> Path:
        """rlambda-relay for this engine (compiled on first use; see api_relay.py), hashed
        again at every call: each container start mounts what was checked just before
        (~1.4 ms), not a path checked once when the run began. The engine's architecture is
        asked once."""
        if not self._engine_checked:
            api_relay.check_engine_architecture(self.client.info().get("Architecture", ""))
            self._engine_checked = True
        return api_relay.relay_binary()

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
        given = self._aws_credentials
        merged.update(lambda_sandbox.credentials(given()) if callable(given) else given)
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
        return lambda_sandbox.sandbox_options(
            image=self.image,
            working_dir=self.working_dir or self.image_config().working_dir or None,
            memory_mb=self.memory_mb,
            tmp_size_mb=self.tmp_size_mb,
            mounts=self.mounts,
        )

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
