"""A content tag found in ECR is checked before it is reused, and moving tags' preconditions
before the first push: against moto's ECR and a docker-registry, with images planted through
the registry's v2 API (no Docker engine: anyone who may push can do the same)."""

import datetime
from types import SimpleNamespace

import pytest

from rlambda import job
from rlambda.errors import JobError, UsageError
from rlambda.pins import versions
from rlambda.registry import ImageFacts, PushOptions, RepositorySettings, RetryPolicy, publish
from rlambda.registry.facts import identity_mismatches
from rlambda.target import resolve

from ..registry.stand_ins import MANIFEST_TYPE, REGION

FAST = RetryPolicy(2, 0.01)
HASH = "ab" * 32
SOURCE = "cd" * 32
FACTS = ImageFacts(None, "4.5.0", "debian", "x86_64", None, HASH, SOURCE)
GOOD = {
    "io.rlambda.r.version": "4.5.0",
    "io.rlambda.family": "debian",
    "io.rlambda.content-hash": HASH,
    "io.rlambda.r.source.sha256": SOURCE,
}


def config(labels: dict[str, str], arch: str = "amd64") -> dict:
    return {"architecture": arch, "os": "linux", "config": {"Labels": labels}}


# ---- the comparison itself -------------------------------------------------------------------


def test_the_image_these_inputs_make_matches():
    assert identity_mismatches(FACTS, config(GOOD)) == []


@pytest.mark.parametrize(
    ("change", "arch", "named"),
    [
        ({"io.rlambda.r.version": "4.4.0"}, "amd64", "io.rlambda.r.version: found '4.4.0'"),
        ({"io.rlambda.family": "al2023"}, "amd64", "io.rlambda.family: found 'al2023'"),
        ({}, "arm64", "architecture: found 'arm64', expected 'x86_64'"),
        # The tag holds 16 hex digits; the label must be the whole hash they begin.
        ({"io.rlambda.content-hash": HASH[:16] + "0" * 48}, "amd64", "io.rlambda.content-hash"),
        ({"io.rlambda.r.source.sha256": "ee" * 32}, "amd64", "io.rlambda.r.source.sha256"),
        ({"io.rlambda.recipe": "json-api"}, "amd64", "io.rlambda.recipe: found 'json-api'"),
        ({"io.rlambda.family": None}, "amd64", "io.rlambda.family: found no label"),
    ],
)
def test_each_difference_is_named(change, arch, named):
    labels = {k: v for k, v in (GOOD | change).items() if v is not None}
    wrong = identity_mismatches(FACTS, config(labels, arch))
    assert len(wrong) == 1 and wrong[0].startswith(named)


def test_a_source_hash_not_known_is_not_compared():
    facts = ImageFacts(None, "4.5.0", "debian", "x86_64", None, HASH)  # registry.py push of
    labels = {k: v for k, v in GOOD.items() if k != "io.rlambda.r.source.sha256"}  # a bare image
    assert identity_mismatches(facts, config(labels)) == []


# ---- against the stand-ins -------------------------------------------------------------------


def plant(registry, ecr, repository: str, tag: str, labels: dict, arch: str = "amd64") -> str:
    """What a pusher can do: an image under a tag, in the registry and in ECR's record."""
    if repository not in {r["repositoryName"] for r in ecr.describe_repositories()["repositories"]}:
        ecr.create_repository(repositoryName=repository, imageTagMutability="MUTABLE")
    text, digest = registry.put_image(repository, tag, config(labels, arch))
    ecr.put_image(
        repositoryName=repository, imageManifest=text, imageManifestMediaType=MANIFEST_TYPE,
        imageTag=tag, imageDigest=digest,
    )  # fmt: skip
    return digest


def tags_of(ecr, repository: str, digest: str) -> set[str]:
    details = ecr.describe_images(repositoryName=repository, imageIds=[{"imageDigest": digest}])
    return set(details["imageDetails"][0].get("imageTags", []))


def options(registry, repository: str, **more) -> PushOptions:
    return PushOptions(
        repository=RepositorySettings(repository), region=REGION,
        registry_endpoint=registry.endpoint, retry=FAST, **more,
    )  # fmt: skip


def test_a_planted_content_tag_fails_the_push_before_any_tag(registry, ecr):
    planted = plant(
        registry, ecr, "planted", "content-" + HASH[:16], GOOD | {"io.rlambda.r.version": "4.4.9"}
    )
    with pytest.raises(JobError) as failed:
        publish(FACTS, options(registry, "planted", date=datetime.date(2026, 1, 5)))
    message = str(failed.value)
    assert f"planted:content-{HASH[:16]} names an image ({planted})" in message
    assert "io.rlambda.r.version: found '4.4.9', expected '4.5.0'" in message
    assert tags_of(ecr, "planted", planted) == {f"content-{HASH[:16]}"}  # nothing added


def job_on_debian(registry, repository: str):
    """A build job's push settings and its prepared inputs, as job.run has them."""
    target = resolve(versions.load(), r_version="4.5.0", family_name="debian", arch="x86_64")
    push = options(registry, repository, date=datetime.date(2026, 1, 5))
    return job.Job(target, push=push), SimpleNamespace(content_hash=HASH, readable="x"), target


def test_a_scheduled_rebuild_refuses_a_content_tag_of_other_sources(registry, ecr, capsys):
    """build.py --push with ECR holding the content tag: the R source it names must be this
    build's (the tag's hash follows from public inputs: anyone could have pushed it first)."""
    planted_job, inputs, _ = job_on_debian(registry, "rebuild-planted")
    labels = GOOD | {"io.rlambda.r.source.sha256": "00" * 32}
    planted = plant(registry, ecr, "rebuild-planted", "content-" + HASH[:16], labels)
    with pytest.raises(JobError, match=r"io\.rlambda\.r\.source\.sha256: found '0000"):
        job._tag_pushed(planted_job, inputs, planted, as_json=False, deploy=None)
    assert tags_of(ecr, "rebuild-planted", planted) == {f"content-{HASH[:16]}"}


def test_a_scheduled_rebuild_reuses_the_image_of_its_inputs(registry, ecr, capsys):
    good_job, inputs, target = job_on_debian(registry, "rebuild-good")
    labels = GOOD | {"io.rlambda.r.source.sha256": target.r.sha256}
    digest = plant(registry, ecr, "rebuild-good", "content-" + HASH[:16], labels)
    assert job._tag_pushed(good_job, inputs, digest, as_json=False, deploy=None) == 0
    assert "r-4.5.0-debian-x86_64-20260105" in tags_of(ecr, "rebuild-good", digest)


# ---- moving tags: every precondition before the first push -----------------------------------


def test_a_moving_tag_on_an_image_whose_version_is_not_a_version_is_replaced(registry, ecr):
    digest = plant(registry, ecr, "odd-moving", "content-" + HASH[:16], GOOD)
    plant(registry, ecr, "odd-moving", "latest-debian-x86_64", {"io.rlambda.r.version": "devel"})
    result = publish(FACTS, options(registry, "odd-moving", moving=True))
    assert result.moving["latest-debian-x86_64"].startswith("moved (its image's")
    assert "'devel' is not a version" in result.moving["latest-debian-x86_64"]
    assert "latest-debian-x86_64" in tags_of(ecr, "odd-moving", digest)


def test_an_immutable_moving_repository_is_refused_before_the_fixed_tags(registry, ecr):
    ecr.create_repository(repositoryName="main-imm", imageTagMutability="IMMUTABLE")
    ecr.create_repository(repositoryName="moving-imm", imageTagMutability="IMMUTABLE")
    digest = plant(registry, ecr, "main-imm", "content-" + HASH[:16], GOOD)
    opts = options(
        registry, "main-imm", moving=True, moving_repository="moving-imm",
        date=datetime.date(2026, 1, 5),
    )  # fmt: skip
    with pytest.raises(UsageError, match="moving-imm has immutable tags"):
        publish(FACTS, opts)
    assert tags_of(ecr, "main-imm", digest) == {f"content-{HASH[:16]}"}  # no dated tag yet
