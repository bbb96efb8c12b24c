"""The job summary of a CI build: a Markdown table of `build.py ... --json` results.

    python -m rlambda.ci.summary RESULT.json...   >> "$GITHUB_STEP_SUMMARY"

Exit status: 0 ok, 1 a result file is missing or not JSON (its build step failed).
"""

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rlambda.target import tags

# What the summary reads from `build.py ... --json` (one JSON object per build; missing fields
# print as "-"):
#   {"r_version", "family", "arch", "recipe", "image", "image_id", "built": bool,
#    "size_bytes": int,
#    "test": {"passed": bool, "events": [{"name", "passed", "duration_ms", "init_ms",
#                                          "max_memory_mb"}, ...]},   # first event = cold
#    "push": <registry.py push --json: image_uri, digest, tags, pushed, push.bytes_pushed…>,
#    "sbom": path of the image's CycloneDX SBOM (uploaded as an artifact by the workflow)}


def _get(doc: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(doc, dict):
            return None
        doc = doc.get(key)
    return doc


def _size(n: Any) -> str:
    if not isinstance(n, int | float):
        return "-"
    return f"{n / 1e6:.1f} MB"


def _ms(n: Any) -> str:
    return f"{n:.0f} ms" if isinstance(n, int | float) else "-"


def _cell(value: Any) -> str:
    text = "-" if value in (None, "") else str(value)
    # A pipe would end the Markdown table cell; backticks keep URIs and digests readable.
    return text.replace("|", "\\|")


def summary_markdown(results: Sequence[tuple[str, Any]], sbom_url: str | None = None) -> str:
    """A Markdown table for $GITHUB_STEP_SUMMARY, one row per build result.

    `results`: (file name, parsed JSON or None when the file was missing or not JSON).
    `sbom_url`: where the workflow uploaded the SBOM (upload-artifact's artifact-url).
    """
    lines = [
        "| image | build | size | test | cold start (init) | first invoke | push"
        " | image URI (digest) | SBOM |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    failures = []
    for name, doc in results:
        if not isinstance(doc, dict):
            lines.append(f"| {_cell(name)} | no result | - | - | - | - | - | - | - |")
            failures.append(name)
            continue
        tag = tags.readable_tag(
            str(doc.get("r_version", "?")),
            str(doc.get("family", "?")),
            str(doc.get("arch", "?")),
            doc.get("recipe") or None,
        )
        events = _get(doc, "test", "events") or []
        first = events[0] if events and isinstance(events[0], dict) else {}
        passed = _get(doc, "test", "passed")
        if passed is None:
            test = "-"
        else:
            ok = sum(1 for e in events if isinstance(e, dict) and e.get("passed"))
            test = f"{'PASS' if passed else 'FAIL'} ({ok}/{len(events)} events)"
            if not passed:
                failures.append(tag)
        built = doc.get("built")
        push = doc.get("push") if isinstance(doc.get("push"), dict) else {}
        pushed = "-"
        if push:
            sent = _get(push, "push", "bytes_pushed")
            pushed = (
                f"yes ({_size(sent)} sent)" if push.get("pushed") else "already there (content tag)"
            )
        uri = push.get("image_uri")
        cells = [
            f"`{tag}`",
            "-" if built is None else ("built" if built else "reused"),
            _size(doc.get("size_bytes")),
            test,
            _ms(first.get("init_ms")),
            _ms(first.get("duration_ms")),
            pushed,
            f"`{uri}`" if uri else "-",
            _sbom_cell(doc.get("sbom"), sbom_url),
        ]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    if failures:
        lines += ["", f"**Failed or missing:** {', '.join(_cell(f) for f in failures)}"]
    return "\n".join(lines) + "\n"


def _sbom_cell(path: Any, url: str | None) -> str:
    if not path:
        return "-"
    return f"[CycloneDX]({url})" if url else f"`{Path(str(path)).name}`"


def _read_result(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def summary_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m rlambda.ci.summary",
        description="Print a Markdown job summary of build results (build.py --json output);"
        " append it to $GITHUB_STEP_SUMMARY. A missing or unreadable file is reported in the"
        " table (the build step failed) and makes the exit status 1.",
    )
    p.add_argument("results", nargs="+", type=Path, metavar="RESULT.json")
    p.add_argument("--sbom-url", metavar="URL", help="link for the SBOM column (artifact URL)")
    return p


def main(argv: Sequence[str]) -> int:
    args = summary_parser().parse_args(argv)
    results = [(str(path), _read_result(path)) for path in args.results]
    sys.stdout.write(summary_markdown(results, args.sbom_url or None))
    return 0 if all(isinstance(doc, dict) for _, doc in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
