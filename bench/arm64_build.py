"""Benchmark arm64 on this x86_64 machine, under QEMU: R compiled from the pinned tarball for
arm64 with json-api on it, its events answered under both emulators, and the image sizes
beside x86_64's. Prints a markdown table for BENCHMARKS.md.

  .venv/bin/python bench/arm64_build.py [--r 4.5.0] [--recipe json-api]

Needs what scripts/setup.sh prepares, arm64 included (scripts/setup-arm64.sh and the
rlambda-local/debian:bookworm-arm64 base). Builds with the layer cache: run once on a machine
that has not built this arm64 R to time the compile (the x86_64 image is built, or reused, too).
"""

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import docker

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.base_image import local_pins, serve_mirror  # noqa: E402
from rlambda.target.tags import REPOSITORY, readable_tag  # noqa: E402

BASES = {"x86_64": "rlambda-local/debian:bookworm", "arm64": "rlambda-local/debian:bookworm-arm64"}


def build(r: str, arch: str, recipe: str, mirror: str, pins: Path) -> float:
    """`build.py ... --recipe RECIPE --test` as a user types it; its wall time (s)."""
    command = [sys.executable, str(ROOT / "build.py"), "--r", r, "--family", "debian"]
    command += ["--arch", arch, "--base-image", BASES[arch], "--cran-mirror", mirror]
    command += ["--versions-file", str(pins), "--recipe", recipe, "--test"]
    started = time.monotonic()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.monotonic() - started


def events(image: str, recipe: str, emulator: str) -> str:
    """`build.py test` under one emulator: "passed N/N", or what failed."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "build.py"), "test", "--image", image, "--events",
         str(ROOT / "recipes" / recipe / "events"), "--emulator", emulator],
        capture_output=True, text=True,
    )  # fmt: skip
    count = len(list((ROOT / "recipes" / recipe / "events").glob("*.json")))
    return f"passed {count}/{count}" if done.returncode == 0 else f"failed: {done.stdout[-300:]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--r", default="4.5.0")
    parser.add_argument("--recipe", default="json-api")
    args = parser.parse_args()
    client = docker.from_env()
    mirror = serve_mirror()
    pins = local_pins(mirror, Path(tempfile.mkdtemp()))

    rows = []
    sizes = {}
    for arch in ("arm64", "x86_64"):
        seconds = build(args.r, arch, args.recipe, mirror, pins)
        rows.append((f"{arch}: build R + {args.recipe} and run its events (min)", seconds / 60))
        image = f"{REPOSITORY}:{readable_tag(args.r, 'debian', arch, args.recipe)}"
        sizes[arch] = client.images.get(image).attrs["Size"] / 1e6
        for emulator in ("ours", "aws"):
            outcome = events(image, args.recipe, emulator)
            rows.append((f"{arch}: events under the {emulator} emulator", outcome))
    for arch, size in sizes.items():
        rows.append((f"{arch}: image size, uncompressed (MB)", size))

    print(f"R {args.r} + {args.recipe}, debian family, {time.strftime('%Y-%m-%d')}\n")
    print("| measure | value |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value:.1f} |" if isinstance(value, float) else f"| {name} | {value} |")


if __name__ == "__main__":
    main()
