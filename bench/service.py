"""The local Lambda service (`build.py serve`): what it adds per invoke, and how its pool scales.

1. Overhead per invoke: the hello function (R 4.5.0, base R), warm, invoked --invokes times
   sequentially over one keep-alive HTTP connection (a) straight to one Runtime API emulator
   (RuntimeApiServer + DockerRuntime, its RIE-style invoke route) and (b) through the service
   (concurrency 1, so the same single environment), in alternating blocks of 50 so both see
   the same machine; plus (c) boto3's invoke() through the service, what an SDK user sees.
   p50 and p99 of the round trip, and the service's extra (b - a).
2. The pool: 64 concurrent invokes of a 0.5 s handler (tests/r_handlers/service.R `sleep`)
   at --concurrency 8 with --queue: the ideal is 64 / 8 x 0.5 s = 4 s. Run twice: from cold
   (the 8 environments start on demand) and warm.

Needs the images `build.py --r 4.5.0 --family debian --recipe hello` (and the base
r-lambda:r-4.5.0-debian-x86_64) built here, as the docker tests build them.

    .venv/bin/python bench/service.py [--invokes 1000]
"""

from __future__ import annotations

import argparse
import http.client
import io
import platform
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import docker
from bench.local_lambda import percentile
from rlambda.local.docker_launcher import DockerRuntime
from rlambda.local.runtime_api import RuntimeApiServer
from rlambda.local.service import FunctionSpec, Service
from tests.e2e.serving import build_probe_image, lambda_client

HELLO = "r-lambda:r-4.5.0-hello-debian-x86_64"
BASE = "r-lambda:r-4.5.0-debian-x86_64"
PAYLOAD = b'{"name": "bench"}'
BLOCK = 50


def _connection(url: str) -> http.client.HTTPConnection:
    host, port = url.removeprefix("http://").split(":")
    return http.client.HTTPConnection(host, int(port), timeout=60)


def _timed_block(connection: http.client.HTTPConnection, path: str, count: int) -> list[float]:
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        connection.request("POST", path, body=PAYLOAD)
        response = connection.getresponse()
        body = response.read()
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status == 200 and b"Hello" in body, body
    return samples


def overhead(invokes: int) -> dict[str, list[float]]:
    runtime = DockerRuntime(HELLO, memory_mb=512)
    straight, served, sdk = [], [], []
    with (
        RuntimeApiServer(runtime, memory_mb=512, timeout_s=30, quiet=True) as emulator,
        Service([FunctionSpec("hello", HELLO)], concurrency=1, log=io.StringIO()) as service,
    ):
        direct = _connection(f"http://{emulator.runtime_api}")
        front = _connection(service.endpoint_url)
        direct_path = "/2015-03-31/functions/function/invocations"
        front_path = "/2015-03-31/functions/hello/invocations"
        client = lambda_client(service.endpoint_url)
        for connection, path in ((direct, direct_path), (front, front_path)):
            _timed_block(connection, path, 20)  # cold start, then warm
        while len(straight) < invokes:
            straight += _timed_block(direct, direct_path, BLOCK)
            served += _timed_block(front, front_path, BLOCK)
            for _ in range(BLOCK):
                started = time.perf_counter()
                client.invoke(FunctionName="hello", Payload=PAYLOAD)["Payload"].read()
                sdk.append((time.perf_counter() - started) * 1000)
    return {
        "straight to one emulator": straight,
        "through the service": served,
        "boto3 via service": sdk,
    }


def pool(image: str, rounds: int = 2) -> list[float]:
    walls = []
    spec = FunctionSpec("sleep", image, handler="service.sleep")
    with Service([spec], concurrency=8, queue=True, log=io.StringIO()) as service:
        path = "/2015-03-31/functions/sleep/invocations"

        def one(_: int) -> None:
            connection = _connection(service.endpoint_url)
            connection.request("POST", path, body=b"{}")
            response = connection.getresponse()
            assert response.status == 200, response.read()
            response.read()

        for _ in range(rounds):
            started = time.perf_counter()
            with ThreadPoolExecutor(64) as threads:
                list(threads.map(one, range(64)))
            walls.append(time.perf_counter() - started)
    return walls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--invokes", type=int, default=1000)
    args = parser.parse_args()
    client = docker.from_env()
    with tempfile.TemporaryDirectory() as work:
        probe = build_probe_image(client, BASE, Path(work))
    print(f"host: {platform.node()}, {platform.machine()}, python {platform.python_version()}")
    print(f"\n1. overhead per invoke, hello (warm), {args.invokes} each\n")
    print("| path | n | p50 ms | p99 ms |")
    print("|---|---|---|---|")
    results = overhead(args.invokes)
    for name, samples in results.items():
        ordered = sorted(samples)
        p50, p99 = percentile(ordered, 0.5), percentile(ordered, 0.99)
        print(f"| {name} | {len(ordered)} | {p50:.2f} | {p99:.2f} |")
    a = sorted(results["straight to one emulator"])
    b = sorted(results["through the service"])
    print(
        f"\nservice's extra: p50 {percentile(b, 0.5) - percentile(a, 0.5):+.2f} ms, "
        f"p99 {percentile(b, 0.99) - percentile(a, 0.99):+.2f} ms"
    )
    print("\n2. 64 invokes of a 0.5 s handler at N=8 (ideal 4.00 s)\n")
    cold, warm = pool(probe)
    print("| run | wall s | / ideal |\n|---|---|---|")
    print(f"| cold (8 environments start on demand) | {cold:.2f} | {cold / 4:.2f} |")
    print(f"| warm | {warm:.2f} | {warm / 4:.2f} |")


if __name__ == "__main__":
    main()
