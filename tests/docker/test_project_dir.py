"""An R project where it lives: a directory outside the repository, locked, built and tested by
the installed `rlambda` command (pip install -e), on the local stand-ins as
test_recipe_images.py builds recipes."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rlambda.build import render

from ..conftest import DEBIAN_BASE, ROOT

pytestmark = pytest.mark.docker


def installed_command() -> Path:
    """The `rlambda` pip installed beside this Python (or the one RLAMBDA_COMMAND names),
    checked to run this checkout's code."""
    given = os.environ.get("RLAMBDA_COMMAND")
    command = Path(given) if given else Path(sys.executable).parent / "rlambda"
    install = f"install it with pip install -e {ROOT}, or name one with RLAMBDA_COMMAND"
    if not command.is_file():
        pytest.fail(f"no installed command {command}: {install}")
    # The console script's interpreter imports rlambda from wherever it was installed from.
    interpreter = command.read_text().splitlines()[0].removeprefix("#!").strip()
    where = subprocess.run(
        [interpreter, "-c", "from rlambda import cli; print(cli.CHECKOUT)"],
        capture_output=True, text=True, cwd="/", check=True,
    ).stdout.strip()  # fmt: skip
    if Path(where) != ROOT:
        pytest.fail(f"{command} runs the checkout {where}, not {ROOT}: {install}")
    return command


def rlambda(*argv: str, cwd: Path) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [str(installed_command()), *argv], capture_output=True, text=True, cwd=cwd, timeout=1800
    )
    print(done.stderr[-4000:], file=sys.stderr)  # the build log's tail, shown on a failure
    return done


def build_and_test(project: Path, pins, mirror: str, docker_client) -> dict:
    """`rlambda --r 4.5.0 ... --recipe PROJECT --test --json`, run from the project's parent
    (outside the repository): its JSON result, its images removed afterwards."""
    done = rlambda(
        *("--r", "4.5.0", "--family", "debian", "--base-image", DEBIAN_BASE),
        *("--cran-mirror", mirror, "--versions-file", str(pins.path)),
        *("--recipe", str(project), "--test", "--json"),
        cwd=project.parent,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    result = json.loads(done.stdout)
    for tag in result["tags"]:
        docker_client.images.remove(tag)
    return result


def test_the_installed_command_builds_a_project_outside_the_repository(
    local_pins, local_mirror, r_image, docker_client, tmp_path
):
    """recipes/hello's files in a directory named My_Hello (its recipe.toml names nothing):
    the image is named my-hello, its events pass, and nothing lands in images/."""
    assert not tmp_path.is_relative_to(ROOT)
    project = tmp_path / "My_Hello"
    shutil.copytree(ROOT / "recipes" / "hello", project)
    assert "name" not in (project / "recipe.toml").read_text()
    (project / ".Renviron").write_text("SECRET=never-in-the-image\n")

    result = build_and_test(project, local_pins, local_mirror, docker_client)
    assert result["recipe"] == "my-hello"
    assert "r-lambda:r-4.5.0-my-hello-debian-x86_64" in result["tags"]
    assert result["test"]["passed"] and len(result["test"]["events"]) == 3, result["test"]
    assert not list(render.IMAGES_DIR.glob("*/my-hello"))


def test_a_project_with_only_description_and_app_r_is_locked_and_built(
    local_pins, local_mirror, r_image, docker_client, tmp_path
):
    """No recipe.toml: the packages from DESCRIPTION, locked into the project by
    `rlambda lock PATH`, the handler app.R's `handler`; json-api's code and events."""
    project = tmp_path / "orders"
    shutil.copytree(ROOT / "recipes" / "json-api" / "events", project / "events")
    code = (ROOT / "recipes" / "json-api" / "api.R").read_text()
    (project / "app.R").write_text(code + "\nhandler <- handle\n")
    (project / "DESCRIPTION").write_text(
        "Package: orders\nVersion: 0.1\nDepends: R (>= 4.1)\nImports: jsonlite (>= 1.8)\n"
    )

    locked = rlambda("lock", "orders", "--r", "4.5.0", "--cran-mirror", local_mirror, cwd=tmp_path)
    assert locked.returncode == 0, locked.stderr
    assert (project / "lock.toml").is_file() and 'name = "jsonlite"' in (
        project / "lock.toml"
    ).read_text()

    result = build_and_test(project, local_pins, local_mirror, docker_client)
    assert result["recipe"] == "orders"
    assert result["test"]["passed"] and len(result["test"]["events"]) == 5, result["test"]
