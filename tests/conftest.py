"""Shared fixtures: the local stand-ins for CRAN and the Debian base image, an HTTP server, the
registry stand-ins (moto, docker-registry), and lambdaparallel's R library and S3."""

import contextlib
import fcntl
import functools
import http.server
import json
import logging
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import boto3
import moto.iam.models
import pytest
import requests
from moto.server import ThreadedMotoServer

import docker
from rlambda.build import engine
from rlambda.build.builder import BuildResult, build_base_image
from rlambda.functions import roles
from rlambda.pins import versions
from rlambda.sources.fetch import cache_dir
from rlambda.target import Target, resolve
from rlambda.update import pin_package

from .helpers import serve_in_thread
from .parallel_service import ACCESS_KEY, BUCKET, SECRET_KEY
from .registry.stand_ins import REGION, RegistryServer, moto_token_credentials
from .registry.stand_ins import free_port as _free_port

HERE = Path(__file__).resolve().parent  # tests/
ROOT = HERE.parent
REFERENCE = ROOT / "reference"  # reference data kept in the repository (see its README)
DEBIAN_BASE = "rlambda-local/debian:bookworm"


# ---- the layout: each test's folder says what it needs, and its markers say the same -----------
# unit/: neither `docker` nor `r` (pure Python, seconds); r/: `r`; docker/: `docker`;
# e2e/: `docker` (and `r` when the host's R takes part). So `-m "not docker and not r"` runs
# exactly tests/unit/. The markers are set in each module (pytestmark), not added here.
FOLDER_MARKS = {
    "unit": lambda marks: not marks & {"docker", "r"},
    "r": lambda marks: "r" in marks and "docker" not in marks,
    "docker": lambda marks: "docker" in marks,
    "e2e": lambda marks: "docker" in marks,
}


def _can_select(folder: str, markexpr: str) -> bool:
    """Whether `-m markexpr` can select a test of `folder`, given the markers FOLDER_MARKS allows
    there. True when unsure: another marker's name in the expression, or pytest's own parser
    (private, so imported here) moved."""
    try:
        from _pytest.mark.expression import Expression

        expression = Expression.compile(markexpr)
    except (ImportError, SyntaxError):  # pytest reports a bad expression itself
        return True
    for marks in ({"docker", "r"}, {"docker"}, {"r"}, set()):
        if not FOLDER_MARKS[folder](marks):
            continue
        unknown = False

        def matcher(name: str, /, **kwargs: object) -> bool:
            nonlocal unknown
            unknown = unknown or name not in {"docker", "r"} or bool(kwargs)
            return name in marks  # noqa: B023 (called before `marks` moves on)

        if expression.evaluate(matcher) or unknown:
            return True
    return False


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """A folder whose tests `-m` deselects by their markers is not collected, so its modules are
    not imported: `-m "not docker and not r"` imports tests/unit/ only (collecting the others cost
    ~4 s of CPU: their modules, R's helpers, an Rscript probe). Such a folder's markers are checked
    (below) by every run that collects it, as the full suite does."""
    folder = collection_path.name
    markexpr = config.option.markexpr
    if collection_path.parent == HERE and folder in FOLDER_MARKS and markexpr:
        return True if not _can_select(folder, markexpr) else None
    return None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    wrong = []
    for item in items:
        parts = item.path.resolve().relative_to(HERE).parts
        folder = parts[0] if len(parts) > 1 else "."
        marks = {mark.name for mark in item.iter_markers()} & {"docker", "r"}
        if folder not in FOLDER_MARKS or not FOLDER_MARKS[folder](marks):
            wrong.append(f"{item.nodeid} (in {folder}/, marked {sorted(marks) or 'neither'})")
    if wrong:
        raise pytest.UsageError(
            "tests whose folder and markers disagree (see tests/conftest.py):\n  "
            + "\n  ".join(wrong)
        )


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
        serve_in_thread(server)
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _make_mirror(*scripts: str) -> Path:
    """Run the mirror scripts on the cache's mirror, one session at a time: pytest-xdist's
    workers (and two sessions on one machine) each run the session fixtures, and two scripts
    filling one directory at once failed each other."""
    path = cache_dir() / "cran-mirror"
    path.parent.mkdir(parents=True, exist_ok=True)
    with (path.parent / "cran-mirror.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for script in scripts:
            subprocess.run([str(ROOT / "scripts" / script), str(path)], check=True)
    return path


@pytest.fixture(scope="session")
def local_mirror_dir() -> Path:
    """The CRAN-like mirror made from Debian's R sources (scripts/make-local-mirror.sh)."""
    return _make_mirror("make-local-mirror.sh", "make-local-cran-packages.sh")


@pytest.fixture(scope="session")
def cran_packages_dir() -> Path:
    """The local mirror with R packages from Debian's sources (make-local-cran-packages.sh)."""
    return _make_mirror("make-local-cran-packages.sh")


@pytest.fixture(scope="session")
def cran_packages(cran_packages_dir: Path, serve_directory) -> str:
    return serve_directory(cran_packages_dir)


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


def local_target(
    pins: versions.Versions,
    mirror: str,
    recipe: str | None = None,
    r_version: str = "4.5.0",
    base: str = DEBIAN_BASE,
) -> Target:
    """A build on the local stand-ins: debian, x86_64, the debootstrapped base, the local mirror."""
    return resolve(
        pins, r_version=r_version, family_name="debian", arch="x86_64", cran_mirror=mirror,
        base_image=base, recipe=recipe,
    )  # fmt: skip


def build_on_local_stand_ins(
    pins: versions.Versions, r_version: str, mirror: str, base: str
) -> BuildResult:
    """Build a base R image from the local mirror on the local Debian base (no-op if built)."""
    target = local_target(pins, mirror, r_version=r_version, base=base)
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


# ---- the registry stand-ins (tests/registry/stand_ins.py): moto's server and docker-registry ----


def _managed_policies_the_code_attaches() -> str:
    """moto's table of AWS's managed policies, cut to those rlambda attaches.

    moto parses all ~1,600 of them into every IAM backend it makes, and a reset makes its
    backends again: ~0.1-0.5 s each time, most of a moto-backed unit test's time. Real IAM has
    them all; the code attaches one (roles.BASIC_EXECUTION_POLICY), so that one is kept, as AWS
    publishes it (moto's copy).
    """
    everything = json.loads(moto.iam.models.aws_managed_policies_data)
    name = roles.BASIC_EXECUTION_POLICY.rsplit("/", 1)[1]
    return json.dumps({name: everything[name]})


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per API call otherwise
    os.environ["MOTO_LAMBDA_STUB_ECR"] = "false"  # read by moto on every create/update
    # AWS's managed policies (AWSLambdaBasicExecutionRole), which real IAM always has.
    os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
    # The server runs in this process (a thread), so the table it reads can be cut here; moto
    # reads it by this name (the patch fails loudly if a moto release renames it).
    moto.iam.models.aws_managed_policies_data = _managed_policies_the_code_attaches()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    # moto's Docker Lambda runs zip runtimes only (it cannot run an Image function); its simple
    # Lambda answers an invoke with a result queued through /moto-api (or echoes the event).
    requests.post(f"{url}/moto-api/config", json={"lambda": {"use_docker": False}}, timeout=10)
    yield url
    server.stop()


@pytest.fixture
def aws(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A clean moto for one test, and the environment boto3 reads to reach it."""
    requests.post(f"{moto_server}/moto-api/reset", timeout=10).raise_for_status()
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.delenv("RLAMBDA_REGISTRY_ENDPOINT", raising=False)
    return moto_server


@pytest.fixture(scope="session")
def registry(moto_server: str) -> Iterator[RegistryServer]:
    """The registry accepting the credentials moto's ECR hands out."""
    username, password = moto_token_credentials(moto_server)
    with tempfile.TemporaryDirectory(prefix="rlambda-registry-") as root:
        server = RegistryServer(username, password, Path(root)).start()
        yield server
        server.stop()


@pytest.fixture
def ecr(aws: str):
    return boto3.client("ecr", region_name=REGION)


@pytest.fixture
def lambda_client(aws: str):
    return boto3.client("lambda", region_name=REGION)


@pytest.fixture
def make_image(docker_client: docker.DockerClient, tmp_path: Path) -> Iterator:
    """Build a small labelled image FROM scratch: one layer of random bytes per `layers` entry.

    Tagged like build.py's images (r-<version>-<family>-<arch>) in a throwaway repository, with
    the labels build.py sets, so registry.py reads its facts the same way.
    """
    made: list[str] = []

    def make(
        layers: tuple[int, ...] = (64_000,),
        r_version: str = "4.2.2",
        family: str = "debian",
        content_hash: str | None = None,
        base: str = "scratch",
    ) -> str:
        context = tmp_path / f"ctx-{secrets.token_hex(4)}"
        context.mkdir()
        lines = [f"FROM {base}"]
        for i, size in enumerate(layers):
            (context / f"layer{i}").write_bytes(secrets.token_bytes(size))
            lines.append(f"COPY layer{i} /layer{i}")
        (context / "Dockerfile").write_text("\n".join(lines) + "\n")
        name = f"rlambda-test/push-{secrets.token_hex(4)}:r-{r_version}-{family}-x86_64"
        docker_client.images.build(
            path=str(context),
            tag=name,
            rm=True,
            labels={
                "io.rlambda.r.version": r_version,
                "io.rlambda.family": family,
                "io.rlambda.content-hash": content_hash or secrets.token_hex(32),
            },
        )
        made.append(name)
        return name

    yield make
    for name in made:
        with contextlib.suppress(docker.errors.APIError):
            docker_client.images.remove(name, force=True, noprune=False)


@pytest.fixture
def create_function(lambda_client):
    """Create an image-packaged function in moto (its role first: moto checks it exists)."""
    iam = boto3.client("iam", region_name=REGION)
    role = iam.create_role(
        RoleName="rlambda-test",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )["Role"]["Arn"]

    def create(name: str, image_uri: str, arch: str = "x86_64") -> None:
        lambda_client.create_function(
            FunctionName=name, Role=role, PackageType="Image",
            Code={"ImageUri": image_uri}, Architectures=[arch],
        )  # fmt: skip

    return create


# ---- lambdaparallel (parallel/) in the host's R: its library, and moto's S3 server -------------


@pytest.fixture(scope="module")
def r_library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    library = tmp_path_factory.mktemp("r-lib")
    subprocess.run(
        [
            "R",
            "CMD",
            "INSTALL",
            "--no-docs",
            "--no-html",
            f"--library={library}",
            str(ROOT / "parallel"),
        ],
        check=True,
        capture_output=True,
    )
    return library


# Today's future and its dependencies from their CRAN sources (tests/vendor/cran, with their
# provenance), in install order, for the FutureBackend path (future >= 1.40).
CRAN_FUTURE = (
    "globals_0.19.1",
    "listenv_0.10.0",
    "parallelly_1.45.0",
    "future_1.68.0",
    "future.apply_1.20.1",
    "prettyunits_1.2.0",
    "sessioninfo_1.2.3",
    "future.tests_0.9.0",
)


@pytest.fixture(scope="session")
def cran_future_library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A library with the vendored CRAN future (and lambdaparallel), to put before the host's
    in R_LIBS. About 80 s to install, once per session."""
    library = tmp_path_factory.mktemp("r-cran-future")
    vendor = ROOT / "tests" / "vendor" / "cran"
    sources = [str(vendor / f"{name}.tar.gz") for name in CRAN_FUTURE] + [str(ROOT / "parallel")]
    for source in sources:
        subprocess.run(
            ["R", "CMD", "INSTALL", "--no-docs", "--no-html", f"--library={library}", source],
            check=True,
            capture_output=True,
            env={**os.environ, "R_LIBS": str(library)},
        )
    return library


@pytest.fixture(scope="module")
def moto_s3() -> Iterator[str]:
    port = _free_port()
    server = Path(sys.executable).parent / "moto_server"
    process = subprocess.Popen(
        [str(server), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        s3 = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
        )
        for _ in range(100):
            try:
                s3.create_bucket(Bucket=BUCKET)
                break
            except Exception:
                time.sleep(0.1)
        yield endpoint
    finally:
        process.terminate()
        process.wait(timeout=10)
