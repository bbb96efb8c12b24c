"""Recipes against the real local CRAN-like mirror: package sources from Debian's archive
(scripts/make-local-cran-packages.sh), served over HTTP on 127.0.0.1. The committed locks are
checked to be exactly what locking gives now, and every recipe's events are run through the
real runtime with its locked packages installed from their verified tarballs (needs R on the
host: tests/r/test_recipe_events_host.py)."""

import shutil
import subprocess
import time
from pathlib import Path

import pytest

from rlambda.local.events.files import load_events
from rlambda.pins import versions
from rlambda.recipes import (
    RECIPES_DIR,
    build_packages,
    load_lock,
    load_recipe,
    lock_recipe,
    recipe_dir,
)
from rlambda.sources.cran import Mirror
from rlambda.sources.dcf import parse
from rlambda.sources.fetch import sha256_file

from ..helpers import LOCAL_MIRROR_RECIPES as RECIPES

CRAN = versions.load().cran_mirror  # what a lock records as where builds download from

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "make-local-cran-packages.sh"
# plumber-api's closure compiles stringi, httpuv and Rcpp: its events run in its image
# (tests/docker/test_recipe_images.py), not on the host's R.
LOCKED = [*RECIPES, "plumber-api"]
# CRAN's xml2_1.3.3.tar.gz as public build recipes pin it (Spack's r-xml2, Arch's AUR
# r-xml2): Debian's r-cran-xml2_1.3.3.orig.tar.gz is that file renamed.
CRAN_XML2_1_3_3 = "cb4e9c0d31618ed67d2bfa4c7b5e52680e11612ed356a8164b541d44163c1c8d"


def test_the_mirror_has_current_and_archived_versions(cran_packages_dir: Path) -> None:
    contrib = cran_packages_dir / "src" / "contrib"
    index = {r["Package"]: r for r in parse((contrib / "PACKAGES").read_text())}
    # The mirror is shared and only ever grows (other recipes add packages): the recipes'
    # packages must be there at these versions, beside whatever else it holds.
    current = {n: r["Version"] for n, r in index.items()}
    assert {
        "cli": "3.6.4",
        "jsonlite": "1.9.1",
        "rlang": "1.1.5",
        "xml2": "1.3.8",
        # plumber and its closure
        "plumber": "1.3.0",
        "R6": "2.6.1",
        "stringi": "1.8.4",
        "webutils": "1.2.2",
        "httpuv": "1.6.15",
        "crayon": "1.5.3",
        "promises": "1.3.2",
        "sodium": "1.4.0",
        "swagger": "5.17.14.1",
        "magrittr": "2.0.3",
        "mime": "0.12",
        "lifecycle": "1.0.4",
        "later": "1.4.1",
        "Rcpp": "1.0.14",
        "fastmap": "1.2.0",
        "curl": "6.2.1",
        "glue": "1.8.0",
        "openssl": "2.3.2",
        "globals": "0.16.3",
        # purrr (for furrr in the worker) and its closure
        "purrr": "1.0.4",
        "vctrs": "0.6.5",
    }.items() <= current.items()
    assert " ".join(index["xml2"]["Imports"].split()) == "cli, methods, rlang (>= 1.1.0)"
    for name, version in [("jsonlite", "1.8.4"), ("xml2", "1.3.3"), ("cli", "3.6.0")]:
        assert (contrib / "Archive" / name / f"{name}_{version}.tar.gz").is_file()
    # xml2 is not repacked by Debian: the orig tarball is CRAN's, byte for byte.
    assert sha256_file(contrib / "Archive/xml2/xml2_1.3.3.tar.gz") == CRAN_XML2_1_3_3


def test_the_script_is_idempotent_and_quick_when_complete(cran_packages_dir: Path) -> None:
    started = time.monotonic()
    done = subprocess.run(
        [str(SCRIPT), str(cran_packages_dir)], check=True, capture_output=True, text=True
    )
    assert time.monotonic() - started < 5
    assert "complete" in done.stdout


def test_archive_listing_over_http(cran_packages: str, cache: Path) -> None:
    mirror = Mirror(cran_packages)
    assert [str(c.version) for c in mirror.archived("xml2")] == ["1.3.3"]
    assert mirror.archived("rlang") == []  # no Archive/rlang/: a 404, not an error


def test_lock_takes_the_archive_path_for_real(
    cran_packages: str, cache: Path, tmp_path: Path
) -> None:
    directory = tmp_path / "old-xml"
    (directory / "events").mkdir(parents=True)
    (directory / "x.R").write_text("h <- function(event) 1\n")
    (directory / "recipe.toml").write_text('handler = "x.h"\n[packages]\nxml2 = "< 1.3.8"\n')
    lock_recipe(
        directory,
        r_version="4.5.0",
        cran_mirror=cran_packages,
        default_mirror=CRAN,
        log=lambda s: None,
    )
    lock = load_lock(directory, load_recipe(directory))
    # xml2 1.3.3 imports only methods: a closure of one, with CRAN's own hash.
    [xml2] = lock.packages
    assert (xml2.version, xml2.path) == ("1.3.3", "src/contrib/Archive/xml2/xml2_1.3.3.tar.gz")
    assert xml2.sha256 == CRAN_XML2_1_3_3


@pytest.mark.parametrize("name", LOCKED)
def test_committed_locks_are_what_locking_gives(
    name: str, cran_packages: str, cache: Path, tmp_path: Path
) -> None:
    copy = tmp_path / name
    shutil.copytree(RECIPES_DIR / name, copy)
    lock_recipe(
        copy, r_version="4.5.0", cran_mirror=cran_packages, default_mirror=CRAN, log=lambda s: None
    )
    assert (copy / "lock.toml").read_text() == (RECIPES_DIR / name / "lock.toml").read_text(), (
        f"recipes/{name}/lock.toml is stale: re-lock it against the local mirror"
    )


@pytest.mark.parametrize("name", LOCKED)
def test_committed_recipes_load_with_valid_events(name: str) -> None:
    recipe = load_recipe(recipe_dir(name))
    lock = load_lock(recipe.path, recipe, r_version="4.5.0")
    # Made against the local mirror, served on whatever port: named without it.
    assert lock.mirror == "http://127.0.0.1" or not lock.downloads
    assert len(load_events(recipe.events_dir)) >= 2
    for family in ("debian", "al2023", "al2"):
        if family not in recipe.not_built_on:
            build_packages(lock, recipe, family)  # every requirement maps


def test_the_compiled_recipe_needs_libxml2() -> None:
    recipe = load_recipe(recipe_dir("xml-extract"))
    lock = load_lock(recipe.path, recipe)
    assert [p.name for p in lock.packages] == ["cli", "rlang", "xml2"]
    assert build_packages(lock, recipe, "debian") == ["libxml2-dev"]
    assert build_packages(lock, recipe, "al2023") == ["libxml2-devel"]
