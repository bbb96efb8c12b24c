#!/usr/bin/env python3
"""Build R container images for AWS Lambda.

  python build.py --r 4.0.2                  build R 4.0.2 on the default family (al2023)
  python build.py --r 4.5 --family debian    newest pinned 4.5.x on a Debian base
  python build.py --r 4.5.0 --render         only write images/r-4.5.0-al2023-x86_64/Dockerfile
  python build.py render                     re-render every pinned Dockerfile under images/
  python build.py update --r 4.5.1           pin a new R release: download it, write its sha256
  python build.py update                     pin every new R release and base-image digest
  python build.py matrix --arch arm64        the build matrix (JSON) from VERSIONS.toml, recipes/
  python build.py --r 4.5.0 --recipe json-api --test --push
                                             build a recipe image, run its events, push to ECR
  python build.py lock json-api              resolve and lock a recipe's CRAN packages
  python build.py test --image REF           run an image's events the way Lambda runs them
  python build.py serve --image REF          serve it through Lambda's Invoke API on 127.0.0.1

Exit status: 0 success, 1 the job failed, 2 bad input.
"""

import argparse
import sys
import tomllib
from pathlib import Path

from rlambda import job, recipes
from rlambda import pins as pinning
from rlambda.build import render, versions
from rlambda.build.builder import BuildRequest
from rlambda.build.platforms import ARCHITECTURES, DEFAULT_FAMILY, FAMILIES
from rlambda.ci import matrix
from rlambda.errors import JobError, UsageError, report
from rlambda.local import events
from rlambda.local.service import cli as serve_cli
from rlambda.registry import add_push_arguments, push_options


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="build.py",
        description="Build an R image for AWS Lambda from pinned, verified sources.",
        epilog="Subcommands: render, update, lock, matrix, test, serve (each with --help)."
        " See README.md.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--r",
        required=True,
        metavar="VERSION",
        help="R version: exact (4.0.2) or a prefix (4.0 → newest pinned 4.0.x)",
    )
    parser.add_argument(
        "--family",
        default=DEFAULT_FAMILY,
        help=f"base image family: {', '.join(FAMILIES)} (default {DEFAULT_FAMILY})",
    )
    parser.add_argument(
        "--arch",
        default="x86_64",
        help=f"Lambda architecture: {', '.join(ARCHITECTURES)} (default x86_64)",
    )
    parser.add_argument(
        "--cran-mirror",
        metavar="URL",
        help="CRAN mirror to download from (http://, https:// or file://);"
        " default: cran.mirror in VERSIONS.toml",
    )
    parser.add_argument(
        "--base-image",
        metavar="REF",
        help="use this local image instead of the family's pinned base (a stand-in for a"
        " base that cannot be pulled, e.g. rlambda-local/debian:bookworm)",
    )
    parser.add_argument(
        "--no-cache",
        action="store_true",
        help="rebuild every layer, even when an image with the same content hash exists",
    )
    parser.add_argument(
        "--recipe",
        metavar="NAME",
        help="build recipes/NAME (its function and locked packages) on top of the base image",
    )
    parser.add_argument(
        "--test",
        action="store_true",
        help="run the recipe's events/*.json against the image as Lambda would (without"
        " --recipe: the hello recipe on this base); nothing is pushed if one fails",
    )
    parser.add_argument(
        "--memory", type=int, default=512, metavar="MB", help="memory for --test (default 512)"
    )
    parser.add_argument(
        "--timeout", type=float, default=30, metavar="S", help="timeout for --test (default 30)"
    )
    parser.add_argument("--push", action="store_true", help="push the image to ECR (see below)")
    parser.add_argument(
        "--json", action="store_true", help="print the result (tags, tests, push) as JSON"
    )
    add_versions_file(parser)
    parser.add_argument(
        "--render",
        action="store_true",
        help="write the Dockerfile under images/ and stop; nothing is downloaded or built",
    )
    add_push_arguments(parser)
    return parser


def lock_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="build.py lock",
        description="Resolve a recipe's packages from the mirror's PACKAGES index and write"
        " recipes/NAME/lock.toml (versions, sha256 of the bytes, install order); then re-render"
        " images/. Builds never resolve: they install the lock.",
    )
    parser.add_argument("recipe", metavar="NAME", help="a recipe under recipes/")
    parser.add_argument(
        "--r",
        metavar="VERSION",
        help="R version to resolve for (default: the lock's, else the newest pinned)",
    )
    parser.add_argument("--cran-mirror", metavar="URL", help="mirror to resolve against")
    return parser


def lock_one(name: str, r_version: str | None, mirror: str | None) -> None:
    pins = versions.load()
    path = recipes.recipe_dir(name)
    lock_file = path / "lock.toml"
    if r_version is None and lock_file.is_file():
        # Re-locking keeps the R version the lock was made for (the file may be stale).
        r_version = tomllib.loads(lock_file.read_text()).get("lock", {}).get("r_version")
    r = pins.resolve_r(r_version or pins.pinned_list().split(", ")[-1])
    print(recipes.lock_recipe(path, r_version=r.version, cran_mirror=mirror))
    render.write_all(pins, render.IMAGES_DIR)


def update_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="build.py update",
        description="Pin from a mirror into VERSIONS.toml: download, compute the sha256, write"
        " the pin, and re-render images/. An existing pin is never overwritten. Without --r or"
        " --package: find new R releases and base-image digests and pin them (see"
        " `build.py update --no-r --help`).",
    )
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--r", metavar="X.Y.Z", help="an R release to pin")
    what.add_argument(
        "--package", metavar="NAME", help="a runtime R package: pin the mirror's current release"
    )
    parser.add_argument("--cran-mirror", metavar="URL", help="mirror to download from")
    add_versions_file(parser)
    return parser


def add_versions_file(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--versions-file",
        metavar="PATH",
        type=Path,
        default=versions.VERSIONS_FILE,
        help="the pins to use instead of VERSIONS.toml (e.g. a copy re-pinned against a local"
        " mirror; images/ is only re-rendered for VERSIONS.toml itself)",
    )


def main(argv: list[str]) -> int:
    try:
        if argv[:1] == ["render"]:
            if len(argv) > 1:
                raise UsageError("`build.py render` takes no arguments")
            for path in render.write_all(versions.load(), render.IMAGES_DIR):
                print(path)
            return 0
        if argv[:1] == ["test"]:
            return events.main(argv[1:])
        if argv[:1] == ["serve"]:
            return serve_cli.main(argv[1:])
        if argv[:1] == ["matrix"]:
            return matrix.main(argv[1:])
        if argv[:1] == ["update"] and not {"--r", "--package"} & set(argv):
            # No release named: look on the mirror for new R releases and base digests.
            return pinning.main(argv[1:])
        if argv[:1] == ["update"]:
            args = update_parser().parse_args(argv[1:])
            own = args.versions_file.resolve() == versions.VERSIONS_FILE
            images_dir = render.IMAGES_DIR if own else None
            if args.r:
                pinning.pin_release(args.r, args.cran_mirror, args.versions_file, images_dir)
            else:
                pinning.pin_package(args.package, args.cran_mirror, args.versions_file, images_dir)
            return 0

        if argv[:1] == ["lock"]:
            args = lock_parser().parse_args(argv[1:])
            lock_one(args.recipe, args.r, args.cran_mirror)
            return 0

        args = build_parser().parse_args(argv)
        pins = versions.load(args.versions_file)
        r = pins.resolve_r(args.r)
        if r.version != args.r:
            print(f"==> --r {args.r} resolved to R {r.version}", file=sys.stderr)
        request = BuildRequest(
            r.version,
            args.family,
            args.arch,
            args.cran_mirror,
            args.base_image,
            args.no_cache,
            args.recipe,
        )
        if args.render:
            print(render.write_one(pins, r.version, request.family, request.arch))
            return 0
        # Push options are checked before hours of building, not after.
        options = push_options(args, recipe=args.recipe) if args.push else None
        test = job.TestSettings(args.memory, args.timeout) if args.test else None
        return job.run(pins, request, test=test, push=options, as_json=args.json)
    except (UsageError, JobError) as e:
        return report(e)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
