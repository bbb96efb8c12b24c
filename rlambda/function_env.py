"""A function's environment from the command line: `--env KEY=VALUE` (or `--env KEY`, the value
taken from this process's environment, which keeps secrets off the command line) and
`--env-file PATH`, for every command that gives a function its variables: registry.py deploy,
build.py --deploy, build.py serve and build.py test."""

import argparse
import os
import re
from pathlib import Path

from rlambda import inputs
from rlambda.errors import UsageError

_ENV_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


def _key_value(value: str) -> tuple[str, str | None]:
    """--env KEY=VALUE, or --env KEY (the value from this process's environment, read when the
    plan is made). No message quotes a value: it may be a secret."""
    key, sep, val = value.partition("=")
    if not _ENV_KEY.fullmatch(key):
        # The argument is not echoed: without its "=" it may be a value pasted by mistake.
        raise argparse.ArgumentTypeError(
            "expected KEY=VALUE or KEY (KEY: a letter, then letters, digits, _)"
        )
    return key, val if sep else None


def add_env_arguments(group: argparse._ActionsContainer, *, replaces: bool) -> None:
    """--env and --env-file. `replaces`: the set given replaces the function's whole
    environment (a deploy to an existing function), said in the help."""
    whole = "; replaces the whole set when given" if replaces else ""
    group.add_argument(
        "--env", action="append", type=_key_value, metavar="KEY[=VALUE]",
        help=f"the function's environment (repeatable{whole}); KEY alone takes KEY's value from"
        " this environment, which keeps secrets off the command line",
    )  # fmt: skip
    group.add_argument(
        "--env-file", type=Path, metavar="PATH",
        help="KEY=VALUE lines (# comments, blank lines) for the function's environment;"
        " --env adds to it and wins",
    )  # fmt: skip


def read_env_file(path: Path) -> dict[str, str]:
    """--env-file: KEY=VALUE lines (the value as it is, to the line's end); blank lines and
    lines starting with # are skipped. Errors name the line, never its value."""
    environment: dict[str, str] = {}
    text = inputs.read_text(path, "give a file of KEY=VALUE lines")
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not _ENV_KEY.fullmatch(key):
            raise UsageError(
                f"--env-file {path}, line {number}: expected KEY=VALUE (KEY: a letter, then"
                " letters, digits, _)"
            )
        environment[key] = value
    return environment


def environment(args: argparse.Namespace) -> dict[str, str] | None:
    """The function's environment from --env-file and --env (later wins); None: not given."""
    if args.env is None and args.env_file is None:
        return None
    merged = read_env_file(args.env_file) if args.env_file is not None else {}
    for key, value in args.env or []:
        if value is None:
            if key not in os.environ:
                raise UsageError(f"--env {key}: {key} is not set in this environment")
            value = os.environ[key]
        merged[key] = value
    return merged
