"""The R runtime's cold start, warm overhead and memory over many invokes, as Lambda runs it.

Every figure goes through the project's Runtime API emulator with DockerRuntime (the images
run as Lambda runs them: read-only, memory-limited, a fresh container per cold start):

- init, as Lambda defines it (runtime start until its first GET /next), median of --cold
  cold starts, for (a) the hello image (a handler taking `raw_event`, returning a constant
  document; base R only) and (b) the json-api image (a handler taking `event`: jsonlite is
  loaded at init), invoked with recipes/json-api/events/01-total.json's API Gateway event.
  "start call returned -> first GET next" is the runtime's own part (DockerRuntime.start
  returns once the container's process runs); Init Duration adds the engine's create+start.
- warm overhead: round trips of the hello function against the same emulator's floor, AWS's
  awslambdaric Python client with an echo handler (the image bench/local_lambda.py builds),
  over the same number of sequential invokes; and invokes per second.
- memory over --invokes sequential invokes (10,000 by default): every invoke must succeed;
  the runtime process's RSS (VmRSS of the largest process in the container, read from the
  host's /proc: R for the R images, python3 for the floor) after invoke 100 and the last, and
  the container's cgroup peak (what Lambda reports as Max Memory Used; it counts page cache
  too) at the same points. The hello function runs twice: as built, and with
  RLAMBDA_GC_EVERY=0 (no full collection between invokes, R's own schedule only).
- the hello function at --memory 128, Lambda's smallest size.

    .venv/bin/python bench/r_runtime.py [--cold 20] [--invokes 10000]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import docker
from bench.local_lambda import EVENT as ECHO_EVENT
from bench.local_lambda import TimedRuntime, build_python_ric_image, percentile
from rlambda.local.container_handle import ContainerHandle
from rlambda.local.docker_launcher import DockerRuntime
from rlambda.local.runtime_api import RuntimeApiServer
from tests.conftest import DEBIAN_BASE

REPO = Path(__file__).resolve().parent.parent
HELLO = "r-lambda:r-4.5.0-hello-debian-x86_64"
JSON_API = "r-lambda:r-4.5.0-json-api-debian-x86_64"
HELLO_EVENT = json.dumps({"name": "bench"}).encode()
API_EVENT_FILE = REPO / "recipes" / "json-api" / "events" / "01-total.json"
RSS_FIRST_AT = 100  # the baseline: after the first GC cycles, not the first invoke


class TrackedRuntime(DockerRuntime):
    """DockerRuntime that keeps the handles it starts, so /proc of the container's processes
    can be read from the host."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.handles: list[ContainerHandle] = []

    def start(self, env: Mapping[str, str]) -> ContainerHandle:
        handle = super().start(env)
        self.handles.append(handle)
        return handle


def process_tree(pid: int) -> list[int]:
    """`pid` and every process below it, from /proc."""
    found, stack = [], [pid]
    while stack:
        current = stack.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                stack.extend(int(c) for c in (task / "children").read_text().split())
            except OSError:
                continue
    return found


def _status_kb(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def runtime_rss(handle: ContainerHandle) -> tuple[str, float]:
    """(process name, VmRSS MB) of the largest process in the container: the runtime itself
    (the bootstrap shell that waits on R is ~1 MB)."""
    if handle.pid is None:
        raise SystemExit("the container has no pid: cannot read its processes")
    pids = process_tree(handle.pid)
    biggest = max(pids, key=lambda p: _status_kb(p, "VmRSS"))
    name = Path(f"/proc/{biggest}/comm").read_text().strip()
    return name, _status_kb(biggest, "VmRSS") / 1024


def api_event() -> bytes:
    return json.dumps(json.loads(API_EVENT_FILE.read_text())["event"]).encode()


def cold_starts(image: str, event: bytes, count: int, memory_mb: int) -> dict[str, list[float]]:
    runtime = TimedRuntime(image, memory_mb=memory_mb)
    init_ms: list[float] = []
    first_ms: list[float] = []
    for _ in range(count):
        with RuntimeApiServer(runtime, memory_mb=memory_mb, timeout_s=30, quiet=True) as server:
            result = server.invoke(event)
        report = result.report
        if result.function_error or report is None or report.init_duration_ms is None:
            raise SystemExit(f"{image}: cold start failed: {result.body[:300]!r}")
        init_ms.append(report.init_duration_ms)
        first_ms.append(report.duration_ms)
    return {
        "init": init_ms,
        "engine": runtime.start_ms,
        "runtime": [i - s for i, s in zip(init_ms, runtime.start_ms, strict=True)],
        "first": first_ms,
    }


@dataclass
class WarmRun:
    image: str
    label: str
    round_trips_ms: list[float] = field(default_factory=list)
    wall_s: float = 0.0
    failures: int = 0
    process: str = ""
    rss_mb: dict[int, float] = field(default_factory=dict)
    cgroup_mb: dict[int, int | None] = field(default_factory=dict)


def warm_invokes(
    image: str,
    event: bytes,
    count: int,
    memory_mb: int,
    label: str,
    env: Mapping[str, str] | None = None,
) -> WarmRun:
    """`count` sequential invokes after the cold one, each timed as RuntimeApiServer.invoke,
    with the runtime's RSS and the cgroup peak read after invoke 100 and the last."""
    run = WarmRun(image, label)
    runtime = TrackedRuntime(image, memory_mb=memory_mb, env=env)
    marks = {min(RSS_FIRST_AT, count), count}
    with RuntimeApiServer(runtime, memory_mb=memory_mb, timeout_s=30, quiet=True) as server:
        server.invoke(event)  # the cold start, not counted
        handle = runtime.handles[-1]
        began_all = time.perf_counter()
        for i in range(1, count + 1):
            began = time.perf_counter()
            result = server.invoke(event)
            run.round_trips_ms.append((time.perf_counter() - began) * 1000)
            if result.function_error or result.status_code != 200:
                run.failures += 1
            if i in marks:
                run.process, run.rss_mb[i] = runtime_rss(handle)
                run.cgroup_mb[i] = result.report.max_memory_mb if result.report else None
        run.wall_s = time.perf_counter() - began_all
        if len(runtime.handles) != 1:
            run.failures += 1  # the runtime died and the emulator started another one
    return run


def stats_cells(samples: list[float]) -> str:
    ordered = sorted(samples)
    return (
        f"{len(ordered)} | {statistics.median(ordered):.1f} | {percentile(ordered, 0.99):.1f} | "
        f"{statistics.fmean(ordered):.1f}"
    )


def mb(value: float | int | None) -> str:
    return "-" if value is None else f"{value:.1f}" if isinstance(value, float) else str(value)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cold", type=int, default=20, help="cold starts per image (20)")
    parser.add_argument("--invokes", type=int, default=10000, help="warm invokes (10000)")
    parser.add_argument("--memory", type=int, default=512, help="function memory MB (512)")
    parser.add_argument("--small-invokes", type=int, default=500, help="invokes at 128 MB (500)")
    args = parser.parse_args(argv)
    if args.invokes < RSS_FIRST_AT:
        parser.error(f"--invokes must be at least {RSS_FIRST_AT}")

    client = docker.from_env()
    for image in (DEBIAN_BASE, HELLO, JSON_API):
        try:
            client.images.get(image)
        except docker.errors.ImageNotFound:
            print(f"{image} is missing: build it first (build.py / scripts)", file=sys.stderr)
            return 2
    with tempfile.TemporaryDirectory() as work:
        floor_image = build_python_ric_image(client, Path(work))

    began = time.perf_counter()
    cold = {
        "hello (`raw_event`, base R)": cold_starts(HELLO, HELLO_EVENT, args.cold, args.memory),
        "json-api (`event`, jsonlite at init)": cold_starts(
            JSON_API, api_event(), args.cold, args.memory
        ),
    }
    hello = warm_invokes(HELLO, HELLO_EVENT, args.invokes, args.memory, "hello")
    hello_nogc = warm_invokes(
        HELLO,
        HELLO_EVENT,
        args.invokes,
        args.memory,
        "hello, RLAMBDA_GC_EVERY=0",
        env={"RLAMBDA_GC_EVERY": "0"},
    )
    floor = warm_invokes(floor_image, ECHO_EVENT, args.invokes, args.memory, "awslambdaric echo")
    small = warm_invokes(HELLO, HELLO_EVENT, args.small_invokes, 128, "hello at 128 MB")
    elapsed = time.perf_counter() - began

    engine = client.version()
    print(f"engine {engine['Version']} (API {engine['ApiVersion']}); {args.memory} MB unless noted")
    print(f"host {platform.node()}: {platform.platform()}, Python {platform.python_version()}")
    print(f"images: {HELLO}, {JSON_API}; floor: {floor_image}")
    print()
    print("| cold start (ms) | n | p50 | p99 | mean |")
    print("|---|---|---|---|---|")
    for name, c in cold.items():
        runtime_part = stats_cells(c["runtime"])
        print(f"| {name}: start call returned → first GET next (init) | {runtime_part} |")
        print(f"| {name}: Init Duration, incl. engine create+start | {stats_cells(c['init'])} |")
        print(f"| {name}: first invoke's Duration | {stats_cells(c['first'])} |")
    print()
    print("| warm round trip, sequential (ms) | n | p50 | p99 | mean | invokes/s |")
    print("|---|---|---|---|---|---|")
    for run in (hello, floor):
        rate = len(run.round_trips_ms) / run.wall_s
        print(f"| {run.label} ({run.image}) | {stats_cells(run.round_trips_ms)} | {rate:.0f} |")
    h, f = sorted(hello.round_trips_ms), sorted(floor.round_trips_ms)
    print(
        f"| R runtime over the floor | | {statistics.median(h) - statistics.median(f):+.2f} | "
        f"{percentile(h, 0.99) - percentile(f, 0.99):+.2f} | "
        f"{statistics.fmean(h) - statistics.fmean(f):+.2f} | |"
    )
    print()
    first = RSS_FIRST_AT
    print(
        f"| memory over sequential invokes | invokes | failures | runtime RSS @{first} (MB) | "
        f"@last | growth | cgroup peak @{first} (MB) | @last |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for run in (hello, hello_nogc, floor, small):
        n = len(run.round_trips_ms)
        lo, hi = run.rss_mb[min(first, n)], run.rss_mb[n]
        print(
            f"| {run.label} [{run.process}] | {n} | {run.failures} | {lo:.1f} | {hi:.1f} | "
            f"{hi - lo:+.1f} | {mb(run.cgroup_mb[min(first, n)])} | {mb(run.cgroup_mb[n])} |"
        )
    print()
    print(
        "runtime RSS: VmRSS of the runtime process (R, python3) read from the host's /proc; cgroup "
        "peak: the container's memory high-water mark (Max Memory Used), page cache included."
    )
    print(f"run time {elapsed:.0f} s")
    print()
    command = " ".join(["bench/r_runtime.py", *argv])
    print(f"command: .venv/bin/python {command}")
    failed = hello.failures + hello_nogc.failures + floor.failures + small.failures
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
