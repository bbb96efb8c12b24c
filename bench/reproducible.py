"""Build the same base R image twice with no layer cache and compare the two R install trees
file by file. Prints a markdown summary for BENCHMARKS.md (and the differing paths).

  .venv/bin/python bench/reproducible.py --r 4.5.0

Each build compiles R from scratch (~5 min on 2 cores). Needs what scripts/setup.sh prepares.
"""

import argparse
import hashlib
import io
import json
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import docker

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.base_image import BASE, local_pins, serve_mirror  # noqa: E402

TREES = ("/var/lang", "/var/runtime")


def build_once(r_version: str, mirror: str, pins: Path) -> str:
    """One full build through build.py (--no-cache); returns the image ID it reports."""
    command = [sys.executable, str(ROOT / "build.py"), "--r", r_version, "--family", "debian"]
    command += ["--base-image", BASE, "--cran-mirror", mirror, "--versions-file", str(pins)]
    command += ["--no-cache", "--json"]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(out)["image_id"]


def tree_hashes(client: docker.DockerClient, image_id: str) -> dict[str, str]:
    """path -> sha256 of a regular file's bytes, or 'link -> target', for every file in TREES."""
    hashes = {}
    container = client.containers.create(image_id, entrypoint=["/bin/true"], command=[])
    try:
        for tree in TREES:
            chunks, _ = container.get_archive(tree)
            with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as tar:
                for member in tar:
                    if member.isfile():
                        data = tar.extractfile(member)
                        assert data is not None
                        digest = hashlib.sha256(data.read()).hexdigest()
                        hashes[member.name] = f"{digest} mode {member.mode:o}"
                    elif member.issym():
                        hashes[member.name] = f"link -> {member.linkname}"
    finally:
        container.remove(force=True)
    return hashes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--r", default="4.5.0")
    args = parser.parse_args()
    client = docker.from_env()
    mirror = serve_mirror()
    pins = local_pins(mirror, Path(tempfile.mkdtemp()))

    trees = []
    for _ in range(2):
        started = time.monotonic()
        image_id = build_once(args.r, mirror, pins)
        print(f"built {image_id} in {time.monotonic() - started:.0f} s", file=sys.stderr)
        trees.append(tree_hashes(client, image_id))
    first, second = trees
    differing = sorted(p for p in first.keys() | second.keys() if first.get(p) != second.get(p))

    print(f"R {args.r}, debian family, x86_64, {time.strftime('%Y-%m-%d')}\n")
    print("| measure | value |\n|---|---|")
    print(f"| files compared in {', '.join(TREES)} | {len(first)} |")
    print(f"| files that differ between the two builds | {len(differing)} |")
    for path in differing:
        print(f"- `{path}`: {first.get(path, 'absent')} / {second.get(path, 'absent')}")


if __name__ == "__main__":
    main()
