"""Cold start and warm round trip of an image run as Lambda runs it (DockerRuntime).

The image is the Python test function (tests/docker/images/python-ric: Debian's python3 and AWS's
awslambdaric, echo handler), built on the local Debian base like the tests build it, or any
image given with --image (e.g. a recipe image: r-lambda:r-4.5.0-hello-debian-x86_64). Timed:
- cold start: the emulator's Init Duration, from asking the engine for a container to the
  runtime's first GET /next; split into the engine's create+start calls and the rest
  (process start, imports, first request) — a fresh container every time, as a cold start;
- warm round trip: `RuntimeApiServer.invoke` of a small event to the same container, with
  invokes per second and the runtime's max memory after the first and the last warm invoke.

Each figure is taken for two launchers side by side, cold starts and warm invokes
interleaved: DockerRuntime as it is (no network; rlambda-relay inside forwards 127.0.0.1:9001
to the emulator's Unix socket) and, as the baseline, the same sandbox on the host's network
talking to the emulator's TCP port directly (how DockerRuntime ran before the containers lost
their network: BENCHMARKS.md, "No network but the Runtime API").
`--no-baseline`: only the first.

    .venv/bin/python bench/local_lambda.py [--image REF] [--cold 10] [--warm 500] [--memory 512]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import docker
from rlambda.local.container_handle import ContainerHandle
from rlambda.local.docker_launcher import DockerRuntime
from rlambda.local.runtime_api import RuntimeApiServer
from tests.conftest import DEBIAN_BASE
from tests.docker.python_ric import build_python_ric_image

EVENT = json.dumps({"op": "echo", "n": 1}).encode()


class TimedRuntime(DockerRuntime):
    """DockerRuntime that records how long the engine takes to create and start a container."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.start_ms: list[float] = []

    def start(self, env: Mapping[str, str]) -> ContainerHandle:
        began = time.perf_counter()
        handle = super().start(env)
        self.start_ms.append((time.perf_counter() - began) * 1000)
        return handle


# The baseline: the sandbox on the host's network, the emulator's TCP port in
# AWS_LAMBDA_RUNTIME_API, no relay (DockerRuntime before the containers lost their network).
LAUNCHERS: dict[str, dict[str, bool]] = {
    "no network, relay": {"host_network": False},
    "host network (before)": {"host_network": True},
}


def percentile(sorted_ms: list[float], fraction: float) -> float:
    index = min(len(sorted_ms) - 1, max(0, round(fraction * len(sorted_ms)) - 1))
    return sorted_ms[index]


def row(name: str, by_launcher: list[list[float]]) -> str:
    cells = []
    for samples in by_launcher:
        ordered = sorted(samples)
        cells.append(
            f"{len(ordered)} | {percentile(ordered, 0.50):.1f} | "
            f"{percentile(ordered, 0.99):.1f} | {statistics.fmean(ordered):.1f}"
        )
    return f"| {name} | {' | '.join(cells)} |"


def cold_start(runtime: TimedRuntime, memory_mb: int) -> float:
    with RuntimeApiServer(runtime, memory_mb=memory_mb, timeout_s=30, quiet=True) as server:
        result = server.invoke(EVENT)
    if result.function_error or result.report is None or result.report.init_duration_ms is None:
        raise SystemExit(f"cold start failed: {result.body[:300]!r}")
    return result.report.init_duration_ms


def warm_round_trips(
    runtimes: Mapping[str, DockerRuntime], count: int, memory_mb: int
) -> dict[str, tuple[list[float], list[int]]]:
    """Per launcher: round trips in ms, and the max memory (MB) reported after the first and
    the last of them; the launchers' invokes alternate, one warm container each."""
    out: dict[str, tuple[list[float], list[int]]] = {name: ([], []) for name in runtimes}
    with contextlib.ExitStack() as stack:
        servers = {
            name: stack.enter_context(
                RuntimeApiServer(runtime, memory_mb=memory_mb, timeout_s=30, quiet=True)
            )
            for name, runtime in runtimes.items()
        }
        for server in servers.values():
            server.invoke(EVENT)  # the cold start, not counted
        for i in range(count):
            for name, server in servers.items():
                samples, memory = out[name]
                began = time.perf_counter()
                result = server.invoke(EVENT)
                samples.append((time.perf_counter() - began) * 1000)
                if result.function_error:
                    raise SystemExit(f"{name}: warm invoke {i} failed: {result.body[:300]!r}")
                if i in (0, count - 1) and result.report is not None:
                    memory.append(result.report.max_memory_mb)
    return out


def network_modes(client: docker.DockerClient, image: str, count: int) -> dict[str, list[float]]:
    """The engine's create+start of a container that only runs `true`, per network mode,
    interleaved: where a cold start's extra time goes (a new network namespace, or not)."""
    holder = client.containers.create(
        image,
        entrypoint=["sleep", "infinity"],
        command=None,
        network_mode="none",
        name=f"relay-bench-holder-{os.getpid()}",
    )
    modes = {
        "host": {"network_mode": "host"},
        "none (a new namespace)": {"network_mode": "none"},
        "joining another container's namespace": {"network_mode": f"container:{holder.id}"},
    }
    out: dict[str, list[float]] = {name: [] for name in modes}
    try:
        holder.start()
        for _ in range(count):
            for name, options in modes.items():
                began = time.perf_counter()
                container = client.containers.create(
                    image, entrypoint=["true"], command=None, **options
                )
                container.start()
                out[name].append((time.perf_counter() - began) * 1000)
                container.remove(force=True)
    finally:
        holder.remove(force=True)
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cold", type=int, default=10, help="cold starts (default 10)")
    parser.add_argument("--warm", type=int, default=500, help="warm invokes (default 500)")
    parser.add_argument("--memory", type=int, default=512, help="function memory MB (512)")
    parser.add_argument("--image", help="image to run (default: the Python test function)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the host-network baseline")
    parser.add_argument(
        "--network-modes",
        type=int,
        default=0,
        metavar="N",
        help="also time the engine alone starting N containers per network mode",
    )
    args = parser.parse_args(argv)

    client = docker.from_env()
    try:
        client.images.get(DEBIAN_BASE)
    except docker.errors.ImageNotFound:
        print(f"{DEBIAN_BASE} is missing: run scripts/make-debian-base.sh", file=sys.stderr)
        return 2
    image = args.image
    if image is None:
        with tempfile.TemporaryDirectory() as work:
            image = build_python_ric_image(client, Path(work))

    names = list(LAUNCHERS)[:1] if args.no_baseline else list(LAUNCHERS)
    runtimes = {
        name: TimedRuntime(image, memory_mb=args.memory, **LAUNCHERS[name]) for name in names
    }
    init_ms: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(args.cold):  # interleaved: the machine's load falls on both alike
        for name, runtime in runtimes.items():
            init_ms[name].append(cold_start(runtime, args.memory))
    start_ms = {name: list(runtimes[name].start_ms) for name in names}
    rest_ms = {
        name: [i - s for i, s in zip(init_ms[name], start_ms[name], strict=True)] for name in names
    }
    warm = warm_round_trips(runtimes, args.warm, args.memory)

    engine = client.version()
    print(
        f"image {image}, {args.memory} MB; engine {engine['Version']} (API {engine['ApiVersion']})"
    )
    print(f"host {platform.node()}: {platform.platform()}, Python {platform.python_version()}")
    print()
    print(f"| measure | {' | '.join(f'{n}: n | p50 ms | p99 ms | mean ms' for n in names)} |")
    print(f"|---|{'---|---|---|---|' * len(names)}")
    cold_row = "cold start: container create+start → first GET next (Init Duration)"
    print(row(cold_row, [init_ms[n] for n in names]))
    print(row("  of which: engine create+start calls", [start_ms[n] for n in names]))
    print(row("  of which: start call returned → first GET next", [rest_ms[n] for n in names]))
    print(row("warm round trip (invoke → response)", [warm[n][0] for n in names]))
    print()
    for name in names:
        warm_ms, memory = warm[name]
        print(f"{name}: {len(warm_ms) / (sum(warm_ms) / 1000):.0f} sequential invokes/s;", end=" ")
        print(f"max memory {memory[0]} MB after the first, {memory[-1]} MB after the last")
    print()
    if args.network_modes:
        modes = network_modes(client, image, args.network_modes)
        print("| the engine's create+start of `true` | n | p50 ms | p99 ms | mean ms |")
        print("|---|---|---|---|---|")
        for name, samples in modes.items():
            print(row(name, [samples]))
        print()
    command = " ".join(["bench/local_lambda.py", *argv]) if argv else "bench/local_lambda.py"
    print(f"command: .venv/bin/python {command}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
