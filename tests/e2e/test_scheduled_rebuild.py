"""The weekly scheduled rebuild, end to end: build.py --recipe --test --push --date, run against
the stand-ins (moto for ECR's API, docker-registry for the bytes).

Week 1 builds, tests and pushes. Weeks 2 and 3, with unchanged inputs, ask ECR for the content
tag, build nothing, send nothing, and add only their dated tag to the digest week 1 pushed.
A change of inputs then builds and pushes a new image; its readable tag moves there (in a
mutable repository) or stays put (in an immutable one), and the earlier tags are untouched.

A new base digest would change the content the same way, but means compiling R again (~5 min
here): the change of inputs here is the recipe's code, in a copy of recipes/hello.
"""

import json
import shutil

import pytest

import build
from rlambda import job
from rlambda.recipes import recipe as recipe_module

from ..conftest import DEBIAN_BASE, ROOT

pytestmark = pytest.mark.docker
READABLE = "r-4.5.0-hello-debian-x86_64"


@pytest.fixture
def recipes(tmp_path, monkeypatch):
    """A copy of recipes/hello, as a user's recipes directory."""
    root = tmp_path / "recipes"
    shutil.copytree(ROOT / "recipes" / "hello", root / "hello")
    monkeypatch.setattr(recipe_module, "RECIPES_DIR", root)
    return root


def weekly(local_mirror, local_pins, registry, repository: str, date: str) -> list[str]:
    return [
        *("--r", "4.5.0", "--family", "debian", "--base-image", DEBIAN_BASE),
        *("--cran-mirror", local_mirror, "--versions-file", str(local_pins.path)),
        *("--recipe", "hello", "--test", "--push", "--repository", repository),
        *("--registry-endpoint", registry.endpoint, "--date", date, "--json"),
    ]


def run(capsys, argv) -> tuple[int, dict, str]:
    status = build.main(argv)
    captured = capsys.readouterr()
    return status, json.loads(captured.out) if captured.out else {}, captured.err


def tags_of(ecr, repository: str, digest: str) -> set[str]:
    details = ecr.describe_images(repositoryName=repository, imageIds=[{"imageDigest": digest}])
    return set(details["imageDetails"][0]["imageTags"])


def stored(registry) -> list[str]:
    """Every blob and manifest link the registry has written: a push adds some."""
    return sorted(str(p) for p in (registry.root / "storage").rglob("*") if p.is_file())


def nothing_may_be_built(*args, **kwargs):
    raise AssertionError("unchanged inputs already in ECR: nothing may be built")


@pytest.mark.parametrize("mutability", ["MUTABLE", "IMMUTABLE"])
def test_weekly_runs_then_a_change_of_inputs(
    local_pins, local_mirror, r_image, registry, ecr, recipes, capsys, monkeypatch, mutability
):
    repository = f"weekly-{mutability.lower()}"
    ecr.create_repository(repositoryName=repository, imageTagMutability=mutability)
    args = (local_mirror, local_pins, registry, repository)

    status, week1, err = run(capsys, weekly(*args, "20261102"))
    assert status == 0, err
    assert week1["test"]["passed"] and week1["push"]["pushed"]
    digest = week1["push"]["digest"]
    assert week1["push"]["readable_tag"] == {READABLE: "added"}
    blobs_after_week1 = stored(registry)

    # Weeks 2 and 3: a fresh runner would rebuild with another image ID; the job asks ECR first.
    with monkeypatch.context() as m:
        m.setattr(job, "build_prepared", nothing_may_be_built)
        for date in ("20261109", "20261116"):
            status, again, err = run(capsys, weekly(*args, date))
            assert status == 0, err
            assert "skipping the build, the test and the push" in err
            assert again["built"] is False and again["push"]["pushed"] is False
            assert again["push"]["digest"] == digest
            assert again["push"]["readable_tag"] == {READABLE: "unchanged"}
    assert tags_of(ecr, repository, digest) == {
        week1["push"]["tags"][0],  # content-…
        READABLE,
        "r-4.5.0-hello-debian-x86_64-20261102",
        "r-4.5.0-hello-debian-x86_64-20261109",
        "r-4.5.0-hello-debian-x86_64-20261116",
    }
    assert stored(registry) == blobs_after_week1  # nothing was sent

    # The inputs change: a new image is built, tested and pushed.
    handler = recipes / "hello" / "hello.R"
    handler.write_text(handler.read_text() + "\n# changed\n")
    status, changed, err = run(capsys, weekly(*args, "20261123"))
    assert status == 0, err
    assert changed["test"]["passed"] and changed["push"]["pushed"]  # (built by the first param)
    new = changed["push"]["digest"]
    assert new != digest
    assert "r-4.5.0-hello-debian-x86_64-20261123" in tags_of(ecr, repository, new)
    old_tags = tags_of(ecr, repository, digest)
    assert "r-4.5.0-hello-debian-x86_64-20261116" in old_tags  # fixed tags never move
    if mutability == "MUTABLE":
        assert changed["push"]["readable_tag"] == {READABLE: "moved"}
        assert READABLE in tags_of(ecr, repository, new) and READABLE not in old_tags
    else:
        assert changed["push"]["readable_tag"][READABLE].startswith(f"kept on {digest}")
        assert READABLE in old_tags
