"""Fixtures of the end-to-end tests: the images the local Lambda service serves
(tests/e2e/serving.py builds them)."""

import pytest

from .serving import _recipe_image, build_probe_image


@pytest.fixture(scope="session")
def hello_image(local_pins, local_mirror, r_image) -> str:
    return _recipe_image(local_pins, local_mirror, r_image, "hello")


@pytest.fixture(scope="session")
def json_api_image(local_pins, local_mirror, r_image) -> str:
    return _recipe_image(local_pins, local_mirror, r_image, "json-api")


@pytest.fixture(scope="session")
def probe_image(docker_client, r_image, tmp_path_factory) -> str:
    """R 4.5.0 with tests/r_handlers/service.R: count, sleep, hang, crash, fail, talk, echo."""
    return build_probe_image(docker_client, r_image.image_id, tmp_path_factory.mktemp("probe"))
