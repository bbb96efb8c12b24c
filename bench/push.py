"""Benchmark pushing: a full push into an empty registry against a push where only the top
layer changed (the layers already there must not be sent again).

  .venv/bin/python bench/push.py [--base r-lambda:r-4.5.0-debian-x86_64] [--top-bytes 1000000]
                                 [--runs 3]

Runs on the local stand-ins: moto's server for the ECR API, a fresh docker-registry on
127.0.0.1 per run for the bytes (so the full push really starts from nothing). Two images are
built FROM --base, each with one top layer of random bytes. Prints a markdown table.
"""

import argparse
import logging
import os
import secrets
import statistics
import sys
import tempfile
from pathlib import Path

import docker

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from moto.server import ThreadedMotoServer  # noqa: E402

from rlambda.registry import PushOptions, RepositorySettings, push_image  # noqa: E402
from tests.registry.stand_ins import RegistryServer, moto_token_credentials  # noqa: E402


def build_on(client: docker.DockerClient, base: str, top_bytes: int, workdir: Path) -> str:
    context = workdir / secrets.token_hex(4)
    context.mkdir()
    (context / "top").write_bytes(secrets.token_bytes(top_bytes))
    (context / "Dockerfile").write_text(f"FROM {base}\nCOPY top /var/task/top\n")
    labels = client.images.get(base).labels or {}
    name = f"rlambda-bench/push:{context.name}"
    client.images.build(
        path=str(context),
        tag=name,
        rm=True,
        labels={
            "io.rlambda.r.version": labels.get("io.rlambda.r.version", "4.5.0"),
            # A fresh content hash: each image gets its own content tag.
            "io.rlambda.content-hash": secrets.token_hex(32),
        },
    )
    # The readable tag registry.py reads the variant from.
    client.images.get(name).tag("rlambda-bench/push", f"r-4.5.0-{context.name}-debian-x86_64")
    return name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default="r-lambda:r-4.5.0-debian-x86_64")
    parser.add_argument("--top-bytes", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    os.environ.update(
        AWS_ENDPOINT_URL=f"http://{host}:{port}",
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_REGION="us-east-1",
    )
    username, password = moto_token_credentials(os.environ["AWS_ENDPOINT_URL"])
    client = docker.from_env()
    full, top = [], []
    quiet = open(os.devnull, "w")  # noqa: SIM115 (the progress lines would drown the table)
    with tempfile.TemporaryDirectory(prefix="rlambda-bench-") as tmp:
        for run in range(args.runs):
            first = build_on(client, args.base, args.top_bytes, Path(tmp))
            second = build_on(client, args.base, args.top_bytes, Path(tmp))
            root = Path(tmp) / f"registry-{run}"
            root.mkdir()
            registry = RegistryServer(username, password, root).start()
            try:
                options = PushOptions(
                    repository=RepositorySettings(f"bench-{run}"),
                    registry_endpoint=registry.endpoint,
                )
                full.append(push_image(first, options, client=client, out=quiet).stats)
                top.append(push_image(second, options, client=client, out=quiet).stats)
            finally:
                registry.stop()
                for name in (first, second):
                    client.images.remove(name, force=True)

    def row(label: str, stats: list) -> str:
        seconds = [s.seconds for s in stats]
        last = stats[-1]
        return (
            f"| {label} | {statistics.median(seconds):.2f} s (min {min(seconds):.2f}) |"
            f" {last.layers_pushed} | {last.layers_existing} | {last.bytes_pushed / 1e6:.1f} MB |"
        )

    size = client.images.get(args.base).attrs["Size"] / 1e6
    print(f"Base {args.base} ({size:.0f} MB uncompressed), top layer {args.top_bytes} bytes,")
    print(f"median of {args.runs} runs, fresh registry per run.\n")
    print("| push | time | layers sent | layers already there | bytes sent |")
    print("|---|---|---|---|---|")
    print(row("full, empty registry", full))
    print(row("only the top layer changed", top))
    moto.stop()


if __name__ == "__main__":
    main()
