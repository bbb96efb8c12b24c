"""Starting the local Lambda service (`build.py serve`) from tests, and the images it serves.

In-process, with boto3:

    from .serving import lambda_client, running
    def test_x(hello_image):  # a fixture, in tests/e2e/conftest.py
        with running([FunctionSpec("hello", hello_image)], concurrency=2) as service:
            lambda_client(service.endpoint_url).invoke(FunctionName="hello", Payload=b"{}")

As a separate process, exactly as a user starts it (then any client, e.g. R with curl):

    with serve_process("--image", hello_image, "--concurrency", "4") as (process, url): ...

Fixtures in tests/e2e/conftest.py (need the `docker` mark): `hello_image`, `json_api_image`
(the recipes on R 4.5.0, debian, built on the local stand-ins as
tests/docker/test_recipe_images.py builds them) and `probe_image` (R 4.5.0 plus
tests/r_handlers/service.R: count, sleep, hang, crash, fail, talk, echo; choose one with
FunctionSpec(handler="service.sleep") or `--handler`).
"""

from __future__ import annotations

import hashlib
import io
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

import docker
from rlambda.build import engine
from rlambda.build.builder import build_recipe_image
from rlambda.local.service import FunctionSpec, Service

from ..conftest import local_target

ROOT = Path(__file__).resolve().parents[2]
HANDLERS = ROOT / "tests" / "r_handlers"
PROBE_REPOSITORY = "rlambda-test/service-probe"
REGION = "us-east-1"


def lambda_client(
    endpoint_url: str,
    key: str = "testing",
    secret: str = "testing",
    *,
    retries: int = 0,
    read_timeout: float = 120,
    **config: Any,
):
    """boto3's Lambda client pointed at the service. No retries by default: botocore retries
    429s on its own, which would hide the throttling the tests look for."""
    return boto3.client(
        "lambda",
        endpoint_url=endpoint_url,
        region_name=REGION,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=Config(
            retries={"max_attempts": retries, "mode": "standard"}
            if retries
            else {"total_max_attempts": 1},
            read_timeout=read_timeout,
            **config,
        ),
    )


class Log(io.StringIO):
    """The service log, kept for assertions (and thread-safe enough for a StringIO)."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()

    def write(self, text: str) -> int:
        with self.lock:
            return super().write(text)

    def text(self) -> str:
        with self.lock:
            return self.getvalue()


@contextmanager
def running(functions: Sequence[FunctionSpec], **options: Any) -> Iterator[Service]:
    """A started Service on a free port; everything it started is gone afterwards."""
    options.setdefault("log", Log())
    with Service(functions, **options) as service:
        yield service
    assert not service.containers(), "the service left containers running"


@contextmanager
def serve_process(
    *argv: str, env: dict[str, str] | None = None
) -> Iterator[tuple[subprocess.Popen, str]]:
    """`build.py serve ARGV --port 0` in its own process; yields it and the endpoint URL.

    The first stdout line names the endpoint ("Invoke API on http://127.0.0.1:PORT ...").
    On exit: SIGTERM, then wait (the service removes its containers before it exits).
    """
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "build.py"), "serve", "--port", "0", *argv],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
    )
    try:
        line = process.stdout.readline() if process.stdout else ""
        if not line.startswith("Invoke API on "):
            process.kill()
            _, err = process.communicate(timeout=30)
            raise AssertionError(f"build.py serve did not start: {line!r} {err}")
        yield process, line.split()[3]
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)


def service_containers(client: docker.DockerClient, pid: int) -> list[Any]:
    """Containers (running or not) started by the service process `pid`."""
    return client.containers.list(all=True, filters={"label": f"rlambda.service.pid={pid}"})


def _recipe_image(pins, mirror: str, base, name: str) -> str:
    target = local_target(pins, mirror, name)
    return build_recipe_image(target, base, engine.connect()).image_id


def build_probe_image(client: docker.DockerClient, base_image: str, work_dir: Path) -> str:
    """R (`base_image`) with tests/r_handlers/service.R in /var/task (CMD service.count);
    tagged by a hash of what goes in, so an unchanged probe is not rebuilt."""
    context = work_dir / "probe"
    context.mkdir(parents=True, exist_ok=True)
    (context / "service.R").write_bytes((HANDLERS / "service.R").read_bytes())
    (context / "Dockerfile").write_text(
        f'FROM {base_image}\nCOPY service.R /var/task/\nCMD ["service.count"]\n'
    )
    digest = hashlib.sha256(client.images.get(base_image).id.encode())
    for name in ("Dockerfile", "service.R"):
        digest.update((context / name).read_bytes())
    tag = f"{PROBE_REPOSITORY}:{digest.hexdigest()[:16]}"
    try:
        client.images.get(tag)
    except docker.errors.ImageNotFound:
        client.images.build(path=str(context), tag=tag, rm=True, pull=False)
    return tag
