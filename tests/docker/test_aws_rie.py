"""AWS's RIE as a second judge: the pinned binary, its sandbox, and what it shows next to ours."""

from __future__ import annotations

import concurrent.futures
import hashlib
import io
import json
import socket
import tarfile
import tempfile
from pathlib import Path

import pytest

import docker
from rlambda.local.aws_rie.binary import rie_binary
from rlambda.local.aws_rie.function import AwsRie
from rlambda.local.docker_launcher import DockerRuntime
from rlambda.local.runtime_api import RuntimeApiServer
from rlambda.local.runtime_api.model import LAMBDA_DEFAULTS, InvokeResult
from rlambda.pins.versions import load_rie_pin

from .python_ric import build_python_ric_image

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
