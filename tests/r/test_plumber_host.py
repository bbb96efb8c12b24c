"""recipes/plumber-api's events through the real bootstrap on the host's R, with Debian's
r-cran-plumber (scripts/setup.sh installs it): the same runtime code and events as in the image
(tests/docker/test_recipe_images.py), without building the closure from source."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from rlambda.local.events.files import load_events
from rlambda.local.events.judge import judge
from rlambda.local.runtime_api import ProcessRuntime, RuntimeApiServer
from rlambda.recipes import load_recipe, recipe_dir

ROOT = Path(__file__).resolve().parents[2]


def host_has_plumber() -> bool:
    if shutil.which("Rscript") is None:
        return False
    probe = ["Rscript", "-e", "quit(status = !requireNamespace('plumber', quietly = TRUE))"]
    return subprocess.run(probe, capture_output=True).returncode == 0


pytestmark = [
    pytest.mark.r,
    pytest.mark.skipif(not host_has_plumber(), reason="needs R with plumber"),
]


def run(recipe_name: str, tmp_path: Path, env: dict[str, str] | None = None) -> tuple[list, str]:
    recipe = load_recipe(recipe_dir(recipe_name))
    log = tmp_path / "runtime.log"
    with log.open("wb") as out:
        process = ProcessRuntime(
            argv=[str(ROOT / "runtime" / "bootstrap"), recipe.handler],
            env={"LAMBDA_TASK_ROOT": str(recipe.path), **(env or {})},
            cwd=str(recipe.path),
            stdout=out,
            stderr=out,
        )
        cases = load_events(recipe.events_dir)
        with RuntimeApiServer(process, timeout_s=30, memory_mb=512, quiet=True) as server:
            outcomes = [
                judge(case, server.invoke(json.dumps(case.payload).encode()), 30, 512)
                for case in cases
            ]
    return outcomes, log.read_text(errors="replace")


def test_plumber_api_events_pass_on_the_hosts_r(tmp_path: Path) -> None:
    outcomes, log = run("plumber-api", tmp_path)
    failed = [(o.path.name, o.expected, o.got, o.detail) for o in outcomes if not o.passed]
    assert not failed, log
    assert len(outcomes) == 10
    # The 500's R message is in the log (plumber's error handler prints it), not the response.
    assert "the database is on fire" in log
