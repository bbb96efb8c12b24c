"""`build.py test`: its arguments, and a run of every event file against an image."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from rlambda.aws import add_credentials_argument, credentials_from_args
from rlambda.errors import JobError, UsageError, report
from rlambda.function_env import add_env_arguments, environment
from rlambda.local.docker_launcher import ImageNotFoundError
from rlambda.local.runtime_api import RuntimeApiError

from . import files
from .run import run_events
from .settings import DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT_S, EMULATORS, TestSettings
from .table import format_table


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="build.py test",
        description="Run an image as Lambda would (read-only root, uid 993, tmpfs /tmp, "
        "memory limit, Lambda's environment) against the Runtime API emulator (or AWS's RIE: "
        "--emulator aws), invoke it "
        "with each event file, and compare the results with what the files expect.",
        epilog=files.__doc__.split("\n\n", 1)[1] if files.__doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser)
    return parser


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--image", required=True, metavar="REF", help="local image to test")
    parser.add_argument(
        "--events",
        default="events",
        metavar="DIR",
        help="directory of event files (*.json; default: ./events)",
    )
    parser.add_argument(
        "--memory",
        type=int,
        default=DEFAULT_MEMORY_MB,
        metavar="MB",
        help=f"the function's memory setting, 128-10240 (default {DEFAULT_MEMORY_MB})",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_S,
        metavar="S",
        help=f"the function's timeout in seconds; bounds init too (default {DEFAULT_TIMEOUT_S:g})",
    )
    add_emulator_arguments(parser)
    add_credentials_argument(parser)
    add_env_arguments(parser, replaces=False)
    parser.add_argument(
        "--prime",
        type=Path,
        metavar="EVENT",
        help="with --snapstart: an event file run through the handler before the snapshot"
        " (RLAMBDA_SNAPSTART_PRIME); its result is dropped, and a failure fails init",
    )


def add_emulator_arguments(parser: argparse.ArgumentParser) -> None:
    """--emulator, --max-concurrency and --snapstart, for `build.py test` and `build.py --test`."""
    parser.add_argument(
        "--emulator",
        choices=EMULATORS,
        default="ours",
        help="who plays Lambda: ours (the project's Runtime API emulator, the default) or aws"
        " (AWS's Runtime Interface Emulator, pinned in VERSIONS.toml; it shows less: no"
        " X-Amz-Function-Error header, 200 on a timeout)",
    )
    parser.add_argument(
        "--max-concurrency",
        type=int,
        metavar="N",
        help="with --emulator aws: its managed-instances mode (AWS_LAMBDA_MAX_CONCURRENCY=N)",
    )
    parser.add_argument(
        "--snapstart",
        action="store_true",
        help="play Lambda SnapStart: init with AWS_LAMBDA_INITIALIZATION_TYPE=snap-start, the"
        " runtime's before-snapshot hooks and GET /runtime/restore/next, then a restore (the"
        " same process goes on: no snapshot is taken), its after-restore hooks, and the events;"
        " init, restore and first-invoke times are reported apart (with build.py --deploy: also"
        " turns SnapStart on for the function, see deploy --snapstart)",
    )


def run(args: argparse.Namespace) -> int:
    """`build.py test`: 0 every event passed, 1 one failed (or the run did), 2 bad input."""
    try:
        settings = TestSettings(
            args.memory, args.timeout, args.emulator, args.max_concurrency, args.snapstart
        )
        outcomes = run_events(
            args.image,
            Path(args.events),
            aws_credentials=credentials_from_args(args),
            env=environment(args),
            memory_mb=settings.memory_mb,
            timeout_s=settings.timeout_s,
            output=sys.stderr,
            emulator=settings.emulator,
            max_concurrency=settings.max_concurrency,
            snapstart=settings.snapstart,
            prime=args.prime,
        )
    except (UsageError, JobError) as exc:
        return report(exc)
    except ImageNotFoundError as exc:
        return report(UsageError(str(exc)))
    except RuntimeApiError as exc:
        return report(JobError(str(exc)))
    print(format_table(outcomes))
    return 0 if all(outcome.passed for outcome in outcomes) else 1


def main(argv: Sequence[str]) -> int:
    try:
        args = build_parser().parse_args(list(argv))
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return int(exc.code or 0)
    return run(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
