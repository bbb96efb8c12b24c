"""A file the user gave that cannot be read is one clear line, never a traceback."""

from pathlib import Path

import pytest

import build
from rlambda.errors import UsageError
from rlambda.recipes.project import read_renv_lock


def test_a_directory_where_a_file_is_expected(tmp_path: Path, capsys) -> None:
    status = build.main(["--r", "4.5.0", "--versions-file", str(tmp_path)])
    assert status == 2
    err = capsys.readouterr().err
    assert f"{tmp_path}: a directory, where a file was expected" in err
    assert "Traceback" not in err


def test_a_100000_deep_renv_lock(tmp_path: Path) -> None:
    """json.loads recurses per level: it raised RecursionError out of build.py lock."""
    lock = tmp_path / "renv.lock"
    lock.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(UsageError, match="nested too deeply"):
        read_renv_lock(lock)


def test_a_deeply_nested_toml(tmp_path: Path, capsys) -> None:
    pins = tmp_path / "VERSIONS.toml"
    pins.write_text("x = " + "[" * 100_000 + "]" * 100_000 + "\n")
    assert build.main(["--r", "4.5.0", "--versions-file", str(pins)]) == 2
    assert "Traceback" not in capsys.readouterr().err
