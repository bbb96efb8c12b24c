"""Plain helpers shared by test modules in more than one folder (fixtures are in conftest.py)."""

import json
from pathlib import Path
from typing import Any

from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

import build

# The recipes whose events run on the host's R, from the local mirror's packages.
LOCAL_MIRROR_RECIPES = ["hello", "json-api", "s3-summary", "xml-extract", "worker"]


def write_event(directory: Path, name: str, document: Any) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return path


def run_build(capsys, *argv: str) -> tuple[int, str]:
    """build.py's main with `argv`: its exit status and everything it printed."""
    status = build.main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out + captured.err


def validate_sbom(doc: dict) -> None:
    error = JsonStrictValidator(SchemaVersion.V1_5).validate_str(json.dumps(doc))
    assert error is None, str(error)


def sbom_components(doc: dict) -> dict[str, dict]:
    return {c["bom-ref"]: c for c in doc["components"]}
