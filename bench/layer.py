"""Benchmark Lambda layers against the image they come from: layer build time, zipped and
unzipped sizes, and the recipe's events run both ways (image; zip function with the layers at
/opt on the bare base), side by side in one run. Prints a markdown table for BENCHMARKS.md.

  .venv/bin/python bench/layer.py [--recipe xml-extract] [--rounds 3]

Needs the recipe image already built on the local stand-ins (the tests build it:
r-lambda:r-4.5.0-<recipe>-debian-x86_64) and the Debian base image.
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rlambda.build import engine  # noqa: E402
from rlambda.build.builder import function_files  # noqa: E402
from rlambda.build.layer import LayerOptions, build_layers  # noqa: E402
from rlambda.local.events.run import run_events  # noqa: E402
from rlambda.local.zip_function import run_zip_events  # noqa: E402
from rlambda.pins import versions  # noqa: E402
from rlambda.target import resolve  # noqa: E402

BASE = "rlambda-local/debian:bookworm"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="xml-extract")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    target = resolve(
        versions.load(),
        r_version="4.5.0",
        family_name="debian",
        arch="x86_64",
        base_image=BASE,
        recipe=args.recipe,
    )
    image = f"r-lambda:{target.readable_tag}"
    client = engine.connect()
    recipe = target.recipe.recipe
    code = {k.removeprefix("function/"): v for k, v in function_files(recipe).items()}
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        layers = build_layers(
            target, image, LayerOptions(Path(tmp), split=True), client, out=sys.stderr
        )
        build_s = time.perf_counter() - start
        sizes = [(x.path.name, x.path.stat().st_size, x.unzipped_bytes) for x in layers]
        runs: dict[str, list] = {"image": [], "layer": []}
        for _ in range(args.rounds):  # interleaved, so load from other work hits both alike
            runs["image"].append(run_events(image, recipe.events_dir, client=client))
            runs["layer"].append(
                run_zip_events(
                    BASE,
                    [x.path for x in layers],
                    code,
                    recipe.events_dir,
                    recipe.handler,
                    client=client,
                )
            )
    print(f"Layer build from {image}: {build_s:.1f} s (one run)\n")
    print("| layer zip | zipped | unzipped |\n|---|---|---|")
    for name, zipped, unzipped in sizes:
        print(f"| `{name}` | {zipped / 1e6:.1f} MB | {unzipped / 1e6:.1f} MB |")
    print(f"\n| {args.recipe}, median of {args.rounds} | init (cold) | first invoke | warm invoke"
          " | max memory |\n|---|---|---|---|---|")  # fmt: skip
    for name, rounds in runs.items():
        assert all(o.passed for r in rounds for o in r), f"{name}: an event failed"
        init = statistics.median(r[0].init_ms for r in rounds)
        first = statistics.median(r[0].duration_ms for r in rounds)
        warm = statistics.median(o.duration_ms for r in rounds for o in r[1:])
        memory = statistics.median(max(o.max_memory_mb or 0 for o in r) for r in rounds)
        print(f"| {name} | {init:.0f} ms | {first:.0f} ms | {warm:.1f} ms | {memory:.0f} MB |")


if __name__ == "__main__":
    main()
