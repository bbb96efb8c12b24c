"""Every recipe's events run through the real runtime on the host's R, with its locked packages
installed from their verified tarballs on the real local CRAN-like mirror (the mirror and the
locks themselves are checked in tests/unit/test_recipes_local_mirror.py)."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from rlambda.local.events.files import load_events
from rlambda.local.events.judge import judge
from rlambda.local.runtime_api import ProcessRuntime, RuntimeApiServer
from rlambda.recipes import fetch_locked, load_lock, load_recipe, recipe_dir

from ..helpers import LOCAL_MIRROR_RECIPES as RECIPES

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.r


# ---- the recipes' events, run by the real runtime on the host's R -------------------------

needs_r = pytest.mark.skipif(shutil.which("Rscript") is None, reason="needs R (Rscript)")


@pytest.fixture(scope="session")
def recipe_library(cran_packages: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every recipe's locked packages installed (R CMD INSTALL, in lock order) from the
    verified tarballs fetch_locked returns: what an image build does, on the host."""
    library = tmp_path_factory.mktemp("r-library")
    installed: set[str] = set()
    r_version = subprocess.run(
        ["Rscript", "-e", "cat(as.character(getRversion()))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for name in RECIPES:
        recipe = load_recipe(recipe_dir(name))
        lock = load_lock(recipe.path, recipe, r_version=r_version)
        fetched = fetch_locked(lock, cran_mirror=cran_packages, progress=lambda d, t: None)
        for package, tarball in fetched:
            if package.name in installed:
                continue
            # R CMD INSTALL wants the package's file name, not the cache's hash.
            named = library.parent / package.filename
            shutil.copyfile(tarball, named)
            subprocess.run(
                [
                    "R",
                    "CMD",
                    "INSTALL",
                    "--no-docs",
                    "--no-multiarch",
                    f"--library={library}",
                    str(named),
                ],
                check=True,
                capture_output=True,
                env={**os.environ, "R_LIBS": str(library), "MAKEFLAGS": "-j2"},
            )
            installed.add(package.name)
    return library


@needs_r
@pytest.mark.parametrize("name", RECIPES)
def test_recipe_events_pass_on_the_runtime(name: str, recipe_library: Path) -> None:
    recipe = load_recipe(recipe_dir(name))
    # Only the recipe's own locked packages are visible (plus R's): a missing dependency fails.
    lock = load_lock(recipe.path, recipe)
    own = recipe_library.parent / f"lib-{name}"
    own.mkdir(exist_ok=True)
    for package in lock.packages:
        link = own / package.name
        if not link.exists():
            link.symlink_to(recipe_library / package.name)
    process = ProcessRuntime(
        argv=[str(ROOT / "runtime" / "bootstrap"), recipe.handler],
        env={"LAMBDA_TASK_ROOT": str(recipe.path), "R_LIBS": str(own), "R_LIBS_USER": str(own)},
        cwd=str(recipe.path),
        stdout=subprocess.DEVNULL,
    )
    cases = load_events(recipe.events_dir)
    with RuntimeApiServer(
        process, timeout_s=30, memory_mb=512, function_name=name, quiet=True
    ) as server:
        outcomes = [
            judge(case, server.invoke(json.dumps(case.payload).encode()), 30, 512) for case in cases
        ]
    failed = [(o.path.name, o.expected, o.got, o.detail) for o in outcomes if not o.passed]
    assert not failed
