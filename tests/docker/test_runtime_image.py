"""The R runtime client baked into a base R image, run as Lambda runs it (Lambda-like container,
read-only root, non-root uid, memory limit) against the project's Runtime API emulator, on every
R version the local stand-ins build (LOCAL_R_VERSIONS: 4.5.0 and the 4.0.x line); and the
runtime's own testthat suite run by each image's R."""

import concurrent.futures
import io
import json
import os
import shutil
import subprocess
import tarfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from rlambda.local.aws_rie.function import AwsRie
from rlambda.local.docker_launcher import DockerRuntime
from rlambda.local.runtime_api import RuntimeApiServer

from ..conftest import LOCAL_R_VERSIONS

pytestmark = pytest.mark.docker

APP = Path(__file__).resolve().parent / "r_function" / "app.R"
REPO = Path(__file__).resolve().parents[2]
RUNTIME = REPO / "runtime"


@pytest.fixture(scope="module", params=LOCAL_R_VERSIONS)
def function_image(request, docker_client, r_image_of) -> str:
    """A function image as a user would write it: FROM the base, COPY the code, CMD a handler;
    on every R version the local stand-ins build."""
    r_image = r_image_of(request.param)
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
    with function(emulator, function_image, "app.greeting") as server:
        greeting = server.invoke(b"{}")
    assert greeting.body == b'"hi"'
    if emulator == "ours":  # RIE's answer carries no content type of the runtime's
        assert greeting.content_type == "application/json"


def test_event_json_is_read_and_written_without_loading_jsonlite(function_image, emulator):
    """A handler taking `event`: jsonlite's R values (a vector with NA, a data frame with the
    union of the records' keys, a matrix), jsonlite's bytes back, and neither jsonlite nor
    methods loaded in the runtime's R."""
    event = {
        "values": [1, 2.5, None],
        "rows": [{"a": 1}, {"b": "Zoë"}],
        "grid": [[1, 2], [3, 4]],
        "text": "</script>\n\u0001",
        "big": 2147483648,
    }
    with function(emulator, function_image, "app.namespaces") as server:
        result = server.invoke(json.dumps(event).encode())
    body = json.loads(result.body)
    assert body["event"] == {
        "values": [1, 2.5, None],
        "rows": [{"a": 1, "b": None}, {"a": None, "b": "Zoë"}],
        "grid": [[1, 2], [3, 4]],
        "text": "</script>\n\u0001",
        "big": 2147483648,
    }
    assert body["classes"] == {
        "values": "numeric",
        "rows": "data.frame",
        "grid": "matrix",
        "text": "character",
        "big": "numeric",
    }
    assert b'"text":"<\\/script>\\n\\u0001"' in result.body  # jsonlite's escapes
    assert "base" in body["loaded"]
    assert "jsonlite" not in body["loaded"] and "methods" not in body["loaded"], body["loaded"]


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


# Debian suites whose r-cran-testthat was built for an R line that the host's does not load on.
TESTTHAT_SUITES = {"4.0": "bullseye"}
TESTTHAT_IMAGE = Path(__file__).resolve().parent / "images" / "r-testthat"


def host_r_library(package: str) -> Path:
    out = subprocess.run(
        ["Rscript", "-e", f'cat(dirname(find.package("{package}")))'],
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(out.stdout.strip())


def debian_r_library(docker_client, suite: str, into: Path) -> Path:
    """/usr/lib/R/site-library of Debian `suite` with r-cran-testthat installed, copied out."""
    base = f"rlambda-local/debian:{suite}"
    subprocess.run(
        [str(REPO / "scripts" / "make-debian-base.sh"), base],
        env={**os.environ, "DEBIAN_SUITE": suite},
        check=True,
    )
    image, _ = docker_client.images.build(
        path=str(TESTTHAT_IMAGE), buildargs={"BASE": base}, tag=f"rlambda-local/r-testthat:{suite}"
    )
    container = docker_client.containers.create(image.id)
    try:
        stream, _ = container.get_archive("/usr/lib/R/site-library")
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
            # filter="data" where this Python has it (3.11.4+): no paths outside `into`.
            safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            tar.extractall(into, **safe)
    finally:
        container.remove()
    return into / "site-library"


@pytest.fixture(scope="module")
def testthat_library(docker_client, tmp_path_factory) -> Callable[[str], Path]:
    """A library with testthat that the R of `r_version` can load."""

    def get(r_version: str) -> Path:
        suite = TESTTHAT_SUITES.get(".".join(r_version.split(".")[:2]))
        if suite is None:
            return host_r_library("testthat")
        return debian_r_library(docker_client, suite, tmp_path_factory.mktemp(suite))

    return get


@pytest.mark.r  # the host's testthat, copied into the image
@pytest.mark.skipif(shutil.which("Rscript") is None, reason="needs R with testthat on the host")
@pytest.mark.parametrize("r_version", LOCAL_R_VERSIONS)
def test_runtime_testthat_suite_passes_in_the_images_r(
    r_version, r_image_of, testthat_library, docker_client
):
    """The guard against R features newer than the runtime's floor (`\\(x)`, `|>`, arguments
    added after 4.0): the runtime's own suite, run by the image's R, not the host's. The images
    carry no testthat: a library of Debian's r-cran-testthat built for that R line (the host's
    for R >= 4.2, bullseye's for 4.0) is mounted read-only."""
    image = r_image_of(r_version).image_id
    library = testthat_library(r_version)
    script = (
        'cat("R", as.character(getRversion()), "\\n"); '
        'testthat::test_dir("/opt/rlambda-runtime/tests/testthat", reporter = "summary")'
    )
    container = docker_client.containers.run(
        image,
        entrypoint=["Rscript", "-e", script],
        volumes={
            str(RUNTIME): {"bind": "/opt/rlambda-runtime", "mode": "ro"},
            str(library): {"bind": "/opt/host-r-library", "mode": "ro"},
        },
        environment={"R_LIBS": "/opt/host-r-library"},
        network_disabled=True,
        detach=True,
    )
    try:
        status = container.wait(timeout=600)["StatusCode"]
        output = container.logs().decode(errors="replace")
    finally:
        container.remove(force=True)
    assert status == 0, output  # test_dir() stops on any failure
    assert f"R {r_version}" in output, output
    assert "DONE" in output and "Failed" not in output, output


def test_managed_instances_serve_max_concurrency_invokes_at_once(function_image):
    """Issue 13's measurement under AWS's RIE in managed-instances mode: 4 concurrent invokes
    of a 1 s handler; every one must be served (RIE refuses one that finds no idle runtime)."""
    function = AwsRie(
        function_image, memory_mb=512, timeout_s=20, handler="app.naps", max_concurrency=4
    )
    with function, concurrent.futures.ThreadPoolExecutor(4) as pool:
        # The workers are forked after init and reach GET /next one by one; RIE refuses an
        # invoke that comes first. Sequential invokes go round the polling workers: once four
        # have answered, all four are waiting.
        pids = set()
        for _ in range(100):
            warm = function.invoke(b"0")
            if warm.status_code == 200:
                pids.add(json.loads(warm.body)["pid"])
            if len(pids) == 4:
                break
        assert len(pids) == 4, pids
        # The last of them answered and is on its way back to GET /next; RIE counts it idle
        # only once it is there.
        time.sleep(0.5)
        began = time.monotonic()
        results = list(pool.map(lambda _: function.invoke(b"1"), range(4)))
        elapsed = time.monotonic() - began
    assert [r.status_code for r in results] == [200] * 4, [r.body for r in results]
    assert not any(r.failed for r in results)
    assert len({json.loads(r.body)["pid"] for r in results}) == 4
    assert elapsed < 3, f"4 invokes of 1 s took {elapsed:.1f} s: not at once"
