"""SnapStart for real, as far as this machine allows: CRIU checkpoints the R runtime of an image
while it waits in GET /runtime/restore/next, and restores that one snapshot twice (issue 27).

    python -m bench.criu_snapstart --image IMAGE --criu-root DIR [--handler H] [--event FILE]

Opt-in, not in CI: it needs Docker, the capabilities below and Debian trixie's CRIU 4.1.1
unpacked in DIR (bench/criu_snapstart.sh says how; bookworm's 3.17 fails on this kernel). CRIU
runs in the container through trixie's own loader, so the image's glibc does not matter.

What it does: the container (bridge network, SYS_ADMIN, SYS_PTRACE, NET_ADMIN, SYS_TIME,
seccomp unconfined; --privileged is refused here) runs the image's bootstrap with
AWS_LAMBDA_INITIALIZATION_TYPE=snap-start and the handler bench/criu_snapcheck.R against a
small Runtime API served here. The handler's last before-snapshot hook marks the checkpoint;
the runtime's process tree is dumped there (the process ends), then restored twice, one after
the other. Each restored runtime goes on: GET /runtime/restore/next, its after-restore steps
(RNG re-seeded, fresh connection, tempdir()), then the event. Printed: init, dump, each restore
(CRIU's own wall time), restore to first answer, and both answers.

Where CRIU falls short here: Lambda snapshots while GET restore/next waits, but CRIU 4.1.1
cannot dump that call's TCP socket on this machine's kernel (6.18: getsockopt SO_PASSCRED and
SO_PASSSEC on an inet socket answer EOPNOTSUPP, and the dump stops: "Can't get 1:16 opt").
The last before-snapshot hook is the latest point with no socket open, so the checkpoint is
taken there: what follows it in the restored process is the runtime's whole restore path.

The Runtime API here is this script's, not the emulator's: the emulator owns its runtime's
process and cannot see it replaced by a restored copy.
"""

from __future__ import annotations

import argparse
import json
import queue
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

PREFIX = "/2018-06-01/runtime"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:f"
CAPS = ["SYS_ADMIN", "SYS_PTRACE", "NET_ADMIN", "SYS_TIME"]
CRIU = (
    "/opt/criu/usr/lib64/ld-linux-x86-64.so.2 --library-path /opt/criu/usr/lib/x86_64-linux-gnu"
    " /opt/criu/usr/sbin/criu"
)


class Api:
    """The Runtime API's side: restore/next (answered at once: the process asking is a restored
    one), next, response and error; one environment at a time."""

    def __init__(self) -> None:
        self.restored = queue.Queue()  # monotonic time of each later restore/next
        # One queue per restored environment: the previous one's GET next (sent with its
        # answer) still waits on its own, and must not take the next environment's event.
        self.generation = 0
        self.events: dict[int, queue.Queue[bytes]] = {}
        self.answers: queue.Queue[tuple[float, bytes]] = queue.Queue()
        self.restore_calls = 0

    def handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def send(self, status: int, body: bytes, headers: dict[str, str] | None = None):
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if self.path == f"{PREFIX}/restore/next":
                    api.restore_calls += 1
                    api.restored.put(time.monotonic())
                    self.send(200, b"")
                elif self.path == f"{PREFIX}/invocation/next":
                    event = api.events.setdefault(api.generation, queue.Queue()).get()
                    request_id = str(uuid.uuid4())
                    deadline = str(int((time.time() + 30) * 1000))
                    self.send(200, event, {
                        "Lambda-Runtime-Aws-Request-Id": request_id,
                        "Lambda-Runtime-Deadline-Ms": deadline,
                        "Lambda-Runtime-Invoked-Function-Arn": FUNCTION_ARN,
                        "Lambda-Runtime-Trace-Id": "Root=1-0-0",
                    })  # fmt: skip
                else:
                    self.send(404, b"{}")

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                api.answers.put((time.monotonic(), body))
                self.send(202, b'{"status":"OK"}')

        return Handler


def sh(container: str, script: str, timeout: float = 120) -> str:
    done = subprocess.run(
        ["docker", "exec", container, "sh", "-c", script],
        capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
    if done.returncode != 0:
        # CRIU's own account of a failed dump or restore is in its log.
        logs = subprocess.run(
            ["docker", "exec", container, "sh", "-c", "grep -h Error /snap/*.log | tail -5"],
            capture_output=True, text=True,
        ).stdout  # fmt: skip
        raise SystemExit(f"in the container: {script}\n{done.stdout}{done.stderr}{logs}")
    return done.stdout


def timed(container: str, script: str) -> float:
    started = time.monotonic()
    sh(container, script)
    return (time.monotonic() - started) * 1000


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image", required=True)
    parser.add_argument("--criu-root", type=Path, required=True)
    parser.add_argument("--handler", default="criu_snapcheck.handler")
    parser.add_argument("--event", type=Path, help="an event file ({'event': ...}) to serve")
    parser.add_argument("--mount", action="append", default=[], metavar="HOST:CONTAINER")
    parser.add_argument("--prime", metavar="PATH", help="RLAMBDA_SNAPSTART_PRIME in the image")
    args = parser.parse_args(argv)
    event = json.loads(args.event.read_text())["event"] if args.event else {}

    api = Api()
    server = ThreadingHTTPServer(("172.17.0.1", 0), api.handler())
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    address = f"172.17.0.1:{server.server_address[1]}"

    # --init: a PID 1 that reaps the dumped processes, whose PIDs the restores take again.
    run = ["docker", "run", "-d", "--rm", "--init", "--security-opt", "seccomp=unconfined",
           "--tmpfs", "/snap", "-v", f"{args.criu_root.resolve()}:/opt/criu:ro",
           "--entrypoint", "sleep"]  # fmt: skip
    for cap in CAPS:
        run += ["--cap-add", cap]
    check = Path(__file__).with_name("criu_snapcheck.R").resolve()
    for mount in [*args.mount, f"{check}:/var/task/criu_snapcheck.R"]:
        run += ["-v", f"{mount}:ro"]
    container = subprocess.run(
        [*run, args.image, "infinity"], check=True, capture_output=True, text=True
    ).stdout.strip()
    try:
        env = f"AWS_LAMBDA_RUNTIME_API={address} AWS_LAMBDA_INITIALIZATION_TYPE=snap-start"
        env += " LAMBDA_TASK_ROOT=/var/task AWS_LAMBDA_FUNCTION_NAME=f TMPDIR=/tmp"
        if args.prime:
            env += f" RLAMBDA_SNAPSTART_PRIME={args.prime}"
        started = time.monotonic()
        start = f"cd /var/task && {env} setsid /var/runtime/bootstrap '{args.handler}'"
        sh(container, f"{start} </dev/null >/tmp/runtime.out 2>&1 & echo $! > /tmp/runtime.pid")
        while sh(container, "test -e /tmp/checkpoint-here && echo y || true").strip() != "y":
            if time.monotonic() - started > 120:
                raise SystemExit("no checkpoint mark:\n" + sh(container, "cat /tmp/runtime.out"))
            time.sleep(0.05)
        init_ms = (time.monotonic() - started) * 1000
        print(f"init (bootstrap start to the checkpoint, ~50 ms polling): {init_ms:.0f} ms")
        pid = sh(container, "cat /tmp/runtime.pid").strip()
        dump_ms = timed(container, f"{CRIU} dump -t {pid} -D /snap -o dump.log")
        size = sh(container, "du -sh /snap | cut -f1").strip()
        # What `docker exec` itself costs, in every CRIU figure below.
        exec_ms = min(timed(container, "true") for _ in range(3))
        print(f"docker exec alone: {exec_ms:.0f} ms (included in the CRIU figures)")
        print(f"CRIU dump: {dump_ms:.0f} ms, {size} of images")
        # CRIU restores a regular file only at the size it had: keep /tmp as it was.
        sh(container, "tar -C /tmp -cf /snap/tmp.tar .")
        answers = []
        for n in (1, 2):
            sh(container, f"kill -9 -{pid} 2>/dev/null; tar -C /tmp -xf /snap/tmp.tar")
            api.generation = n
            api.events.setdefault(n, queue.Queue()).put(json.dumps(event).encode())
            began = time.monotonic()
            restore_ms = timed(
                container, f"{CRIU} restore -D /snap -o restore{n}.log -d && touch /tmp/restored"
            )
            try:
                restored_at = api.restored.get(timeout=30)
                answered_at, body = api.answers.get(timeout=30)
            except queue.Empty:
                raise SystemExit(
                    f"restore {n} answered nothing:\n" + sh(container, "tail -20 /tmp/runtime.out")
                ) from None
            answers.append(body)
            print(
                f"restore {n}: CRIU {restore_ms:.0f} ms; GET restore/next after"
                f" {(restored_at - began) * 1000:.0f} ms; first answer after"
                f" {(answered_at - began) * 1000:.0f} ms: {body.decode()[:200]}"
            )
        log = sh(container, "cat /tmp/runtime.out")
        print(
            "".join(line + "\n" for line in log.splitlines() if "SnapStart restore" in line), end=""
        )
        print(
            "the two answers differ" if answers[0] != answers[1] else "the two answers are the same"
        )
    finally:
        subprocess.run(["docker", "rm", "-f", container], capture_output=True)
        server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
