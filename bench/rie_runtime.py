"""The R runtime against a bare floor, side by side under AWS's own RIE
(BENCHMARKS.md, "The R runtime beside a bare floor under AWS's RIE").

Each function runs in a container with AWS's Runtime Interface Emulator as its entry point
(normal mode: one invoke at a time) at --memory MB (128: Lambda's smallest):

- ours: this checkout's runtime/ on the given base R image, handler `function(event) event`
  (JSON in and out through jsonlite, loaded at init);
- floor: bench/floor_bootstrap.py, a Runtime API loop in Python's standard library that
  echoes the event through json.loads/json.dumps, on the Debian stand-in with Debian's python3;
- R floor: bench/floor_bootstrap.R on the same base R image, a Runtime API loop in base R that
  sends the event's bytes back without parsing them: what R itself costs at the least.

Figures, medians over --rounds containers (alternating ours / floor, so that other load on the
machine falls on both alike):
- cold: RIE starts the runtime on the first invoke (sent as soon as RIE accepts connections);
  the Duration of its first REPORT line runs from there to the answer. The time from the
  `docker run` call is shown too (the engine's create and start included);
- warm echo round trip p50 / p99 and sequential invokes per second, over --invokes invokes;
- the runtime's RSS (VmRSS of its largest process: R or python3, read from the host's /proc)
  after those invokes.

    .venv/bin/python bench/rie_runtime.py --rie /tmp/sam/aws-lambda-rie-x86_64 \\
        [--base IMAGE] [--rounds 5] [--invokes 300] [--memory 128]
(for AWS's RIE see bench/managed_instances.py)
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import docker
from bench.local_lambda import percentile
from bench.managed_instances import INVOKE_PATH, free_port
from bench.r_runtime import process_tree
from bench.r_versions import function_image
from bench.under_rie import floor_image, r_floor_image

DEBIAN_BASE = "rlambda-local/debian:bookworm"
ECHO_R = b"echo <- function(event) event\n"
REPORT_DURATION = re.compile(
    r"REPORT RequestId: \S+\t(?:Init Duration: [\d.]+ ms\t)?Duration: ([\d.]+) ms"
)
EVENT = json.dumps({"name": "bench", "values": [1, 2, 3], "nested": {"ok": True}}).encode()


def rss_mb(pid: int) -> float:
    best = 0
    for p in process_tree(pid):
        try:
            comm = Path(f"/proc/{p}/comm").read_text().strip()
            if comm.startswith("aws-lambda-rie"):
                continue
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    best = max(best, int(line.split()[1]))
        except OSError:
            continue
    return best / 1024


def one_round(client, image: str, command: list[str], rie: Path, invokes: int, memory: int):
    port = free_port()
    began = time.perf_counter()
    container = client.containers.run(
        image,
        entrypoint=["/rie", "--runtime-interface-emulator-address", "0.0.0.0:8080"],
        command=command,
        volumes={str(rie): {"bind": "/rie", "mode": "ro"}},
        ports={"8080/tcp": ("127.0.0.1", port)},
        mem_limit=f"{memory}m",
        name=f"runtime-bench-rie-{port}",
        detach=True,
    )
    try:
        while True:  # RIE listens within milliseconds; the first answer is the cold start
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                conn.request("POST", INVOKE_PATH, body=EVENT)
                response = conn.getresponse()
                body = response.read()
                break
            except (ConnectionError, http.client.RemoteDisconnected):
                conn.close()
                time.sleep(0.001)
        cold_ms = (time.perf_counter() - began) * 1000
        if response.status != 200 or json.loads(body) != json.loads(EVENT):
            raise SystemExit(f"{image}: cold invoke answered {response.status}: {body[:300]!r}")
        times = []
        began_all = time.perf_counter()
        for _ in range(invokes):
            t = time.perf_counter()
            conn.request("POST", INVOKE_PATH, body=EVENT)
            response = conn.getresponse()
            body = response.read()
            times.append((time.perf_counter() - t) * 1000)
            if response.status != 200:
                raise SystemExit(f"{image}: warm invoke answered {response.status}: {body[:300]!r}")
        rate = invokes / (time.perf_counter() - began_all)
        container.reload()
        rss = rss_mb(container.attrs["State"]["Pid"])
        conn.close()
        # RIE's first REPORT: its Duration runs from the runtime's start (RIE starts it on the
        # first invoke) to the answer, without the engine's container create and start.
        found = REPORT_DURATION.search(container.logs().decode(errors="replace"))
        if not found:
            raise SystemExit(f"{image}: no REPORT line from RIE")
        return float(found.group(1)), cold_ms, times, rate, rss
    finally:
        container.remove(force=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rie", type=Path, required=True, help="aws-lambda-rie-x86_64")
    parser.add_argument("--base", default="r-lambda:r-4.5.0-debian-x86_64", help="base R image")
    parser.add_argument("--rounds", type=int, default=5, help="containers per runtime (5)")
    parser.add_argument("--invokes", type=int, default=300, help="warm invokes per round (300)")
    parser.add_argument("--memory", type=int, default=128, help="memory MB (128)")
    args = parser.parse_args(argv)
    if not args.rie.is_file():
        parser.error(f"{args.rie}: no such file (see bench/managed_instances.py)")
    client = docker.from_env()
    runtimes = {
        "ours": (
            function_image(client, args.base, ECHO_R, "app.echo"),
            ["/var/runtime/bootstrap", "app.echo"],
        ),
        "floor": (floor_image(client), ["/var/runtime/bootstrap"]),
        "R floor": (r_floor_image(client, args.base), ["/var/runtime/bootstrap"]),
    }
    results: dict[str, dict[str, list]] = {
        k: {"cold": [], "docker_run": [], "p50": [], "p99": [], "rate": [], "rss": []}
        for k in runtimes
    }
    for _ in range(args.rounds):
        for name, (image, command) in runtimes.items():
            cold, docker_run, times, rate, rss = one_round(
                client, image, command, args.rie, args.invokes, args.memory
            )
            ordered = sorted(times)
            r = results[name]
            r["cold"].append(cold)
            r["docker_run"].append(docker_run)
            r["p50"].append(statistics.median(ordered))
            r["p99"].append(percentile(ordered, 0.99))
            r["rate"].append(rate)
            r["rss"].append(rss)
    med = {name: {k: statistics.median(v) for k, v in r.items()} for name, r in results.items()}
    version = client.images.get(args.base).labels.get("io.rlambda.r.version", "?")
    print(
        f"AWS's RIE, {args.memory} MB; ours: R {version} ({args.base}); medians of "
        f"{args.rounds} containers, {args.invokes} warm invokes each"
    )
    print()
    print("| figure | ours | floor | ratio | R floor (no JSON) | ratio |")
    print("|---|---|---|---|---|---|")
    rows = [
        (
            "cold first invoke (RIE's first REPORT Duration: runtime start to answer), ms",
            "cold",
            "{:.1f}",
        ),
        (
            "cold, from the `docker run` call (engine create + start included), ms",
            "docker_run",
            "{:.0f}",
        ),
        ("warm echo p50, ms", "p50", "{:.2f}"),
        ("warm echo p99, ms", "p99", "{:.2f}"),
        ("sequential invokes per second", "rate", "{:.0f}"),
        (f"runtime RSS after {args.invokes + 1} small JSON invokes, MiB", "rss", "{:.1f}"),
    ]
    for label, key, fmt in rows:
        ours, floor, r_floor = med["ours"][key], med["floor"][key], med["R floor"][key]
        print(
            f"| {label} | {fmt.format(ours)} | {fmt.format(floor)} | {ours / floor:.2f}x "
            f"| {fmt.format(r_floor)} | {r_floor / floor:.2f}x |"
        )
    print()
    print(f"command: .venv/bin/python bench/rie_runtime.py {' '.join(argv)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
