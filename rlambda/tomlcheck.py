"""One validator for the TOML files rlambda reads: VERSIONS.toml, recipe.toml and lock.toml.

A wrong or missing value is a UsageError naming the file, the full dotted key and what was
expected there (and, for a lock, what to do: re-lock), so every loader fails the same way.
"""

import difflib
import json
import re
from pathlib import Path
from typing import NoReturn

from rlambda.errors import UsageError


def toml_kind(value: object) -> str:
    """How an error message names a TOML value's type ("nothing" when the key is missing)."""
    if value is None:
        return "nothing"
    names = {str: "a string", int: "an integer", float: "a float", bool: "a boolean"}
    return names.get(type(value), "an array" if isinstance(value, list) else "a table")


def quote_key(key: str) -> str:
    """A key as TOML would write it, so a hostile key is shown quoted, not interpreted."""
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


class TomlChecker:
    """Reads one key of a table at a time; `advice` ends every message (e.g. how to remake the
    file)."""

    def __init__(self, path: Path, advice: str = ""):
        self.path = path
        self.advice = advice

    def fail(self, key: str, expected: str) -> NoReturn:
        advice = f"; {self.advice}" if self.advice else ""
        raise UsageError(f"{self.path}: key {key}: expected {expected}{advice}")

    def table(
        self, parent: dict, key: str, name: str | None = None, *, default: dict | None = None
    ) -> dict:
        """The table `parent[name or key]`; `key` is its full dotted key, for the message."""
        value = parent.get(name or key, default)
        if not isinstance(value, dict):
            self.fail(key, f"a table, found {toml_kind(value)}")
        return value

    def string(
        self,
        parent: dict,
        where: str | None,
        name: str,
        pattern: re.Pattern[str],
        *,
        default: str | None = None,
    ) -> str:
        """The string `parent[name]`, matching `pattern`; `where` is the dotted key of the
        table it is in (None at the top level)."""
        value = parent.get(name, default)
        key = f"{where}.{name}" if where else name
        if not isinstance(value, str):
            self.fail(key, f"a string, found {toml_kind(value)}")
        if not pattern.fullmatch(value):
            self.fail(key, f"a string matching {pattern.pattern}, found {value!r}")
        return value

    def known_keys(self, parent: dict, where: str, allowed: tuple[str, ...]) -> None:
        """Refuse a key the reader would ignore (a mistyped `sha265` must not go unnoticed).
        `where`: the table's key, "" for the file's top level."""
        for name in parent:
            if name not in allowed:
                close = difflib.get_close_matches(name, allowed, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                key = f"{where}.{name}" if where else name
                self.fail(key, f"one of {', '.join(allowed)}{hint}; unknown key")
