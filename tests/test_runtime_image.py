"""The R runtime client baked into a base R image, run as Lambda runs it (Lambda-like container,
read-only root, non-root uid, memory limit) against the project's Runtime API emulator."""

import concurrent.futures
import io
import json
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from rlambda.local.aws_rie import AwsRie
from rlambda.local.docker_launcher import DockerRuntime
from rlambda.local.runtime_api import RuntimeApiServer

pytestmark = pytest.mark.docker

APP = Path(__file__).resolve().parent / "r_function" / "app.R"


@pytest.fixture(scope="module")
def function_image(docker_client, r_image) -> str:
    """A function image as a user would write it: FROM the base, COPY the code, CMD a handler."""
    dockerfile = f'FROM {r_image.image_id}\nCOPY app.R /var/task/app.R\nCMD ["app.constant"]\n'
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in (("Dockerfile", dockerfile.encode()), ("app.R", APP.read_bytes())):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    image, _ = docker_client.images.build(fileobj=buf, custom_context=True, rm=True)
    return image.id


@pytest.fixture(params=["ours", "aws"], ids=["ours", "aws-rie"])
def emulator(request: pytest.FixtureRequest) -> str:
    """Who plays Lambda: the project's emulator, or AWS's RIE (rlambda.local.aws_rie)."""
    return request.param


@contextmanager
def function(
    emulator: str,
    image: str,
    handler: str | None = None,
    memory_mb: int = 512,
    timeout_s: float = 20,
) -> Iterator:
    if emulator == "aws":
        with AwsRie(image, memory_mb=memory_mb, timeout_s=timeout_s, handler=handler) as rie:
            yield rie
        return
    runtime = DockerRuntime(image, memory_mb=memory_mb, handler=handler)
    with RuntimeApiServer(runtime, memory_mb=memory_mb, timeout_s=timeout_s, quiet=True) as srv:
        yield srv


def inits(server, *results) -> list[bool]:
    """Which of these invokes were cold starts (RIE reports them late: read its REPORTs)."""
    reports = server.reports() if isinstance(server, AwsRie) else [r.report for r in results]
    assert reports is not None and len(reports) == len(results)
    return [report.init_duration_ms is not None for report in reports]


def test_cmd_handler_cold_then_warm(function_image, emulator):
    with function(emulator, function_image) as server:
        cold = server.invoke(b"{}")
        warm = server.invoke(b"{}")
        assert inits(server, cold, warm) == [True, False]
    assert cold.status_code == 200 and not cold.failed
    assert json.loads(cold.body) == {"answer": 42, "ok": True}
    assert json.loads(warm.body) == {"answer": 42, "ok": True}


def test_raw_event_and_text(function_image, emulator):
    with function(emulator, function_image, "app.echo_raw") as server:
        result = server.invoke('{"name": "Zoë"}'.encode())
    assert result.body.decode() == '{"name": "Zoë"}'
    with function(emulator, function_image, "app.text") as server:
        assert server.invoke(b"{}").body == b"plain text"


def test_context(function_image, emulator):
    with function(emulator, function_image, "app.describe", memory_mb=256) as server:
        body = json.loads(server.invoke(b"{}", trace_id="Root=1-abc;Sampled=1").body)
    assert body["memory"] == 256
    assert body["remaining_positive"] is True
    assert body["function_name"]
    if emulator == "ours":  # RIE's normal mode passes no trace id to the runtime
        assert body["trace"] == "Root=1-abc;Sampled=1"


def test_r_error_reaches_the_caller_with_class_message_and_trace(function_image, emulator):
    with function(emulator, function_image, "app.fail") as server:
        failed = server.invoke(b"{}")
        again = server.invoke(b"{}")  # the loop survives
        assert inits(server, failed, again) == [True, False]
    # Lambda marks it with X-Amz-Function-Error; RIE sends the document with a bare 200.
    assert failed.function_error == ("Unhandled" if emulator == "ours" else None)
    assert failed.failed and again.failed
    error = json.loads(failed.body)
    assert error["errorType"] == "simpleError"
    assert error["errorMessage"] == "boom from R"
    assert any("fail" in frame for frame in error["stackTrace"])


def test_custom_condition_class_is_the_error_type(function_image, emulator):
    with function(emulator, function_image, "app.custom_condition") as server:
        error = json.loads(server.invoke(b"{}").body)
    assert error["errorType"] == "validationError"
    assert error["errorMessage"] == "amount must be positive"


def test_quit_is_reported_and_the_next_invoke_starts_fresh(function_image, emulator):
    with function(emulator, function_image, "app.leave") as server:
        first = server.invoke(b"{}")
        second = server.invoke(b"{}")
        assert inits(server, first, second) == [True, True]  # a new runtime
    assert first.failed and first.error_type() == "Runtime.ExitError"


def test_missing_handler_is_an_init_error(function_image, emulator):
    with function(emulator, function_image, "app.no_such_function") as server:
        result = server.invoke(b"{}")
    assert result.failed
    assert json.loads(result.body)["errorType"] == "Runtime.HandlerNotFound"


def test_128_mb_works_and_going_over_is_an_exit(function_image, emulator):
    with function(emulator, function_image, "app.allocate", memory_mb=128) as server:
        small = server.invoke(b"16")
        too_big = server.invoke(b"400")
        after = server.invoke(b"8")
        assert inits(server, small, too_big, after) == [True, False, True]
    assert small.body == b"2097152"
    assert too_big.failed
    assert too_big.error_type() in ("Runtime.ExitError", "Runtime.OutOfMemory")
    assert after.body == b"1048576"


def test_a_timeout_fails_the_invoke_and_the_next_starts_fresh(function_image, emulator):
    # 3 s: RIE's timeout bounds a re-init and its invoke together (R starts in about 1 s here).
    with function(emulator, function_image, "app.naps", timeout_s=3) as server:
        late = server.invoke(b"10")
        after = server.invoke(b"0")
        assert inits(server, late, after) == [True, True]
    # Lambda: {"errorType": "Sandbox.Timedout", ...}; RIE: 200 and "Task timed out after ...".
    assert late.failed and late.error_type() == "Sandbox.Timedout"
    assert not after.failed and "pid" in json.loads(after.body)


def test_many_warm_invokes_stay_on_one_runtime(function_image, emulator):
    with function(emulator, function_image, "app.pid") as server:
        pids = {server.invoke(b"{}").body for _ in range(200)}
    assert len(pids) == 1


@pytest.mark.xfail(strict=True, reason="issue 13 item 4: the R runtime serves one invoke at a time")
def test_managed_instances_serve_max_concurrency_invokes_at_once(function_image):
    """Issue 13's measurement under AWS's RIE in managed-instances mode: 4 concurrent invokes
    of a 1 s handler; every one must be served (RIE refuses one that finds no idle runtime)."""
    function = AwsRie(
        function_image, memory_mb=512, timeout_s=20, handler="app.naps", max_concurrency=4
    )
    with function, concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: function.invoke(b"1"), range(4)))
    assert [r.status_code for r in results] == [200] * 4, [r.body for r in results]
    assert not any(r.failed for r in results)
