"""recipes/geo-plot, a real geospatial job (sf with GDAL, GEOS and PROJ; units with udunits2;
data.table with OpenMP; ggplot2 through ragg), built and invoked the way a user does it:
`build.py --recipe geo-plot --test`, on debian and on the al2023 stand-in. Its events call the
functions that read the files ldd cannot see (proj.db, GDAL's data, udunits2's XML, fontconfig
and a font, zoneinfo), so an image missing one fails them. The compile is long (BENCHMARKS.md,
"geo-plot"): these tests are in CI's docker class like every recipe's."""

import json
from pathlib import Path

import pytest

import build
from rlambda.build import builder
from rlambda.errors import JobError
from rlambda.local.standin import build_standin
from rlambda.recipes import data_files

from ..conftest import DEBIAN_BASE, local_target

pytestmark = pytest.mark.docker


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


def test_geo_plot_builds_and_answers_on_debian(local_pins, local_mirror, r_image, capsys):
    result = user_build(capsys, local_pins, local_mirror, "debian", DEBIAN_BASE)
    assert result["image"].endswith(":r-4.5.0-geo-plot-debian-x86_64")


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
