"""Every AWS failure is one line and an exit status, never a traceback; with --json a JSON
document on stdout says the same, and a failure half way says what it left done."""

import json

import botocore.exceptions
import pytest

import build
import registry as registry_cli
from rlambda import aws as aws_api
from rlambda import registry_cli as registry_cli_module
from rlambda.build import builder, engine
from rlambda.functions import cli as functions_cli

from ..registry.stand_ins import MANIFEST_TYPE, REGION

URI = f"123456789012.dkr.ecr.{REGION}.amazonaws.com/r-lambda@sha256:{'a' * 64}"


@pytest.fixture
def event(tmp_path):
    path = tmp_path / "event.json"
    path.write_text("{}")
    return str(path)


def commands(event: str) -> dict[str, list[str]]:
    return {
        "deploy": ["deploy", "--function", "fn", "--image-uri", URI, "--create-role"],
        "rollback": ["deploy", "--function", "fn", "--rollback", "--alias", "live"],
        "invoke": ["invoke", "--function", "fn", "--event", event],
    }


@pytest.fixture
def no_credentials(monkeypatch):
    for name in (
        "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
        "AWS_ENDPOINT_URL", "AWS_REGION", "AWS_DEFAULT_REGION",
    ):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no wait for an instance role
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")


@pytest.fixture
def unreachable(no_credentials, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # refuses connections


def one_line(capsys, argv: list[str]) -> tuple[int, str, str]:
    status = registry_cli.main(argv)
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if not line.startswith("==>")]
    assert len(lines) == 1, captured.err
    return status, lines[0], captured.out


@pytest.mark.parametrize("command", ["deploy", "rollback", "invoke"])
@pytest.mark.parametrize(
    ("condition", "region", "status", "says"),
    [
        ("no_credentials", "eu-west-1", 1, "no AWS credentials while calling"),
        ("unreachable", "eu-west-1", 1, "cannot reach AWS at http://127.0.0.1:9/"),
        ("no_credentials", "eu west 1", 2, "--region 'eu west 1': not an AWS region name"),
        ("no_credentials", "", 2, "--region '': not an AWS region name"),
    ],
)
def test_aws_failures_are_one_line(
    request, capsys, event, command, condition, region, status, says
):
    request.getfixturevalue(condition)
    argv = commands(event)[command]
    if command == "deploy" and region != REGION:
        argv = [a.replace(REGION, region) if a == URI else a for a in argv]
    got, line, out = one_line(capsys, [*argv, "--region", region])
    assert got == status and says in line and out == ""
    got, _, out = one_line(capsys, [*argv, "--region", region, "--json"])
    document = json.loads(out)
    assert got == status and says in document["error"] and document["exit_status"] == status


def test_a_parameter_aws_would_refuse_is_bad_input(aws, capsys, event):
    status, line, _ = one_line(capsys, ["invoke", "--function", "", "--event", event])
    assert status == 2 and "AWS would refuse the request" in line and "FunctionName" in line


def test_every_botocore_failure_is_explained():
    for error in (
        botocore.exceptions.NoCredentialsError(),
        botocore.exceptions.NoRegionError(),
        botocore.exceptions.InvalidRegionError(region_name="x y"),
        botocore.exceptions.EndpointConnectionError(endpoint_url="http://h"),
        botocore.exceptions.ParamValidationError(
            report="Invalid type for parameter A, value: s3cret, type: <class 'int'>,"
            " valid types: <class 'str'>"
        ),
        botocore.exceptions.ClientError({"Error": {"Code": "Boom", "Message": "m"}}, "Op"),
    ):
        explained = aws_api.explain(error, "doing it")
        assert type(explained).__name__ in ("UsageError", "JobError"), error
        assert "s3cret" not in str(explained)


@pytest.fixture
def nothing_built(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("work started before every input was checked")

    monkeypatch.setattr(engine, "connect", forbidden)
    monkeypatch.setattr(builder, "fetch_verified", forbidden)


@pytest.mark.parametrize("condition", ["no_credentials", "unreachable"])
def test_build_deploy_fails_in_one_line_before_building(request, capsys, nothing_built, condition):
    request.getfixturevalue(condition)
    argv = ["--r", "4.5.0", "--family", "debian", "--recipe", "hello", "--push", "--deploy", "fn"]
    status = build.main([*argv, "--create-role", "--region", "eu-west-1", "--json"])
    captured = capsys.readouterr()
    assert status == 1 and "Traceback" not in captured.err
    assert json.loads(captured.out)["error"].startswith(
        "no AWS credentials" if condition == "no_credentials" else "cannot reach AWS"
    )


# ---- half done: what was written before the failure is said --------------------------------


def planted_image(registry, ecr) -> str:
    ecr.create_repository(repositoryName="half")
    config = {"architecture": "amd64", "os": "linux", "config": {"Labels": {}}}
    text, digest = registry.put_image("half", "one", config)
    ecr.put_image(
        repositoryName="half", imageManifest=text, imageManifestMediaType=MANIFEST_TYPE,
        imageTag="one", imageDigest=digest,
    )  # fmt: skip
    uri = ecr.describe_repositories(repositoryNames=["half"])["repositories"][0]["repositoryUri"]
    return f"{uri}@{digest}"


def test_a_deploy_cut_before_the_alias_says_the_function_was_created(
    registry, ecr, lambda_client, capsys, monkeypatch
):
    uri = planted_image(registry, ecr)
    real = aws_api.DeployClients.make.__func__

    def cut(request, **kwargs):
        raise botocore.exceptions.EndpointConnectionError(endpoint_url="http://lambda")

    def make(cls, region):
        made = real(cls, region)
        made.lam.meta.events.register("before-send.lambda.CreateAlias", cut)
        return made

    monkeypatch.setattr(aws_api.DeployClients, "make", classmethod(make))
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # the cut is not retried (8 attempts took 10 s)
    argv = ["deploy", "--function", "half", "--image-uri", uri, "--create-role", "--alias", "live"]
    status = registry_cli.main([*argv, "--registry-endpoint", registry.endpoint, "--json"])
    document = json.loads(capsys.readouterr().out)
    assert status == 1
    assert "cannot reach AWS at http://lambda while calling lambda CreateAlias" in document["cause"]
    assert "created the function" in document["done"]
    assert document["not_done"] == ["move alias live"]
    assert lambda_client.get_function(FunctionName="half")  # it really is there


# ---- secrets stay off the command line and out of every output -----------------------------


def test_environment_from_a_file_and_from_the_callers_environment(
    registry, ecr, lambda_client, capsys, monkeypatch, tmp_path
):
    uri = planted_image(registry, ecr)
    env_file = tmp_path / "fn.env"
    env_file.write_text("# the function's settings\n\nMODE=fast\nTOKEN=s3cret-in-file\n")
    monkeypatch.setenv("API_KEY", "s3cret-from-env")
    argv = ["deploy", "--function", "envfn", "--image-uri", uri, "--create-role"]
    more = ["--env-file", str(env_file), "--env", "API_KEY", "--env", "MODE=slow"]
    status = registry_cli.main([*argv, *more, "--registry-endpoint", registry.endpoint])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    variables = lambda_client.get_function_configuration(FunctionName="envfn")["Environment"]
    assert variables["Variables"] == {
        "MODE": "slow", "TOKEN": "s3cret-in-file", "API_KEY": "s3cret-from-env",
    }  # fmt: skip
    assert "s3cret" not in captured.out + captured.err


@pytest.mark.parametrize(
    ("content", "argv", "message"),
    [
        ("A=1\nnot a line s3cret\n", [], "fn.env, line 2: expected KEY=VALUE"),
        ("1A=s3cret\n", [], "fn.env, line 1: expected KEY=VALUE"),
        ("", ["--env", "MISSING_HERE"], "--env MISSING_HERE: MISSING_HERE is not set"),
    ],
)
def test_bad_environment_input_never_shows_a_value(tmp_path, monkeypatch, content, argv, message):
    monkeypatch.delenv("MISSING_HERE", raising=False)
    env_file = tmp_path / "fn.env"
    env_file.write_text(content)
    args = registry_cli_module.parser().parse_args(
        ["deploy", "--function", "f", "--env-file", str(env_file), *argv]
    )
    with pytest.raises(functions_cli.UsageError) as failed:
        functions_cli.deploy_plan(args, "f", None)
    assert message in str(failed.value) and "s3cret" not in str(failed.value)
