"""Benchmark a base R image on the local stand-ins: full build, no-op rebuild, R layer size, and
R start-up inside the image. Prints a markdown table for BENCHMARKS.md.

  .venv/bin/python bench/base_image.py --r 4.5.0 [--skip-full-build]

Needs what scripts/setup.sh prepares (Docker, the Debian base image, the local CRAN mirror).
"""

import argparse
import functools
import http.server
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import docker

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rlambda.pins import versions  # noqa: E402
from rlambda.sources.fetch import cache_dir  # noqa: E402
from rlambda.target.tags import REPOSITORY, readable_tag  # noqa: E402
from rlambda.update import pin_package  # noqa: E402

BASE = "rlambda-local/debian:bookworm"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def serve_mirror() -> str:
    handler = functools.partial(_QuietHandler, directory=str(cache_dir() / "cran-mirror"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


def local_pins(mirror: str, directory: Path) -> Path:
    """VERSIONS.toml with the runtime's R packages re-pinned from the local mirror (Debian
    repacks jsonlite, so CRAN's pin cannot verify here; R's pins are CRAN's own)."""
    path = directory / "VERSIONS.toml"
    shutil.copy(ROOT / "VERSIONS.toml", path)
    for name in versions.load(path).packages:
        pin_package(name, mirror, path, images_dir=None, allow_http=True)
    return path


def timed_build(r_version: str, mirror: str, pins: Path, *extra: str) -> float:
    command = [sys.executable, str(ROOT / "build.py"), "--r", r_version, "--family", "debian"]
    command += ["--base-image", BASE, "--cran-mirror", mirror, "--versions-file", str(pins)]
    command += extra
    started = time.monotonic()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.monotonic() - started


def startup_ms(client: docker.DockerClient, image: str, rscript_args: str, runs: int) -> float:
    """Median wall time of `Rscript ARGS -e 1`, timed inside one container (no docker overhead)."""
    loop = (
        f"for i in $(seq {runs}); do s=$(date +%s%N); Rscript {rscript_args} -e 1 >/dev/null;"
        " e=$(date +%s%N); echo $(( (e - s) / 1000 )); done"
    )
    out = client.containers.run(image, entrypoint=["sh", "-c", loop], user="993:990", remove=True)
    return statistics.median(int(line) for line in out.split()) / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--r", default="4.5.0")
    parser.add_argument("--skip-full-build", action="store_true")
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()
    client = docker.from_env()
    mirror = serve_mirror()
    pins = local_pins(mirror, Path(tempfile.mkdtemp()))
    image = f"{REPOSITORY}:{readable_tag(args.r, 'debian', 'x86_64')}"

    rows = []
    if not args.skip_full_build:
        full = timed_build(args.r, mirror, pins, "--no-cache")
        rows.append(("Full build, no layer cache (s)", f"{full:.0f}", "<= 360"))
    noop = statistics.median(timed_build(args.r, mirror, pins) for _ in range(5))
    rows.append(("No-op rebuild, median of 5 (s)", f"{noop:.2f}", "<= 3"))

    layer = client.images.get(image).attrs["Size"] - client.images.get(BASE).attrs["Size"]
    rows.append(("R layer over the base, uncompressed (MB)", f"{layer / 1e6:.1f}", "<= 45"))
    plain = startup_ms(client, image, "", args.runs)
    base_only = startup_ms(client, image, "--default-packages=base", args.runs)
    rows.append((f"`Rscript -e 1`, median of {args.runs} (ms)", f"{plain:.0f}", ""))
    rows.append(
        (
            f"`Rscript --default-packages=base -e 1`, median of {args.runs} (ms)",
            f"{base_only:.0f}",
            "",
        )
    )

    print(f"R {args.r}, debian family, x86_64, {time.strftime('%Y-%m-%d')}\n")
    print("| measure | value | target |\n|---|---|---|")
    for name, value, target in rows:
        print(f"| {name} | {value} | {target} |")


if __name__ == "__main__":
    main()
