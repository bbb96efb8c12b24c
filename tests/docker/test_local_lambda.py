"""Running an image as Lambda runs it (DockerRuntime), and `build.py test` (run_events, main).

There is no R image to run yet, so the Docker tests use a real Python function image built
here (tests/docker/images/python-ric: Debian's python3 + AWS's awslambdaric) on the local
Debian base.
The event-file checks that need no Docker are in tests/unit/test_local_events.py.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

import docker
from rlambda.local.docker_launcher import (
    ComposeServiceRuntime,
    DockerRuntime,
    ImageNotFoundError,
)
from rlambda.local.events.cli import main
from rlambda.local.events.run import run_events
from rlambda.local.runtime_api import InvokeResult, RuntimeApiError, RuntimeApiServer
from rlambda.local.runtime_api.model import API_SOCKET_ENV, LAMBDA_DEFAULTS

from ..helpers import write_event
from .python_ric import build_python_ric_image

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "tests" / "docker" / "compose" / "docker-compose.yml"
COMPOSE_SERVICE = "python-ric"


# ---- the python-ric image ------------------------------------------------------------------


@pytest.fixture(scope="session")
def ric_image(
    docker_client: docker.DockerClient, debian_base: str, tmp_path_factory: pytest.TempPathFactory
) -> str:
    return build_python_ric_image(docker_client, tmp_path_factory.mktemp("ric"))


@contextmanager
def serve(
    image: str,
    handler: str | None = None,
    *,
    memory_mb: int = 128,
    timeout_s: float = 10,
    **kw: Any,
) -> Iterator[RuntimeApiServer]:
    runtime = DockerRuntime(image, memory_mb=memory_mb, handler=handler, **kw)
    with RuntimeApiServer(runtime, memory_mb=memory_mb, timeout_s=timeout_s, quiet=True) as server:
        yield server


def invoke(server: RuntimeApiServer, event: Any) -> InvokeResult:
    return server.invoke(json.dumps(event).encode())


# ---- the sandbox ------------------------------------------------------------------------------


@pytest.mark.docker
def test_success_and_handler_error_through_the_container(ric_image: str) -> None:
    with serve(ric_image) as server:
        cold = invoke(server, {"op": "echo", "n": 1})
        failed = invoke(server, {"op": "fail", "why": "no widget"})
        warm = invoke(server, {"op": "echo", "n": 2})
    assert cold.status_code == 200 and cold.function_error is None
    assert cold.json() == {"op": "echo", "n": 1}
    assert cold.report is not None and cold.report.init_duration_ms is not None
    assert cold.report.max_memory_mb is not None and 0 < cold.report.max_memory_mb < 128
    assert failed.function_error == "Unhandled"
    assert failed.json()["errorType"] == "ValueError"
    assert failed.json()["errorMessage"] == "boom: no widget"
    # A handler error does not end the runtime: the next invoke is warm.
    assert warm.json() == {"op": "echo", "n": 2}
    assert warm.report is not None and warm.report.init_duration_ms is None


@pytest.mark.docker
def test_runs_like_lambda_read_only_non_root_tmp_and_environment(ric_image: str) -> None:
    with serve(ric_image) as server:
        seen = invoke(server, {"op": "sandbox"}).json()
        runtime_api = server.runtime_api
    assert (seen["uid"], seen["gid"]) == (993, 990)
    assert seen["write_task_root"] == "EROFS"
    assert seen["write_root"] == "EROFS"
    assert seen["write_tmp"] == "ok"
    assert seen["tmp_size_mb"] == 512
    assert seen["cwd"] == "/var/task"  # the image's WORKDIR
    env = seen["env"]
    # Lambda's own address, served by the relay inside (the emulator's port is elsewhere).
    assert env["AWS_LAMBDA_RUNTIME_API"] == "127.0.0.1:9001" != runtime_api
    assert "_RLAMBDA_RUNTIME_API_SOCKET" not in env
    assert env["_HANDLER"] == "app.handler"  # from the image's CMD
    expected = {
        "AWS_LAMBDA_FUNCTION_NAME": "test_function",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/test_function",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "LAMBDA_TASK_ROOT": "/var/task",
        "LAMBDA_RUNTIME_DIR": "/var/runtime",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EXECUTION_ENV": "AWS_Lambda_Image",
        # Lambda's defaults for what a function may override (the image sets none of them).
        "TZ": ":UTC",
        "LANG": "en_US.UTF-8",
        "LD_LIBRARY_PATH": LAMBDA_DEFAULTS["LD_LIBRARY_PATH"],
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
        "_AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1",
        "_AWS_XRAY_DAEMON_PORT": "2000",
    }
    assert {key: env.get(key) for key in expected} == expected
    assert env["AWS_LAMBDA_LOG_STREAM_NAME"].count("[$LATEST]") == 1
    assert env["_X_AMZN_TRACE_ID"].startswith("Root=1-")
    # Nothing of the host's, and no credentials unless given.
    assert not [key for key in env if key.startswith(("AWS_ACCESS", "AWS_SECRET", "AWS_SESSION"))]


@pytest.mark.docker
def test_credentials_and_function_env_reach_the_runtime_only_when_given(ric_image: str) -> None:
    credentials = {"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret"}
    with serve(ric_image, aws_credentials=credentials, env={"STAGE": "test"}) as server:
        env = invoke(server, {"op": "sandbox"}).json()["env"]
    assert env["AWS_ACCESS_KEY_ID"] == "AKIAEXAMPLE"
    assert env["AWS_SECRET_ACCESS_KEY"] == "secret"
    assert "AWS_SESSION_TOKEN" not in env
    assert env["STAGE"] == "test"


@pytest.mark.docker
def test_128_mb_works_and_beyond_it_is_an_oom_exit_then_a_fresh_start(ric_image: str) -> None:
    with serve(ric_image, memory_mb=128) as server:
        fits = invoke(server, {"op": "allocate", "mb": 48})
        too_much = invoke(server, {"op": "allocate", "mb": 200})
        after = invoke(server, {"op": "echo", "n": 3})
    assert fits.json() == 48 * 1024 * 1024
    assert fits.report is not None and fits.report.max_memory_mb is not None
    assert 48 <= fits.report.max_memory_mb < 128
    assert too_much.function_error == "Unhandled"
    error = too_much.json()
    assert error["errorType"] == "Runtime.ExitError"
    assert error["errorMessage"].endswith("Runtime exited with error: signal: killed")
    assert too_much.report is not None and too_much.report.max_memory_mb == 128
    assert after.json() == {"op": "echo", "n": 3}
    assert after.report is not None and after.report.init_duration_ms is not None


@pytest.mark.docker
def test_handle_polls_kills_and_removes_its_container(
    ric_image: str, docker_client: docker.DockerClient, tmp_path: Path
) -> None:
    # A runtime that stays up without a Runtime API to talk to.
    idle = ["python3", "-c", "import threading; threading.Event().wait()"]
    runtime = DockerRuntime(ric_image, memory_mb=128, entrypoint=idle, client=docker_client)
    env = {"AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9", "AWS_REGION": "x"}
    with pytest.raises(RuntimeApiError, match="start them through RuntimeApiServer"):
        runtime.start(env)  # its container could reach no Runtime API
    # The emulator's socket (none listens here: the idle runtime never asks).
    handle = runtime.start({**env, API_SOCKET_ENV: str(tmp_path / "api.sock")})
    container_id = handle.container.id
    assert handle.pid is not None
    assert handle.poll() is None
    handle.kill()
    assert handle.poll() == handle.wait() == -signal.SIGKILL
    with pytest.raises(docker.errors.NotFound):
        docker_client.containers.get(container_id)


def _leftovers(client: docker.DockerClient) -> tuple[list[str], list[str]]:
    """The launcher's containers and the emulator's socket directories that exist now."""
    found = client.containers.list(all=True, filters={"label": "rlambda.runtime=docker-launcher"})
    dirs = sorted(p.name for p in Path(tempfile.gettempdir()).glob("rlambda-api-*"))
    return sorted(c.id for c in found), dirs


@pytest.mark.docker
def test_host_loopback_is_unreachable_and_nothing_is_left_behind(
    ric_image: str, docker_client: docker.DockerClient
) -> None:
    before = _leftovers(docker_client)
    with socket.socket() as service:  # a host service on loopback, as the emulator's port is
        service.bind(("127.0.0.1", 0))
        service.listen()
        port = service.getsockname()[1]
        socket.create_connection(("127.0.0.1", port), timeout=2).close()  # reachable here
        with serve(ric_image) as server:
            emulator_port = int(server.runtime_api.rpartition(":")[2])
            targets = [["127.0.0.1", port], ["127.0.0.1", emulator_port]]
            seen = invoke(server, {"op": "network", "connect": targets})
            warm = invoke(server, {"op": "echo", "n": 1})
            during = _leftovers(docker_client)
    assert seen.function_error is None, seen.json()
    assert seen.json() == {
        "interfaces": ["lo"],
        "routes": [],  # no default route: nothing beyond the container, metadata included
        "connect": {
            f"127.0.0.1:{port}": "ECONNREFUSED",
            f"127.0.0.1:{emulator_port}": "ECONNREFUSED",
        },
        "pid": 1,  # the runtime kept its place: the relay execed it
        "invoke_route": 404,  # the function cannot invoke itself through the Runtime API
    }
    assert warm.json() == {"op": "echo", "n": 1}
    assert warm.report is not None and warm.report.init_duration_ms is None
    assert len(during[0]) == len(before[0]) + 1 and len(during[1]) == len(before[1]) + 1
    assert _leftovers(docker_client) == before


@pytest.mark.docker
def test_runtimes_that_fail_or_are_killed_leave_nothing_behind(
    ric_image: str, docker_client: docker.DockerClient, tmp_path: Path
) -> None:
    before = _leftovers(docker_client)
    with serve(ric_image, entrypoint=["/var/task/no-such-bootstrap"]) as server:
        assert invoke(server, {}).json()["errorType"] == "Runtime.InvalidEntrypoint"
        assert _leftovers(docker_client)[0] == before[0]
    assert _leftovers(docker_client) == before
    events = tmp_path / "events"
    write_event(events, "a.json", {"event": {}, "expect": {"response": {}}})
    [exited] = run_events(ric_image, events, memory_mb=128, handler="exits_in_init.handler")
    assert exited.got == "Runtime.ExitError: Runtime exited with error: exit status 3"
    assert _leftovers(docker_client) == before
    [killed] = run_events(
        ric_image, events, memory_mb=128, timeout_s=2, handler="never_ready.handler"
    )
    assert killed.got == "Sandbox.Timedout: Task timed out after 2.00 seconds"
    assert _leftovers(docker_client) == before


@pytest.mark.docker
def test_aws_base_entrypoint_is_detected(ric_image: str) -> None:
    # No AWS base can be pulled here: the detection is checked on the entrypoint alone.
    assert not DockerRuntime(ric_image).uses_rie_entrypoint
    assert DockerRuntime(ric_image, entrypoint=["/lambda-entrypoint.sh"]).uses_rie_entrypoint


# ---- run_events and the CLI -------------------------------------------------------------------


@pytest.mark.docker
def test_run_events_table_and_exit_code(
    ric_image: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = tmp_path / "events"
    write_event(events, "1-s3.json", {"fixture": "s3-put", "expect": {"response": None}})
    write_event(
        events,
        "2-echo.json",
        {"event": {"op": "echo", "x": [1, 2]}, "expect": {"response": {"op": "echo", "x": [1, 2]}}},
    )
    write_event(
        events,
        "3-fail.json",
        {
            "event": {"op": "fail", "why": "bad"},
            "expect": {"error_type": "ValueError", "error_message": "bad"},
        },
    )
    # The echo handler returns the S3 event, not null: this one must fail.
    outcomes = run_events(ric_image, events, memory_mb=128, timeout_s=10)
    assert [(o.name, o.passed) for o in outcomes] == [
        ("1-s3.json", False),
        ("2-echo.json", True),
        ("3-fail.json", True),
    ]
    assert outcomes[0].init_ms is not None and outcomes[1].init_ms is None
    assert outcomes[0].got.startswith('{"Records":[{')

    assert main(["--image", ric_image, "--events", str(events), "--memory", "128"]) == 1
    table = capsys.readouterr().out
    header, _rule, *rows = table.splitlines()
    assert header.split() == [
        "event",
        "result",
        "duration",
        "init",
        "max",
        "memory",
        "expected",
        "got",
    ]
    assert rows[0].startswith("1-s3.json") and " FAIL " in rows[0] and " null " in rows[0]
    assert rows[1].startswith("2-echo.json") and " PASS " in rows[1]
    assert "2 passed, 1 failed" in table

    (events / "1-s3.json").unlink()
    assert main(["--image", ric_image, "--events", str(events), "--memory", "128"]) == 0
    assert "2 passed, 0 failed" in capsys.readouterr().out


# ---- bad input ---------------------------------------------------------------------------------


@pytest.mark.docker
def test_missing_image_names_it_and_how_to_build_it(
    docker_client: docker.DockerClient, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = tmp_path / "events"
    write_event(events, "a.json", {"event": {}, "expect": {"response": {}}})
    image = "rlambda-test/no-such-image:nope"
    with pytest.raises(ImageNotFoundError) as caught:
        run_events(image, events)
    assert f"image {image!r} is not in the local Docker engine" in str(caught.value)
    assert "python build.py --r VERSION" in str(caught.value)
    assert main(["--image", image, "--events", str(events)]) == 2
    assert f"error: image {image!r}" in capsys.readouterr().err


@pytest.mark.docker
def test_missing_handler_is_an_init_error(ric_image: str, tmp_path: Path) -> None:
    events = tmp_path / "events"
    write_event(events, "a.json", {"event": {}, "expect": {"response": {}}})
    [outcome] = run_events(ric_image, events, memory_mb=128, timeout_s=10, handler="app.nope")
    assert not outcome.passed
    assert outcome.got == "Runtime.HandlerNotFound: Handler 'nope' missing on module 'app'"
    assert outcome.detail == "init failed: Handler 'nope' missing on module 'app'"


@pytest.mark.docker
def test_runtime_that_never_asks_for_an_event_is_an_init_timeout(
    ric_image: str, tmp_path: Path
) -> None:
    events = tmp_path / "events"
    write_event(events, "a.json", {"event": {}, "expect": {"response": {}}})
    [outcome] = run_events(
        ric_image, events, memory_mb=128, timeout_s=2, handler="never_ready.handler"
    )
    assert outcome.got == "Sandbox.Timedout: Task timed out after 2.00 seconds"
    assert outcome.init_ms == 2000.0
    assert outcome.detail == (
        "init did not finish within 2 s: the runtime never asked for an event "
        "(GET /2018-06-01/runtime/invocation/next)"
    )


@pytest.mark.docker
def test_runtime_exiting_during_init_is_reported_with_its_status(
    ric_image: str, tmp_path: Path
) -> None:
    events = tmp_path / "events"
    write_event(events, "a.json", {"event": {}, "expect": {"response": {}}})
    [outcome] = run_events(ric_image, events, memory_mb=128, handler="exits_in_init.handler")
    assert outcome.got == "Runtime.ExitError: Runtime exited with error: exit status 3"
    assert outcome.detail == (
        "the runtime exited (exit status 3) before asking for its first event, "
        "without reporting an init error: the end of its log says why"
    )


@pytest.mark.docker
def test_entrypoint_that_cannot_run_is_an_invalid_entrypoint(ric_image: str) -> None:
    with serve(ric_image, entrypoint=["/var/task/no-such-bootstrap"]) as server:
        result = invoke(server, {})
    assert result.json()["errorType"] == "Runtime.InvalidEntrypoint"
    assert "no-such-bootstrap" in result.json()["errorMessage"]


@pytest.mark.docker
def test_emulator_port_already_taken_is_a_clear_error(ric_image: str, tmp_path: Path) -> None:
    events = tmp_path / "events"
    write_event(events, "a.json", {"event": {}, "expect": {"response": {}}})
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(RuntimeApiError, match=f"port {port} is already in use"):
            run_events(ric_image, events, port=port)


# ---- the same image as a compose service (pytest-docker) ----------------------------------------


@pytest.fixture(scope="session")
def docker_compose_command() -> str:
    # Debian ships Compose v1 (docker-compose 1.29), not the `docker compose` plugin.
    return "docker-compose"


@pytest.fixture(scope="session")
def docker_compose_file() -> str:
    return str(COMPOSE_FILE)


@pytest.fixture(scope="session")
def compose_emulator(
    ric_image: str, docker_compose_project_name: str
) -> Iterator[RuntimeApiServer]:
    """The emulator the compose service talks to; its address goes into the compose file."""
    runtime = ComposeServiceRuntime(docker_compose_project_name, COMPOSE_SERVICE)
    server = RuntimeApiServer(runtime, memory_mb=128, timeout_s=10, quiet=True).start()
    saved = {name: os.environ.get(name) for name in ("RLAMBDA_RIC_IMAGE", "RLAMBDA_RUNTIME_API")}
    os.environ["RLAMBDA_RIC_IMAGE"] = ric_image
    os.environ["RLAMBDA_RUNTIME_API"] = server.runtime_api
    yield server
    server.close()
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="session")
def docker_setup(compose_emulator: RuntimeApiServer) -> list[str]:
    # v1 has no `up --wait`: start detached, then poll (wait_until_responsive below).
    return ["up --build -d"]


def _answers(server: RuntimeApiServer) -> bool:
    result = invoke(server, {"op": "echo", "ping": True})
    return result.function_error is None and result.json() == {"op": "echo", "ping": True}


@pytest.mark.docker
def test_compose_service_runs_as_lambda_and_answers_through_the_emulator(
    docker_services: Any, compose_emulator: RuntimeApiServer
) -> None:
    docker_services.wait_until_responsive(
        check=lambda: _answers(compose_emulator), timeout=60.0, pause=0.2
    )
    seen = invoke(compose_emulator, {"op": "sandbox"}).json()
    assert (seen["uid"], seen["gid"]) == (993, 990)
    assert seen["write_task_root"] == "EROFS" and seen["write_tmp"] == "ok"
    assert seen["env"]["AWS_LAMBDA_RUNTIME_API"] == compose_emulator.runtime_api
    # The compose file's 128 MB limit holds, and the emulator restarts the service after it.
    killed = invoke(compose_emulator, {"op": "allocate", "mb": 200})
    assert killed.json()["errorMessage"].endswith("signal: killed")
    again = invoke(compose_emulator, {"op": "echo", "n": 4})
    assert again.json() == {"op": "echo", "n": 4}
    assert again.report is not None and again.report.init_duration_ms is not None
