"""The service: functions, their pools, the Invoke API and the HTTP fronts, started and stopped
as one.

    from rlambda.local.service import FunctionSpec, Service
    with Service([FunctionSpec("hello", "r-lambda:r-4.5.0-hello-debian-x86_64")]) as service:
        boto3.client("lambda", endpoint_url=service.endpoint_url, ...).invoke(FunctionName="hello")
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import sys
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import TextIO

import docker.errors
import requests

import docker
from rlambda.local.runtime_api import RuntimeApiError, RuntimeApiServer

from . import errors, names
from .handler import SyncOutcome
from .http_front import FunctionUrlHandler
from .invoke_api import InvokeApiHandler
from .pool import LABEL, Closed, Environment, EnvironmentLog, FunctionSpec, Pool, ServiceRuntime
from .server import GuardedHandler, Limits, LoopbackServer
from .sigv4 import Verifier

DEFAULT_CONCURRENCY = 4
# Lambda retries a failed asynchronous invoke twice, about one and then two minutes later.
LAMBDA_ASYNC_RETRY_DELAYS_S = (60.0, 120.0)


class ServiceError(Exception):
    """The service cannot start: the engine is down, a port is taken. Nothing is left running."""


class Service:
    def __init__(
        self,
        functions: Sequence[FunctionSpec],
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        queue: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
        http_ports: Mapping[str, int] | None = None,
        verifier: Verifier | None = None,
        region: str = "us-east-1",
        log: TextIO | None = None,
        client: docker.DockerClient | None = None,
        async_retry_delays_s: Sequence[float] = LAMBDA_ASYNC_RETRY_DELAYS_S,
        limits: Limits | None = None,
    ) -> None:
        if not functions:
            raise ValueError("nothing to serve: give an image or at least one function")
        if concurrency < 1:
            raise ValueError(f"concurrency {concurrency}: at least 1 environment per function")
        self.functions = {}
        for spec in functions:
            names.check_name(spec.name)
            if spec.name in self.functions:
                raise ValueError(f"function {spec.name!r} is given twice")
            self.functions[spec.name] = spec
        unknown = sorted(set(http_ports or {}) - set(self.functions))
        if unknown:
            raise ValueError(f"--http names {unknown[0]!r}, which is not a served function")
        self.concurrency = concurrency
        self.queue = queue
        self.host, self.port = host, port
        self.http_ports = dict(http_ports or {})
        self.verifier = verifier
        self.region = region
        self.async_retry_delays_s = tuple(async_retry_delays_s)
        self.limits = limits or Limits()
        self.instance = secrets.token_hex(6)
        self._log = log or sys.stderr
        self._log_lock = threading.Lock()
        self._client = client
        self._pools: dict[str, Pool] = {}
        self._servers: list[LoopbackServer] = []
        self._stopping = threading.Event()
        self._async_threads: set[threading.Thread] = set()
        self._async_lock = threading.Lock()

    # ---- lifecycle ------------------------------------------------------------------------

    def __enter__(self) -> Service:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def client(self) -> docker.DockerClient:
        if self._client is None:
            try:
                self._client = docker.from_env()
                self._client.ping()
            except (docker.errors.DockerException, requests.RequestException) as exc:
                self._client = None
                raise ServiceError(
                    f"cannot reach the Docker engine ({exc}): start dockerd, or point "
                    "DOCKER_HOST at a running engine"
                ) from exc
        return self._client

    def check(self) -> None:
        """Everything that can be checked before anything starts: the engine, each image,
        and whether N environments of every function fit in the engine's memory."""
        client = self.client
        for spec in self.functions.values():
            self._runtime(spec, 0).image_config()  # ImageNotFoundError names the image
        isolated = [spec for spec in self.functions.values() if not spec.host_network]
        if isolated:
            self._runtime(isolated[0], 0).relay_binary()  # the network relay: one for all
        total_mb = int(client.info().get("MemTotal") or 0) // (1024 * 1024)
        wanted = sum(self.concurrency * spec.memory_mb for spec in self.functions.values())
        if total_mb and wanted > total_mb:
            raise ValueError(
                f"--concurrency {self.concurrency} needs {wanted} MB for "
                f"{len(self.functions)} function(s) at their memory settings, but the Docker "
                f"engine has {total_mb} MB: lower --concurrency or --memory"
            )

    def start(self) -> Service:
        self.check()
        try:
            self._pools = {
                name: Pool(self.concurrency, self._factory(spec))
                for name, spec in self.functions.items()
            }
            self._serve(InvokeApiHandler, self.port, "Invoke API", None)
            for name, port in self.http_ports.items():
                self._serve(FunctionUrlHandler, port, f"HTTP front of {name}", name)
        except BaseException:
            self.close()
            raise
        return self

    def _serve(
        self, handler: type[GuardedHandler], port: int, what: str, function: str | None
    ) -> None:
        try:
            httpd = LoopbackServer((self.host, port), handler, self.limits)
        except OSError as exc:
            taken = exc.errno == errno.EADDRINUSE
            reason = f"port {port} is already in use" if taken else str(exc)
            raise ServiceError(
                f"cannot serve the {what} on {self.host}:{port}: {reason}; choose another "
                "port (0 takes a free one)"
            ) from exc
        httpd.service = self  # type: ignore[attr-defined]
        httpd.function = function  # type: ignore[attr-defined]
        self._servers.append(httpd)
        thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        thread.start()

    def close(self) -> None:
        """Stop taking requests, stop every environment, and remove every container started."""
        self._stopping.set()
        for httpd in self._servers:
            httpd.shutdown()
            httpd.server_close()
        self._servers = []
        for pool in self._pools.values():
            pool.close()
        with self._async_lock:
            pending = list(self._async_threads)
        for thread in pending:
            thread.join(timeout=5)
        # Anything a racing cold start created after its pool closed.
        if self._client is not None:
            filters = {"label": f"{LABEL}={self.instance}"}
            with contextlib.suppress(docker.errors.DockerException):
                for container in self._client.containers.list(all=True, filters=filters):
                    with contextlib.suppress(docker.errors.APIError):
                        container.remove(force=True)

    def containers(self) -> list[str]:
        """Ids of the containers this service has now (running or not)."""
        filters = {"label": f"{LABEL}={self.instance}"}
        return [c.id for c in self.client.containers.list(all=True, filters=filters)]

    @property
    def endpoint_url(self) -> str:
        return self._url(self._servers[0])

    def http_url(self, name: str) -> str:
        index = list(self.http_ports).index(name) + 1
        return self._url(self._servers[index])

    @staticmethod
    def _url(httpd: LoopbackServer) -> str:
        host, port = httpd.server_address[:2]
        return f"http://{host}:{port}"

    # ---- environments ------------------------------------------------------------------------

    def _runtime(
        self, spec: FunctionSpec, index: int, log: EnvironmentLog | None = None
    ) -> ServiceRuntime:
        labels = {
            LABEL: self.instance,
            f"{LABEL}.pid": str(os.getpid()),
            f"{LABEL}.function": spec.name,
        }
        return ServiceRuntime(
            spec.image,
            labels=labels,
            name=f"rlambda-serve-{spec.name}-{index}",
            memory_mb=spec.memory_mb,
            handler=spec.handler,
            env=spec.env,
            aws_credentials=spec.aws_credentials,
            host_network=spec.host_network,
            output=log.runtime_output if log else None,
            client=self.client,
        )

    def _factory(self, spec: FunctionSpec) -> Callable[[int], Environment]:
        def make(index: int) -> Environment:
            log = EnvironmentLog(f"[{spec.name}:{index}]", self._log, self._log_lock)
            server = RuntimeApiServer(
                self._runtime(spec, index, log),
                timeout_s=spec.timeout_s,
                memory_mb=spec.memory_mb,
                function_name=spec.name,
                region=self.region,
                log_stream=log.emulator_output,  # type: ignore[arg-type]
                snapstart=spec.snapstart,
            )
            try:
                server.start()
            except RuntimeApiError as exc:
                raise errors.unavailable(str(exc)) from exc
            return Environment(server, log)

        return make

    def pool(self, name: str) -> Pool:
        return self._pools[name]

    def note(self, text: str) -> None:
        with self._log_lock:
            self._log.write(f"[service] {text}\n")
            self._log.flush()

    # ---- invokes ----------------------------------------------------------------------------

    def resolve_function(self, function_name: str, qualifier: str | None) -> str:
        return names.resolve_function(
            function_name, qualifier, self.region, set(self.functions)
        ).name

    def invoke(
        self,
        name: str,
        payload: bytes,
        *,
        tail: bool = False,
        trace_id: str | None = None,
        client_context: str | None = None,
    ) -> SyncOutcome:
        """A synchronous invoke; ApiError 429 when all N environments are busy (unless the
        service queues)."""
        pool = self._pools[name]
        request_id = str(uuid.uuid4())
        try:
            environment = pool.acquire(wait=self.queue)
        except Closed:
            raise errors.unavailable("the service is shutting down") from None
        if environment is None:
            raise errors.throttled()
        try:
            result, log = environment.invoke(
                payload,
                request_id=request_id,
                trace_id=trace_id,
                client_context=client_context,
                want_log=tail,
            )
        except RuntimeApiError as exc:
            raise errors.unavailable(str(exc)) from exc
        finally:
            pool.release(environment)
        return SyncOutcome(result, request_id, log)

    def invoke_async(
        self, name: str, payload: bytes, *, trace_id: str | None, client_context: str | None
    ) -> str:
        """Queue an Event invoke; it runs when an environment is free. Its request id."""
        request_id = str(uuid.uuid4())
        thread = threading.Thread(
            target=self._run_async,
            args=(name, payload, request_id, trace_id, client_context),
            daemon=True,
        )
        with self._async_lock:
            self._async_threads.add(thread)
        thread.start()
        return request_id

    def _run_async(
        self,
        name: str,
        payload: bytes,
        request_id: str,
        trace_id: str | None,
        client_context: str | None,
    ) -> None:
        pool = self._pools[name]
        try:
            attempts = (0.0, *self.async_retry_delays_s)
            for attempt, delay in enumerate(attempts, start=1):
                if delay and self._stopping.wait(delay):
                    return
                try:
                    environment = pool.acquire(wait=True)
                except Closed:
                    return
                try:
                    result, _ = environment.invoke(
                        payload,
                        request_id=request_id,
                        trace_id=trace_id,
                        client_context=client_context,
                    )
                except RuntimeApiError:
                    return  # closed mid-invoke
                finally:
                    pool.release(environment)
                if result.function_error is None:
                    return
                left = len(attempts) - attempt
                self.note(
                    f"async invoke {request_id} of {name}: function error (attempt {attempt} of "
                    f"{len(attempts)}){f'; retrying in {attempts[attempt]:g} s' if left else ''}"
                )
        finally:
            with self._async_lock:
                self._async_threads.discard(threading.current_thread())
