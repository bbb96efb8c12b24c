"""Build R container images for AWS Lambda.

  python build.py build --r 4.0.2            build R 4.0.2 on the default family (al2023)
  python build.py --r 4.5 --family debian    the same command: newest pinned 4.5.x on Debian
  python build.py --r 4.5.0 --recipe json-api --test --push
                                             build a recipe image, run its events, push to ECR
  python build.py --r 4.5.0 --recipe json-api --push --deploy my-api --create-role --function-url
                                             ... then create/update a function, smoke-test it
  python build.py --r 4.5.0 --family debian --recipe xml-extract --layer [--split-layer]
                                             ... and write it as Lambda layer zips (./layers/)
  python build.py render                     re-render every pinned Dockerfile under images/
  python build.py render --r 4.5.0           only write images/r-4.5.0-al2023-x86_64/Dockerfile
  python build.py lock json-api              resolve and lock a recipe's CRAN packages
  python build.py lock ~/src/my-api          ... or an R project's, where it lives (a path)
  python build.py --r 4.5.0 --recipe ~/src/my-api --test
                                             build that project (image name: my-api), test it
  python build.py update --r 4.5.1           pin a new R release: download it, write its sha256
  python build.py update                     pin every new R release and base-image digest
  python build.py matrix --arch arm64        the build matrix (JSON) from VERSIONS.toml, recipes/
  python build.py test --image REF           run an image's events the way Lambda runs them
  python build.py sbom IMAGE                 print the SBOM (CycloneDX 1.5) of an image built here
  python build.py serve --image REF          serve it through Lambda's Invoke API on 127.0.0.1

`build.py COMMAND --help` explains each; options before any command mean `build`.
Exit status: 0 success, 1 the job failed, 2 bad input.
"""

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path

from rlambda import job, recipes, update
from rlambda.build import engine, render, sbom
from rlambda.build.layer import LayerOptions
from rlambda.ci import matrix
from rlambda.errors import JobError, UsageError, report
from rlambda.functions.cli import add_build_deploy_arguments, build_deploy_plan
from rlambda.local.events import cli as events_cli
from rlambda.local.events.settings import DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT_S, TestSettings
from rlambda.local.service import cli as serve
from rlambda.pins import versions
from rlambda.pins.platforms import ARCHITECTURES, DEFAULT_FAMILY, FAMILIES, family_choices
from rlambda.registry.cli import add_push_arguments, push_options
from rlambda.target import Target, resolve


def add_variant_arguments(parser: argparse.ArgumentParser, *, r_required: bool) -> None:
    parser.add_argument(
        "--r",
        required=r_required,
        metavar="VERSION",
        help="R version: exact (4.0.2) or a prefix (4.0 → newest pinned 4.0.x)",
    )
    parser.add_argument(
        "--family",
        default=DEFAULT_FAMILY,
        help=f"base image family: {family_choices()}; default {DEFAULT_FAMILY}"
        + "".join(
            f". {name}: {fam.deprecated}" for name, fam in FAMILIES.items() if fam.deprecated
        ),
    )
    parser.add_argument(
        "--arch",
        default="x86_64",
        help=f"Lambda architecture: {', '.join(ARCHITECTURES)} (default x86_64)",
    )


def add_versions_file(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--versions-file",
        metavar="PATH",
        type=Path,
        default=versions.VERSIONS_FILE,
        help="the pins to use instead of VERSIONS.toml (e.g. a copy re-pinned against a local"
        " mirror)",
    )


def add_build_arguments(parser: argparse.ArgumentParser) -> None:
    add_variant_arguments(parser, r_required=True)
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
        metavar="NAME|PATH",
        help="build recipes/NAME, or the R project in directory PATH (a '/' in it, or an"
        " existing directory: its recipe.toml, or its renv.lock or DESCRIPTION with app.R's"
        " handler), with its locked packages, on top of the base image",
    )
    parser.add_argument(
        "--test",
        action="store_true",
        help="run the recipe's events/*.json against the image as Lambda would (without"
        " --recipe: the hello recipe on this base); nothing is pushed if one fails",
    )
    parser.add_argument(
        "--memory",
        type=int,
        default=DEFAULT_MEMORY_MB,
        metavar="MB",
        help=f"memory for --test, 128-10240 (default {DEFAULT_MEMORY_MB})",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_S,
        metavar="S",
        help=f"timeout for --test, up to 900 (default {DEFAULT_TIMEOUT_S:g})",
    )
    events_cli.add_emulator_arguments(parser)
    parser.add_argument("--push", action="store_true", help="push the image to ECR (see below)")
    layers = parser.add_argument_group("Lambda layers (for zip functions on provided.al2023)")
    layers.add_argument(
        "--layer",
        action="store_true",
        help="also write the image's R, runtime client and packages as a layer zip for /opt",
    )
    layers.add_argument(
        "--split-layer",
        action="store_true",
        help="with --layer and --recipe: an R layer and a packages layer instead of one",
    )
    layers.add_argument(
        "--layer-dir",
        type=Path,
        default=Path("layers"),
        metavar="DIR",
        help="where the layer zips go (default ./layers)",
    )
    layers.add_argument(
        "--other-size",
        type=float,
        default=0.0,
        metavar="MB",
        help="unzipped MB of the function's code and its other layers: they share Lambda's"
        " 250 MB with this layer (default 0)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print the result (tags, tests, push, deploy) as JSON"
    )
    add_versions_file(parser)
    add_push_arguments(parser)
    add_build_deploy_arguments(parser)


def build_job(args: argparse.Namespace) -> job.Job:
    """The one place a build's arguments become a Target and a Job: every input is checked
    here."""
    if not args.test and (args.emulator != "ours" or args.max_concurrency is not None):
        raise UsageError("--emulator and --max-concurrency choose how --test runs: add --test")
    if args.snapstart and not (args.test or args.deploy):
        raise UsageError("--snapstart goes with --test (how events run) or --deploy")
    pins_ = versions.load(args.versions_file)
    target = resolve(
        pins_,
        r_version=args.r,
        family_name=args.family,
        arch=args.arch,
        cran_mirror=args.cran_mirror,
        base_image=args.base_image,
        recipe=args.recipe,
        no_cache=args.no_cache,
    )
    test = None
    if args.test:
        test = TestSettings(
            args.memory, args.timeout, args.emulator, args.max_concurrency, args.snapstart
        )
    # The tags carry the recipe's name (a project directory's own), never the path given.
    name = target.recipe.name if target.recipe else None
    push = push_options(args, recipe=name) if args.push else None
    planned = job.plan(target, test=test, push=push)
    say_resolved(args.r, target)
    return planned


def say_resolved(asked: str, target: Target) -> None:
    if target.r.version != asked:
        print(f"==> --r {asked} resolved to R {target.r.version}", file=sys.stderr)


def run_build(args: argparse.Namespace) -> int:
    layer = layer_options(args)
    planned = build_job(args)
    target = planned.target
    # --deploy is checked too (flags, the function, its role) before anything is built.
    events_dir = target.recipe.recipe.events_dir if target.recipe else None
    deploy = build_deploy_plan(args, events_dir)
    return job.run(planned, as_json=args.json, deploy=deploy, layer=layer)


def layer_options(args: argparse.Namespace) -> LayerOptions | None:
    if not args.layer:
        if args.split_layer:
            raise UsageError("--split-layer needs --layer")
        return None
    if args.split_layer and not args.recipe:
        raise UsageError("--split-layer needs --recipe NAME: without one there are no packages")
    if args.other_size < 0:
        raise UsageError(f"--other-size {args.other_size:g}: expected a size in MB, 0 or more")
    if args.layer_dir.exists() and not args.layer_dir.is_dir():
        raise UsageError(f"--layer-dir {args.layer_dir}: not a directory")
    return LayerOptions(args.layer_dir, split=args.split_layer, other_mb=args.other_size)


def add_render_arguments(parser: argparse.ArgumentParser) -> None:
    add_variant_arguments(parser, r_required=False)


def run_render(args: argparse.Namespace) -> int:
    pinned = versions.load()
    if args.r is None:
        for path in render.write_all(pinned, render.IMAGES_DIR):
            print(path)
        return 0
    target = resolve(pinned, r_version=args.r, family_name=args.family, arch=args.arch)
    say_resolved(args.r, target)
    print(render.write_one(target))
    return 0


def add_lock_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "recipe",
        metavar="NAME|PATH",
        help="a recipe under recipes/, or a project directory (its lock goes to PATH/lock.toml)",
    )
    parser.add_argument(
        "--r",
        metavar="VERSION",
        help="R version to resolve for (default: the lock's, else the newest pinned)",
    )
    parser.add_argument("--cran-mirror", metavar="URL", help="mirror to resolve against")
    parser.add_argument(
        "--strict",
        action="store_true",
        help="an renv.lock made with another R version than --r is an error, not a warning",
    )


def run_lock(args: argparse.Namespace) -> int:
    pinned = versions.load()
    path, project = recipes.locate(args.recipe)
    lock_file = path / "lock.toml"
    r_version = args.r
    if r_version is None:
        # Re-locking keeps the R version the lock was made for (the file may be stale).
        r_version = recipes.locked_r_version(path, say=lambda line: print(line, file=sys.stderr))
    r = pinned.resolve_r(r_version) if r_version else pinned.newest()
    before = lock_file.read_bytes() if lock_file.is_file() else None
    lock = recipes.lock_recipe(
        path,
        r_version=r.version,
        cran_mirror=args.cran_mirror,
        default_mirror=pinned.cran_mirror,
        strict=args.strict,
        project=project,
    )
    why = "a family it is built on cannot install what it needs"
    try:
        # Every supported family the recipe is built on must be able to install what the lock
        # needs (a deprecated one is checked when a build names it).
        recipe = recipes.load_recipe(path, project=project)
        supported = [name for name, fam in FAMILIES.items() if not fam.deprecated]
        recipes.check_system_requirements(recipes.load_lock(path, recipe), recipe, supported)
        if not project:
            # A project outside recipes/ is rendered into its build context, never into images/.
            why = "images/ could not be rendered"
            render.write_all(pinned, render.IMAGES_DIR)
    except BaseException:
        # The lock and images/ change together or not at all: a new lock beside stale renders
        # would fail the PR check (images/ is up to date) for a render that never ran.
        if before is None:
            lock_file.unlink(missing_ok=True)
        else:
            lock_file.write_bytes(before)
        print(f"==> {lock_file} left as it was: {why}", file=sys.stderr)
        raise
    print(lock)
    return 0


def add_sbom_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("image", metavar="IMAGE", help="image reference or ID")


def run_sbom(args: argparse.Namespace) -> int:
    print(json.dumps(sbom.read(engine.connect(), args.image), indent=2))
    return 0


# name: (help, add its arguments, run it, its standalone parser for the texts, if any)
COMMANDS: dict[str, tuple[str, Callable, Callable, Callable | None]] = {
    "build": ("build an image (the default command)", add_build_arguments, run_build, None),
    "render": ("write Dockerfiles under images/", add_render_arguments, run_render, None),
    "lock": ("resolve and lock a recipe's CRAN packages", add_lock_arguments, run_lock, None),
    "update": (
        "pin R releases, runtime packages, base digests",
        update.add_arguments,
        update.run,
        update.parser,
    ),
    "matrix": ("the CI build matrix, as JSON", matrix.add_arguments, matrix.run, matrix.parser),
    "test": (
        "run event files against an image",
        events_cli.add_arguments,
        events_cli.run,
        events_cli.build_parser,
    ),
    "sbom": ("print an image's SBOM (CycloneDX 1.5)", add_sbom_arguments, run_sbom, None),
    "serve": (
        "Lambda's Invoke API for images, on 127.0.0.1",
        serve.add_arguments,
        serve.run,
        serve.build_parser,
    ),
}
DESCRIPTIONS = {
    "build": "Build an R image for AWS Lambda from pinned, verified sources; with --recipe a"
    " function on it; with --test run its events; with --push put it in ECR. Every option is"
    " checked before anything is downloaded or built.",
    "render": "Without --r: re-render every pinned Dockerfile under images/ (and remove stale"
    " ones). With --r: write only that variant's Dockerfile. Nothing is downloaded or built.",
    "sbom": "Print the SBOM (CycloneDX 1.5 JSON) of an image built here. It is read from the"
    f" image ({sbom.SBOM_PATH}, named by its {sbom.SBOM_LABEL} label) without running it.",
    "lock": "Resolve a recipe's packages from the mirror's PACKAGES index and write"
    " recipes/NAME/lock.toml (versions, sha256 of the bytes, install order); then re-render"
    " images/. For a project directory (PATH), write PATH/lock.toml; images/ is not touched."
    " Builds never resolve: they install the lock.",
}


def _named(text: str | None, prog: str) -> str | None:
    """A help text written for build.py, as `prog` (the installed command) shows it."""
    if text is None or prog == "build.py":
        return text
    lines = []
    for line in text.split("\n"):
        named = line.replace("python build.py", prog).replace("build.py", prog)
        # Keep the examples' second column where it was: widen the gap before it.
        lost = len(line) - len(named)
        if lost > 0:
            named = re.sub(r"(?<=\S)(   +)(?=\S)", rf"\g<1>{' ' * lost}", named, count=1)
        lines.append(named)
    return "\n".join(lines)


def parser(prog: str = "build.py") -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog=prog,
        description=_named(__doc__, prog),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = top.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (summary, add_arguments, run, own) in COMMANDS.items():
        texts = own() if own else argparse.ArgumentParser(description=DESCRIPTIONS[name])
        sub = commands.add_parser(
            name,
            help=summary,
            description=_named(texts.description, prog),
            epilog=_named(texts.epilog, prog),
            formatter_class=texts.formatter_class,
        )
        add_arguments(sub)
        sub.set_defaults(run=run)
    return top


def main(argv: list[str], prog: str = "build.py") -> int:
    if argv and argv[0].startswith("-") and argv[0] not in ("-h", "--help"):
        argv = ["build", *argv]  # `build.py --r 4.5.0 ...` is `build.py build --r 4.5.0 ...`
    args = parser(prog).parse_args(argv)
    try:
        return args.run(args)
    except (UsageError, JobError) as e:
        return report(e, as_json=getattr(args, "json", False))


# The checkout this package is imported from. Builds read its files (the Dockerfile templates,
# the runtime client, the builder's script, the pins, recipes/hello for --test) in place, so
# the installed command needs an editable install of a checkout; a wheel has none of them.
CHECKOUT = Path(__file__).resolve().parents[1]
CHECKOUT_FILES = (
    "VERSIONS.toml",
    "Dockerfile.base",
    "Dockerfile.recipe",
    "runtime/bootstrap",
    "docker/runtime-libs.sh",
    "recipes/hello/recipe.toml",
)


def check_checkout(root: Path | None = None) -> None:
    """A UsageError unless `root` (default: CHECKOUT) holds the repository's files a build
    reads."""
    root = root or CHECKOUT
    missing = next((name for name in CHECKOUT_FILES if not (root / name).is_file()), None)
    if missing is not None:
        raise UsageError(
            f"rlambda reads its Dockerfiles, runtime client and pins from a checkout of its"
            f" repository, and {root} is not one ({root / missing} not found): install it with"
            " pip install -e <checkout>"
        )


def entry() -> None:
    """The `rlambda` command that pip installs: build.py under its own name."""
    try:
        check_checkout()
    except UsageError as e:
        sys.exit(report(e))
    sys.exit(main(sys.argv[1:], prog="rlambda"))
