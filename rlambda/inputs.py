"""Reading a file a user gave (VERSIONS.toml, recipe.toml, lock.toml, renv.lock, DESCRIPTION):
each way it can fail is one UsageError line naming the file, never a traceback."""

import json
import tomllib
from pathlib import Path
from typing import Any

from rlambda.errors import UsageError


def read_text(path: Path, advice: str = "", *, errors: str = "strict") -> str:
    """The file's UTF-8 text. `advice`: what to do about it, added to every error. `errors`:
    as for bytes.decode ("replace" for a DESCRIPTION, which may declare another encoding)."""
    then = f"; {advice}" if advice else ""
    try:
        return path.read_text(encoding="utf-8", errors=errors)
    except FileNotFoundError:
        raise UsageError(f"{path}: file not found{then}") from None
    except IsADirectoryError:
        raise UsageError(f"{path}: a directory, where a file was expected{then}") from None
    except UnicodeDecodeError as e:
        raise UsageError(f"{path}: not UTF-8 text ({e}){then}") from None
    except OSError as e:
        raise UsageError(f"{path}: cannot read it ({e.strerror}){then}") from None


def load_toml(path: Path, advice: str = "") -> dict[str, Any]:
    text = read_text(path, advice)
    then = f"; {advice}" if advice else ""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise UsageError(f"{path}: not valid TOML ({e}){then}") from None
    except RecursionError:
        raise UsageError(f"{path}: nested too deeply to be TOML anyone wrote{then}") from None


def load_json(path: Path, advice: str = "") -> Any:
    text = read_text(path, advice)
    then = f"; {advice}" if advice else ""
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise UsageError(
            f"{path}: not valid JSON (line {e.lineno}, column {e.colno}: {e.msg}){then}"
        ) from None
    except RecursionError:
        # json.loads recurses once per nesting level: 100,000 levels exhaust Python's stack.
        raise UsageError(f"{path}: nested too deeply to be JSON anyone wrote{then}") from None
