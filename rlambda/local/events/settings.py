"""How events run: the function's memory and timeout, and who plays Lambda; within Lambda's
limits, checked before any container starts (`build.py test`, `build.py --test`, `build.py
serve`)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from rlambda.errors import UsageError
from rlambda.local.lambda_sandbox import MEMORY_RANGE_MB

DEFAULT_MEMORY_MB = 512
# Lambda's own default is 3 s, too short for many R inits; the emulator bounds init by it too.
DEFAULT_TIMEOUT_S = 30.0
MAX_TIMEOUT_S = 900.0
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


@dataclass(frozen=True)
class TestSettings:
    """The function settings events run with (Lambda's memory size and timeout, and who
    plays Lambda), within Lambda's limits: checked here, so a bad value never reaches a
    container."""

    memory_mb: int = DEFAULT_MEMORY_MB
    timeout_s: float = DEFAULT_TIMEOUT_S
    emulator: str = "ours"  # or "aws": AWS's RIE (rlambda.local.aws_rie)
    max_concurrency: int | None = None  # RIE's managed-instances mode
    # Initialise as for a SnapStart snapshot (AWS_LAMBDA_INITIALIZATION_TYPE=snap-start).
    snapstart: bool = False

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
        if self.snapstart and self.emulator != "ours":
            raise UsageError(
                "--snapstart: AWS's RIE has no snap-start mode; the project's emulator plays it"
                " (drop --emulator aws)"
            )
