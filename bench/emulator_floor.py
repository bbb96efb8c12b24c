"""The emulator's own floor: round-trip time of warm invokes to an echo handler.

The runtime is AWS's Python runtime client (awslambdaric) with a one-line echo handler, so
what is measured is the emulator plus the thinnest real client: the least any image tested
through the emulator can cost per invoke. Two paths are timed: `RuntimeApiServer.invoke`
in-process, and the RIE-style HTTP route over one keep-alive connection.

    .venv/bin/python bench/emulator_floor.py [--invokes 500] [--payload-bytes 64]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rlambda.local.runtime_api import ProcessRuntime, RuntimeApiServer

ECHO = "def handler(event, context):\n    return event\n"


def percentile(sorted_ms: list[float], fraction: float) -> float:
    index = min(len(sorted_ms) - 1, max(0, round(fraction * len(sorted_ms)) - 1))
    return sorted_ms[index]


def timed(count: int, call: Callable[[], None]) -> tuple[list[float], float]:
    samples: list[float] = []
    wall_start = time.perf_counter()
    for _ in range(count):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000)
    return sorted(samples), time.perf_counter() - wall_start


def row(name: str, samples: list[float], wall_s: float) -> str:
    return (
        f"| {name} | {len(samples)} | {percentile(samples, 0.50):.3f} | "
        f"{percentile(samples, 0.99):.3f} | {statistics.fmean(samples):.3f} | "
        f"{len(samples) / wall_s:.0f} |"
    )


def http_invoker(server: RuntimeApiServer, payload: bytes) -> Callable[[], None]:
    host, port = server.runtime_api.split(":")
    conn = http.client.HTTPConnection(host, int(port))

    def call() -> None:
        conn.request("POST", "/2015-03-31/functions/function/invocations", body=payload)
        response = conn.getresponse()
        body = response.read()
        if response.status != 200 or body != payload:
            raise SystemExit(f"bad answer over HTTP: {response.status} {body[:80]!r}")

    return call


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--invokes", type=int, default=500, help="warm invokes per path")
    parser.add_argument("--warmup", type=int, default=50, help="untimed invokes first")
    parser.add_argument("--payload-bytes", type=int, default=64, help="event size (JSON)")
    args = parser.parse_args()
    payload = json.dumps("x" * max(0, args.payload_bytes - 2)).encode()

    with tempfile.TemporaryDirectory() as task_root:
        Path(task_root, "echo.py").write_text(ECHO)
        runtime = ProcessRuntime(
            [sys.executable, "-m", "awslambdaric", "echo.handler"], cwd=task_root
        )
        with RuntimeApiServer(runtime, timeout_s=30, quiet=True) as server:
            cold = server.invoke(payload)
            if cold.body != payload or cold.report is None:
                raise SystemExit(f"echo handler failed: {cold.body[:200]!r}")

            def in_process() -> None:
                if server.invoke(payload).body != payload:
                    raise SystemExit("bad answer in-process")

            over_http = http_invoker(server, payload)
            for call in (in_process, over_http):
                timed(args.warmup, call)
            local = timed(args.invokes, in_process)
            remote = timed(args.invokes, over_http)
            memory = server.invoke(payload).report

    print(
        f"Emulator floor: awslambdaric echo handler, {len(payload)}-byte event, "
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs\n"
    )
    print("| path | invokes | p50 ms | p99 ms | mean ms | invokes/s |")
    print("|---|---|---|---|---|---|")
    print(row("`RuntimeApiServer.invoke` (in-process)", *local))
    print(row("HTTP `POST /2015-03-31/functions/function/invocations`", *remote))
    init_ms = cold.report.init_duration_ms or 0.0
    max_mb = memory.max_memory_mb if memory else None
    print(
        f"\nCold start (process start to first `GET next`): {init_ms:.1f} ms; "
        f"Max Memory Used: {max_mb} MB"
    )
    print(
        f"\nReproduce: `.venv/bin/python bench/emulator_floor.py --invokes {args.invokes} "
        f"--payload-bytes {args.payload_bytes}`"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
