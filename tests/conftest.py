"""Shared fixtures: the local stand-ins for CRAN and the Debian base image, and an HTTP server."""

import functools
import http.server
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import docker
from rlambda.build import engine
from rlambda.build.builder import BuildResult, build_base_image
from rlambda.pins import versions
from rlambda.sources.fetch import cache_dir
from rlambda.target import resolve
from rlambda.update import pin_package

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "reference"  # reference data kept in the repository (see its README)
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
    for script in ("make-local-mirror.sh", "make-local-cran-packages.sh"):
        subprocess.run([str(ROOT / "scripts" / script), str(path)], check=True)
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


@pytest.fixture(scope="session")
def local_pins(local_mirror: str, tmp_path_factory: pytest.TempPathFactory) -> versions.Versions:
    """VERSIONS.toml with the runtime's R packages re-pinned from the local mirror.

    The R pins stay CRAN's (the local R tarballs are CRAN's bytes), but Debian repacks jsonlite
    (+dfsg), so its CRAN pin cannot verify here: `build.py update --package` pins the local
    mirror's release in a copy, the way a user re-pins against their own mirror.
    """
    path = tmp_path_factory.mktemp("pins") / "VERSIONS.toml"
    shutil.copy(versions.VERSIONS_FILE, path)
    for name in versions.load(path).packages:
        pin_package(name, local_mirror, path, images_dir=None, allow_http=True)
    return versions.load(path)


def build_on_local_stand_ins(
    pins: versions.Versions, r_version: str, mirror: str, base: str
) -> BuildResult:
    """Build a base R image from the local mirror on the local Debian base (no-op if built)."""
    target = resolve(
        pins,
        r_version=r_version,
        family_name="debian",
        arch="x86_64",
        cran_mirror=mirror,
        base_image=base,
    )
    return build_base_image(target, engine.connect())


@pytest.fixture(scope="session")
def r_image(local_pins, local_mirror: str, debian_base: str) -> BuildResult:
    """The R 4.5.0 base image with the runtime client, built on the local stand-ins."""
    return build_on_local_stand_ins(local_pins, "4.5.0", local_mirror, debian_base)


# R at start-up the way Lambda starts it: LANG and TZ are what Lambda sets in every function.
LAMBDA_ENV = {"LANG": "en_US.UTF-8", "TZ": ":UTC"}
LOCALE_PROBE = r"""
cat("ctype", Sys.getlocale("LC_CTYPE"), "\n")
cat("collate", Sys.getlocale("LC_COLLATE"), "\n")
cat("utf8", l10n_info()[["UTF-8"]], "\n")
cat("tz", format(Sys.time(), "%Z"), "\n")
t <- as.POSIXct("2024-07-01 12:00:00", tz = "UTC")
cat("newyork", format(t, tz = "America/New_York", usetz = TRUE), "\n")
cat("which", nzchar(Sys.which("sh")), "\n")
"""


def run(client, image: str, command: list[str], env: dict[str, str] | None = None) -> str:
    """Run `command` as Lambda would (non-root, read-only root, /tmp only), stdout and stderr
    together: a warning R prints at start-up shows up in the result."""
    output = client.containers.run(
        image,
        entrypoint=command,
        environment=env or {},
        user="993:990",
        read_only=True,
        tmpfs={"/tmp": "size=64m"},
        network_disabled=True,
        mem_limit="512m",
        remove=True,
        stdout=True,
        stderr=True,
    )
    return output.decode()


def check_locale_and_time_zone(client, image: str) -> None:
    """R starts silently in en_US.UTF-8 with time zones, as Lambda's environment asks."""
    out = run(client, image, ["Rscript", "-e", LOCALE_PROBE], LAMBDA_ENV)
    facts = dict(line.strip().split(" ", 1) for line in out.strip().splitlines())
    assert set(facts) == {"ctype", "collate", "utf8", "tz", "newyork", "which"}, out
    assert facts["ctype"] == facts["collate"] == "en_US.UTF-8"
    assert facts["utf8"] == "TRUE"
    assert facts["tz"] == "UTC"
    assert facts["newyork"] == "2024-07-01 08:00:00 EDT"
    assert facts["which"] == "TRUE"


# The R versions the local mirror carries (scripts/make-local-mirror.sh), the ones CI compiles:
# the newest and the oldest line (the runtime's floor is R 4.0.2; 4.0.4 stands in for 4.0.x).
LOCAL_R_VERSIONS = ("4.5.0", "4.0.4")


@pytest.fixture(scope="session")
def r_image_of(local_pins, local_mirror: str, debian_base: str) -> Callable[[str], BuildResult]:
    """The base image of one of LOCAL_R_VERSIONS, built on first use (the engine caches it)."""
    built: dict[str, BuildResult] = {}

    def get(r_version: str) -> BuildResult:
        if r_version not in built:
            built[r_version] = build_on_local_stand_ins(
                local_pins, r_version, local_mirror, debian_base
            )
        return built[r_version]

    return get
