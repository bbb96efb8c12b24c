"""recipes/geo-plot, a real geospatial job (sf with GDAL, GEOS and PROJ; units with udunits2;
data.table with OpenMP; ggplot2 through ragg), built and invoked the way a user does it:
`build.py --recipe geo-plot --test`, on debian and on the al2023 stand-in. Its events call the
functions that read the files ldd cannot see (proj.db, GDAL's data, udunits2's XML, fontconfig
and a font, zoneinfo), so an image missing one fails them.

The two full builds compile 45 packages each (~26 minutes per family on 2 cores, BENCHMARKS.md,
"geo-plot"): with them a bare machine's `.ci/run` would take far over its hour, so they are
opt-in (RLAMBDA_GEO_FULL=1), as the arm64 full build is; the scheduled rebuild builds geo-plot
on every family it ships, on GitHub's runners. Every run builds the data-file check below.
"""

import json
import os
from pathlib import Path

import pytest

import build
from rlambda.build import builder
from rlambda.errors import JobError
from rlambda.local.standin import build_standin
from rlambda.recipes import data_files

from ..conftest import DEBIAN_BASE, local_target

pytestmark = pytest.mark.docker

full_build = pytest.mark.skipif(
    not os.environ.get("RLAMBDA_GEO_FULL"),
    reason="compiles 45 packages (~26 min a family on 2 cores): set RLAMBDA_GEO_FULL=1",
)


def user_build(capsys, pins, mirror: str, family: str, base: str, *extra: str) -> dict:
    """What a user types, with the local stand-ins for the base image and the mirror."""
    argv = [
        *("--r", "4.5.0", "--family", family, "--base-image", base),
        *("--cran-mirror", mirror, "--versions-file", str(pins.path)),
        *("--recipe", "geo-plot", "--test", "--json", *extra),
    ]
    status = build.main(argv)
    out = capsys.readouterr()
    assert status == 0, out.err[-3000:]
    result = json.loads(out.out)
    assert result["test"]["passed"], result["test"]
    return result


@full_build
def test_geo_plot_builds_and_answers_on_debian(local_pins, local_mirror, r_image, capsys):
    result = user_build(capsys, local_pins, local_mirror, "debian", DEBIAN_BASE)
    assert result["image"].endswith(":r-4.5.0-geo-plot-debian-x86_64")


@full_build
def test_geo_plot_builds_and_answers_on_the_al2023_standin(
    local_pins, local_mirror, debian_base, capsys
):
    """On the stand-in, microdnf takes only AL2023's names, and SPAL's only once spal-release
    is installed: that the build passes shows both stages enabled SPAL before installing GDAL,
    GEOS, PROJ and udunits2 (tests/unit/test_render.py checks where)."""
    standin = build_standin(debian_base)
    result = user_build(capsys, local_pins, local_mirror, "al2023", standin)
    assert result["image"].endswith(":r-4.5.0-geo-plot-al2023-x86_64")


def test_a_data_file_the_build_does_not_produce_fails_it_naming_the_rule(
    local_pins, local_mirror, r_image, docker_client, monkeypatch
):
    """A rule naming a file nothing installs (here, for xml2's libxml2) stops the build in the
    final stage, and the log says which rule and which file."""
    rule = data_files.DataRule(
        name="libxml2",
        why="a test rule",
        source="tests/docker/test_geo_plot.py",
        files=(("/usr/share/libxml2-never/catalog.xml",),),
        packages={"debian": ()},
    )
    monkeypatch.setattr(data_files, "data_rules", lambda: {"libxml2": rule})
    target = local_target(local_pins, local_mirror, "xml-extract")
    with pytest.raises(JobError) as failed:
        builder.build_recipe_image(target, r_image, docker_client)
    log = Path(str(failed.value).split("full log: ")[1].strip()).read_text()
    assert (
        "data rule libxml2 (rlambda/recipes/data/runtime-data.toml) names"
        " /usr/share/libxml2-never/catalog.xml, which the final stage does not have"
    ) in log
