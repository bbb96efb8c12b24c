"""The result table `build.py test` prints: one row per event file, then the failures
explained."""

from __future__ import annotations

from collections.abc import Sequence

from .judge import EventOutcome

_CELL = 48


def _cell(text: str) -> str:
    # Table cells stay short; the outcome keeps the whole text.
    return text if len(text) <= _CELL else text[: _CELL - 1] + "…"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms"


def format_table(outcomes: Sequence[EventOutcome]) -> str:
    """A plain-text table, one row per event file, then the failures explained."""
    # SnapStart: "init" is the init before the snapshot (paid at publish on Lambda), and
    # "restore" the after-restore steps before the first invoke.
    snapstart = any(outcome.restore_ms is not None for outcome in outcomes)
    header = (
        "event",
        "result",
        "duration",
        "init",
        *(("restore",) if snapstart else ()),
        "max memory",
        "expected",
        "got",
    )
    rows = [
        (
            outcome.name,
            "PASS" if outcome.passed else "FAIL",
            _ms(outcome.duration_ms),
            _ms(outcome.init_ms),
            *((_ms(outcome.restore_ms),) if snapstart else ()),
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
