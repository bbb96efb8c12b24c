"""A recipe's [system-sources]: a C library its family cannot install, built from a pinned
source tarball (plumber-api's libsodium on al2023, which AWS left out on purpose)."""

import dataclasses
import hashlib
from pathlib import Path

import pytest

from rlambda.build import render
from rlambda.build.builder import fetch_system_sources
from rlambda.errors import JobError, UsageError
from rlambda.pins import versions
from rlambda.recipes import sysreqs
from rlambda.recipes.lockfile import load_lock
from rlambda.recipes.recipe import load_recipe, recipe_dir
from rlambda.target.resolve import resolve

SHA = "5838bb0c3da6148c24ebe531d1ed1297de9a87aea77d426bcd99f289e681631c"
SOURCE = f"""
[system-sources.al2023.libsodium]
for = ["sodium"]
version = "1.0.22"
urls = ["https://example.org/libsodium-1.0.22.tar.gz"]
sha256 = "{SHA}"
"""


def _recipe(tmp_path: Path, extra: str) -> Path:
    directory = tmp_path / "demo"
    (directory / "events").mkdir(parents=True)
    (directory / "handler.R").write_text("handle <- function(event) event\n")
    (directory / "recipe.toml").write_text(
        f'handler = "handler.handle"\n[packages]\nsodium = "*"\n{extra}'
    )
    return directory


def test_a_system_source_loads(tmp_path):
    recipe = load_recipe(_recipe(tmp_path, SOURCE + 'license = "ISC"\n'))
    (source,) = recipe.system_sources["al2023"]
    assert (source.name, source.version, source.for_packages) == (
        "libsodium",
        "1.0.22",
        ("sodium",),
    )
    assert source.context_name == "system-sources/libsodium-1.0.22.tar.gz"
    assert source.sha256 == SHA and source.license == "ISC"


@pytest.mark.parametrize(
    ("change", "key"),
    [
        (
            (
                'urls = ["https://example.org/libsodium-1.0.22.tar.gz"]',
                'urls = ["http://example.org/libsodium-1.0.22.tar.gz"]',
            ),
            "urls[0]",
        ),
        (
            (
                'urls = ["https://example.org/libsodium-1.0.22.tar.gz"]',
                'urls = ["https://example.org/download?f=1"]',
            ),
            "urls[0]",
        ),
        (
            (
                'urls = ["https://example.org/libsodium-1.0.22.tar.gz"]',
                'urls = ["https://user:pw@example.org/l.tar.gz"]',
            ),
            "urls[0]",
        ),
        (
            (
                'urls = ["https://example.org/libsodium-1.0.22.tar.gz"]',
                'urls = ["https://example.org/libsodium.zip"]',
            ),
            "urls[0]",
        ),
        (
            (
                'urls = ["https://example.org/libsodium-1.0.22.tar.gz"]',
                'urls = ["https://example.org/l.tar.gz; rm -rf /"]',
            ),
            "urls[0]",
        ),
        (('urls = ["https://example.org/libsodium-1.0.22.tar.gz"]', "urls = []"), "urls"),
        (('for = ["sodium"]', "for = []"), "for"),
        (('for = ["sodium"]', 'for = ["sodium; ls"]'), "for"),
        ((f'sha256 = "{SHA}"', 'sha256 = "abc"'), "sha256"),
        (('version = "1.0.22"', 'version = "1.0.22\\nRUN x"'), "version"),
        (('version = "1.0.22"', 'version = "1.0.22"\nsha265 = "x"'), "sha265"),
        (("[system-sources.al2023.libsodium]", '[system-sources.al2023."lib sodium"]'), None),
        (("[system-sources.al2023.libsodium]", "[system-sources.windows.libsodium]"), None),
    ],
)
def test_bad_system_sources_are_refused_naming_the_key(tmp_path, change, key):
    directory = _recipe(tmp_path, SOURCE.replace(*change))
    with pytest.raises(UsageError) as raised:
        load_recipe(directory)
    message = str(raised.value)
    assert message.startswith(f"{directory / 'recipe.toml'}: key system-sources."), message
    if key:
        assert f".libsodium.{key}:" in message, message


def _plumber():
    recipe = load_recipe(recipe_dir("plumber-api"))
    return recipe, load_lock(recipe.path, recipe, r_version="4.5.0")


def test_plumber_api_on_al2023_is_refused_without_its_source_and_built_with_it():
    """AL2023 has no libsodium-devel (reference/amazon-linux/packages.toml): without the
    recipe's [system-sources] the render stops, saying how to build it from source."""
    recipe, lock = _plumber()
    without = dataclasses.replace(recipe, system_sources={})
    with pytest.raises(UsageError) as raised:
        sysreqs.recipe_requirements(lock, without, "al2023")
    message = str(raised.value)
    assert "CRAN package sodium" in message and "'libsodium-devel'" in message
    assert "[system-sources.al2023.NAME]" in message
    names = {r.os_package for r in sysreqs.recipe_requirements(lock, recipe, "al2023")}
    assert "libsodium-devel" not in names


def _target(pins, family: str):
    # The lock names the local mirror it was made against (any loopback port).
    return resolve(
        pins,
        r_version="4.5.0",
        family_name=family,
        arch="x86_64",
        recipe="plumber-api",
        cran_mirror="http://127.0.0.1:8765",
    )


def test_the_al2023_render_builds_the_source_before_the_packages(pins):
    dockerfile = render.render_recipe(_target(pins, "al2023"))
    add = "ADD system-sources/libsodium_1.0.22.orig.tar.gz /usr/src/system-sources/libsodium/"
    assert add in dockerfile
    assert "--disable-shared --enable-static --with-pic" in dockerfile
    assert dockerfile.index(add) < dockerfile.index("R CMD INSTALL")
    assert "PKG_CONFIG_PATH=/opt/rlambda/system-sources/lib/pkgconfig" in dockerfile
    # Nothing of it reaches the final stage: no copy of its prefix, no package for it.
    final = dockerfile[dockerfile.rindex("FROM ") :]
    assert "system-sources" not in final and "libsodium" not in final
    # Debian installs libsodium-dev as ever: a source is per family.
    debian = render.render_recipe(_target(pins, "debian"))
    assert "system-sources" not in debian and "libsodium-dev" in debian


def test_a_source_for_a_package_the_lock_lacks_is_refused():
    recipe, lock = _plumber()
    (source,) = recipe.system_sources["al2023"]
    stray = dataclasses.replace(source, for_packages=("sodium", "openssl"))
    wrong = dataclasses.replace(recipe, system_sources={"al2023": (stray,)})
    with pytest.raises(
        UsageError, match=r"libsodium\] is for CRAN package openssl, which the lock"
    ):
        sysreqs.recipe_requirements(lock, wrong, "al2023")


@pytest.fixture
def pins() -> versions.Versions:
    return versions.load()


def test_a_source_serving_other_bytes_is_refused_and_not_kept(tmp_path, cache, serve_directory):
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "lib-1.0.tar.gz").write_bytes(b"not the pinned release")
    url = f"{serve_directory(tmp_path / 'site')}/lib-1.0.tar.gz"
    directory = _recipe(
        tmp_path, SOURCE.replace("https://example.org/libsodium-1.0.22.tar.gz", url)
    )
    sources = load_recipe(directory).system_sources["al2023"]
    with pytest.raises(JobError) as raised:
        fetch_system_sources(sources)
    message = str(raised.value)
    assert f"expected sha256 {SHA}" in message
    assert "[system-sources.al2023.libsodium]" in message
    assert not any(p.is_file() for p in (cache / "sha256").iterdir())
    # The right bytes, from the second URL when the first has no such file.
    good = tmp_path / "site" / "lib-1.0.tar.gz"
    sha = hashlib.sha256(good.read_bytes()).hexdigest()
    two = dataclasses.replace(
        sources[0], urls=(url.replace("lib-1.0", "gone-1.0"), url), sha256=sha
    )
    (fetched,) = fetch_system_sources([two]).values()
    assert fetched.read_bytes() == good.read_bytes()
