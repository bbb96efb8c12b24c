"""The SBOM of every image built here: what it lists, its validity, and reading it back."""

import json
from pathlib import Path

import pytest

from rlambda.build import sbom
from rlambda.errors import JobError
from rlambda.pins import versions
from rlambda.recipes.system_sources import SystemSource
from rlambda.target import resolve
from tests.helpers import sbom_components as components
from tests.helpers import validate_sbom as validate

JSONLITE = sbom.KnownPackage(
    "jsonlite", "1.8.4", "http://127.0.0.1/src/contrib/jsonlite_1.8.4.tar.gz", "b" * 64
)
LABELS = {
    "io.rlambda.r.version": "4.5.0",
    "io.rlambda.r.source.sha256": "a" * 64,
    "io.rlambda.family": "debian",
    "io.rlambda.content-hash": "c" * 64,
    "io.rlambda.os-base.name": "debian:bookworm-slim",
    "io.rlambda.os-base.digest": "sha256:" + "d" * 64,
}
INVENTORY = """\
#os-release
ID=debian
VERSION_ID="12"
#os
deb\tlibc6\t2.36-9+deb12u9\tamd64
deb\tlibcurl4\t7.88.1-10+deb12u8\tamd64
#r
base\t4.5.0\tbase\tPart of R 4.5.0\t/var/lang/lib/R/library
jsonlite\t1.8.4\t\tMIT + file LICENSE\t/var/lang/lib/R/library
#runtime
Package: rlambda
Version: 0.1.0
License: MIT + file LICENSE
"""
INPUTS = sbom.SbomInputs("http://127.0.0.1/src/base/R-4/R-4.5.0.tar.gz", (JSONLITE,))


def test_document_lists_base_r_packages_os_packages_and_runtime() -> None:
    found = sbom.parse_inventory(INVENTORY)
    doc = sbom.document(
        LABELS, found, INPUTS, image_name="r-lambda:x", created="2026-12-01T19:40:12.123456789Z"
    )
    validate(doc)
    by_ref = components(doc)
    assert by_ref["base-image"]["version"] == "sha256:" + "d" * 64
    assert by_ref["r"]["hashes"] == [{"alg": "SHA-256", "content": "a" * 64}]
    assert by_ref["r"]["externalReferences"][0]["url"] == INPUTS.r_source_url
    assert [c["name"] for c in by_ref["r"]["components"]] == ["base"]
    jsonlite = by_ref["r-package:jsonlite@1.8.4"]
    assert jsonlite["purl"] == "pkg:cran/jsonlite@1.8.4"
    assert jsonlite["hashes"][0]["content"] == "b" * 64
    assert jsonlite["licenses"] == [{"license": {"name": "MIT + file LICENSE"}}]
    libc = by_ref["os-package:libc6@2.36-9+deb12u9:amd64"]
    assert libc["purl"] == "pkg:deb/debian/libc6@2.36-9%2Bdeb12u9?arch=amd64&distro=debian-12"
    assert by_ref["runtime-client"]["version"] == "0.1.0"


def test_a_library_built_from_source_is_listed_with_its_url_and_sha256() -> None:
    """A recipe's [system-sources] library is inside its packages' shared objects: the
    image's SBOM says which source, by URL and sha256 (no OS package lists it)."""
    source = SystemSource(
        name="libsodium",
        family="al2023",
        version="1.0.22",
        urls=(
            "https://deb.debian.org/debian/pool/main/libs/libsodium/libsodium_1.0.22.orig.tar.gz",
        ),
        sha256="e" * 64,
        for_packages=("sodium",),
        license="ISC",
    )
    inputs = sbom.SbomInputs(INPUTS.r_source_url, INPUTS.packages, (source,))
    found = sbom.parse_inventory(INVENTORY)
    doc = sbom.document(
        LABELS, found, inputs, image_name="r-lambda:x", created="2026-12-01T00:00:00Z"
    )
    validate(doc)
    sodium = components(doc)["system-source:libsodium@1.0.22"]
    assert sodium["hashes"] == [{"alg": "SHA-256", "content": "e" * 64}]
    assert sodium["externalReferences"][0]["url"] == source.url
    assert sodium["purl"].startswith("pkg:generic/libsodium@1.0.22?download_url=https%3A%2F%2F")
    assert sodium["licenses"] == [{"license": {"name": "ISC"}}]
    assert "sodium" in sodium["description"]


def test_same_image_content_gives_the_same_document() -> None:
    found = sbom.parse_inventory(INVENTORY)
    first = sbom.document(
        LABELS, found, INPUTS, image_name="r-lambda:x", created="2026-12-01T00:00:00Z"
    )
    again = sbom.document(
        LABELS, found, INPUTS, image_name="r-lambda:x", created="2026-12-01T00:00:00Z"
    )
    assert first == again and first["serialNumber"].startswith("urn:uuid:")


@pytest.mark.parametrize(
    ("known", "said"),
    [
        ((), "jsonlite 1.8.4: installed in the image, but in neither the pins nor the lock"),
        (
            (sbom.KnownPackage("jsonlite", "2.0.0", "u", "b" * 64),),
            "jsonlite 2.0.0: in the pins or lock, but not installed in the image",
        ),
    ],
)
def test_packages_that_disagree_with_the_lock_are_reported(known, said) -> None:
    with pytest.raises(JobError, match="disagree with its pins and lock") as e:
        sbom.check_packages(sbom.parse_inventory(INVENTORY), known)
    assert said in str(e.value)


def test_summary_links_the_sbom(tmp_path: Path, capsys) -> None:
    from rlambda.ci import summary

    path = tmp_path / "result.json"
    path.write_text(json.dumps({"r_version": "4.5.0", "family": "debian", "sbom": "/x/a.cdx.json"}))
    assert summary.main([str(path), "--sbom-url", "https://example.invalid/artifact/1"]) == 0
    assert "[CycloneDX](https://example.invalid/artifact/1)" in capsys.readouterr().out


# ---- images built here ---------------------------------------------------------------------


def test_the_sbom_names_sources_without_the_mirror_credentials() -> None:
    target = resolve(
        versions.load(),
        r_version="4.5.0",
        family_name="debian",
        arch="x86_64",
        cran_mirror="https://user:s3cret@cran.example.org/cran",
    )
    found = sbom.inputs(target)
    assert found.r_source_url == "https://cran.example.org/cran/src/base/R-4/R-4.5.0.tar.gz"
    assert all("s3cret" not in p.url for p in found.packages)
