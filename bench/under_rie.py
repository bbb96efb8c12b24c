"""Any image under AWS's RIE, measured as in BENCHMARKS.md, "The R runtime beside a bare floor
under AWS's RIE": the harness, and the floor.

Each round starts a fresh function with rlambda.local.aws_rie.function.AwsRie (the pinned,
verified RIE in front of the image's entrypoint, in DockerRuntime's Lambda-like sandbox:
read-only root, uid 993, the memory limit without swap, a private network) and measures:

- cold first invoke: from the engine's container create to the first answer (RIE starts the
  runtime on that first invoke), and RIE's own view of it (its first REPORT: init + duration);
- warm round trip p50 / p99 and sequential invokes per second over --invokes invokes;
- the runtime's RSS after them: the largest VmRSS among the processes RIE started (read from
  the host's /proc; RIE itself not counted).

Medians over --rounds rounds; with several images, the rounds alternate between them so that
other load on the machine falls on all alike. `--floor` adds the floor: bench/floor_bootstrap.py,
a bare Runtime API loop in Python's standard library (Debian's python3 on the Debian stand-in).

    .venv/bin/python bench/under_rie.py --floor [--image REF ...] [--rounds 5] \\
        [--invokes 300] [--memory 128] [--event JSON]

Other benchmarks import `measure_round` to put their image beside the floor.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import docker
from bench.local_lambda import percentile
from rlambda.local.aws_rie.function import AwsRie, runtime_pids
from rlambda.pins.versions import load_rie_pin

FLOOR = Path(__file__).resolve().parent / "floor_bootstrap.py"
R_FLOOR = Path(__file__).resolve().parent / "floor_bootstrap.R"
DEBIAN_BASE = "rlambda-local/debian:bookworm"
EVENT = json.dumps({"name": "bench", "values": [1, 2, 3], "nested": {"ok": True}}).encode()


@dataclass(frozen=True)
class Round:
    cold_ms: float  # container create -> first answer
    rie_cold_ms: float | None  # RIE's first REPORT: init + duration
    p50_ms: float
    p99_ms: float
    per_second: float
    rss_mib: float


def floor_image(client: docker.DockerClient) -> str:
    """The floor's image: Debian's python3 and bench/floor_bootstrap.py as the bootstrap."""
    dockerfile = (
        f"FROM {DEBIAN_BASE}\n"
        "RUN apt-get update && apt-get install -y --no-install-recommends python3 "
        "&& rm -rf /var/lib/apt/lists/*\n"
        "COPY bootstrap /var/runtime/bootstrap\n"
        "RUN chmod 755 /var/runtime/bootstrap\n"
        'ENTRYPOINT ["/var/runtime/bootstrap"]\n'
    )
    return build_image(client, dockerfile, {"bootstrap": FLOOR.read_bytes()})


def r_floor_image(client: docker.DockerClient, base: str) -> str:
    """R's own floor: bench/floor_bootstrap.R on the R image `base`, R started as the runtime's
    bootstrap starts it (base package only, the JIT off)."""
    bootstrap = (
        "#!/bin/sh\n"
        "R_ENABLE_JIT=0 exec Rscript --no-init-file --default-packages=base /var/runtime/floor.R\n"
    )
    dockerfile = (
        f"FROM {base}\n"
        "RUN rm -rf /var/runtime\n"
        "COPY floor.R bootstrap /var/runtime/\n"
        "RUN chmod 755 /var/runtime/bootstrap\n"
        'ENTRYPOINT ["/var/runtime/bootstrap"]\n'
    )
    return build_image(
        client, dockerfile, {"floor.R": R_FLOOR.read_bytes(), "bootstrap": bootstrap.encode()}
    )


def build_image(client: docker.DockerClient, dockerfile: str, files: dict[str, bytes]) -> str:
    """An image built from `dockerfile` with `files` (name: bytes) as the whole context."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in {"Dockerfile": dockerfile.encode(), **files}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    image, _ = client.images.build(fileobj=buf, custom_context=True, rm=True)
    return image.id


def rss_mib(function: AwsRie) -> float:
    """The largest VmRSS among the runtime's processes (R, or python3), in MiB."""
    best = 0
    for pid in runtime_pids(function.handle) if function.handle else []:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    best = max(best, int(line.split()[1]))
        except OSError:
            continue
    return best / 1024


def measure_round(
    image: str,
    *,
    event: bytes = EVENT,
    invokes: int = 300,
    memory_mb: int = 128,
    handler: str | None = None,
    expect: bytes | None = None,
) -> Round:
    """One fresh function under RIE: its cold start, `invokes` warm invokes, its RSS.

    Every answer must be a 200 equal (as JSON) to `expect` (default: the event itself).
    """
    wanted = json.loads(expect if expect is not None else event)
    function = AwsRie(image, memory_mb=memory_mb, timeout_s=30, handler=handler)
    with function:
        first = function.invoke(event)
        cold_ms = (time.monotonic() - (function.started_at or 0)) * 1000
        _check(image, first, wanted)
        times = []
        began = time.perf_counter()
        for _ in range(invokes):
            t = time.perf_counter()
            result = function.invoke(event)
            times.append((time.perf_counter() - t) * 1000)
            _check(image, result, wanted)
        per_second = invokes / (time.perf_counter() - began)
        rss = rss_mib(function)
        reports = function.reports()
    rie_cold = None
    if reports and reports[0].init_duration_ms is not None:
        rie_cold = reports[0].init_duration_ms + reports[0].duration_ms
    ordered = sorted(times)
    return Round(
        cold_ms,
        rie_cold,
        statistics.median(ordered),
        percentile(ordered, 0.99),
        per_second,
        rss,
    )


def _check(image: str, result, wanted: object) -> None:
    if result.failed or result.json() != wanted:
        raise SystemExit(f"{image}: answered {result.status_code}: {result.body[:300]!r}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image", action="append", default=[], help="an image to measure")
    parser.add_argument("--floor", action="store_true", help="measure the floor too")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per image (5)")
    parser.add_argument("--invokes", type=int, default=300, help="warm invokes per round (300)")
    parser.add_argument("--memory", type=int, default=128, help="memory MB (128)")
    parser.add_argument("--event", default=EVENT.decode(), help="the event, as JSON")
    args = parser.parse_args(argv)
    client = docker.from_env()
    images = {ref: ref for ref in args.image}
    if args.floor:
        images["floor"] = floor_image(client)
    if not images:
        parser.error("nothing to measure: give --image REF and/or --floor")
    rounds: dict[str, list[Round]] = {name: [] for name in images}
    for _ in range(args.rounds):
        for name, image in images.items():
            rounds[name].append(
                measure_round(
                    image, event=args.event.encode(), invokes=args.invokes, memory_mb=args.memory
                )
            )
    print(
        f"AWS's RIE {load_rie_pin().version}, {args.memory} MB; medians of {args.rounds} "
        f"rounds, {args.invokes} warm invokes each"
    )
    print()
    print("| figure | " + " | ".join(images) + " |")
    print("|---|" + "---|" * len(images))
    rows = [
        ("cold first invoke (container create to first answer), ms", "cold_ms", "{:.1f}"),
        ("cold, RIE's view (first REPORT: init + duration), ms", "rie_cold_ms", "{:.1f}"),
        ("warm p50, ms", "p50_ms", "{:.2f}"),
        ("warm p99, ms", "p99_ms", "{:.2f}"),
        ("sequential invokes per second", "per_second", "{:.0f}"),
        (f"runtime RSS after {args.invokes + 1} invokes, MiB", "rss_mib", "{:.1f}"),
    ]
    for label, key, fmt in rows:
        cells = []
        for name in images:
            values = [getattr(r, key) for r in rounds[name] if getattr(r, key) is not None]
            cells.append(fmt.format(statistics.median(values)) if values else "-")
        print(f"| {label} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
