"""What each extra worker costs under Lambda Managed Instances, judged by AWS's own RIE.

With AWS_LAMBDA_MAX_CONCURRENCY=N the R runtime forks N workers after init (runtime/R/workers.R).
This runs a function image (FROM the given base with this checkout's runtime/, a handler taking
`event`, so jsonlite and methods are loaded at init and shared copy-on-write) under AWS's
Runtime Interface Emulator in its managed-instances mode, for each N in --workers:

- rounds of N concurrent invokes of a handler that sleeps 200 ms: the wall time of a round
  shows whether the N invokes were served at once (~0.2 s) or one after another (N x 0.2 s);
- then the container's memory (cgroup memory.current, what Lambda meters) and the R
  processes' summed PSS and per-worker private (USS) memory, read from the host's /proc.

"Per extra worker" is (memory at N - memory at 1) / (N - 1), which includes the supervisor
that N > 1 adds, and the same from the row before (two worker counts above 1), which does not.

AWS's RIE comes from the aws-sam-cli wheel (see /work/shared/ENVIRONMENT.md):
    pip download --no-deps aws-sam-cli==1.170.0 -d /tmp/sam
    unzip -j /tmp/sam/aws_sam_cli-1.170.0-py3-none-any.whl \\
        samcli/local/rapid/aws-lambda-rie-x86_64 -d /tmp/sam
    .venv/bin/python bench/managed_instances.py --rie /tmp/sam/aws-lambda-rie-x86_64 \\
        [--base IMAGE] [--workers 1,2,4,8] [--rounds 20]
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import docker
from bench.r_runtime import process_tree
from bench.r_versions import APP, function_image

HANDLER = """
work <- function(event) {
  Sys.sleep(event$sleep)
  list(pid = Sys.getpid(), got = event)
}
"""
INVOKE_PATH = "/2015-03-31/functions/function/invocations"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def invoke(port: int, payload: dict, timeout: float = 30) -> tuple[int, bytes]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{INVOKE_PATH}", data=json.dumps(payload).encode(), method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def invoke_when_idle(port: int, payload: dict, counts: dict[str, int]) -> tuple[int, bytes]:
    """RIE refuses an invoke that finds no worker polling (400 Runtime.Unavailable), which
    happens when a round starts before every worker of the last one is back at GET /next:
    retry it after 10 ms, and count how often."""
    for _ in range(200):
        status, body = invoke(port, payload)
        if status != 400 or b"Runtime.Unavailable" not in body:
            return status, body
        counts["unavailable"] = counts.get("unavailable", 0) + 1
        time.sleep(0.01)
    return status, body


def wait_ready(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            status, _ = invoke(port, {"sleep": 0}, timeout=5)
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit("the function never answered under RIE")


def rollup_kb(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, value = line.split(":", 1)
        fields[name] = int(value.split()[0])
    return fields


def cgroup_current_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        hierarchy, controllers, path = line.split(":", 2)
        base = Path("/sys/fs/cgroup") / path.lstrip("/")
        if hierarchy == "0" and (base / "memory.current").is_file():
            return int((base / "memory.current").read_text()) / 2**20
        if "memory" in controllers.split(","):
            usage = Path("/sys/fs/cgroup/memory") / path.lstrip("/") / "memory.usage_in_bytes"
            return int(usage.read_text()) / 2**20
    raise SystemExit("cannot read the container's cgroup memory")


def measure(client, image: str, rie: Path, workers: int, rounds: int, memory_mb: int) -> dict:
    port = free_port()
    container = client.containers.run(
        image,
        entrypoint=["/rie", "--runtime-interface-emulator-address", "0.0.0.0:8080"],
        command=["/var/runtime/bootstrap", "app.work"],
        environment={"AWS_LAMBDA_MAX_CONCURRENCY": str(workers), "_HANDLER": "app.work"},
        volumes={str(rie): {"bind": "/rie", "mode": "ro"}},
        ports={"8080/tcp": ("127.0.0.1", port)},
        mem_limit=f"{memory_mb}m",
        name=f"runtime-bench-lmi-{workers}-{port}",
        detach=True,
    )
    try:
        wait_ready(port)
        walls, failures, counts = [], 0, {"unavailable": 0}
        payload = {"sleep": 0.2}
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for _ in range(rounds):
                began = time.perf_counter()
                results = list(
                    pool.map(lambda _: invoke_when_idle(port, payload, counts), range(workers))
                )
                walls.append(time.perf_counter() - began)
                failures += sum(1 for status, _ in results if status != 200)
                pids = {json.loads(body).get("pid") for status, body in results if status == 200}
        container.reload()
        pid = container.attrs["State"]["Pid"]
        procs = [p for p in process_tree(pid) if Path(f"/proc/{p}/comm").read_text().strip() == "R"]
        rollups = [rollup_kb(p) for p in procs]
        uss = [r.get("Private_Clean", 0) + r.get("Private_Dirty", 0) for r in rollups]
        return {
            "workers": workers,
            "round_s": statistics.median(walls),
            "failures": failures,
            "unavailable": counts["unavailable"],
            "pids_last_round": len(pids),
            "r_processes": len(procs),
            "cgroup_mb": cgroup_current_mb(pid),
            "pss_mb": sum(r["Pss"] for r in rollups) / 1024,
            "worker_uss_mb": statistics.median(sorted(uss)[:-1] or uss) / 1024,
        }
    finally:
        container.remove(force=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rie", type=Path, required=True, help="aws-lambda-rie-x86_64")
    parser.add_argument("--base", default="r-lambda:r-4.5.0-debian-x86_64", help="base R image")
    parser.add_argument("--workers", default="1,2,4,8", help="values of N (1,2,4,8)")
    parser.add_argument("--rounds", type=int, default=20, help="rounds of N invokes (20)")
    parser.add_argument("--memory", type=int, default=1024, help="container memory MB (1024)")
    args = parser.parse_args(argv)
    if not args.rie.is_file():
        parser.error(f"{args.rie}: no such file (see the command above to get AWS's RIE)")
    counts = [int(n) for n in args.workers.split(",")]
    client = docker.from_env()
    image = function_image(client, args.base, APP.read_bytes() + HANDLER.encode(), "app.work")
    version = client.images.get(args.base).labels.get("io.rlambda.r.version", "?")
    rows = [measure(client, image, args.rie, n, args.rounds, args.memory) for n in counts]
    base = next((r for r in rows if r["workers"] == 1), None)
    print(f"R {version} ({args.base}), AWS's RIE in managed-instances mode, {args.memory} MB")
    print()
    print(
        "| N workers | round of N 200 ms invokes (s, p50) | failed | retried | R processes | "
        "cgroup memory (MiB) | R PSS sum (MiB) | worker USS (MiB) | per extra worker (MiB) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    previous = None
    for r in rows:
        extra = "-"
        if base and r["workers"] > 1:
            extra = f"{(r['cgroup_mb'] - base['cgroup_mb']) / (r['workers'] - 1):.1f} vs N=1"
        if previous and previous["workers"] > 1:
            step = (r["cgroup_mb"] - previous["cgroup_mb"]) / (r["workers"] - previous["workers"])
            extra += f", {step:.1f} vs N={previous['workers']}"
        previous = r
        print(
            f"| {r['workers']} | {r['round_s']:.2f} | {r['failures']} | {r['unavailable']} | "
            f"{r['r_processes']} | "
            f"{r['cgroup_mb']:.1f} | {r['pss_mb']:.1f} | {r['worker_uss_mb']:.1f} | {extra} |"
        )
    print()
    print("retried: invokes RIE refused with Runtime.Unavailable (no worker polling at that")
    print("moment, between rounds) and that were sent again 10 ms later.")
    print(f"command: .venv/bin/python bench/managed_instances.py {' '.join(argv)}")
    return 1 if any(r["failures"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
