"""The SBOM of images built here: valid, listing what the image holds, refused when it disagrees
(the document itself, without Docker, is tested in tests/unit/test_sbom.py)."""

import json

import pytest

import build
from rlambda.build import sbom
from rlambda.build.builder import build_recipe_image
from rlambda.errors import JobError
from rlambda.target.tags import REPOSITORY
from tests.conftest import DEBIAN_BASE, local_target
from tests.helpers import sbom_components as components
from tests.helpers import validate_sbom as validate


@pytest.mark.docker
def test_base_image_carries_a_valid_sbom(r_image, capsys) -> None:
    assert build.main(["sbom", r_image.image_id]) == 0
    doc = json.loads(capsys.readouterr().out)
    validate(doc)
    by_ref = components(doc)
    assert by_ref["r"]["version"] == "4.5.0"
    assert by_ref["r"]["externalReferences"][0]["url"].endswith("R-4.5.0.tar.gz")
    assert {c["name"] for c in by_ref["r"]["components"]} >= {"base", "stats", "utils"}
    jsonlite = next(c for c in doc["components"] if c["name"] == "jsonlite")
    assert len(jsonlite["hashes"][0]["content"]) == 64 and jsonlite["licenses"]
    os_names = {c["name"] for c in doc["components"] if c["bom-ref"].startswith("os-package:")}
    assert {"libc6", "libcurl4"} <= os_names  # the ldd-derived runtime libraries are listed
    assert by_ref["base-image"]["name"] == DEBIAN_BASE
    assert by_ref["runtime-client"]["version"]


@pytest.mark.docker
def test_recipe_image_sbom_lists_its_locked_packages(
    local_pins, local_mirror, r_image, docker_client
) -> None:
    target = local_target(local_pins, local_mirror, "json-api")
    image = build_recipe_image(target, r_image, docker_client)
    doc = sbom.read(docker_client, image.image_id)
    validate(doc)
    names = {c["name"] for c in doc["components"] if c["bom-ref"].startswith("r-package:")}
    assert "jsonlite" in names
    assert doc["metadata"]["component"]["name"] == f"{REPOSITORY}:{image.readable_tag}"
    # The OS base is the family's, not the R base image the recipe was built on.
    assert components(doc)["base-image"]["name"] == DEBIAN_BASE
    if image.sbom_path:  # built now (not reused): written beside the build log too
        assert json.loads(image.sbom_path.read_text()) == doc


@pytest.mark.docker
def test_an_image_that_disagrees_with_its_pins_is_refused(r_image, docker_client, tmp_path):
    # As if the pins named another jsonlite than the one the image holds.
    inputs = sbom.SbomInputs("u", (sbom.KnownPackage("jsonlite", "0.0.1", "u", "e" * 64),))

    def children() -> set[str]:  # images built on r_image (others may build meanwhile)
        listed = docker_client.images.list(all=True)
        return {i.id for i in listed if i.attrs.get("Parent") == r_image.image_id}

    before = children()
    with pytest.raises(JobError, match=r"jsonlite 0\.0\.1: in the pins or lock, but not installed"):
        sbom.attach(
            docker_client,
            r_image.image_id,
            inputs,
            image_name="x",
            platform="linux/amd64",
            written_to=tmp_path / "x.cdx.json",
        )
    assert not (tmp_path / "x.cdx.json").exists()
    assert children() == before  # no SBOM layer was built on it


@pytest.mark.docker
def test_sbom_of_an_image_not_built_here_names_the_missing_labels(debian_base, capsys) -> None:
    assert build.main(["sbom", debian_base]) == 2
    err = capsys.readouterr().err
    assert "was not built by this project's build.py" in err
    assert "io.rlambda.r.version" in err and sbom.SBOM_LABEL in err
