"""The R runtime's own per-invoke cost on the host: its real bootstrap against a bare Runtime API.

No container, no emulator logic: a Runtime API of a few lines (one keep-alive connection, raw
sockets) hands out the same small JSON event --invokes times and times each round trip, from
the event's last byte sent to the response's arrival. The handler is `function(event) event`.
Several runtime directories (--runtime, repeatable: another checkout's runtime/, e.g. from
`git worktree add`) run in turns, --rounds times, so that the machine's load falls on all
alike; bench/floor_bootstrap.py (Python's standard library) runs beside them as the floor, and
bench/floor_bootstrap.R (base R, no JSON) as R's own floor. Needs R on the host (Rscript).

    .venv/bin/python bench/runtime_loop.py [--runtime DIR ...] [--rounds 3] [--invokes 3000]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FLOOR = REPO / "bench" / "floor_bootstrap.py"
R_FLOOR = REPO / "bench" / "floor_bootstrap.R"
EVENT = json.dumps({"name": "bench", "values": [1, 2, 3], "nested": {"ok": True}}).encode()
ACCEPTED = (
    b"HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n"
    b'{"status":"OK"}'
)


def next_response() -> bytes:
    head = (
        "HTTP/1.1 200 OK\r\n"
        f"Lambda-Runtime-Aws-Request-Id: {uuid.uuid4()}\r\n"
        f"Lambda-Runtime-Deadline-Ms: {int(time.time() * 1000) + 60_000}\r\n"
        "Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:123456789012:function:f\r\n"
        "Lambda-Runtime-Trace-Id: Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=0\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(EVENT)}\r\n\r\n"
    )
    return head.encode() + EVENT


def serve(listener: socket.socket, invokes: int, rtts: list[float]) -> None:
    """Answer one runtime's requests until `invokes` responses came back."""
    conn, _ = listener.accept()
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buf, sent = b"", 0.0
    with conn:
        while len(rtts) < invokes:
            while b"\r\n\r\n" not in buf:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                buf += chunk
            head, _, buf = buf.partition(b"\r\n\r\n")
            lines = head.decode().split("\r\n")
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            while len(buf) < length:
                buf += conn.recv(65536)
            buf = buf[length:]
            if lines[0].startswith("GET "):
                sent = time.perf_counter()
                conn.sendall(next_response())
            else:
                rtts.append(time.perf_counter() - sent)
                conn.sendall(ACCEPTED)


def run_once(command: list[str], task_root: Path, invokes: int) -> tuple[list[float], float]:
    """Round trips (s) and invokes per second of one runtime process."""
    listener = socket.create_server(("127.0.0.1", 0))
    rtts: list[float] = []
    server = threading.Thread(target=serve, args=(listener, invokes, rtts), daemon=True)
    server.start()
    env = {
        "PATH": os.environ["PATH"],
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{listener.getsockname()[1]}",
        "LAMBDA_TASK_ROOT": str(task_root),
        "TMPDIR": str(task_root),
    }
    started = time.perf_counter()
    proc = subprocess.Popen(
        command,
        env=env,
        cwd=task_root,
        start_new_session=True,
        stdout=subprocess.DEVNULL,  # its log lines; and the end of the connection, at the end
        stderr=subprocess.DEVNULL,
    )
    server.join(timeout=600)
    elapsed = time.perf_counter() - started
    os.killpg(proc.pid, 9)  # the bootstrap and the R it started
    proc.wait()
    listener.close()
    if len(rtts) < invokes:
        raise SystemExit(f"{command[0]}: answered {len(rtts)} of {invokes} invokes")
    return rtts, invokes / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runtime", action="append", type=Path, help="a runtime/ directory")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--invokes", type=int, default=3000)
    args = parser.parse_args()
    runtimes = [r.resolve() for r in args.runtime or [REPO / "runtime"]]
    with tempfile.TemporaryDirectory() as tmp:
        task_root = Path(tmp)
        (task_root / "app.R").write_text("echo <- function(event) event\n")
        commands = {str(r): [str(r / "bootstrap"), "app.echo"] for r in runtimes}
        commands["floor (bench/floor_bootstrap.py)"] = [sys.executable, str(FLOOR)]
        # As the bootstrap runs R: base only, the JIT off.
        commands["R floor (bench/floor_bootstrap.R)"] = [
            "env",
            "R_ENABLE_JIT=0",
            "Rscript",
            "--no-init-file",
            "--default-packages=base",
            str(R_FLOOR),
        ]
        results: dict[str, list[tuple[float, float, float]]] = {name: [] for name in commands}
        for _ in range(args.rounds):
            for name, command in commands.items():
                rtts, rate = run_once(command, task_root, args.invokes)
                rtts.sort()
                p99 = rtts[int(len(rtts) * 0.99)]
                results[name].append((statistics.median(rtts) * 1000, p99 * 1000, rate))
    print(f"{args.invokes} invokes of a {len(EVENT)}-byte event, medians of {args.rounds} rounds\n")
    print("| runtime | round trip p50 (ms) | p99 (ms) | invokes/s (process start included) |")
    print("|---|---|---|---|")
    for name, rows in results.items():
        p50, p99, rate = (statistics.median(col) for col in zip(*rows, strict=True))
        print(f"| {name} | {p50:.3f} | {p99:.3f} | {rate:.0f} |")


if __name__ == "__main__":
    main()
