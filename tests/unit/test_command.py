"""The installed command: `rlambda` is build.py under its own name, and refuses to run where
there is no checkout to read the Dockerfiles, runtime client and pins from."""

import sys
import tomllib

import pytest

from rlambda import cli

from ..conftest import ROOT


def test_pip_installs_the_command() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"] == {"rlambda": "rlambda.cli:entry"}


def run_entry(monkeypatch: pytest.MonkeyPatch, *argv: str) -> int:
    monkeypatch.setattr(sys, "argv", ["rlambda", *argv])
    with pytest.raises(SystemExit) as raised:
        cli.entry()
    return int(raised.value.code or 0)


def test_the_command_is_build_py_under_its_own_name(monkeypatch, capsys) -> None:
    assert run_entry(monkeypatch, "--help") == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: rlambda [-h] COMMAND")
    assert "  rlambda lock json-api                      resolve" in out  # columns kept
    assert "build.py" not in out
    assert run_entry(monkeypatch, "lock", "--help") == 0
    assert "usage: rlambda lock" in capsys.readouterr().out
    # Options alone mean build, and bad input is exit 2, as with build.py.
    assert run_entry(monkeypatch, "--r", "4.5.0", "--recipe", "Bad_Name") == 2
    assert "recipe name 'Bad_Name'" in capsys.readouterr().err


def test_without_a_checkout_it_says_how_to_install(monkeypatch, capsys, tmp_path) -> None:
    cli.check_checkout(ROOT)  # this checkout has everything
    monkeypatch.setattr(cli, "CHECKOUT", tmp_path)
    assert run_entry(monkeypatch, "--help") == 2
    err = capsys.readouterr().err
    assert f"{tmp_path} is not one ({tmp_path}/VERSIONS.toml not found)" in err
    assert "install it with pip install -e <checkout>" in err
    assert err.count("\n") == 1
