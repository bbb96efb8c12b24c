"""The R runtime interface client (runtime/): its testthat suite, and the real bootstrap run as
a local process against the project's Runtime API emulator.

Needs R on the host (Rscript, with jsonlite and testthat); skipped only when Rscript is missing.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from rlambda.local.runtime_api import ProcessRuntime, RuntimeApiServer

REPO = Path(__file__).resolve().parents[2]
RUNTIME = REPO / "runtime"
BOOTSTRAP = RUNTIME / "bootstrap"
HANDLERS = Path(__file__).resolve().parents[1] / "r_handlers"
FIXTURES = RUNTIME / "tests" / "testthat" / "fixtures"

pytestmark = [
    pytest.mark.r,
    pytest.mark.skipif(shutil.which("Rscript") is None, reason="needs R (Rscript)"),
]


def test_testthat_suite_passes() -> None:
    # testthat::test_dir() stops (non-zero exit) on any failure; the reporter's summary is
    # checked too, so a suite that silently ran nothing cannot pass.
    proc = subprocess.run(
        ["Rscript", "-e", 'testthat::test_dir("runtime/tests/testthat", reporter = "summary")'],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert "DONE" in output, output


# ---- end to end ------------------------------------------------------------------------


def copy_runtime(parent: Path) -> Path:
    """runtime/ copied into `parent`, without what `bootstrap --write-r-env` writes."""
    copy = parent / "runtime"
    shutil.copytree(RUNTIME, copy, ignore=shutil.ignore_patterns("r-env.sh", "runtime.rds"))
    return copy


@pytest.fixture(scope="module", params=["rscript", "direct"])
def bootstrap(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of runtime/, started through Rscript, or (after `bootstrap --write-r-env`, as
    the image build does) by exec'ing R's binary directly."""
    copy = copy_runtime(tmp_path_factory.mktemp(request.param))
    if request.param == "direct":
        subprocess.run([str(copy / "bootstrap"), "--write-r-env"], check=True, timeout=60)
        assert "RLAMBDA_R_BINARY=" in (copy / "r-env.sh").read_text()
    return copy / "bootstrap"


@contextlib.contextmanager
def runtime(
    handler: str,
    env: dict[str, str] | None = None,
    task_root: Path = HANDLERS,
    stdout: Path | None = None,
    timeout_s: float = 10,
    bootstrap: Path = BOOTSTRAP,
    **server_options: object,
) -> Iterator[RuntimeApiServer]:
    """The emulator running a bootstrap for `handler` (taken as the bootstrap's argument)."""
    with contextlib.ExitStack() as stack:
        out = stack.enter_context(stdout.open("wb")) if stdout else subprocess.DEVNULL
        process = ProcessRuntime(
            argv=[str(bootstrap), handler],
            env={"LAMBDA_TASK_ROOT": str(task_root), **(env or {})},
            cwd=str(task_root),
            stdout=out,
        )
        server = stack.enter_context(
            RuntimeApiServer(
                process,
                timeout_s=timeout_s,
                memory_mb=512,
                function_name="test",
                quiet=True,
                **server_options,  # type: ignore[arg-type]
            )
        )
        yield server


def ok_json(result):
    assert result.status_code == 200
    assert result.function_error is None, result.body
    return json.loads(result.body)


def error_of(result) -> dict:
    assert result.status_code == 200
    assert result.function_error == "Unhandled", result.body
    return json.loads(result.body)


def test_whole_event_and_keep_alive_across_many_invokes(bootstrap: Path) -> None:
    with runtime("basic.whole", bootstrap=bootstrap) as server:
        first = server.invoke(b'{"x": 1, "y": [1, 2, 3], "z": null}')
        assert ok_json(first) == {"got": {"x": 1, "y": [1, 2, 3], "z": None}, "n": 3}
        assert first.report.init_duration_ms is not None
        for i in range(20):
            result = server.invoke(json.dumps({"i": i}).encode())
            assert ok_json(result) == {"got": {"i": i}, "n": 1}
            assert result.report.init_duration_ms is None  # still the same warm runtime


def test_named_fields_are_unwrapped_and_unknown_fields_refused() -> None:
    with runtime("basic.fields") as server:
        assert ok_json(server.invoke(b'{"x": 1}')) == {"sum": 11}
        assert ok_json(server.invoke(b'{"x": 1, "y": 2}')) == {"sum": 3}
        error = error_of(server.invoke(b'{"x": 1, "nope": 2}'))
        assert error["errorType"] == "Runtime.InvalidEvent"
        assert "'nope'" in error["errorMessage"]
        assert ok_json(server.invoke(b'{"x": 5}')) == {"sum": 15}
    with runtime("basic.fields_dots") as server:
        assert ok_json(server.invoke(b'{"x": 1, "b": 2, "a": 3}')) == {"x": 1, "extra": ["a", "b"]}


def test_raw_event_handler_never_loads_jsonlite(bootstrap: Path) -> None:
    with runtime("basic.raw", bootstrap=bootstrap) as server:
        result = server.invoke(b'{"not": "parsed"}')
        assert result.function_error is None
        # One string goes out as a JSON string, as AWS's runtime clients send it.
        assert result.content_type == "application/json"
        assert json.loads(result.body) == 'raw:{"not": "parsed"}'
    with runtime("basic.loaded", bootstrap=bootstrap) as server:
        # No JSON in, a string out: R has loaded nothing but base (not even the JIT's compiler).
        assert server.invoke(b"{}").body == b'"base"'


def test_the_saved_runtime_is_loaded_until_an_r_file_changes(tmp_path: Path) -> None:
    """bootstrap --write-r-env saves the sourced runtime as runtime.rds, which main.R loads
    instead of sourcing R/, unless an R file (or R/ itself) is newer than it."""
    copy = copy_runtime(tmp_path)
    marker = copy / "R" / "zz_marker.R"
    marker.write_text("rlambda_marker <- TRUE\n")
    subprocess.run([str(copy / "bootstrap"), "--write-r-env"], check=True, timeout=60)
    saved = (copy / "runtime.rds").stat().st_mtime

    def marker_seen() -> bool:
        with runtime("basic.marker", bootstrap=copy / "bootstrap") as server:
            return ok_json(server.invoke(b"{}"))

    # From here on only runtime.rds defines the marker: emptied, the file keeps its old time.
    marker.write_text("\n")
    os.utime(marker, (saved - 10, saved - 10))
    assert marker_seen() is True
    os.utime(copy / "R" / "loop.R", (saved + 10, saved + 10))  # as an edit would
    assert marker_seen() is False
    os.utime(copy / "R" / "loop.R", (saved - 10, saved - 10))
    assert marker_seen() is True
    marker.unlink()  # a file removed: R/ itself is newer
    assert marker_seen() is False


def test_context_and_trace_id_per_invoke() -> None:
    with runtime("basic.with_context") as server:
        first = ok_json(server.invoke(b"{}", trace_id="Root=1-aaaa;Sampled=1"))
        second_result = server.invoke(b"{}", trace_id="Root=1-bbbb;Sampled=0")
        second = ok_json(second_result)
    assert first["trace_env"] == first["trace_id"] == "Root=1-aaaa;Sampled=1"
    assert second["trace_env"] == "Root=1-bbbb;Sampled=0"
    assert second["request_id"] == second_result.request_id
    assert second["function_name"] == "test"
    assert second["memory"] == 512
    assert second["remaining_ok"] is True
    assert second["arn"].endswith(":function:test")
    assert second["log_group"] == "/aws/lambda/test"


def test_client_context_and_identity_reach_the_handler(tmp_path: Path) -> None:
    (tmp_path / "ctx.R").write_text(
        "h <- function(context) list(cc = context$client_context, id = context$identity)\n"
    )
    with runtime("ctx.h", task_root=tmp_path) as server:
        result = server.invoke(
            b"{}",
            client_context='{"custom": {"k": "v"}}',
            cognito_identity='{"cognitoIdentityId": "i"}',
        )
    assert ok_json(result) == {"cc": {"custom": {"k": "v"}}, "id": {"cognitoIdentityId": "i"}}


def test_results_data_frames_null_and_lazily_attached_stats(bootstrap: Path) -> None:
    with runtime("basic.frame", bootstrap=bootstrap) as server:
        assert ok_json(server.invoke(b"{}")) == [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]
    with runtime("basic.nothing", bootstrap=bootstrap) as server:
        assert server.invoke(b"{}").body == b"null"
    with runtime("basic.uses_stats", bootstrap=bootstrap) as server:
        # median() comes from stats, which the bootstrap does not load: it is attached lazily.
        assert ok_json(server.invoke(b'{"values": [5, 1, 3]}')) == 3


def test_handler_error_is_reported_and_the_loop_survives() -> None:
    with runtime("basic.fails") as server:
        error = error_of(server.invoke(b'{"v": 7}'))
        assert error["errorType"] == "simpleError"
        assert error["errorMessage"] == "boom: 7"
        assert error["stackTrace"][0] == "fails(event = event)"
        assert error["stackTrace"][1] == "inner(event$v) at basic.R#28"
        assert error["stackTrace"][-1] == 'stop("boom: ", v) at basic.R#27'
        again = error_of(server.invoke(b'{"v": 8}'))
        assert again["errorMessage"] == "boom: 8"
        assert again["stackTrace"] == error["stackTrace"]
    with runtime("basic.custom_error") as server:
        error = error_of(server.invoke(b"{}"))
        assert (error["errorType"], error["errorMessage"]) == ("validationError", "bad input")


def test_warnings_are_logged_not_fatal_and_json_logs(tmp_path: Path) -> None:
    log = tmp_path / "stdout.log"
    env = {"AWS_LAMBDA_LOG_FORMAT": "JSON"}
    with runtime("basic.warns", env=env, stdout=log) as server:
        result = server.invoke(b"{}")
        assert result.function_error is None
        assert result.body == b'"still fine"'
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    warning = [line for line in lines if line["level"] == "WARN"]
    assert len(warning) == 1, lines
    assert warning[0]["message"] == "Warning in warns(event = event): careful"
    assert warning[0]["requestId"] == result.request_id
    assert warning[0]["timestamp"].endswith("Z")


def test_error_log_line_in_json_mode(tmp_path: Path) -> None:
    log = tmp_path / "stdout.log"
    with runtime("basic.fails", env={"AWS_LAMBDA_LOG_FORMAT": "JSON"}, stdout=log) as server:
        result = server.invoke(b'{"v": 1}')
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    (error,) = [line for line in lines if line["level"] == "ERROR"]
    assert error["errorType"] == "simpleError"
    assert error["requestId"] == result.request_id
    assert error["stackTrace"][0] == "fails(event = event)"


def test_quit_in_a_handler_is_reported_as_an_exit_error_then_reinitialised(
    bootstrap: Path,
) -> None:
    with runtime("basic.quits", bootstrap=bootstrap) as server:
        result = server.invoke(b"{}")
        error = error_of(result)
        assert error["errorType"] == "Runtime.ExitError"
        assert "status 3" in error["errorMessage"]
        # The runtime ended: the next invoke is a cold start again.
        assert server.invoke(b"{}").report.init_duration_ms is not None


def test_oversized_result_is_an_error_and_the_loop_survives(tmp_path: Path) -> None:
    (tmp_path / "size.R").write_text("h <- function(n) text_response(strrep('x', n))\n")
    with runtime("size.h", task_root=tmp_path) as server:
        error = error_of(server.invoke(b'{"n": 7340032}'))
        assert error["errorType"] == "Function.ResponseSizeTooLarge"
        assert "7340032 bytes" in error["errorMessage"]
        assert server.invoke(b'{"n": 3}').body == b"xxx"
        big = server.invoke(b'{"n": 6291456}')
        assert big.function_error is None
        assert len(big.body) == 6291456


@pytest.mark.parametrize(
    ("files", "handler", "error_type", "message"),
    [
        ({}, "missing.main", "Runtime.ImportModuleError", "no file missing.R or missing.r"),
        (
            {"app.R": "other <- function() 1\n"},
            "app.main",
            "Runtime.HandlerNotFound",
            "defines no function 'main'",
        ),
        (
            {"app.R": "main <- function(event) {\n  1 +\n}\n"},
            "app.main",
            "Runtime.UserCodeSyntaxError",
            "unexpected '}'",
        ),
        (
            {"app.R": "stop('no config file')\nmain <- function() 1\n"},
            "app.main",
            "Runtime.ImportModuleError",
            "no config file",
        ),
        ({}, "", "Runtime.MalformedHandlerName", "no handler given"),
    ],
)
def test_init_errors_carry_the_r_message(
    tmp_path: Path, files: dict[str, str], handler: str, error_type: str, message: str
) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with runtime(handler, task_root=tmp_path) as server:
        result = server.invoke(b"{}")
        error = error_of(result)
        assert error["errorType"] == error_type
        assert message in error["errorMessage"]
        assert isinstance(error["stackTrace"], list)
        assert result.report.status == "error"
        assert result.report.error_type == error_type
        # Every invoke retries init and fails the same way.
        assert error_of(server.invoke(b"{}"))["errorType"] == error_type


def test_http_event_request_and_response() -> None:
    event = json.loads((FIXTURES / "function-url.json").read_text())
    with runtime("basic.http") as server:
        doc = ok_json(server.invoke(json.dumps(event).encode()))
        assert doc["statusCode"] == 201
        assert doc["headers"] == {"X-Test": "yes", "Content-Type": "application/json"}
        assert doc["cookies"] == ["a=1"]
        assert doc["isBase64Encoded"] is False
        assert json.loads(doc["body"]) == {"method": "GET", "path": "/hello", "body": "h\u00e9llo"}
        rest = json.loads((FIXTURES / "apigw-rest-v1.json").read_text())
        doc = ok_json(server.invoke(json.dumps(rest).encode()))
        assert doc["multiValueHeaders"] == {"Set-Cookie": ["a=1"]}
        assert json.loads(doc["body"])["body"] == rest["body"]
        error = error_of(server.invoke(b'{"httpMethod": "GET"}'))
        assert error["errorType"] == "Runtime.InvalidEvent"


def test_binary_http_response(tmp_path: Path) -> None:
    (tmp_path / "bin.R").write_text("h <- function(request) http_response(rev(request$body_raw))\n")
    event = json.loads((FIXTURES / "apigw-http-v2.json").read_text())
    with runtime("bin.h", task_root=tmp_path) as server:
        doc = ok_json(server.invoke(json.dumps(event).encode()))
    assert doc["isBase64Encoded"] is True
    assert base64.b64decode(doc["body"]) == bytes([255, 2, 1, 0])


def test_streamed_response_and_error_mid_stream(tmp_path: Path) -> None:
    with runtime("basic.streams") as server:
        result = server.invoke(b"{}")
        assert result.function_error is None
        assert result.body == b"hello world"
    (tmp_path / "s.R").write_text(
        "h <- function(event, stream) {\n  stream$write('partial')\n  stop('mid-stream')\n}\n"
    )
    with runtime("s.h", task_root=tmp_path) as server:
        error = error_of(server.invoke(b"{}"))
        assert (error["errorType"], error["errorMessage"]) == ("simpleError", "mid-stream")
        assert server.invoke(b"{}").function_error == "Unhandled"  # still serving


# ---- exit status after an init error, against a minimal Runtime API ----------------------


class _InitErrorOnly(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    posted: list[tuple[str, dict[str, str], bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.posted.append((self.path, dict(self.headers), body))  # type: ignore[attr-defined]
        self.send_response(202)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def do_GET(self) -> None:  # an init that succeeded would poll next: never answer it well
        self.send_response(500)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_init_error_posts_once_and_exits_non_zero(tmp_path: Path, bootstrap: Path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _InitErrorOnly)
    server.posted = []  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        host, port = server.server_address[:2]
        env = {
            "PATH": os.environ["PATH"],
            "AWS_LAMBDA_RUNTIME_API": f"{host}:{port}",
            "LAMBDA_TASK_ROOT": str(tmp_path),
        }
        proc = subprocess.run(
            [str(bootstrap), "absent.main"], env=env, capture_output=True, timeout=60
        )
    finally:
        server.shutdown()
        server.server_close()
    assert proc.returncode == 1, proc.stdout + proc.stderr
    posted = server.posted  # type: ignore[attr-defined]
    assert [path for path, _, _ in posted] == ["/2018-06-01/runtime/init/error"]
    _, headers, body = posted[0]
    assert headers["Lambda-Runtime-Function-Error-Type"] == "Runtime.ImportModuleError"
    assert json.loads(body)["errorType"] == "Runtime.ImportModuleError"


def test_bootstrap_reads_handler_from_environment_when_no_argument() -> None:
    process = ProcessRuntime(
        argv=[str(BOOTSTRAP)],
        env={"LAMBDA_TASK_ROOT": str(HANDLERS), "_HANDLER": "basic.nothing"},
        cwd=str(HANDLERS),
        stdout=subprocess.DEVNULL,
    )
    with RuntimeApiServer(process, timeout_s=10, quiet=True) as server:
        assert server.invoke(b"{}").body == b"null"


def test_runtime_works_without_a_writable_tmpdir(tmp_path: Path) -> None:
    # The state file for exit reports is best effort: no writable TMPDIR, no reports, no harm.
    with runtime("basic.whole", env={"TMPDIR": str(tmp_path / "absent")}) as server:
        assert ok_json(server.invoke(b'{"a": 1}')) == {"got": {"a": 1}, "n": 1}
        assert ok_json(server.invoke(b"[]")) == {"got": [], "n": 0}


@pytest.mark.parametrize(
    ("gc_every", "collected"), [("1", [True, True]), ("2", [False, True]), ("0", [False, False])]
)
def test_full_collection_between_invokes(gc_every: str, collected: list[bool]) -> None:
    # gc_probe's first call leaves an object in R's oldest generation; only a full collection
    # frees it (and runs its finalizer). The loop does one after every RLAMBDA_GC_EVERY-th
    # invoke, so the probe sees it after invoke 1, 2 or never.
    seen = []
    with runtime("basic.gc_probe", env={"RLAMBDA_GC_EVERY": gc_every}) as server:
        assert ok_json(server.invoke(b'{"arm": true}')) == {"collected": False}
        for _ in range(2):
            seen.append(ok_json(server.invoke(b"{}"))["collected"])
    assert seen == collected


def test_handler_code_is_jit_compiled_when_asked(tmp_path: Path, bootstrap: Path) -> None:
    # R's JIT compiles a closure on its second call (and the closures it makes with it).
    (tmp_path / "jit.R").write_text(
        "h <- function() {\n"
        "  f <- function(n) { s <- 0; for (i in seq_len(n)) s <- s + i; s }\n"
        "  f(10)\n"
        "  list(compiled = typeof(.Internal(bodyCode(f))) == 'bytecode',\n"
        "       jit = compiler::enableJIT(-1))\n"
        "}\n"
    )
    with runtime("jit.h", task_root=tmp_path, env={"R_ENABLE_JIT": "3"}, bootstrap=bootstrap) as s:
        s.invoke(b"{}")
        assert ok_json(s.invoke(b"{}")) == {"compiled": True, "jit": 3}
    with runtime("jit.h", task_root=tmp_path, bootstrap=bootstrap) as s:
        s.invoke(b"{}")
        assert ok_json(s.invoke(b"{}")) == {"compiled": False, "jit": 0}


def test_sigterm_reaches_r(bootstrap: Path) -> None:
    """Lambda's SIGTERM at shutdown goes to the bootstrap; R, its child, must get it too."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        env = {
            "PATH": os.environ["PATH"],
            "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{port}",
            "LAMBDA_TASK_ROOT": str(HANDLERS),
        }
        proc = subprocess.Popen([str(bootstrap), "basic.raw"], env=env, stderr=subprocess.DEVNULL)
        try:
            listener.settimeout(30)
            conn, _ = listener.accept()  # R is up and long-polling GET next (never answered)
            with conn:
                children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
                assert len(children) == 1
                r_pid = int(children[0])
                assert "R" in Path(f"/proc/{r_pid}/cmdline").read_bytes().decode()
                proc.send_signal(signal.SIGTERM)
                assert proc.wait(timeout=10) == 128 + signal.SIGTERM
                deadline = time.monotonic() + 5
                while Path(f"/proc/{r_pid}").exists() and time.monotonic() < deadline:
                    time.sleep(0.05)
                assert not Path(f"/proc/{r_pid}").exists()
        finally:
            if proc.poll() is None:
                proc.kill()


def test_streamed_http_response_prelude(tmp_path: Path) -> None:
    (tmp_path / "h.R").write_text(
        "h <- function(stream) {\n"
        "  stream$start_http(201L, headers = list('X-A' = 'b'), cookies = 'c=1')\n"
        "  stream$write('body')\n"
        "  NULL\n"
        "}\n"
    )
    with runtime("h.h", task_root=tmp_path) as server:
        result = server.invoke(b"{}")
    assert result.function_error is None
    assert result.content_type == "application/vnd.awslambda.http-integration-response"
    prelude, body = result.body.split(b"\0" * 8)
    assert json.loads(prelude) == {"statusCode": 201, "headers": {"X-A": "b"}, "cookies": ["c=1"]}
    assert body == b"body"


@pytest.mark.parametrize("log_format", ["TEXT", "JSON"])
def test_bytes_that_are_not_utf8_never_end_the_runtime(tmp_path: Path, log_format: str) -> None:
    # A caller can send any bytes (a base64 body that is not UTF-8); the handler's own error
    # must reach it, and the runtime must stay warm.
    log = tmp_path / "stdout.log"
    env = {"AWS_LAMBDA_LOG_FORMAT": log_format}
    with runtime("basic.bad_bytes", env=env, stdout=log) as server:
        error = error_of(server.invoke(b"a\xff\xfeb"))
        again = server.invoke(b"x\xffy")
    assert (error["errorType"], error["errorMessage"]) == (
        "simpleError",
        "cannot parse: a<ff><fe>b",
    )
    assert again.report.init_duration_ms is None  # no cold start: R lived
    assert json.loads(again.body)["errorMessage"] == "cannot parse: x<ff>y"
    text = log.read_text(encoding="utf-8")  # every line is valid UTF-8
    assert "odd input: a<ff><fe>b" in text and "got a<ff><fe>b" in text
    if log_format == "JSON":
        assert all(json.loads(line) for line in text.splitlines() if line.strip())
