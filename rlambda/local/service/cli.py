"""`python build.py serve`: serve images through Lambda's Invoke API on 127.0.0.1.

  build.py serve --image r-lambda:r-4.5.0-hello-debian-x86_64
  build.py serve --r 4.5.0 --recipe json-api --family debian --http 8080
  build.py serve --function hello=IMAGE --function api=IMAGE2 --concurrency 8 --queue

Exit status: 0 stopped by SIGINT/SIGTERM, 1 the service could not start, 2 bad input.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from rlambda.aws import add_credentials_argument, credentials_from_args
from rlambda.errors import JobError, UsageError, report
from rlambda.function_env import add_env_arguments, environment
from rlambda.inputs import read_text
from rlambda.local.docker_launcher import ImageNotFoundError
from rlambda.local.events.settings import TestSettings
from rlambda.pins import versions
from rlambda.pins.platforms import DEFAULT_FAMILY
from rlambda.recipes import recipe_name
from rlambda.target import resolve, tags

from .pool import FunctionSpec
from .service import DEFAULT_CONCURRENCY, LAMBDA_ASYNC_RETRY_DELAYS_S, Service, ServiceError
from .sigv4 import Verifier

# SAM CLI's `sam local start-lambda` listens on 3001; the same default here.
DEFAULT_PORT = 3001
DEFAULT_NAME = "function"
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# KEY:SECRET for the signature check when neither --credentials nor --credentials-file is given.
CREDENTIALS_ENV = "RLAMBDA_SERVE_CREDENTIALS"


def port_number(text: str) -> int:
    """argparse type: a TCP port, 1-65535, or 0 for any free one."""
    try:
        port = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port: 1-65535, or 0 for any free one")
    return port


def http_front(text: str) -> tuple[str | None, int]:
    """argparse type for --http [NAME=]PORT: (NAME or None, PORT)."""
    name, sep, port = text.rpartition("=")
    if sep and not name:
        raise argparse.ArgumentTypeError(f"{text!r}: expected [NAME=]PORT")
    try:
        return (name if sep else None), port_number(port)
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from None


def build_parser() -> argparse.ArgumentParser:
    """The standalone parser (its texts are also `build.py serve --help`'s)."""
    parser = argparse.ArgumentParser(
        prog="build.py serve",
        description="Serve container images through Lambda's Invoke API on 127.0.0.1, each "
        "function with up to N Lambda-like environments (containers run as Lambda runs them, "
        "each with its own Runtime API emulator). Point any SDK's endpoint URL at it.",
        epilog=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser)
    return parser


def add_arguments(parser: argparse.ArgumentParser) -> None:
    what = parser.add_argument_group("what to serve (one of)")
    what.add_argument("--image", metavar="IMAGE", help="a local image, served as --name")
    what.add_argument("--r", metavar="VERSION", help="with --recipe: the image build.py tagged")
    what.add_argument(
        "--recipe", metavar="NAME|PATH", help="with --r: the recipe's (or project's) image"
    )
    what.add_argument(
        "--function",
        action="append",
        default=[],
        metavar="NAME=IMAGE",
        help="serve IMAGE as function NAME (repeatable)",
    )
    parser.add_argument("--family", default=DEFAULT_FAMILY, help="with --r/--recipe")
    parser.add_argument("--arch", default="x86_64", help="with --r/--recipe")
    parser.add_argument(
        "--name",
        help=f"function name for --image or --recipe (default: the recipe, else {DEFAULT_NAME!r})",
    )
    parser.add_argument("--handler", help="override the image's CMD (with --image or --recipe)")
    parser.add_argument(
        "--port",
        type=port_number,
        default=DEFAULT_PORT,
        help=f"Invoke API port (default {DEFAULT_PORT}; 0: any free one)",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=DEFAULT_CONCURRENCY,
        metavar="N",
        help=f"environments per function (default {DEFAULT_CONCURRENCY}); beyond N in flight: 429",
    )
    parser.add_argument(
        "--queue",
        action="store_true",
        help="beyond N in flight, wait for a free environment instead of 429",
    )
    parser.add_argument(
        "--memory", type=int, default=512, metavar="MB", help="128-10240 (default 512)"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=30,
        metavar="S",
        help="per invoke, bounds init too (default 30)",
    )
    secrets = parser.add_mutually_exclusive_group()
    secrets.add_argument(
        "--credentials",
        metavar="KEY:SECRET",
        help="verify AWS Signature V4 with these credentials (403 otherwise); without it (or "
        f"--credentials-file, or ${CREDENTIALS_ENV}) any or no signature is accepted. On the "
        "command line the secret is visible to other users (ps): prefer the file or variable",
    )
    secrets.add_argument(
        "--credentials-file",
        metavar="PATH",
        type=Path,
        help="as --credentials, read from PATH (one line KEY:SECRET)",
    )
    parser.add_argument("--region", default="us-east-1", help="the region in ARNs and signatures")
    add_credentials_argument(parser)
    add_env_arguments(parser, replaces=False)
    parser.add_argument(
        "--host-network",
        action="store_true",
        help="give the functions the host's network (its loopback services, e.g. a local S3 "
        "stand-in, the metadata address, the internet); default: none but the Runtime API",
    )
    parser.add_argument(
        "--snapstart",
        action="store_true",
        help="start every environment as a SnapStart restore: init with"
        " AWS_LAMBDA_INITIALIZATION_TYPE=snap-start until GET /runtime/restore/next, then the"
        " after-restore hooks (no snapshot is taken: the same process goes on); REPORT lines"
        " give the Restore Duration",
    )
    parser.add_argument(
        "--http",
        action="append",
        default=[],
        type=http_front,
        metavar="[NAME=]PORT",
        help="also serve a function as a function URL / HTTP API (payload 2.0) on PORT",
    )
    parser.add_argument(
        "--async-retry-delay",
        type=float,
        default=LAMBDA_ASYNC_RETRY_DELAYS_S[0],
        metavar="S",
        help="wait before retrying a failed Event invoke (twice: S, then 2*S; Lambda: 60)",
    )


def _functions(args: argparse.Namespace) -> list[FunctionSpec]:
    given = [bool(args.image), bool(args.r or args.recipe), bool(args.function)]
    if sum(given) != 1:
        _usage("give exactly one of --image, --r with --recipe, or --function NAME=IMAGE")
    common = {
        "memory_mb": args.memory,
        "timeout_s": args.timeout,
        "host_network": args.host_network,
        "aws_credentials": credentials_from_args(args),
        "env": environment(args) or {},
        "snapstart": args.snapstart,
    }
    if args.function:
        if args.name or args.handler:
            _usage("--name and --handler go with --image or --recipe, not --function")
        specs = []
        for item in args.function:
            name, sep, image = item.partition("=")
            if not sep or not name or not image:
                _usage(f"--function {item!r}: expected NAME=IMAGE")
            specs.append(FunctionSpec(name, image, **common))
        return specs
    if args.image:
        image, default_name = args.image, DEFAULT_NAME
    else:
        if not (args.r and args.recipe):
            _usage("--r and --recipe go together (the image `build.py --r V --recipe R` made)")
        # A project directory's image carries its name (recipe.toml's, else the directory's).
        recipe = recipe_name(args.recipe)
        # The readable tag `build.py --r V --recipe R` gives its image: R, family and arch
        # resolved and checked as for a build (a prefix such as 4.5 is the newest pinned).
        # The recipe's lock is not checked: the image exists or it does not.
        target = resolve(versions.load(), r_version=args.r, family_name=args.family, arch=args.arch)
        tag = tags.readable_tag(target.r.version, target.family.name, target.arch, recipe)
        image = f"{tags.REPOSITORY}:{tag}"
        default_name = recipe
    return [FunctionSpec(args.name or default_name, image, handler=args.handler, **common)]


def _http_ports(
    items: Sequence[tuple[str | None, int]], specs: Sequence[FunctionSpec]
) -> dict[str, int]:
    ports: dict[str, int] = {}
    for name, port in items:
        if name is None:
            if len(specs) > 1:
                _usage(
                    f"--http {port}: several functions are served; say which: --http NAME={port}"
                )
            name = specs[0].name
        ports[name] = port
    return ports


def _verifier(args: argparse.Namespace) -> Verifier | None:
    """From --credentials, --credentials-file or $RLAMBDA_SERVE_CREDENTIALS, in that order;
    errors name where the credentials came from, never the secret."""
    if args.credentials:
        where, text = "--credentials", args.credentials
    elif args.credentials_file:
        path = args.credentials_file
        where, text = f"--credentials-file {path}", read_text(path).strip()
    elif os.environ.get(CREDENTIALS_ENV):
        where, text = f"${CREDENTIALS_ENV}", os.environ[CREDENTIALS_ENV].strip()
    else:
        return None
    try:
        return Verifier.parse(text)
    except ValueError as exc:
        raise UsageError(f"{where}: {exc}") from None


def _usage(message: str) -> NoReturn:
    raise UsageError(message)


def main(argv: Sequence[str]) -> int:
    """`build.py serve ARGV` on its own parser (build.py itself goes through run())."""
    try:
        args = build_parser().parse_args(list(argv))
    except SystemExit as exc:  # --help (0) or argparse's own usage error (2)
        return int(exc.code or 0)
    try:
        return run(args)
    except UsageError as exc:
        return report(exc)


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT or SIGTERM: 0 then, 1 if it cannot start, UsageError on bad input."""
    if args.concurrency < 1:
        _usage(f"--concurrency {args.concurrency}: at least 1 environment per function")
    TestSettings(args.memory, args.timeout)  # Lambda's ranges (UsageError)
    if args.async_retry_delay < 0:
        _usage("--async-retry-delay must be 0 or more")
    specs = _functions(args)
    http_ports = _http_ports(args.http, specs)
    verifier = _verifier(args)
    if args.credentials:
        print(
            "note: --credentials puts the secret on the command line, where other users can "
            f"read it (ps); --credentials-file or ${CREDENTIALS_ENV} keep it off",
            file=sys.stderr,
            flush=True,
        )
    try:
        service = Service(
            specs,
            concurrency=args.concurrency,
            queue=args.queue,
            port=args.port,
            http_ports=http_ports,
            verifier=verifier,
            region=args.region,
            async_retry_delays_s=(args.async_retry_delay, 2 * args.async_retry_delay),
        )
    except ValueError as exc:
        return report(UsageError(str(exc)))
    try:
        service.start()
    except (ImageNotFoundError, ValueError) as exc:
        return report(UsageError(str(exc)))
    except ServiceError as exc:
        return report(JobError(str(exc)))
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in STOP_SIGNALS}
    try:
        served = ", ".join(f"{s.name} ({s.image})" for s in specs)
        print(f"Invoke API on {service.endpoint_url} serving {served}", flush=True)
        for name in http_ports:
            print(f"HTTP front of {name} on {service.http_url(name)}", flush=True)
        print(
            f"  concurrency {args.concurrency} per function"
            f"{', queued beyond it' if args.queue else ', 429 beyond it'}; "
            f"signatures {'checked' if verifier else 'not checked'}; "
            f"{'the caller' if args.aws_credentials is not None else 'no'}"
            " AWS credentials for the functions; Ctrl-C stops",
            file=sys.stderr,
            flush=True,
        )
        while not stop.wait(0.2):
            pass
    finally:
        print("stopping: removing every environment's container", file=sys.stderr, flush=True)
        service.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
