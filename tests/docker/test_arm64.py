"""arm64 (Graviton) images, built and invoked on this x86_64 machine under QEMU.

Every run: an arm64 image (the runtime client and json-api's handler on Debian's arm64 R, in
an arm64 debootstrap) answers json-api's events through `build.py test`, under our emulator and
under AWS's arm64 RIE, and the processes are checked for what runs natively (the relay, a
static x86_64 binary bind-mounted from the host) and what under QEMU (R, AWS's RIE).
Opt-in (RLAMBDA_ARM64_FULL=1): R compiled from the pinned tarball for arm64 with json-api on
it, through `build.py --arch arm64 --recipe json-api --test`, as a user types it.

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

from ..conftest import ROOT
from ..helpers import run_build

ARM64_BASE = "rlambda-local/debian:bookworm-arm64"
IMAGE_DIR = Path(__file__).resolve().parent / "images" / "arm64-runtime"
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
def arm64_image(arm64_engine: docker.DockerClient) -> str:
    subprocess.run([str(ROOT / "scripts" / "make-debian-base.sh"), ARM64_BASE, "arm64"], check=True)
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        tar.add(IMAGE_DIR / "Dockerfile", "Dockerfile")
        tar.add(ROOT / "runtime", "runtime", filter=_no_checkout_files)
        tar.add(JSON_API / "api.R", "function/api.R")
    context.seek(0)
    tag = "rlambda-test/arm64-runtime:json-api"
    arm64_engine.images.build(
        fileobj=context, custom_context=True, tag=tag, platform="linux/arm64", rm=True
    )
    assert engine.image_platform(arm64_engine.images.get(tag)) == "linux/arm64"
    return tag


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
def test_r_compiled_for_arm64_with_a_recipe_answers_its_events(
    capsys, arm64_engine, local_mirror, local_pins
) -> None:
    subprocess.run([str(ROOT / "scripts" / "make-debian-base.sh"), ARM64_BASE, "arm64"], check=True)
    status, out = run_build(
        capsys, "--r", "4.5.0", "--family", "debian", "--arch", "arm64",
        "--base-image", ARM64_BASE, "--cran-mirror", local_mirror,
        "--versions-file", str(local_pins.path), "--recipe", "json-api", "--test",
    )  # fmt: skip
    assert status == 0, out
    assert "r-4.5.0-json-api-debian-arm64" in out
