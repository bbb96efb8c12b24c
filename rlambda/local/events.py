"""Test an image with events, run as Lambda runs it: `python build.py test --image REF`.

Each event file is invoked in turn against one function (so the first is a cold start and
the rest are warm, unless one crashes the runtime), through the Runtime API emulator with the
image in a Lambda-like container (rlambda.local.docker_launcher.DockerRuntime). The
image's own ENTRYPOINT and CMD choose the runtime and the handler, as on Lambda.

Event files: every `*.json` directly in the events directory, in name order. Each is one
JSON object with exactly these keys:

    {
      "event":   <any JSON>,                  the payload, as the trigger would send it
      "expect":  {"response": <any JSON>}     the handler's result, compared as JSON values
              or {"error_type": "ValueError",    the invoke fails with this errorType
                  "error_message": "boom"}       (optional: a substring of errorMessage)
    }

Instead of "event", "fixture": "<name>" takes a realistic trigger event from
rlambda/local/fixtures/<name>.json: apigateway-rest-v1, apigateway-http-v2, function-url, s3-put,
sqs, eventbridge-scheduled, direct-invoke. "description" (text) may say what the case is for.
Any other key is an error, so a typo cannot silently turn a check off.

An expected error_type is compared with the errorType of the error document the invoke
returned: the handler's own (e.g. "ValueError" from Python, whatever the R runtime sends) or
Lambda's ("Runtime.ExitError", "Sandbox.Timedout", "Runtime.HandlerNotFound", ...).
Under AWS's RIE (--emulator aws) an invoke failed when it did not answer 200, or answered with
an error document (or RIE's "Task timed out" text): RIE does not mark function errors.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TextIO

from rlambda.errors import JobError, UsageError, report
from rlambda.local.aws_rie.function import AwsRie
from rlambda.local.docker_launcher import DockerRuntime, ImageNotFoundError
from rlambda.local.lambda_sandbox import MEMORY_RANGE_MB
from rlambda.local.runtime_api import InvokeResult, RuntimeApiError, RuntimeApiServer

FIXTURES_DIR = Path(__file__).resolve().parent / "fixtures"
DEFAULT_MEMORY_MB = 512
# Lambda's own default is 3 s, too short for many R inits; the emulator bounds init by it too.
DEFAULT_TIMEOUT_S = 30.0
MAX_TIMEOUT_S = 900.0
FUNCTION_NAME = "rlambda-test"
_TOP_KEYS = {"event", "fixture", "expect", "description"}
_EXPECT_KEYS = {"response", "error_type", "error_message"}
_CELL = 48
_REQUEST_ID_PREFIX = re.compile(r"^RequestId: \S+ Error: ")


class EventFileError(UsageError):
    """An event file that cannot be used: names the file and, when it can, the line or key."""


@dataclass(frozen=True)
class EventCase:
    path: Path
    payload: Any
    expect_response: Any = None
    expect_error_type: str | None = None
    expect_error_message: str | None = None

    @property
    def expects_error(self) -> bool:
        return self.expect_error_type is not None

    def expected_text(self) -> str:
        if self.expect_error_type is None:
            return _compact(self.expect_response)
        if self.expect_error_message:
            return f"{self.expect_error_type}: …{self.expect_error_message}…"
        return self.expect_error_type


@dataclass(frozen=True)
class EventOutcome:
    """One event file's invoke, and whether it did what the file expects."""

    path: Path
    passed: bool
    expected: str
    got: str
    duration_ms: float | None
    init_ms: float | None
    max_memory_mb: int | None
    memory_size_mb: int
    # Why it failed, in words, when the bare error type does not say it.
    detail: str | None = None

    @property
    def name(self) -> str:
        return self.path.name


# ---- event files ------------------------------------------------------------------------


def fixture_names() -> list[str]:
    """The trigger events shipped in rlambda/local/fixtures/, usable as "fixture" in event files."""
    return sorted(path.stem for path in FIXTURES_DIR.glob("*.json"))


def load_fixture(name: str) -> Any:
    path = FIXTURES_DIR / f"{name}.json"
    if not path.is_file():
        raise KeyError(name)
    return json.loads(path.read_text())


def _parse_json(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise EventFileError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except OSError as exc:
        raise EventFileError(f"{path}: cannot read it: {exc.strerror}") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise EventFileError(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}") from exc


def _schema_error(path: Path, key: str, problem: str) -> EventFileError:
    return EventFileError(f"{path}: key {key!r}: {problem} (the schema: build.py test --help)")


def _payload(path: Path, document: dict[str, Any]) -> Any:
    if ("event" in document) == ("fixture" in document):
        raise _schema_error(path, "event", 'give exactly one of "event" or "fixture"')
    if "event" in document:
        return document["event"]
    name = document["fixture"]
    if not isinstance(name, str):
        raise _schema_error(path, "fixture", "must be a fixture name (a string)")
    try:
        return load_fixture(name)
    except KeyError:
        known = ", ".join(fixture_names())
        raise _schema_error(path, "fixture", f"no fixture {name!r}; known: {known}") from None


def _expectation(path: Path, expect: Any) -> dict[str, Any]:
    if not isinstance(expect, dict):
        raise _schema_error(
            path, "expect", 'must be an object: {"response": …} or {"error_type": …}'
        )
    unknown = sorted(set(expect) - _EXPECT_KEYS)
    if unknown:
        raise _schema_error(
            path, f"expect.{unknown[0]}", f"unknown key; allowed: {sorted(_EXPECT_KEYS)}"
        )
    if ("response" in expect) == ("error_type" in expect):
        raise _schema_error(path, "expect", 'give exactly one of "response" or "error_type"')
    if "error_type" in expect and not (
        isinstance(expect["error_type"], str) and expect["error_type"]
    ):
        raise _schema_error(path, "expect.error_type", "must be a non-empty string")
    if "error_message" in expect:
        if "error_type" not in expect:
            raise _schema_error(path, "expect.error_message", 'goes with "error_type" only')
        if not isinstance(expect["error_message"], str):
            raise _schema_error(path, "expect.error_message", "must be a string")
    return expect


def load_event_file(path: Path) -> EventCase:
    """Read and check one event file; EventFileError names the file and the line or key."""
    document = _parse_json(path)
    if not isinstance(document, dict):
        raise EventFileError(f'{path}: must hold one JSON object with "event" and "expect"')
    unknown = sorted(set(document) - _TOP_KEYS)
    if unknown:
        raise _schema_error(path, unknown[0], f"unknown key; allowed: {sorted(_TOP_KEYS)}")
    if "expect" not in document:
        raise _schema_error(path, "expect", "missing: say what the invoke should return")
    if "description" in document and not isinstance(document["description"], str):
        raise _schema_error(path, "description", "must be a string")
    payload = _payload(path, document)
    expect = _expectation(path, document["expect"])
    return EventCase(
        path=path,
        payload=payload,
        expect_response=expect.get("response"),
        expect_error_type=expect.get("error_type"),
        expect_error_message=expect.get("error_message"),
    )


def load_events(events_dir: Path) -> list[EventCase]:
    """Every *.json in `events_dir`, checked before anything runs."""
    if not events_dir.is_dir():
        raise UsageError(
            f"events directory {events_dir} does not exist: pass --events DIR "
            "(a recipe's events are in recipes/NAME/events)"
        )
    paths = sorted(events_dir.glob("*.json"))
    if not paths:
        raise UsageError(f"no event files (*.json) in {events_dir}")
    return [load_event_file(path) for path in paths]


# ---- judging one invoke -------------------------------------------------------------------


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def _cell(text: str) -> str:
    # Table cells stay short; the outcome keeps the whole text.
    return text if len(text) <= _CELL else text[: _CELL - 1] + "…"


def _error_document(result: InvokeResult) -> dict[str, Any]:
    try:
        document = result.json()
    except ValueError:
        return {"errorMessage": result.body.decode("utf-8", "replace")}
    return document if isinstance(document, dict) else {"errorMessage": str(document)}


def _failed_in_init(result: InvokeResult) -> bool:
    # The emulator reports a cold start that failed before the runtime asked for the event
    # with the init time as the invoke's duration too (RuntimeApiServer._invoke_locked).
    report = result.report
    return (
        report is not None
        and report.init_duration_ms is not None
        and report.duration_ms == report.init_duration_ms
    )


def _explain(result: InvokeResult, error: dict[str, Any], timeout_s: float) -> str | None:
    """Lambda's terse error, said in words a person fixing the image can act on."""
    error_type = error.get("errorType")
    report = result.report
    in_init = _failed_in_init(result)
    if error_type == "Sandbox.Timedout":
        if in_init:
            return (
                f"init did not finish within {timeout_s:g} s: the runtime never asked for an "
                "event (GET /2018-06-01/runtime/invocation/next)"
            )
        return f"the handler did not answer within {timeout_s:g} s"
    if error_type == "Runtime.ExitError":
        message = str(error.get("errorMessage", ""))
        status = message.rsplit("Runtime exited with error: ", 1)[-1]
        if report and report.max_memory_mb and report.max_memory_mb >= report.memory_size_mb:
            return f"out of memory: killed at the {report.memory_size_mb} MB limit"
        if in_init:
            # All the emulator knows: no GET /next arrived and no init error was posted. The
            # runtime's init may have finished and its first GET /next failed (R 4.0 and an
            # argument only newer R has, issue 20): the runtime's log says which.
            return (
                f"the runtime exited ({status}) before asking for its first event, "
                "without reporting an init error: the end of its log says why"
            )
        return f"the runtime exited while handling the event ({status})"
    if in_init:
        return f"init failed: {error.get('errorMessage', '')}".strip()
    return None


def judge(case: EventCase, result: InvokeResult, timeout_s: float, memory_mb: int) -> EventOutcome:
    """Compare one invoke's result with what its event file expects."""
    report = result.report
    detail = None
    if result.failed:
        error = _error_document(result)
        error_type = str(error.get("errorType") or result.error_type() or "")
        message = str(error.get("errorMessage", ""))
        # Lambda prefixes its own errors with "RequestId: <id> Error: "; noise in a table.
        shown = _REQUEST_ID_PREFIX.sub("", message)
        got = f"{error_type}: {shown}" if shown else error_type
        detail = _explain(result, error, timeout_s)
        passed = case.expects_error and error_type == case.expect_error_type
        if passed and case.expect_error_message is not None:
            passed = case.expect_error_message in message
    else:
        try:
            value = result.json()
            got = _compact(value)
            passed = not case.expects_error and value == case.expect_response
        except ValueError:
            got = result.body.decode("utf-8", "replace")
            passed = False
            detail = f"the response is not JSON ({result.content_type})"
    return EventOutcome(
        path=case.path,
        passed=passed,
        expected=case.expected_text(),
        got=got,
        duration_ms=report.duration_ms if report else None,
        init_ms=report.init_duration_ms if report else None,
        max_memory_mb=report.max_memory_mb if report else None,
        memory_size_mb=memory_mb,
        detail=detail,
    )


# ---- running ------------------------------------------------------------------------------


def run_events(
    image: str,
    events_dir: Path | str,
    *,
    memory_mb: int = DEFAULT_MEMORY_MB,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    handler: str | None = None,
    env: Mapping[str, str] | None = None,
    port: int = 0,
    output: TextIO | None = None,
    client: Any = None,
    emulator: str = "ours",
    max_concurrency: int | None = None,
    entrypoint: Sequence[str] | None = None,
    mounts: Mapping[str, str | Path] | None = None,
) -> list[EventOutcome]:
    """Invoke `image` with every event file in `events_dir`; one outcome per file.

    `emulator`: "ours" (the project's Runtime API emulator) or "aws" (AWS's RIE, in its
    managed-instances mode when `max_concurrency` is given; rlambda.local.aws_rie).
    Bad input raises before anything starts: EventFileError (a file's line/column or key),
    UsageError (no events, a bad emulator setting), ImageNotFoundError (the image, and how to
    build it). RuntimeApiError: the emulator cannot listen (e.g. `port` is taken). Runtime
    output and the START/END/REPORT lines go to `output` (None: discarded). `entrypoint` and
    `mounts` go to DockerRuntime (a zip function: layers at /opt, code at /var/task; our
    emulator only).
    """
    cases = load_events(Path(events_dir))
    check_emulator(emulator, max_concurrency)
    if emulator == "aws" and (entrypoint is not None or mounts):
        raise UsageError("a zip function (entrypoint, mounts) runs under our emulator only")
    if emulator == "aws":
        return _run_under_aws_rie(
            image, cases, memory_mb, timeout_s, handler, env, output, client, max_concurrency
        )
    runtime = DockerRuntime(
        image,
        memory_mb=memory_mb,
        env=env,
        handler=handler,
        output=output,
        client=client,
        entrypoint=entrypoint,
        mounts=mounts,
    )
    runtime.image_config()  # fails now, with the image's name, if it is not there
    runtime.relay_binary()  # and so does a machine that cannot compile the network relay
    if output is not None and runtime.uses_rie_entrypoint:
        output.write(
            f"note: {image} starts with AWS's /lambda-entrypoint.sh; given "
            "AWS_LAMBDA_RUNTIME_API it runs /var/runtime/bootstrap directly, not the RIE\n"
        )
    outcomes = []
    with RuntimeApiServer(
        runtime,
        port=port,
        timeout_s=timeout_s,
        memory_mb=memory_mb,
        function_name=FUNCTION_NAME,
        log_stream=output,
        quiet=output is None,
    ) as server:
        for case in cases:
            result = server.invoke(json.dumps(case.payload).encode())
            outcomes.append(judge(case, result, timeout_s, memory_mb))
    return outcomes


EMULATORS = ("ours", "aws")


def check_emulator(emulator: str, max_concurrency: int | None) -> None:
    if emulator not in EMULATORS:
        raise UsageError(f"--emulator {emulator!r}: choose one of {', '.join(EMULATORS)}")
    if max_concurrency is not None and emulator != "aws":
        raise UsageError(
            "--max-concurrency runs AWS's RIE in its managed-instances mode: add --emulator aws"
            " (the project's emulator serves one invoke at a time)"
        )
    if max_concurrency is not None and not 1 <= max_concurrency <= 1600:
        raise UsageError(f"--max-concurrency {max_concurrency}: Lambda allows 1 to 1600")


def _run_under_aws_rie(
    image: str,
    cases: Sequence[EventCase],
    memory_mb: int,
    timeout_s: float,
    handler: str | None,
    env: Mapping[str, str] | None,
    output: TextIO | None,
    client: Any,
    max_concurrency: int | None,
) -> list[EventOutcome]:
    function = AwsRie(
        image,
        memory_mb=memory_mb,
        timeout_s=timeout_s,
        handler=handler,
        env=env,
        function_name=FUNCTION_NAME,
        max_concurrency=max_concurrency,
        output=output,
        client=client,
    )
    if max_concurrency is not None:
        with function:
            return [_judge_at_once(function, case, max_concurrency, timeout_s) for case in cases]
    with function:
        results = [function.invoke(json.dumps(case.payload).encode()) for case in cases]
        # RIE prints its REPORT lines late; read them once, after the last invoke.
        reports = function.reports()
    if reports is not None:
        results = [replace(r, report=rep) for r, rep in zip(results, reports, strict=True)]
    return [judge(case, r, timeout_s, memory_mb) for case, r in zip(cases, results, strict=True)]


# How long a managed-instances copy that found no idle runtime is sent again (_judge_at_once).
UNAVAILABLE_RETRY_S = 3.0


def _judge_at_once(
    function: AwsRie, case: EventCase, copies: int, timeout_s: float
) -> EventOutcome:
    """Managed instances: the event sent `copies` times at once; every copy must pass.

    Lambda sends up to AWS_LAMBDA_MAX_CONCURRENCY invokes to one environment at a time, and
    RIE refuses one that finds no idle runtime (400 Runtime.Unavailable). A runtime's workers
    reach GET /next one by one after init, and each again a moment after its response, so a
    refused copy is sent again for up to UNAVAILABLE_RETRY_S, as Lambda's front end would route
    it to the next free slot. That a runtime really serves N at once is shown by
    tests/test_runtime_image.py (four 1 s invokes answered in under 3 s), not here.
    """
    payload = json.dumps(case.payload).encode()
    barrier = threading.Barrier(copies)

    def one(_: int) -> InvokeResult:
        barrier.wait()
        deadline = time.monotonic() + UNAVAILABLE_RETRY_S
        result = function.invoke(payload)
        while result.status_code == 400 and b"Runtime.Unavailable" in result.body:
            if time.monotonic() > deadline:
                break
            time.sleep(0.02)
            result = function.invoke(payload)
        return result

    with ThreadPoolExecutor(copies) as pool:
        results = list(pool.map(one, range(copies)))
    outcomes = [judge(case, result, timeout_s, function.memory_mb) for result in results]
    failed = [outcome for outcome in outcomes if not outcome.passed]
    if not failed:
        return outcomes[0]
    detail = f"{len(failed)} of {copies} concurrent invokes failed"
    return replace(
        failed[0], detail=f"{detail}; {failed[0].detail}" if failed[0].detail else detail
    )


# ---- reporting ------------------------------------------------------------------------------


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms"


def format_table(outcomes: Sequence[EventOutcome]) -> str:
    """A plain-text table, one row per event file, then the failures explained."""
    header = ("event", "result", "duration", "init", "max memory", "expected", "got")
    rows = [
        (
            outcome.name,
            "PASS" if outcome.passed else "FAIL",
            _ms(outcome.duration_ms),
            _ms(outcome.init_ms),
            f"{outcome.max_memory_mb if outcome.max_memory_mb is not None else '-'}"
            f"/{outcome.memory_size_mb} MB",
            _cell(outcome.expected),
            _cell(outcome.got),
        )
        for outcome in outcomes
    ]
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            cell.ljust(width) for cell, width in zip(cells, widths, strict=True)
        ).rstrip()

    lines = [line(header), line(["-" * width for width in widths])]
    lines.extend(line(row) for row in rows)
    failed = [outcome for outcome in outcomes if not outcome.passed]
    lines.append("")
    lines.append(f"{len(outcomes) - len(failed)} passed, {len(failed)} failed")
    lines.extend(f"  {o.name}: {o.detail}" for o in failed if o.detail)
    return "\n".join(lines)


# ---- command line -----------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="build.py test",
        description="Run an image as Lambda would (read-only root, uid 993, tmpfs /tmp, "
        "memory limit, Lambda's environment) against the Runtime API emulator (or AWS's RIE: "
        "--emulator aws), invoke it "
        "with each event file, and compare the results with what the files expect.",
        epilog=__doc__.split("\n\n", 2)[2] if __doc__ else None,
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


def add_emulator_arguments(parser: argparse.ArgumentParser) -> None:
    """--emulator and --max-concurrency, for `build.py test` and `build.py --test`."""
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


@dataclass(frozen=True)
class TestSettings:
    """The function settings events run with (Lambda's memory size and timeout, and who
    plays Lambda), within Lambda's limits: checked here, so a bad value never reaches a
    container."""

    memory_mb: int = DEFAULT_MEMORY_MB
    timeout_s: float = DEFAULT_TIMEOUT_S
    emulator: str = "ours"  # or "aws": AWS's RIE (rlambda.local.aws_rie)
    max_concurrency: int | None = None  # RIE's managed-instances mode

    def __post_init__(self) -> None:
        low, high = MEMORY_RANGE_MB
        if not low <= self.memory_mb <= high:
            raise UsageError(f"--memory {self.memory_mb}: Lambda allows {low} to {high} MB")
        if not (math.isfinite(self.timeout_s) and 0 < self.timeout_s <= MAX_TIMEOUT_S):
            raise UsageError(
                f"--timeout {self.timeout_s:g}: Lambda allows more than 0 and up to"
                f" {MAX_TIMEOUT_S:g} s"
            )
        check_emulator(self.emulator, self.max_concurrency)


def run(args: argparse.Namespace) -> int:
    """`build.py test`: 0 every event passed, 1 one failed (or the run did), 2 bad input."""
    try:
        settings = TestSettings(args.memory, args.timeout, args.emulator, args.max_concurrency)
        outcomes = run_events(
            args.image,
            Path(args.events),
            memory_mb=settings.memory_mb,
            timeout_s=settings.timeout_s,
            output=sys.stderr,
            emulator=settings.emulator,
            max_concurrency=settings.max_concurrency,
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
