"""Shared fixtures: the local stand-ins for CRAN and the Debian base image, and an HTTP server."""

import functools
import http.server
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import docker
from rlambda.fetch import cache_dir

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"
DEBIAN_BASE = "rlambda-local/debian:bookworm"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="session")
def serve_directory() -> Iterator:
    """Start an HTTP server on 127.0.0.1 for a directory; returns its base URL."""
    servers = []

    def start(directory: Path) -> str:
        handler = functools.partial(_QuietHandler, directory=str(directory))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def local_mirror_dir() -> Path:
    """The CRAN-like mirror made from Debian's R sources (scripts/make-local-mirror.sh)."""
    path = cache_dir() / "cran-mirror"
    subprocess.run([str(ROOT / "scripts" / "make-local-mirror.sh"), str(path)], check=True)
    return path


@pytest.fixture(scope="session")
def local_mirror(local_mirror_dir: Path, serve_directory) -> str:
    """URL of the local CRAN-like mirror, served over HTTP on 127.0.0.1."""
    return serve_directory(local_mirror_dir)


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private download cache for one test."""
    path = tmp_path / "cache"
    monkeypatch.setenv("RLAMBDA_CACHE", str(path))
    return path


@pytest.fixture(scope="session")
def docker_client() -> docker.DockerClient:
    client = docker.from_env()
    client.ping()  # tests marked `docker` need the engine: fail loudly, never skip
    return client


@pytest.fixture(scope="session")
def debian_base(docker_client: docker.DockerClient) -> str:
    """The debootstrapped Debian base image (scripts/make-debian-base.sh), by tag."""
    subprocess.run([str(ROOT / "scripts" / "make-debian-base.sh"), DEBIAN_BASE], check=True)
    return DEBIAN_BASE
