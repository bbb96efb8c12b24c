"""Benchmark recipe images on the local stand-ins: build time with the base image cached, the
size each recipe adds over its base, and proof that a recipe leaves the R layers untouched.

  .venv/bin/python bench/recipes.py [--r 4.5.0] [--recipes hello,json-api,...]

Each recipe is built with no layer cache of its own (--no-cache for the recipe only); the base
R image is built first, normally (a no-op once it exists). Needs scripts/setup.sh's stand-ins.
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

import docker

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.base_image import BASE, local_pins, serve_mirror  # noqa: E402
from rlambda.build.builder import build_base_image, build_recipe_image  # noqa: E402
from rlambda.pins import versions  # noqa: E402
from rlambda.target import resolve  # noqa: E402

RECIPES = "hello,json-api,xml-extract,s3-summary"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--r", default="4.5.0")
    parser.add_argument("--recipes", default=RECIPES)
    args = parser.parse_args()
    client = docker.from_env()
    mirror = serve_mirror()
    pins = versions.load(local_pins(mirror, Path(tempfile.mkdtemp())))

    target = resolve(
        pins,
        r_version=args.r,
        family_name="debian",
        arch="x86_64",
        cran_mirror=mirror,
        base_image=BASE,
    )
    base = build_base_image(target, client)
    base_image = client.images.get(base.image_id)
    base_layers = base_image.attrs["RootFS"]["Layers"]

    rows = []
    for name in args.recipes.split(","):
        started = time.monotonic()
        recipe = resolve(
            pins,
            r_version=args.r,
            family_name="debian",
            arch="x86_64",
            cran_mirror=mirror,
            base_image=BASE,
            recipe=name,
            no_cache=True,
        )
        image = build_recipe_image(recipe, base, client)
        seconds = time.monotonic() - started
        attrs = client.images.get(image.image_id).attrs
        added = (attrs["Size"] - base_image.attrs["Size"]) / 1e6
        layers = attrs["RootFS"]["Layers"]
        shared = layers[: len(base_layers)] == base_layers
        count = len(layers) - len(base_layers)
        rows.append((name, f"{seconds:.1f}", f"{added:.1f}", count, shared))

    print(f"R {args.r}, debian family, x86_64, {time.strftime('%Y-%m-%d')}; base image")
    print(f"{base.repository}:{base.readable_tag} ({base_image.attrs['Size'] / 1e6:.1f} MB)\n")
    print("| recipe | build, base cached (s) | size added (MB) | layers added | R layers shared |")
    print("|---|---|---|---|---|")
    for name, seconds, added, count, shared in rows:
        print(f"| {name} | {seconds} | {added} | {count} | {'yes' if shared else 'NO'} |")
    print(f"\ncommand: .venv/bin/python bench/recipes.py --r {args.r} --recipes {args.recipes}")


if __name__ == "__main__":
    main()
