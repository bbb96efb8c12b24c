"""Lambda Managed Instances: with AWS_LAMBDA_MAX_CONCURRENCY=N the R runtime serves N invokes at
once (forked workers, each with its own GET /next loop), logs JSON lines with their requestId,
and reports and replaces a worker that dies.

The project's emulator serves one invoke at a time, as Lambda does outside Managed Instances, so
this runs the real bootstrap against a minimal Runtime API that hands out events to as many
pollers as ask. Needs R on the host; AWS's RIE in its managed-instances mode judges the same
behaviour in the image tests.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

RUNTIME = Path(__file__).resolve().parents[2] / "runtime"

pytestmark = [
    pytest.mark.r,
    pytest.mark.skipif(shutil.which("Rscript") is None, reason="needs R (Rscript)"),
]

HANDLERS = """
cat("loading app.R\\n")
slow <- function(event) {
  if (isTRUE(event$quit)) quit(save = "no", status = 4L)
  Sys.sleep(event$sleep)
  log_info("slept ", event$sleep)
  print("printed")
  list(pid = Sys.getpid())
}
"""


class ConcurrentApi(ThreadingHTTPServer):
    """Queued events go to whichever GET /next is waiting; answers are kept by request id."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.events: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.answers: dict[str, tuple[str, dict]] = {}
        self.answered = threading.Condition()
        self.polling = 0  # GET /next calls waiting right now

    def submit(self, event: dict) -> str:
        request_id = str(uuid.uuid4())
        self.events.put((request_id, json.dumps(event).encode()))
        return request_id

    def wait(self, ids: list[str], timeout: float) -> dict[str, tuple[str, dict]]:
        deadline = time.monotonic() + timeout
        with self.answered:
            while not all(i in self.answers for i in ids):
                left = deadline - time.monotonic()
                assert left > 0, f"answered {len(self.answers)} of {len(ids)}"
                self.answered.wait(left)
            return {i: self.answers[i] for i in ids}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ConcurrentApi

    def do_GET(self) -> None:
        with self.server.answered:
            self.server.polling += 1
            self.server.answered.notify_all()
        request_id, body = self.server.events.get()
        with self.server.answered:
            self.server.polling -= 1
        self.send_response(200)
        self.send_header("Lambda-Runtime-Aws-Request-Id", request_id)
        self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 60_000))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        parts = self.path.split("/")  # /2018-06-01/runtime/invocation/<id>/<kind>
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()
        with self.server.answered:
            self.server.answers[parts[-2]] = (parts[-1], json.loads(body))
            self.server.answered.notify_all()

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def managed_instance(
    tmp_path: Path, workers: int
) -> Iterator[tuple[ConcurrentApi, Path, subprocess.Popen[bytes]]]:
    (tmp_path / "app.R").write_text(HANDLERS)
    log = tmp_path / "stdout.log"
    api = ConcurrentApi()
    threading.Thread(target=api.serve_forever, daemon=True).start()
    host, port = api.server_address[:2]
    env = {
        "PATH": os.environ["PATH"],
        "AWS_LAMBDA_RUNTIME_API": f"{host}:{port}",
        "LAMBDA_TASK_ROOT": str(tmp_path),
        "AWS_LAMBDA_MAX_CONCURRENCY": str(workers),
        "TMPDIR": str(tmp_path),
        "LOGLEVEL": os.environ.get("LOGLEVEL", ""),
    }
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(RUNTIME / "bootstrap"), "app.slow"], env=env, stdout=out, start_new_session=True
        )
    try:
        yield api, log, proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, 9)  # the bootstrap, the supervisor and its workers
        proc.wait(timeout=10)
        api.shutdown()
        api.server_close()


def wait_for_pollers(api: ConcurrentApi, n: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    with api.answered:
        while api.polling < n:
            assert time.monotonic() < deadline, f"{api.polling} of {n} workers polling"
            api.answered.wait(0.2)


def test_n_workers_serve_n_invokes_at_once_with_json_logs(tmp_path: Path) -> None:
    with managed_instance(tmp_path, workers=4) as (api, log, _):
        wait_for_pollers(api, 4)  # init happened once, then four loops asked for work
        started = time.monotonic()
        ids = [api.submit({"sleep": 1}) for _ in range(4)]
        answers = api.wait(ids, timeout=10)
        elapsed = time.monotonic() - started
    assert all(kind == "response" for kind, _ in answers.values()), answers
    assert len({body["pid"] for _, body in answers.values()}) == 4
    assert elapsed < 2.5, f"4 invokes of 1 s took {elapsed:.1f} s: not served at once"
    # Every line is JSON, print() output included, each with the invoke's requestId.
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    slept = [line for line in lines if line.get("message") == "slept 1"]
    assert sorted(line["requestId"] for line in slept) == sorted(ids)
    assert any(line["message"] == "loading app.R" for line in lines)  # printed at init
    printed = [line for line in lines if line.get("message") == '[1] "printed"']
    assert sorted(line["requestId"] for line in printed) == sorted(ids)
    assert all(line["level"] == "INFO" and line["timestamp"].endswith("Z") for line in slept)


def test_a_worker_that_dies_is_reported_and_replaced(tmp_path: Path) -> None:
    with managed_instance(tmp_path, workers=2) as (api, log, _):
        wait_for_pollers(api, 2)
        quitting = api.submit({"quit": True})
        [(kind, error)] = api.wait([quitting], timeout=10).values()
        assert kind == "error"
        assert error["errorType"] == "Runtime.ExitError"
        assert "while handling the invoke" in error["errorMessage"]
        wait_for_pollers(api, 2)  # a new worker took its place
        ids = [api.submit({"sleep": 1}) for _ in range(2)]
        started = time.monotonic()
        answers = api.wait(ids, timeout=10)
        assert time.monotonic() - started < 2.5
    assert all(kind == "response" for kind, _ in answers.values())
    [report] = [
        json.loads(line)
        for line in log.read_text().splitlines()
        if line.startswith("{") and "Runtime.ExitError" in line
    ]
    assert report["requestId"] == quitting and report["level"] == "ERROR"


def session_processes(sid: int) -> list[int]:
    """The processes left in session `sid` (the bootstrap's: start_new_session)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            # Fields after the command's closing parenthesis: state ppid pgrp session ...
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[3]) == sid and fields[0] != "Z":
                pids.append(int(stat.parent.name))
    return pids


def test_sigterm_ends_the_supervisor_and_every_worker(tmp_path: Path) -> None:
    """Lambda sends SIGTERM before it shuts an environment down: no worker is left polling."""
    with managed_instance(tmp_path, workers=3) as (api, _, proc):
        wait_for_pollers(api, 3)
        assert len(session_processes(proc.pid)) >= 5  # the shell, R, three workers
        proc.send_signal(15)
        assert proc.wait(timeout=10) == 143  # R's status: ended by SIGTERM
        deadline = time.monotonic() + 5
        while (left := session_processes(proc.pid)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert left == [], f"still running after SIGTERM: {left}"
