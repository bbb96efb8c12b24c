"""registry.py's answers to bad input and faults: a clear message, the right exit status,
no secret in any output, nothing misleading left in the registry."""

import base64
import json
import tempfile
from pathlib import Path

import boto3
import pytest
from moto.core import enable_iam_authentication

import registry as registry_cli
from rlambda.errors import JobError
from rlambda.registry import PushOptions, RepositorySettings, RetryPolicy, push_image

from ..registry.proxy import FailingRelay
from ..registry.stand_ins import MANIFEST_TYPE, REGION, RegistryServer, moto_token_credentials

pytestmark = pytest.mark.docker
FAST = ["--push-attempts", "3", "--retry-delay", "0.05"]


def run(capsys, *argv: str) -> tuple[int, str]:
    status = registry_cli.main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out + captured.err


def push_args(image: str, endpoint: str, repository: str, *more: str) -> list[str]:
    return [
        "push",
        image,
        "--repository",
        repository,
        "--registry-endpoint",
        endpoint,
        *FAST,
        *more,
    ]


def test_wrong_credentials_fail_clearly_and_leak_nothing(
    make_image, aws, ecr, capsys, caplog, monkeypatch, tmp_path
):
    monkeypatch.setenv("HOME", str(tmp_path))  # where ~/.docker/config.json would go
    username, password = moto_token_credentials(aws)
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    with tempfile.TemporaryDirectory() as root:
        other = RegistryServer("AWS", "not-what-ecr-hands-out", Path(root)).start()
        try:
            status, out = run(capsys, *push_args(make_image(), other.endpoint, "wrong-creds"))
        finally:
            other.stop()
    assert status == 1
    assert "refused the push: unauthorized: authentication required" in out
    logs = caplog.text
    for secret in (password, token):
        assert secret not in out and secret not in logs
    assert not (tmp_path / ".docker").exists()
    assert ecr.list_images(repositoryName="wrong-creds")["imageIds"] == []


def test_registry_down_mid_push_is_retried_then_fails_leaving_no_tag(
    make_image, registry, ecr, capsys
):
    image = make_image(layers=(3_000_000,))
    relay = FailingRelay(registry.port, cut_after=1_000_000, stay_down=True)
    status, out = run(capsys, *push_args(image, relay.endpoint, "down-mid-push"))
    assert status == 1
    assert "attempt 1/3 failed" in out and "attempt 2/3 failed" in out
    assert "failed after 3 attempts" in out and "connection refused" in out
    assert relay.relayed >= 1_000_000  # it really was cut mid-push, after a megabyte
    # No tag anywhere: not in the registry (it never got the manifest), not in ECR's record.
    assert registry.tags("down-mid-push") == []
    assert ecr.list_images(repositoryName="down-mid-push")["imageIds"] == []


def test_transient_cut_is_retried_and_the_push_completes(make_image, registry, ecr, capsys):
    image = make_image(layers=(3_000_000,))
    relay = FailingRelay(registry.port, cut_after=1_000_000, stay_down=False)
    try:
        result = push_image(
            image,
            PushOptions(
                repository=RepositorySettings("transient"),
                registry_endpoint=relay.endpoint,
                retry=RetryPolicy(3, 0.05),
            ),
        )
    finally:
        relay.close()
    assert relay.cuts == 1 and result.stats.attempts == 2
    assert "attempt 1/3 failed" in capsys.readouterr().err
    assert registry.tags("transient") == [result.tags[0]]


def test_missing_repository_without_permission_to_create_it(
    make_image, registry, aws, capsys, monkeypatch
):
    """moto's IAM simulation (real policy evaluation), not a stubbed error."""
    iam = boto3.client("iam", region_name=REGION)
    iam.create_user(UserName="pusher")
    iam.put_user_policy(
        UserName="pusher",
        PolicyName="push-only",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": ["ecr:DescribeRepositories", "ecr:GetAuthorizationToken"],
                        "Resource": "*",
                    }
                ],
            }
        ),
    )
    key = iam.create_access_key(UserName="pusher")["AccessKey"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    image = make_image()
    with enable_iam_authentication():
        status, out = run(capsys, *push_args(image, registry.endpoint, "not-allowed"))
    assert status == 1
    assert "does not exist and these credentials may not create it" in out
    assert "ecr:CreateRepository" in out
    assert key["SecretAccessKey"] not in out


def test_no_create_names_the_missing_repository(make_image, registry, aws, capsys):
    status, out = run(capsys, *push_args(make_image(), registry.endpoint, "absent", "--no-create"))
    assert status == 2 and "ECR repository absent does not exist" in out


def test_a_rebuild_of_pushed_inputs_sends_nothing_and_reports_the_pushed_digest(
    make_image, registry, ecr, capsys
):
    first = make_image(content_hash="cd" * 32)
    assert run(capsys, *push_args(first, registry.endpoint, "clash"))[0] == 0
    before = ecr.list_images(repositoryName="clash")["imageIds"]
    # Same inputs (content hash), other bytes: the classic builder's image IDs carry timestamps,
    # so a fresh runner's rebuild never matches. The content tag names the inputs: it wins.
    status, out = run(
        capsys, *push_args(make_image(content_hash="cd" * 32), registry.endpoint, "clash")
    )
    assert status == 0, out
    assert "clash:content-cdcdcdcdcdcdcdcd is already there" in out
    assert "another build of the same inputs" in out and "pushing" not in out
    assert ecr.list_images(repositoryName="clash")["imageIds"] == before


def test_a_planted_content_tag_is_refused_naming_the_label(make_image, registry, ecr, capsys):
    """The content tag's hash follows from public inputs: someone who may push can put another
    image under it first. A push that finds it reads its config before reusing it."""
    content = "ef" * 32
    image = make_image(content_hash=content)
    tag = f"content-{content[:16]}"
    ecr.create_repository(repositoryName="planted-push", imageTagMutability="IMMUTABLE")
    labels = {
        "io.rlambda.r.version": "4.0.0",
        "io.rlambda.family": "debian",
        "io.rlambda.content-hash": content,
    }
    config = {"architecture": "amd64", "os": "linux", "config": {"Labels": labels}}
    text, digest = registry.put_image("planted-push", tag, config)
    ecr.put_image(
        repositoryName="planted-push", imageManifest=text, imageManifestMediaType=MANIFEST_TYPE,
        imageTag=tag, imageDigest=digest,
    )  # fmt: skip
    status, out = run(capsys, *push_args(image, registry.endpoint, "planted-push", "--dated"))
    assert status == 1, out
    assert f"planted-push:{tag} names an image ({digest}) that is not these inputs" in out
    assert "io.rlambda.r.version: found '4.0.0', expected '4.2.2'" in out
    assert "pushing" not in out
    assert [
        i.get("imageTag") for i in ecr.list_images(repositoryName="planted-push")["imageIds"]
    ] == [tag]


def test_a_dated_tag_on_another_image_is_refused_before_pushing(make_image, registry, ecr, capsys):
    dated = ("--date", "20261121")
    assert run(capsys, *push_args(make_image(), registry.endpoint, "clash2", *dated))[0] == 0
    before = ecr.list_images(repositoryName="clash2")["imageIds"]
    status, out = run(capsys, *push_args(make_image(), registry.endpoint, "clash2", *dated))
    assert status == 1
    assert "clash2:r-4.2.2-debian-x86_64-20261121 already names another image" in out
    assert "never overwritten" in out and "pushing" not in out
    assert ecr.list_images(repositoryName="clash2")["imageIds"] == before


def test_moving_tags_refused_on_an_immutable_repository(make_image, registry, aws, capsys):
    status, out = run(
        capsys, *push_args(make_image(), registry.endpoint, "immutable", "--moving-tags")
    )
    assert status == 2
    assert "has immutable tags, so it cannot carry moving tags" in out
    assert "--moving-repository" in out


def test_deploy_to_a_function_that_does_not_exist(make_image, registry, aws, capsys):
    pushed = push_image(
        make_image(),
        PushOptions(
            repository=RepositorySettings("deploy-none"), registry_endpoint=registry.endpoint
        ),
    )
    status, out = run(
        capsys, "deploy", "--function", "nope", "--image-uri", pushed.image_uri,
        "--registry-endpoint", registry.endpoint,
    )  # fmt: skip
    assert status == 2 and "function 'nope' does not exist, and a new function needs an" in out


def test_deploy_an_image_of_another_architecture(
    make_image, registry, lambda_client, create_function, capsys
):
    pushed = push_image(
        make_image(),
        PushOptions(
            repository=RepositorySettings("deploy-arch"), registry_endpoint=registry.endpoint
        ),
    )
    create_function("arm-fn", pushed.image_uri, arch="arm64")
    before = lambda_client.get_function(FunctionName="arm-fn")["Code"]
    status, out = run(
        capsys, "deploy", "--function", "arm-fn", "--image-uri", pushed.image_uri,
        "--registry-endpoint", registry.endpoint,
    )  # fmt: skip
    assert status == 2
    assert "the image is built for x86_64 but function 'arm-fn' runs on arm64" in out
    assert lambda_client.get_function(FunctionName="arm-fn")["Code"] == before


def test_deploy_a_digest_that_was_never_pushed(
    make_image, registry, lambda_client, create_function, capsys
):
    pushed = push_image(
        make_image(),
        PushOptions(
            repository=RepositorySettings("deploy-ghost"), registry_endpoint=registry.endpoint
        ),
    )
    create_function("fn", pushed.image_uri)
    ghost = pushed.image_uri.rsplit("@", 1)[0] + "@sha256:" + "0" * 64
    status, out = run(
        capsys,
        "deploy",
        "--function",
        "fn",
        "--image-uri",
        ghost,
        "--registry-endpoint",
        registry.endpoint,
    )
    assert status == 2 and "ECR has no image deploy-ghost@sha256:000" in out
    # And Lambda itself (moto with MOTO_LAMBDA_STUB_ECR=false) refuses it too.
    from rlambda import aws
    from rlambda.functions.deploy import DeployRequest, deploy

    with pytest.raises(JobError, match="updating function fn"):
        deploy(aws.DeployClients.make(REGION), DeployRequest("fn", ghost, "x86_64"))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--recipe", "Bad Name"], "cannot go into an image tag"),
        (["--repository", "Upper"], "repository name 'Upper'"),
        (["--registry-endpoint", "ftp://x"], "expected http(s)://HOST[:PORT]"),
        (["--allow-account", "12345"], "expected a 12-digit AWS account ID"),
        (["--push-attempts", "0"], "--push-attempts must be 1 or more"),
    ],
)
def test_bad_push_input(make_image, aws, registry, capsys, argv, message):
    base = ["push", make_image(), "--registry-endpoint", registry.endpoint]
    if "--registry-endpoint" in argv:
        base = base[:2]
    status, out = run(capsys, *base, *argv)
    assert status == 2 and message in out


def test_unknown_local_image(aws, capsys):
    status, out = run(capsys, "push", "rlambda-test/none:missing")
    assert status == 2 and "no local image 'rlambda-test/none:missing'" in out


def test_a_repository_created_by_a_parallel_job_meanwhile_is_used(ecr, monkeypatch):
    """Two matrix jobs both find no repository; the second's create_repository is refused with
    RepositoryAlreadyExistsException, and it goes on with the one the first created."""
    from rlambda.registry import repository

    ecr.create_repository(repositoryName="raced", imageTagMutability="MUTABLE")  # the other job
    looked = []
    real_find = repository.find_repository

    def find_once_missing(client, name):
        looked.append(name)
        return None if len(looked) == 1 else real_find(client, name)

    monkeypatch.setattr(repository, "find_repository", find_once_missing)
    found = repository.ensure_repository(ecr, RepositorySettings("raced"))
    assert found.name == "raced" and found.mutability == "MUTABLE"  # theirs, as they made it
    assert looked == ["raced", "raced"]
