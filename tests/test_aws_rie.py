"""AWS's RIE as a second judge: the pinned binary, its sandbox, and what it shows next to ours."""

from __future__ import annotations

import concurrent.futures
import hashlib
import io
import json
import socket
import tarfile
import tempfile
import zipfile
from pathlib import Path

import pytest

import build
import docker
from rlambda.errors import JobError, UsageError
from rlambda.local.aws_rie.binary import rie_binary
from rlambda.local.aws_rie.function import AwsRie
from rlambda.local.docker_launcher import DockerRuntime
from rlambda.local.events.settings import check_emulator
from rlambda.local.runtime_api import RuntimeApiServer
from rlambda.local.runtime_api.model import LAMBDA_DEFAULTS, InvokeResult
from rlambda.pins.versions import RiePin, load_rie_pin

from .test_local_lambda import build_python_ric_image

# ---- the pin and the verified binary --------------------------------------------------------


def fake_wheel(tmp_path: Path, binary: bytes) -> RiePin:
    wheel = tmp_path / "aws_sam_cli-0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("samcli/local/rapid/aws-lambda-rie-x86_64", binary)
        archive.writestr("samcli/local/rapid/aws-lambda-rie-arm64", b"arm")
    return RiePin(
        version="1.0",
        wheel_url=wheel.as_uri(),
        wheel_sha256=hashlib.sha256(wheel.read_bytes()).hexdigest(),
        binaries={
            "x86_64": hashlib.sha256(binary).hexdigest(),
            "arm64": hashlib.sha256(b"arm").hexdigest(),
        },
    )


def test_the_pin_names_the_wheel_and_both_binaries() -> None:
    pin = load_rie_pin()
    assert pin.wheel_url.startswith("https://files.pythonhosted.org/")
    assert pin.wheel_url.endswith("aws_sam_cli-1.170.0-py3-none-any.whl")
    assert set(pin.binaries) == {"x86_64", "arm64"}


def test_a_bad_pin_names_its_key(tmp_path: Path) -> None:
    path = tmp_path / "VERSIONS.toml"
    path.write_text('[aws_rie]\nversion = "1.34"\nwheel = "https://x/y.whl"\nwheel_sha256 = "no"\n')
    with pytest.raises(UsageError, match=r"aws_rie\.wheel_sha256"):
        load_rie_pin(path)


def test_binary_is_extracted_verified_and_rehashed_on_every_use(tmp_path: Path) -> None:
    pin = fake_wheel(tmp_path, b"#!/bin/sh\necho rie\n")
    cache = tmp_path / "cache"
    path = rie_binary("x86_64", pin=pin, cache=cache)
    assert path.read_bytes() == b"#!/bin/sh\necho rie\n"
    assert path.stat().st_mode & 0o111
    path.write_bytes(b"tampered")  # a changed file is never used: extracted again
    assert rie_binary("x86_64", pin=pin, cache=cache).read_bytes() == b"#!/bin/sh\necho rie\n"


def test_a_binary_that_does_not_match_its_pin_is_refused(tmp_path: Path) -> None:
    pin = fake_wheel(tmp_path, b"real")
    wrong = RiePin(
        pin.version, pin.wheel_url, pin.wheel_sha256, {**pin.binaries, "x86_64": "0" * 64}
    )
    cache = tmp_path / "cache"
    with pytest.raises(JobError, match="pins 0000"):
        rie_binary("x86_64", pin=wrong, cache=cache)
    assert not (cache / "sha256" / ("0" * 64)).exists()
    assert not list((cache / "sha256").glob(".extract-*"))


def test_emulator_settings_are_checked_before_anything_runs(capsys) -> None:
    with pytest.raises(UsageError, match="add --emulator aws"):
        check_emulator("ours", 2)
    with pytest.raises(UsageError, match="1 to 1600"):
        check_emulator("aws", 0)
    assert build.main(["--r", "4.5.0", "--emulator", "aws"]) == 2
    assert "add --test" in capsys.readouterr().err
    status = build.main(["test", "--image", "x", "--events", ".", "--max-concurrency", "2"])
    assert status == 2


# ---- under RIE ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ric_image(docker_client: docker.DockerClient, debian_base: str, tmp_path_factory) -> str:
    return build_python_ric_image(docker_client, tmp_path_factory.mktemp("ric"))


@pytest.fixture(scope="module")
def ric_bootstrap_image(docker_client: docker.DockerClient, ric_image: str) -> str:
    """The python-ric image with a /var/runtime/bootstrap: RIE's managed-instances mode runs
    nothing else (a relative entrypoint such as `python3` is "an invalid bootstrap path")."""
    files = {
        "bootstrap": b'#!/bin/sh\nexec python3 -m awslambdaric "${1:-$_HANDLER}"\n',
        "Dockerfile": f"FROM {ric_image}\nCOPY bootstrap /var/runtime/bootstrap\n"
        'ENTRYPOINT ["/var/runtime/bootstrap"]\nCMD ["app.handler"]\n'.encode(),
    }
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
    context.seek(0)
    image, _ = docker_client.images.build(fileobj=context, custom_context=True, rm=True)
    return image.id


def invoke_json(function, event: dict) -> InvokeResult:
    return function.invoke(json.dumps(event).encode())


@pytest.mark.docker
def test_the_real_pinned_binary_verifies() -> None:
    path = rie_binary("x86_64")
    assert hashlib.sha256(path.read_bytes()).hexdigest() == load_rie_pin().binaries["x86_64"]


def _socket_dirs() -> list[str]:
    return sorted(p.name for p in Path(tempfile.gettempdir()).glob("rlambda-rie-*"))


@pytest.mark.docker
def test_rie_runs_the_image_in_the_sandbox_with_no_network(ric_image, docker_client) -> None:
    dirs_before = _socket_dirs()
    with socket.socket() as service:  # a host service on loopback
        service.bind(("127.0.0.1", 0))
        service.listen()
        port = service.getsockname()[1]
        with AwsRie(ric_image, memory_mb=128, timeout_s=10) as function:
            container = function.handle.container
            container.reload()
            settings = container.attrs["HostConfig"]
            seen = invoke_json(function, {"op": "sandbox"}).json()
            network = invoke_json(function, {"op": "network", "connect": [["127.0.0.1", port]]})
            warm = invoke_json(function, {"op": "echo", "n": 1})
            assert len(_socket_dirs()) == len(dirs_before) + 1
    assert settings["NetworkMode"] == "none" and not settings["PortBindings"]
    assert settings["ReadonlyRootfs"] and settings["Memory"] == 128 * 1024 * 1024
    assert (seen["uid"], seen["gid"]) == (993, 990)
    assert seen["write_root"] == "EROFS" and seen["write_tmp"] == "ok"
    # Only lo and no route; the host's loopback service is refused; RIE still invokes.
    found = network.json()
    assert (found["interfaces"], found["routes"]) == (["lo"], [])
    assert found["connect"] == {f"127.0.0.1:{port}": "ECONNREFUSED"}
    assert found["pid"] != 1  # RIE is PID 1 and started the runtime
    assert warm.json() == {"op": "echo", "n": 1}
    # Closed: nothing left behind.
    assert not docker_client.containers.list(all=True, filters={"id": container.id})
    assert _socket_dirs() == dirs_before


@pytest.mark.docker
def test_rie_shows_errors_and_timeouts_unmarked(ric_image) -> None:
    with AwsRie(ric_image, memory_mb=128, timeout_s=2) as function:
        ok = invoke_json(function, {"op": "echo", "n": 1})
        failed = invoke_json(function, {"op": "fail", "why": "x"})
        reports = function.reports()
    assert ok.json() == {"op": "echo", "n": 1} and not ok.failed
    # RIE: 200, the error document, no X-Amz-Function-Error header.
    assert (failed.status_code, failed.function_error) == (200, None)
    assert failed.failed and failed.error_type() == "ValueError"
    assert reports is not None and len(reports) == 2
    assert reports[0].init_duration_ms is not None and reports[1].init_duration_ms is None


@pytest.mark.docker
def test_managed_instances_mode_gives_lambdas_environment_and_ours_agrees(
    ric_bootstrap_image,
) -> None:
    ric_image = ric_bootstrap_image
    with AwsRie(ric_image, memory_mb=256, timeout_s=10, max_concurrency=2) as function:
        theirs = invoke_json(function, {"op": "sandbox"}).json()
    runtime = DockerRuntime(ric_image, memory_mb=256)
    with RuntimeApiServer(runtime, memory_mb=256, timeout_s=10, quiet=True) as server:
        ours = invoke_json(server, {"op": "sandbox"}).json()
    # Managed instances: RIE execs the runtime as uid 993 itself.
    assert (theirs["uid"], theirs["gid"]) == (993, 990)
    assert theirs["env"]["AWS_LAMBDA_MAX_CONCURRENCY"] == "2"
    # What Lambda defines with a fixed value, both give the same (PATH is the image's in
    # both: the image sets it).
    fixed = [
        "LANG",
        "TZ",
        "LD_LIBRARY_PATH",
        "PATH",
        "AWS_XRAY_CONTEXT_MISSING",
        "_AWS_XRAY_DAEMON_PORT",
        "LAMBDA_TASK_ROOT",
        "LAMBDA_RUNTIME_DIR",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "_HANDLER",
    ]
    assert {k: ours["env"].get(k) for k in fixed} == {k: theirs["env"].get(k) for k in fixed}
    assert ours["env"]["LANG"] == LAMBDA_DEFAULTS["LANG"] and ours["env"]["TZ"] == ":UTC"
    # Present in both, values their own (names, addresses, the initialization type).
    named = [
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_LAMBDA_INITIALIZATION_TYPE",
        "AWS_LAMBDA_RUNTIME_API",
        "AWS_XRAY_DAEMON_ADDRESS",
        "_AWS_XRAY_DAEMON_ADDRESS",
    ]
    assert all(k in ours["env"] and k in theirs["env"] for k in named)


@pytest.mark.docker
def test_managed_instances_mode_refuses_what_finds_no_idle_runtime(ric_bootstrap_image) -> None:
    """awslambdaric 3.1 polls with one thread: of 4 invokes at once, RIE refuses those that
    find no idle runtime with 400 Runtime.Unavailable (what Lambda's MI mode would do)."""
    function = AwsRie(ric_bootstrap_image, memory_mb=256, timeout_s=10, max_concurrency=4)
    with function, concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: invoke_json(function, {"op": "echo"}), range(4)))
    statuses = sorted(r.status_code for r in results)
    assert 200 in statuses
    refused = [r for r in results if r.status_code == 400]
    assert all(r.json() == {"errorType": "Runtime.Unavailable"} for r in refused)
