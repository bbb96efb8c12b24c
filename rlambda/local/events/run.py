"""Running event files against an image: under our Runtime API emulator, the image in a
Lambda-like container (rlambda.local.docker_launcher.DockerRuntime), or under AWS's RIE
(rlambda.local.aws_rie). The image's own ENTRYPOINT and CMD choose the runtime and the handler,
as on Lambda.

Each event file is invoked in turn against one function (so the first is a cold start and
the rest are warm, unless one crashes the runtime).
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any, TextIO

from rlambda.errors import UsageError
from rlambda.local.aws_rie.function import AwsRie
from rlambda.local.docker_launcher import DockerRuntime
from rlambda.local.runtime_api import InvokeResult, RuntimeApiServer

from .files import EventCase, load_event_file, load_events
from .judge import EventOutcome, judge
from .settings import DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT_S, check_emulator

FUNCTION_NAME = "rlambda-test"
# Where `build.py test --prime FILE` mounts the priming event in the container.
PRIME_PATH = "/var/rlambda/prime-event.json"


def run_events(
    image: str,
    events_dir: Path | str,
    *,
    memory_mb: int = DEFAULT_MEMORY_MB,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    handler: str | None = None,
    env: Mapping[str, str] | None = None,
    aws_credentials: Callable[[], Mapping[str, str]] | None = None,
    port: int = 0,
    output: TextIO | None = None,
    client: Any = None,
    emulator: str = "ours",
    max_concurrency: int | None = None,
    entrypoint: Sequence[str] | None = None,
    mounts: Mapping[str, str | Path] | None = None,
    snapstart: bool = False,
    prime: Path | None = None,
) -> list[EventOutcome]:
    """Invoke `image` with every event file in `events_dir`; one outcome per file.

    `emulator`: "ours" (the project's Runtime API emulator) or "aws" (AWS's RIE, in its
    managed-instances mode when `max_concurrency` is given; rlambda.local.aws_rie).
    `aws_credentials` (`build.py test --aws-credentials`) gives the function credentials as
    Lambda gives its role's. Bad input raises before anything starts: EventFileError (a
    file's line/column or key), UsageError (no events, a bad emulator setting),
    ImageNotFoundError (the image, and how to build it). RuntimeApiError: the emulator cannot
    listen (e.g. `port` is taken). Runtime output and the START/END/REPORT lines go to
    `output` (None: discarded). `entrypoint` and `mounts` go to DockerRuntime (a zip function:
    layers at /opt, code at /var/task; our emulator only). `snapstart`: init as for a SnapStart
    snapshot, then restore (our emulator); `prime`: an event file run through the handler
    before the snapshot.
    """
    cases = load_events(Path(events_dir))
    check_emulator(emulator, max_concurrency)
    prime_case = None
    if prime is not None:
        if not snapstart:
            raise UsageError("--prime runs an event before the SnapStart snapshot: add --snapstart")
        prime_case = load_event_file(Path(prime))  # its "event" is primed; "expect" unused
    if emulator == "aws" and (entrypoint is not None or mounts):
        raise UsageError("a zip function (entrypoint, mounts) runs under our emulator only")
    if emulator == "aws":
        return _run_under_aws_rie(
            image,
            cases,
            memory_mb,
            timeout_s,
            handler,
            env,
            output,
            client,
            max_concurrency,
            aws_credentials,
        )
    with tempfile.TemporaryDirectory(prefix="rlambda-prime-") as scratch:
        if prime_case is not None:
            event = Path(scratch) / "prime-event.json"
            event.write_text(json.dumps(prime_case.payload))
            event.chmod(0o644)  # read by the runtime's own user in the container
            mounts = {**(mounts or {}), PRIME_PATH: event}
            env = {**(env or {}), "RLAMBDA_SNAPSTART_PRIME": PRIME_PATH}
        return _run_under_ours(
            image,
            cases,
            memory_mb,
            timeout_s,
            handler,
            env,
            port,
            output,
            client,
            entrypoint,
            mounts,
            snapstart,
            aws_credentials,
        )


def _run_under_ours(
    image: str,
    cases: Sequence[EventCase],
    memory_mb: int,
    timeout_s: float,
    handler: str | None,
    env: Mapping[str, str] | None,
    port: int,
    output: TextIO | None,
    client: Any,
    entrypoint: Sequence[str] | None,
    mounts: Mapping[str, str | Path] | None,
    snapstart: bool,
    aws_credentials: Callable[[], Mapping[str, str]] | None,
) -> list[EventOutcome]:
    runtime = DockerRuntime(
        image,
        memory_mb=memory_mb,
        env=env,
        aws_credentials=aws_credentials,
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
        snapstart=snapstart,
    ) as server:
        for case in cases:
            result = server.invoke(json.dumps(case.payload).encode())
            outcomes.append(judge(case, result, timeout_s, memory_mb))
        timings = server.snapstart_timings
    if output is not None and timings:
        phases = ", ".join(
            f"{name.removesuffix('_ms')} {ms:.0f} ms" for name, ms in timings.items()
        )
        output.write(f"SnapStart (the last restored environment): {phases}\n")
    return outcomes


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
    aws_credentials: Callable[[], Mapping[str, str]] | None,
) -> list[EventOutcome]:
    function = AwsRie(
        image,
        memory_mb=memory_mb,
        timeout_s=timeout_s,
        handler=handler,
        env=env,
        aws_credentials=aws_credentials,
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
