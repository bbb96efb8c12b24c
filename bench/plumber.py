"""A plumber API served in-process against a hand-written handler doing the same thing.

Both run in the plumber-api recipe image (same R, same installed packages): the recipe's
plumber.R as built (`plumber:plumber.R`), and bench/plumber_handwritten/handwritten.R, which
answers /hello and /sum with the same bytes through the runtime's `request` and
http_response() (no plumber loaded), copied into a derived image. Through the project's
Runtime API emulator with DockerRuntime, as in bench/r_runtime.py:

- cold start: Init Duration (runtime start to its first GET /next; plumber is loaded and the
  file plumb()ed here) and the first invoke's Duration, median of --cold fresh containers;
- warm: --invokes sequential round trips per route, after the cold one, side by side in one
  run: GET /hello?name=... (function URL event: routing, a query string, a filter, the json
  serializer) and POST /sum (HTTP API event: a JSON body, a cookie);
- in-process CPU per request (bench/plumber_handwritten/inprocess.R, in the plumber image):
  event -> request -> handler -> response document, --invokes x 4 times in one R, user+system
  CPU time, so that a loaded machine's scheduling delays count less than in round trips.

    .venv/bin/python bench/plumber.py [--cold 10] [--invokes 1000]
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import tarfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import docker
from bench.r_runtime import cold_starts, stats_cells, warm_invokes

REPO = Path(__file__).resolve().parent.parent
PLUMBER = "r-lambda:r-4.5.0-plumber-api-debian-x86_64"
HANDWRITTEN = "projects-bench-handwritten:latest"
EVENTS = REPO / "recipes" / "plumber-api" / "events"
ROUTES = {
    "GET /hello (function URL)": "01-hello-function-url.json",
    "POST /sum (HTTP API v2)": "03-sum-http-api-v2.json",
}


def event(name: str) -> bytes:
    return json.dumps(json.loads((EVENTS / name).read_text())["event"]).encode()


def build_handwritten(client: docker.DockerClient) -> str:
    """The plumber-api image with handwritten.R as its handler instead."""
    folder = REPO / "bench" / "plumber_handwritten"
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        for name in ("Dockerfile", "handwritten.R"):
            tar.add(folder / name, arcname=name)
    data.seek(0)
    image, _ = client.images.build(
        fileobj=data, custom_context=True, buildargs={"IMAGE": PLUMBER}, tag=HANDWRITTEN, rm=True
    )
    return image.id


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cold", type=int, default=10, help="cold starts per image (10)")
    parser.add_argument("--invokes", type=int, default=1000, help="warm invokes per route (1000)")
    parser.add_argument("--memory", type=int, default=512, help="function memory MB (512)")
    args = parser.parse_args(argv)
    client = docker.from_env()
    try:
        client.images.get(PLUMBER)
    except docker.errors.ImageNotFound:
        print(f"{PLUMBER} is missing: build.py --recipe plumber-api first", file=sys.stderr)
        return 2
    build_handwritten(client)
    images = {"plumber (plumber.R)": PLUMBER, "hand-written handler": HANDWRITTEN}
    hello = event(ROUTES["GET /hello (function URL)"])

    print(f"{args.memory} MB; images {PLUMBER} and {HANDWRITTEN} (derived from it)\n")
    print("| cold start (ms) | n | p50 | p99 | mean |")
    print("|---|---|---|---|---|")
    for label, image in images.items():
        cold = cold_starts(image, hello, args.cold, args.memory)
        print(f"| {label}: Init Duration | {stats_cells(cold['init'])} |")
        print(f"| {label}: first invoke's Duration | {stats_cells(cold['first'])} |")
    print()
    print("| warm round trip, sequential (ms) | n | p50 | p99 | mean | p50 ratio |")
    print("|---|---|---|---|---|---|")
    for route, file in ROUTES.items():
        runs = {
            label: warm_invokes(image, event(file), args.invokes, args.memory, label)
            for label, image in images.items()
        }
        base = statistics.median(runs["hand-written handler"].round_trips_ms)
        for label, run in runs.items():
            if run.failures:
                print(f"{label} {route}: {run.failures} failed invokes", file=sys.stderr)
                return 1
            ratio = statistics.median(run.round_trips_ms) / base
            print(f"| {route}: {label} | {stats_cells(run.round_trips_ms)} | {ratio:.2f}x |")
    client.images.remove(HANDWRITTEN)
    print()
    print("| in-process CPU per request (ms) | plumber | hand-written | ratio |")
    print("|---|---|---|---|")
    cpu = inprocess(client, args.invokes * 4)
    for route, file in ROUTES.items():
        p, h = cpu[(file, "plumber")], cpu[(file, "handwritten")]
        print(f"| {route} | {p:.2f} | {h:.2f} | {p / h:.2f}x |")
    return 0


def inprocess(client: docker.DockerClient, count: int) -> dict[tuple[str, str], float]:
    out = client.containers.run(
        PLUMBER,
        entrypoint=["/var/lang/bin/Rscript", "/bench/inprocess.R", str(count)]
        + [f"/events/{file}" for file in ROUTES.values()],
        volumes={
            str(REPO / "bench" / "plumber_handwritten"): {"bind": "/bench", "mode": "ro"},
            str(EVENTS): {"bind": "/events", "mode": "ro"},
        },
        read_only=True,
        tmpfs={"/tmp": ""},
        remove=True,
    ).decode()
    rows = [line.split("\t") for line in out.splitlines() if line.count("\t") == 2]
    return {(file, label): float(ms) for file, label, ms in rows}


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
