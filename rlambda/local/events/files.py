"""Event files for `build.py test`: the schema, and loading them (checked before anything runs).

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

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlambda.errors import UsageError

FIXTURES_DIR = Path(__file__).resolve().parents[1] / "fixtures"
_TOP_KEYS = {"event", "fixture", "expect", "description"}
_EXPECT_KEYS = {"response", "error_type", "error_message"}


def compact(value: Any) -> str:
    """A JSON value on one line, keys sorted: how expected and got are shown."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


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
            return compact(self.expect_response)
        if self.expect_error_message:
            return f"{self.expect_error_type}: …{self.expect_error_message}…"
        return self.expect_error_type


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
