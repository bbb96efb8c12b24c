"""The R runtime on each R version the local stand-ins build, side by side in one run.

For every base image given (default: r-lambda:r-4.5.0-debian-x86_64 and r-4.0.4), a function
image is made FROM it with this checkout's runtime/ and bench/r_versions_app.R, and run through
the project's Runtime API emulator with DockerRuntime (read-only, memory-limited, a fresh
container per cold start):

- cold: Init Duration (container create+start, then the runtime until its first GET /next)
  and "start returned -> first GET next" (the runtime's own part), medians of --cold starts,
  with the `hello` handler (raw_event in, a json() document out: base R only);
- warm: --warm sequential invokes of the same handler: round-trip p50/p99, invokes/s;
- streaming, where TCP_NODELAY matters (R >= 4.2 sets it; older R cannot, and the runtime
  coalesces its writes instead): warm round trips of handlers that stream one chunk, ten
  chunks back to back, and ten chunks 5 ms apart. A Nagle stall shows as ~40 ms.

The rounds alternate between the images, so that load from other work on the machine falls
on both alike.

    .venv/bin/python bench/r_versions.py [--cold 15] [--warm 500] [--streams 40]
"""

from __future__ import annotations

import argparse
import io
import platform
import statistics
import sys
import tarfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import docker
from bench.local_lambda import TimedRuntime, percentile
from rlambda.local.docker_launcher import DockerRuntime
from rlambda.local.runtime_api import RuntimeApiServer

APP = Path(__file__).resolve().parent / "r_versions_app.R"
RUNTIME = Path(__file__).resolve().parent.parent / "runtime"
DEFAULT_BASES = ["r-lambda:r-4.5.0-debian-x86_64", "r-lambda:r-4.0.4-debian-x86_64"]
EVENT = b'{"name": "bench"}'
STREAMS = {
    "stream one chunk, return NULL": "app.stream_one",
    "stream 10 chunks back to back": "app.stream_burst",
    "stream 10 chunks 5 ms apart": "app.stream_paced",
}


def function_image(
    client: docker.DockerClient, base: str, app: bytes, handler: str = "app.hello"
) -> str:
    """FROM `base`, with this checkout's runtime/ in place of the base's (the tag may come
    from another checkout), set up as the base image's Dockerfile does, and `app` as app.R."""
    dockerfile = (
        f"FROM {base}\n"
        "RUN rm -rf /var/runtime\n"
        "COPY runtime/ /var/runtime/\n"
        "RUN /var/runtime/bootstrap --write-r-env && chmod -R a+rX /var/runtime\n"
        "COPY app.R /var/task/app.R\n"
        f'CMD ["{handler}"]\n'
    )
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in (("Dockerfile", dockerfile.encode()), ("app.R", app)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        tar.add(
            RUNTIME,
            arcname="runtime",
            filter=lambda t: None if t.name.endswith(("r-env.sh", "runtime.rds")) else t,
        )
    buf.seek(0)
    image, _ = client.images.build(fileobj=buf, custom_context=True, rm=True)
    return image.id


def r_version(client: docker.DockerClient, image: str) -> str:
    return client.images.get(image).labels.get("io.rlambda.r.version", "?")


def cold_start(runtime: TimedRuntime, memory_mb: int) -> tuple[float, float]:
    with RuntimeApiServer(runtime, memory_mb=memory_mb, timeout_s=30, quiet=True) as server:
        result = server.invoke(EVENT)
    report = result.report
    if result.function_error or report is None or report.init_duration_ms is None:
        raise SystemExit(f"{runtime.image}: cold start failed: {result.body[:300]!r}")
    return report.init_duration_ms, report.init_duration_ms - runtime.start_ms[-1]


def warm_round_trips(image: str, handler: str, count: int, memory_mb: int) -> tuple[list, float]:
    runtime = DockerRuntime(image, memory_mb=memory_mb, handler=handler)
    times: list[float] = []
    with RuntimeApiServer(runtime, memory_mb=memory_mb, timeout_s=30, quiet=True) as server:
        server.invoke(EVENT)  # the cold start, not counted
        began_all = time.perf_counter()
        for _ in range(count):
            began = time.perf_counter()
            result = server.invoke(EVENT)
            times.append((time.perf_counter() - began) * 1000)
            if result.function_error or result.status_code != 200:
                raise SystemExit(f"{image} {handler}: {result.body[:300]!r}")
        wall = time.perf_counter() - began_all
    return times, wall


def cells(samples: list[float]) -> str:
    ordered = sorted(samples)
    return f"{statistics.median(ordered):.2f} / {percentile(ordered, 0.99):.2f}"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", action="append", help="base R image (repeatable)")
    parser.add_argument("--cold", type=int, default=15, help="cold starts per image (15)")
    parser.add_argument("--warm", type=int, default=500, help="warm invokes per image (500)")
    parser.add_argument("--streams", type=int, default=40, help="invokes per stream case (40)")
    parser.add_argument("--memory", type=int, default=512, help="function memory MB (512)")
    args = parser.parse_args(argv)
    bases = args.base or DEFAULT_BASES

    client = docker.from_env()
    for base in bases:
        try:
            client.images.get(base)
        except docker.errors.ImageNotFound:
            print(f"{base} is missing: build it first (build.py)", file=sys.stderr)
            return 2
    images = {base: function_image(client, base, APP.read_bytes()) for base in bases}
    versions = {base: r_version(client, base) for base in bases}

    began = time.perf_counter()
    runtimes = {base: TimedRuntime(images[base], memory_mb=args.memory) for base in bases}
    init: dict[str, list[float]] = {base: [] for base in bases}
    own: dict[str, list[float]] = {base: [] for base in bases}
    for _ in range(args.cold):  # alternating, so that outside load falls on all alike
        for base in bases:
            total, runtime_part = cold_start(runtimes[base], args.memory)
            init[base].append(total)
            own[base].append(runtime_part)
    warm = {
        base: warm_round_trips(images[base], "app.hello", args.warm, args.memory) for base in bases
    }
    streams = {
        (base, label): warm_round_trips(images[base], handler, args.streams, args.memory)[0]
        for label, handler in STREAMS.items()
        for base in bases
    }
    elapsed = time.perf_counter() - began

    engine = client.version()
    print(f"engine {engine['Version']}; host {platform.node()}: {platform.platform()}")
    print(f"{args.memory} MB; {args.cold} cold starts, {args.warm} warm invokes per image")
    print()
    header = " | ".join(f"R {versions[b]}" for b in bases)
    print(f"| figure (ms: p50, or p50 / p99) | {header} |")
    print("|---|" + "---|" * len(bases))
    row = " | ".join(f"{statistics.median(init[b]):.1f}" for b in bases)
    print(f"| cold: Init Duration (container create+start, runtime to first GET next) | {row} |")
    row = " | ".join(f"{statistics.median(own[b]):.1f}" for b in bases)
    print(f"| cold: the runtime's own part (start returned -> first GET next) | {row} |")
    row = " | ".join(cells(warm[b][0]) for b in bases)
    print(f"| warm round trip, hello | {row} |")
    row = " | ".join(f"{len(warm[b][0]) / warm[b][1]:.0f}/s" for b in bases)
    print(f"| warm sequential invokes per second | {row} |")
    for label in STREAMS:
        row = " | ".join(cells(streams[(b, label)]) for b in bases)
        print(f"| warm round trip, {label} | {row} |")
    print()
    print(
        f"run time {elapsed:.0f} s; command: .venv/bin/python bench/r_versions.py {' '.join(argv)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
