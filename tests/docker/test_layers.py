"""Lambda layers from a built image (build.py --layer), run as a zip function on the bare base.

The R 4.5.0 image and the xml-extract recipe image (xml2, which links libxml2 and ICU) are the
ones the other tests build on the local stand-ins; the layers are unzipped at /opt on the
debootstrapped Debian base, which has neither R nor libxml2, and the recipe's events go through
the emulator as Lambda would run an OS-only runtime.
"""

import json
import os
import subprocess
import zipfile
from pathlib import Path

import pytest

import build
from rlambda.build import layer_zip
from rlambda.build.builder import build_recipe_image, function_files
from rlambda.build.layer import LayerOptions, build_layers
from rlambda.errors import JobError
from rlambda.local.zip_function import run_zip_events

from ..conftest import DEBIAN_BASE, ROOT, local_target

pytestmark = pytest.mark.docker
BULLSEYE = "layers-test/debian:bullseye"  # glibc 2.31: older than bookworm's 2.36


@pytest.fixture(scope="module")
def xml_target(local_pins, local_mirror):
    return local_target(local_pins, local_mirror, "xml-extract")


@pytest.fixture(scope="module")
def xml_image(xml_target, r_image, docker_client):
    return build_recipe_image(xml_target, r_image, docker_client)


@pytest.fixture(scope="module")
def split_layers(xml_target, xml_image, docker_client, tmp_path_factory):
    out = tmp_path_factory.mktemp("layers")
    return build_layers(
        xml_target, xml_image.image_id, LayerOptions(out, split=True), docker_client
    )


def test_split_layers_run_the_recipe_as_a_zip_function(split_layers, xml_target, docker_client):
    r_layer, packages = split_layers
    assert (r_layer.kind, packages.kind) == ("r", "packages")
    with zipfile.ZipFile(r_layer.path) as zf:
        names = zf.namelist()
        boot = zf.getinfo("bootstrap")
        assert boot.external_attr >> 16 & 0o111  # executable, so Lambda can run /opt/bootstrap
        assert "lang/lib/R/bin/exec/R" in names and "runtime/main.R" in names
        assert not any(n.startswith("lang/lib/R/site-library/") for n in names)
        # R's front end was moved to /opt: no file of the layer still names /var/lang.
        assert b"/var/lang" not in zf.read("lang/lib/R/bin/R")
        assert b"R_HOME='/opt/lang/lib/R'" in zf.read("runtime/r-env.sh")
    with zipfile.ZipFile(packages.path) as zf:
        names = zf.namelist()
        assert "lang/lib/R/site-library/xml2/libs/xml2.so" in names
        assert "lib/libxml2.so.2" in names  # the base lacks it: carried in /opt/lib
    manifest = layer_zip.manifest(packages.path)
    assert manifest["os_libraries"]["libxml2.so.2"] == "libxml2"  # its licence is that package's
    assert manifest["licenses"]["xml2"].startswith("MIT")

    recipe = xml_target.recipe.recipe
    code = {k.removeprefix("function/"): v for k, v in function_files(recipe).items()}
    outcomes = run_zip_events(
        DEBIAN_BASE,
        [r_layer.path, packages.path],
        code,
        recipe.events_dir,
        recipe.handler,
        client=docker_client,
    )
    assert [o.passed for o in outcomes] == [True] * len(outcomes)
    assert len(outcomes) >= 3


def test_same_image_gives_the_same_zip_bytes(
    split_layers, xml_target, xml_image, docker_client, tmp_path
):
    again = build_layers(
        xml_target, xml_image.image_id, LayerOptions(tmp_path, split=True), docker_client
    )
    assert [x.sha256 for x in again] == [x.sha256 for x in split_layers]
    assert [layer_zip.sha256(x.path) for x in again] == [x.sha256 for x in again]
    with zipfile.ZipFile(again[0].path) as zf:
        infos = zf.infolist()
    assert [i.filename for i in infos] == sorted(i.filename for i in infos)
    assert {i.date_time for i in infos} == {layer_zip.FIXED_TIME}


def test_over_the_size_limit_names_the_parts_and_writes_nothing(
    xml_target, xml_image, docker_client, tmp_path
):
    with pytest.raises(JobError) as failure:
        build_layers(
            xml_target, xml_image.image_id, LayerOptions(tmp_path, other_mb=240), docker_client
        )
    message = str(failure.value)
    assert "too big for Lambda" in message
    for part in (
        "R ",
        "runtime client",
        "packages",
        "OS libraries for the packages",
        "function code and other layers",
    ):
        assert part in message
    assert list(tmp_path.iterdir()) == []


@pytest.fixture(scope="module")
def bullseye_base(docker_client):
    subprocess.run(
        [str(ROOT / "scripts" / "make-debian-base.sh"), BULLSEYE],
        check=True,
        env={**os.environ, "DEBIAN_SUITE": "bullseye"},
    )
    return BULLSEYE


def test_libraries_a_layer_cannot_carry_are_refused(
    xml_target, xml_image, bullseye_base, docker_client, tmp_path
):
    """A runtime whose C library is older than the build's (as provided.al2023's glibc 2.34 is
    older than bookworm's 2.36): the C library cannot travel in a layer."""
    with pytest.raises(JobError) as failure:
        build_layers(
            xml_target,
            xml_image.image_id,
            LayerOptions(tmp_path),
            docker_client,
            runtime_base=bullseye_base,
        )
    message = str(failure.value)
    assert "cannot be carried in a layer" in message
    assert "libc.so.6: GLIBC_2." in message and "lang/lib/R/lib/libR.so" in message
    assert list(tmp_path.iterdir()) == []


def test_layer_flags_are_checked_before_building(capsys):
    assert build.main(["--r", "4.5.0", "--family", "debian", "--split-layer"]) == 2
    assert "--split-layer needs --layer" in capsys.readouterr().err
    assert build.main(["--r", "4.5.0", "--family", "debian", "--layer", "--split-layer"]) == 2
    assert "needs --recipe" in capsys.readouterr().err


def test_build_py_layer_with_test_runs_the_events_on_the_layer(
    local_pins, local_mirror, r_image, tmp_path, capsys
):
    """The whole command: the base image's layer (no recipe), its events through the smoke
    recipe both on the image and as a zip function on the bare base."""
    status = build.main(
        [
            *("--r", "4.5.0", "--family", "debian", "--base-image", DEBIAN_BASE),
            *("--cran-mirror", local_mirror, "--versions-file", str(local_pins.path)),
            *("--test", "--layer", "--layer-dir", str(tmp_path), "--json"),
        ]
    )
    captured = capsys.readouterr()
    assert status == 0, captured.err
    result = json.loads(captured.out)
    [layer] = result["layers"]
    assert layer["path"] == str(tmp_path / "r-4.5.0-debian-x86_64.zip")
    assert layer["sha256"] == layer_zip.sha256(Path(layer["path"]))
    assert "testing the layers as a zip function" in captured.err
    assert captured.err.count("PASS") >= 2 * 3  # hello's events, on the image and on the layer
    assert [p.name for p in tmp_path.iterdir()] == ["r-4.5.0-debian-x86_64.zip"]
