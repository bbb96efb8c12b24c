"""registry.py against the stand-ins: moto for ECR/Lambda, docker-registry for the bytes."""

import json

import pytest

import registry as registry_cli
from rlambda.registry import PushOptions, RepositorySettings, RetryPolicy, push_image

from ..registry.stand_ins import REGION

pytestmark = pytest.mark.docker
FAST = RetryPolicy(attempts=3, first_delay=0.05)


def options(registry, **kwargs) -> PushOptions:
    kwargs.setdefault("retry", FAST)
    return PushOptions(registry_endpoint=registry.endpoint, **kwargs)


def settings(name: str, **kwargs) -> RepositorySettings:
    return RepositorySettings(name, **kwargs)


def ecr_tags(ecr, repository: str, digest: str) -> set[str]:
    details = ecr.describe_images(repositoryName=repository, imageIds=[{"imageDigest": digest}])
    return set(details["imageDetails"][0]["imageTags"])


def test_push_creates_repository_and_tags_and_reads_back(make_image, registry, ecr, capsys):
    image = make_image(content_hash="ab" * 32)
    result = push_image(
        image, options(registry, repository=settings("push-basic", keep_untagged=5))
    )

    repo = ecr.describe_repositories(repositoryNames=["push-basic"])["repositories"][0]
    assert repo["imageTagMutability"] == "IMMUTABLE"
    assert repo["imageScanningConfiguration"] == {"scanOnPush": True}
    rule = json.loads(ecr.get_lifecycle_policy(repositoryName="push-basic")["lifecyclePolicyText"])
    assert rule["rules"][0]["selection"]["countNumber"] == 5
    assert rule["rules"][0]["selection"]["tagStatus"] == "untagged"

    tags = {"content-abababababababab", "r-4.2.2-debian-x86_64"}
    assert result.pushed and set(result.tags) == tags
    assert result.image_uri == f"{repo['repositoryUri']}@{result.digest}"
    assert repo["repositoryUri"].startswith("123456789012.dkr.ecr.us-east-1.amazonaws.com/")
    # ECR's record and the registry's bytes agree on the digest, for every tag.
    assert ecr_tags(ecr, "push-basic", result.digest) == tags
    answer = registry.get("push-basic/manifests/content-abababababababab")
    assert answer.headers["Docker-Content-Digest"] == result.digest
    assert registry.tags("push-basic") == ["content-abababababababab"]  # the others: API only
    assert result.stats.layers_pushed == 1


def test_second_push_sends_nothing_and_reports_the_digest(make_image, registry, ecr, capsys):
    image = make_image()
    first = push_image(image, options(registry, repository=settings("push-skip")))
    capsys.readouterr()
    again = push_image(image, options(registry, repository=settings("push-skip")))
    assert not again.pushed and again.stats is None
    assert again.digest == first.digest
    assert "nothing to push" in capsys.readouterr().err


def test_dated_tag_added_without_a_second_push(make_image, registry, ecr):
    import datetime

    image = make_image()
    first = push_image(image, options(registry, repository=settings("push-dated")))
    dated = push_image(
        image,
        options(registry, repository=settings("push-dated"), date=datetime.date(2026, 11, 21)),
    )
    assert not dated.pushed and dated.digest == first.digest
    assert "r-4.2.2-debian-x86_64-20261121" in ecr_tags(ecr, "push-dated", first.digest)


def test_moving_tags_go_to_the_mutable_repository_and_only_forward(make_image, registry, ecr):
    new = make_image(r_version="4.2.2")
    old = make_image(r_version="4.2.1")
    opts = {"repository": settings("push-main"), "moving": True, "moving_repository": "push-moving"}
    pushed = push_image(new, options(registry, **opts))
    assert pushed.moving == {
        t: "moved" for t in ("r-4.2-debian-x86_64", "r-4-debian-x86_64", "latest-debian-x86_64")
    }
    moving_repo = ecr.describe_repositories(repositoryNames=["push-moving"])["repositories"][0]
    assert moving_repo["imageTagMutability"] == "MUTABLE"
    assert pushed.moving_repository_uri == moving_repo["repositoryUri"]
    assert "latest-debian-x86_64" in ecr_tags(ecr, "push-moving", pushed.digest)
    # The main repository keeps only fixed tags.
    assert "latest-debian-x86_64" not in ecr_tags(ecr, "push-main", pushed.digest)

    older = push_image(old, options(registry, **opts))
    assert set(older.moving.values()) == {"kept on R 4.2.2 (newer than 4.2.1)"}
    assert "latest-debian-x86_64" in ecr_tags(ecr, "push-moving", pushed.digest)


def test_moving_tags_in_a_mutable_repository_move(make_image, registry, ecr):
    first = push_image(
        make_image(r_version="4.2.1"),
        options(
            registry, repository=settings("push-mutable", tag_mutability="MUTABLE"), moving=True
        ),
    )
    second = push_image(
        make_image(),
        options(
            registry, repository=settings("push-mutable", tag_mutability="MUTABLE"), moving=True
        ),
    )
    assert first.digest != second.digest and second.moving["latest-debian-x86_64"] == "moved"
    assert "latest-debian-x86_64" in ecr_tags(ecr, "push-mutable", second.digest)
    assert "latest-debian-x86_64" not in ecr_tags(ecr, "push-mutable", first.digest)


def test_cli_push_json_then_deploy(make_image, registry, lambda_client, create_function, capsys):
    image = make_image()
    status = registry_cli.main(
        [
            "push",
            image,
            "--repository",
            "push-cli",
            "--registry-endpoint",
            registry.endpoint,
            "--json",
        ]
    )
    answer = json.loads(capsys.readouterr().out)
    assert status == 0 and answer["pushed"] and answer["image_uri"].endswith(answer["digest"])

    create_function("fn", answer["image_uri"])
    status = registry_cli.main(
        [
            "deploy", "--function", "fn", "--image-uri", answer["image_uri"],
            "--registry-endpoint", registry.endpoint, "--json",
        ]
    )  # fmt: skip
    out = json.loads(capsys.readouterr().out)
    assert status == 0 and out["image_uri"] == answer["image_uri"]
    code = lambda_client.get_function(FunctionName="fn")["Code"]
    assert code["ResolvedImageUri"].endswith(answer["digest"])


def test_push_with_deploy_and_cross_account_policy(
    make_image, registry, ecr, lambda_client, create_function, capsys
):
    first = push_image(
        make_image(r_version="4.2.1"), options(registry, repository=settings("push-deploy"))
    )
    create_function("fn2", first.image_uri)
    status = registry_cli.main(
        [
            "push", make_image(), "--repository", "push-deploy",
            "--registry-endpoint", registry.endpoint, "--deploy", "fn2",
            "--allow-account", "210987654321", "--json",
        ]
    )  # fmt: skip
    answer = json.loads(capsys.readouterr().out)
    assert status == 0 and answer["deploy"]["function"] == "fn2"
    code = lambda_client.get_function(FunctionName="fn2")["Code"]
    assert code["ResolvedImageUri"].endswith(answer["digest"]) and answer["digest"] != first.digest
    document = json.loads(ecr.get_repository_policy(repositoryName="push-deploy")["policyText"])
    lambda_statement = next(
        s for s in document["Statement"] if s["Principal"] == {"Service": "lambda.amazonaws.com"}
    )
    assert lambda_statement["Condition"]["StringLike"]["aws:sourceARN"] == [
        f"arn:aws:lambda:{REGION}:210987654321:function:*"
    ]
    assert set(lambda_statement["Action"]) == {"ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"}


def test_push_the_built_r_image(docker_client, registry, ecr):
    """The real thing: the R 4.5.0 image build.py made (~150 MB), single-arch, digest verified."""
    image = "r-lambda:r-4.5.0-debian-x86_64"
    result = push_image(image, options(registry, repository=settings("r-lambda")))
    labels = docker_client.images.get(image).labels
    assert result.tags == [
        f"content-{labels['io.rlambda.content-hash'][:16]}",
        "r-4.5.0-debian-x86_64",
    ]
    manifest = registry.get(f"r-lambda/manifests/{result.digest}")
    assert (
        manifest.headers["Content-Type"] == "application/vnd.docker.distribution.manifest.v2+json"
    )
    assert json.loads(manifest.content)["config"]["digest"] == docker_client.images.get(image).id
