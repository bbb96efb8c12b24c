"""registry.py deploy / invoke against moto (ECR, Lambda, IAM, API Gateway v2) with
MOTO_LAMBDA_STUB_ECR=false, the image layers in a real docker-registry.

Idempotency is measured by counting the write calls boto3 sends (every operation that is not
Get*/List*); a second deploy of the same thing must send none.
"""

import base64
import json
import re
from pathlib import Path

import boto3
import pytest

import registry as registry_cli
from rlambda import aws as aws_api
from rlambda.registry import PushOptions, RepositorySettings, push_image

from ..registry.aws_proxy import AwsFaultProxy, Fault
from ..registry.stand_ins import ACCOUNT, REGION, queue_result

pytestmark = pytest.mark.docker  # the images are built and pushed for real
ROOT = Path(__file__).resolve().parents[2]
EVENT = ROOT / "recipes" / "json-api" / "events" / "01-total.json"
READS = re.compile(r"^(Get|List|Describe|BatchGet)")


@pytest.fixture
def writes(aws, monkeypatch) -> list[tuple[str, dict]]:
    """Every write call made through aws_api.DeployClients.make, with its parameters."""
    seen: list[tuple[str, dict]] = []
    real = aws_api.DeployClients.make.__func__

    def counting(cls, region):
        made = real(cls, region)
        for c in (made.ecr, made.lam, made.iam, made.apigw):

            def record(params, model, **_):
                if not READS.match(model.name):
                    seen.append((model.name, params))

            c.meta.events.register("provide-client-params", record)
        return made

    monkeypatch.setattr(aws_api.DeployClients, "make", classmethod(counting))
    return seen


def pushed(make_image, registry, repository: str = "deploy", **image) -> str:
    return push_image(
        make_image(**image),
        PushOptions(repository=RepositorySettings(repository), registry_endpoint=registry.endpoint),
    ).image_uri


def run(capsys, *argv: str, endpoint: str) -> tuple[int, dict | str, str]:
    status = registry_cli.main([*argv, "--registry-endpoint", endpoint])
    captured = capsys.readouterr()
    try:
        return status, json.loads(captured.out), captured.err
    except ValueError:
        return status, captured.out, captured.err


def deploy(capsys, registry, *argv: str) -> tuple[int, dict | str, str]:
    return run(capsys, "deploy", *argv, "--json", endpoint=registry.endpoint)


def iam():
    return boto3.client("iam", region_name=REGION)


def make_role(name: str, service: str) -> str:
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
        ],
    }
    return iam().create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"][
        "Arn"
    ]


ROLLBACK = ["--function", "fn", "--rollback", "--alias", "live"]
FULL = [
    "--create-role", "--alias", "live", "--memory", "1024", "--timeout", "60",
    "--ephemeral-storage", "2048", "--env", "MODE=prod", "--description", "orders",
    "--log-format", "json", "--log-level", "WARN", "--function-url", "--http-api",
]  # fmt: skip


def test_create_everything_then_a_second_deploy_writes_nothing(
    make_image, registry, lambda_client, writes, capsys
):
    uri = pushed(make_image, registry)
    status, answer, err = deploy(capsys, registry, "--function", "api", "--image-uri", uri, *FULL)
    assert status == 0, err
    assert answer["version"] == "1" and answer["alias"] == "live"
    assert answer["image_digest"] == uri.split("@")[1]
    assert answer["function_arn"] == f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:api"

    config = lambda_client.get_function_configuration(FunctionName="api")
    assert config["PackageType"] == "Image" and config["Architectures"] == ["x86_64"]
    assert (config["MemorySize"], config["Timeout"]) == (1024, 60)
    assert config["EphemeralStorage"] == {"Size": 2048}
    assert config["Environment"] == {"Variables": {"MODE": "prod"}}
    assert config["Description"] == "orders"
    # moto keeps no LoggingConfig: the request is what can be checked here.
    create = next(p for name, p in writes if name == "CreateFunction")
    assert create["LoggingConfig"] == {"LogFormat": "JSON", "ApplicationLogLevel": "WARN"}

    role = iam().get_role(RoleName="rlambda-api")["Role"]
    assert config["Role"] == role["Arn"]
    statements = role["AssumeRolePolicyDocument"]["Statement"]
    assert [s["Principal"] for s in statements] == [{"Service": "lambda.amazonaws.com"}]
    attached = iam().list_attached_role_policies(RoleName="rlambda-api")["AttachedPolicies"]
    assert [p["PolicyName"] for p in attached] == ["AWSLambdaBasicExecutionRole"]

    alias = lambda_client.get_alias(FunctionName="api", Name="live")
    assert alias["FunctionVersion"] == "1"
    url = lambda_client.get_function_url_config(FunctionName="api", Qualifier="live")
    assert url["AuthType"] == "AWS_IAM" and answer["function_url"] == url["FunctionUrl"]

    gw = boto3.client("apigatewayv2", region_name=REGION)
    (api,) = gw.get_apis()["Items"]
    assert answer["http_api_url"] == api["ApiEndpoint"]
    (integration,) = gw.get_integrations(ApiId=api["ApiId"])["Items"]
    assert integration["IntegrationUri"] == f"{answer['function_arn']}:live"
    (route,) = gw.get_routes(ApiId=api["ApiId"])["Items"]
    assert route["RouteKey"] == "$default"
    assert route["AuthorizationType"] == "AWS_IAM"  # never open to the internet unless asked
    assert route["Target"] == f"integrations/{integration['IntegrationId']}"
    assert [s["StageName"] for s in gw.get_stages(ApiId=api["ApiId"])["Items"]] == ["$default"]
    policy = json.loads(lambda_client.get_policy(FunctionName="api", Qualifier="live")["Policy"])
    (grant,) = [s for s in policy["Statement"] if "apigateway" in json.dumps(s["Principal"])]
    assert f":{api['ApiId']}/*" in json.dumps(grant["Condition"])

    writes.clear()
    status, again, err = deploy(capsys, registry, "--function", "api", "--image-uri", uri, *FULL)
    assert status == 0, err
    assert writes == [] and again["changed"] == [] and again["version"] == "1"
    assert "nothing to change" in err
    assert (again["function_url"], again["http_api_url"]) == (
        answer["function_url"],
        answer["http_api_url"],
    )


def test_new_image_publishes_moves_the_alias_and_rolls_back(
    make_image, registry, lambda_client, writes, capsys
):
    first = pushed(make_image, registry, r_version="4.2.1")
    second = pushed(make_image, registry)
    base = ["--function", "fn", "--create-role", "--alias", "live"]
    assert deploy(capsys, registry, *base, "--image-uri", first)[0] == 0
    status, answer, err = deploy(capsys, registry, *base, "--image-uri", second, "--memory", "768")
    assert status == 0, err
    assert (answer["version"], answer["previous_version"]) == ("2", "1")
    assert "moved alias live: version 1 -> 2" in err
    assert lambda_client.get_function_configuration(FunctionName="fn")["MemorySize"] == 768
    assert lambda_client.get_alias(FunctionName="fn", Name="live")["FunctionVersion"] == "2"

    status, out, err = deploy(capsys, registry, *ROLLBACK)
    assert status == 0 and out == {
        "function": "fn", "alias": "live", "from_version": "2", "to_version": "1",
    }  # fmt: skip
    assert "rolled back fn:live: version 2 -> 1" in err
    alias = lambda_client.get_alias(FunctionName="fn", Name="live")
    assert alias["FunctionVersion"] == "1" and "previous version 2" in alias["Description"]
    # (CodeSha256, not Code.ImageUri: moto's versions share the function's Code dict, which
    # the update rewrote; the digest is kept per version.)
    version = lambda_client.get_function_configuration(FunctionName="fn", Qualifier="1")
    assert version["CodeSha256"] == first.split("sha256:")[1]
    # The record is the version before the last move: a second rollback undoes the first.
    status, out, _ = deploy(capsys, registry, *ROLLBACK)
    assert status == 0 and (out["from_version"], out["to_version"]) == ("1", "2")


def test_rollback_without_an_alias_or_anything_to_go_back_to(
    make_image, registry, lambda_client, capsys
):
    uri = pushed(make_image, registry)
    assert deploy(capsys, registry, "--function", "fn", "--image-uri", uri, "--create-role")[0] == 0
    status, _, err = deploy(capsys, registry, *ROLLBACK)
    assert status == 2 and "has no alias 'live': nothing to roll back" in err
    args = ["--function", "fn", "--image-uri", uri, "--alias", "live"]
    assert deploy(capsys, registry, *args)[0] == 0
    status, _, err = deploy(capsys, registry, *ROLLBACK)
    assert status == 2 and "records no earlier version: nothing to roll back to" in err
    assert lambda_client.get_alias(FunctionName="fn", Name="live")["FunctionVersion"] == "1"
    status, _, err = deploy(capsys, registry, "--function", "fn", "--rollback")
    assert status == 2 and "--rollback needs --alias NAME" in err


def _nothing_created(lambda_client) -> bool:
    return lambda_client.list_functions()["Functions"] == [] and iam().list_roles()["Roles"] == []


def test_a_new_function_without_a_role(make_image, registry, lambda_client, writes, capsys):
    uri = pushed(make_image, registry)
    status, _, err = deploy(capsys, registry, "--function", "fn", "--image-uri", uri)
    assert status == 2 and "a new function needs an execution role: pass --role ARN" in err
    missing = f"arn:aws:iam::{ACCOUNT}:role/nope"
    status, _, err = deploy(
        capsys, registry, "--function", "fn", "--image-uri", uri, "--role", missing
    )
    assert status == 2 and f"role {missing} does not exist" in err
    assert writes == [] and _nothing_created(lambda_client)


def test_a_role_lambda_cannot_assume(make_image, registry, lambda_client, writes, capsys):
    uri = pushed(make_image, registry)
    role = make_role("for-ec2", "ec2.amazonaws.com")
    writes.clear()
    status, _, err = deploy(
        capsys, registry, "--function", "fn", "--image-uri", uri, "--role", role
    )
    assert status == 2 and "cannot be assumed by Lambda" in err
    assert writes == [] and lambda_client.list_functions()["Functions"] == []
    ok = make_role("for-lambda", "lambda.amazonaws.com")
    status, _answer, err = deploy(
        capsys, registry, "--function", "fn", "--image-uri", uri, "--role", ok
    )
    assert status == 0, err
    assert lambda_client.get_function_configuration(FunctionName="fn")["Role"] == ok


def test_an_image_in_another_region(make_image, registry, lambda_client, writes, capsys):
    uri = pushed(make_image, registry).replace(f".{REGION}.", ".eu-west-1.")
    status, _, err = deploy(
        capsys, registry, "--function", "fn", "--image-uri", uri, "--create-role"
    )
    assert status == 2
    assert "the image is in eu-west-1 but the function is in us-east-1" in err
    assert writes == [] and _nothing_created(lambda_client)


def test_a_zip_function_is_refused(make_image, registry, lambda_client, writes, capsys):
    import io
    import zipfile

    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("index.py", "def handler(e, c): return e\n")
    role = make_role("zip-role", "lambda.amazonaws.com")
    lambda_client.create_function(
        FunctionName="zippy", Runtime="python3.12", Role=role, Handler="index.handler",
        Code={"ZipFile": archive.getvalue()},
    )  # fmt: skip
    uri = pushed(make_image, registry)
    writes.clear()
    status, _, err = deploy(capsys, registry, "--function", "zippy", "--image-uri", uri)
    assert status == 2 and "'zippy' is a zip-packaged function" in err
    assert "package type cannot change" in err and writes == []


def test_auth_none_needs_public_and_then_warns(make_image, registry, lambda_client, writes, capsys):
    uri = pushed(make_image, registry)
    args = ["--function", "fn", "--image-uri", uri, "--create-role", "--function-url"]
    status, _, err = deploy(capsys, registry, *args, "--auth", "NONE")
    assert status == 2 and "pass --public as well" in err
    assert writes == [] and _nothing_created(lambda_client)

    more = ["--auth", "NONE", "--public", "--cors-origin", "https://example.org"]
    status, _, err = deploy(capsys, registry, *args, *more)
    assert status == 0, err
    assert "warning: the function URL has auth NONE" in err
    url = lambda_client.get_function_url_config(FunctionName="fn")
    assert url["AuthType"] == "NONE" and url["Cors"]["AllowOrigins"] == ["https://example.org"]
    policy = json.loads(lambda_client.get_policy(FunctionName="fn")["Policy"])
    public = {s["Sid"]: s for s in policy["Statement"] if s["Principal"] == "*"}
    assert set(public) == {"rlambda-url-public", "rlambda-url-public-invoke"}
    # Back to AWS_IAM: the URL's auth changes and the public grants go.
    status, _answer, err = deploy(capsys, registry, *args)
    assert status == 0, err
    assert lambda_client.get_function_url_config(FunctionName="fn")["AuthType"] == "AWS_IAM"
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.get_policy(FunctionName="fn")


@pytest.fixture
def proxy(aws, monkeypatch):
    """A fault proxy in front of moto, with boto3 pointed at it; set `.rule` in the test."""
    relay = AwsFaultProxy(aws, lambda method, path: None)
    monkeypatch.setenv("AWS_ENDPOINT_URL", relay.endpoint)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "3")
    yield relay
    relay.close()


def _code_updates(proxy) -> list[int]:
    return [status for method, path, status in proxy.seen if path.endswith("/code")]


def test_throttled_update_is_retried_and_completes(
    make_image, registry, lambda_client, proxy, capsys
):
    first, second = pushed(make_image, registry, r_version="4.2.1"), pushed(make_image, registry)
    base = ["--function", "fn", "--create-role", "--alias", "live"]
    assert deploy(capsys, registry, *base, "--image-uri", first)[0] == 0
    throttles = iter([Fault(429, "TooManyRequestsException")] * 2)
    proxy.rule = lambda method, path: next(throttles, None) if path.endswith("/code") else None
    status, answer, err = deploy(capsys, registry, *base, "--image-uri", second)
    assert status == 0, err
    assert _code_updates(proxy) == [429, 429, 200] and answer["version"] == "2"


def test_failing_update_is_retried_then_fails_and_the_alias_stays(
    make_image, registry, lambda_client, proxy, capsys
):
    first, second = pushed(make_image, registry, r_version="4.2.1"), pushed(make_image, registry)
    base = ["--function", "fn", "--create-role", "--alias", "live"]
    assert deploy(capsys, registry, *base, "--image-uri", first)[0] == 0
    proxy.rule = lambda m, path: Fault(500, "ServiceException") if path.endswith("/code") else None
    status, _, err = deploy(capsys, registry, *base, "--image-uri", second)
    assert status == 1 and "AWS error while updating function fn (ServiceException)" in err
    assert _code_updates(proxy) == [500, 500, 500]  # AWS_MAX_ATTEMPTS=3
    assert lambda_client.get_alias(FunctionName="fn", Name="live")["FunctionVersion"] == "1"
    assert lambda_client.get_function(FunctionName="fn")["Code"]["ImageUri"] == first


def test_a_new_role_is_waited_for_while_iam_propagates(
    make_image, registry, lambda_client, proxy, capsys, monkeypatch
):
    """Lambda refuses a role made seconds ago until IAM has propagated it; real AWS says so
    with this error (moto never does: the proxy answers it twice)."""
    import rlambda.functions.deploy as deploy_module

    monkeypatch.setattr(deploy_module, "ROLE_PROPAGATION_DELAY_S", 0.01)
    refusal = Fault(
        400,
        "InvalidParameterValueException",
        "The role defined for the function cannot be assumed by Lambda.",
    )
    refusals = iter([refusal] * 2)
    creates = "/2015-03-31/functions"
    proxy.rule = lambda method, path: (
        next(refusals, None) if method == "POST" and path == creates else None
    )
    uri = pushed(make_image, registry)
    status, answer, err = deploy(
        capsys, registry, "--function", "fn", "--image-uri", uri, "--create-role"
    )
    assert status == 0, err
    posts = [s for m, p, s in proxy.seen if m == "POST" and p == creates]
    assert posts == [400, 400, 201] and answer["version"] == "1"


def test_invoke_prints_the_result_and_fails_on_a_function_error(
    make_image, registry, aws, proxy, capsys
):
    uri = pushed(make_image, registry)
    assert deploy(capsys, registry, "--function", "fn", "--image-uri", uri, "--create-role")[0] == 0
    expected = json.loads(EVENT.read_text())["expect"]["response"]
    queue_result(aws, expected)
    status = registry_cli.main(["invoke", "--function", "fn", "--event", str(EVENT)])
    out = capsys.readouterr().out
    assert status == 0 and json.loads(out.splitlines()[0]) == expected
    # Not what the event file expects: exit 1, and both shown.
    queue_result(aws, {"statusCode": 500})
    status = registry_cli.main(["invoke", "--function", "fn", "--event", str(EVENT)])
    err = capsys.readouterr().err
    assert status == 1 and "not what 01-total.json expects" in err
    # A function error, as Lambda marks it, with the log tail Lambda sends for LogType=Tail
    # (moto's simple Lambda sends neither: the proxy adds them, as Lambda would).
    error = {"errorType": "simpleError", "errorMessage": "boom"}
    queue_result(aws, error)
    log = "START RequestId: 1\nError in handler: boom\nEND RequestId: 1\n"
    marks = {
        "X-Amz-Function-Error": "Unhandled",
        "X-Amz-Log-Result": base64.b64encode(log.encode()).decode(),
    }
    proxy.rule = lambda m, path: Fault(headers=marks) if "invocations" in path else None
    status = registry_cli.main(["invoke", "--function", "fn", "--event", str(EVENT), "--json"])
    captured = capsys.readouterr()
    answer = json.loads(captured.out)
    assert status == 1 and answer["function_error"] == "Unhandled"
    assert answer["payload"] == error and "function error (Unhandled)" in captured.err
    assert "---- log (tail) ----\nSTART RequestId: 1\nError in handler: boom" in captured.err


def test_failing_smoke_test_rolls_the_alias_back(make_image, registry, lambda_client, aws, capsys):
    expected = json.loads(EVENT.read_text())["expect"]["response"]
    first, second = pushed(make_image, registry, r_version="4.2.1"), pushed(make_image, registry)
    base = ["--function", "fn", "--create-role", "--alias", "live", "--smoke-event", str(EVENT)]
    queue_result(aws, expected)
    status, answer, err = deploy(capsys, registry, *base, "--image-uri", first)
    assert status == 0, err
    assert answer["smoke_test"]["passed"] and answer["rolled_back"] is None
    queue_result(aws, {"statusCode": 502, "body": "broken"})
    status, answer, err = deploy(capsys, registry, *base, "--image-uri", second)
    assert status == 1 and not answer["smoke_test"]["passed"]
    assert answer["rolled_back"] == {
        "function": "fn", "alias": "live", "from_version": "2", "to_version": "1",
    }  # fmt: skip
    assert "smoke test FAILED: rolling the alias back" in err
    assert lambda_client.get_alias(FunctionName="fn", Name="live")["FunctionVersion"] == "1"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--log-level", "WARN"], "--log-level needs --log-format json"),
        (["--memory", "64"], "Lambda takes 128 to 10240 MB"),
        (["--ephemeral-storage", "100"], "Lambda takes 512 to 10240 MB"),
        (["--public"], "go with --function-url"),
        (
            ["--function-url", "--cors-method", "GET"],
            "CORS options need at least one --cors-origin",
        ),
        (["--smoke-event", "/nonexistent.json"], "no such file"),
    ],
)
def test_bad_deploy_input(make_image, registry, lambda_client, writes, capsys, argv, message):
    uri = pushed(make_image, registry)
    args = ["--function", "fn", "--image-uri", uri, "--create-role", *argv]
    status, _, err = deploy(capsys, registry, *args)
    assert status == 2 and message in err
    assert writes == [] and _nothing_created(lambda_client)


def test_bad_environment_variable_is_refused_by_the_parser(aws, capsys):
    with pytest.raises(SystemExit) as exit_:
        registry_cli.main(["deploy", "--function", "fn", "--env", "1X=2"])
    assert exit_.value.code == 2 and "expected KEY=VALUE" in capsys.readouterr().err


def test_the_rebuild_workflows_deploy_step_deploys(
    make_image, registry, aws, lambda_client, tmp_path
):
    """The workflow's deploy step, its bash run as the runner would, against moto."""
    import os
    import subprocess
    import sys

    import yaml

    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "rebuild.yml").read_text())
    (script,) = [
        s["run"]
        for s in workflow["jobs"]["deploy"]["steps"]
        if s.get("name") == "Deploy and smoke-test"
    ]
    shim = tmp_path / "bin"
    shim.mkdir()
    (shim / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    (shim / "python").chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{shim}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(ROOT),
        "FUNCTION": "wf-fn", "IMAGE_URI": pushed(make_image, registry), "ALIAS": "live",
        "RECIPE": "json-api", "FUNCTION_URL": "true", "HTTP_API": "false",
        "LAMBDA_ROLE_ARN": make_role("wf-role", "lambda.amazonaws.com"),
        "RESULT": str(tmp_path / "deploy.json"), "GITHUB_STEP_SUMMARY": str(tmp_path / "summary"),
        "RLAMBDA_REGISTRY_ENDPOINT": registry.endpoint,
    }  # fmt: skip
    queue_result(aws, json.loads(EVENT.read_text())["expect"]["response"])
    done = subprocess.run(
        ["bash", "-e", "-c", script], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    result = json.loads((tmp_path / "deploy.json").read_text())
    assert result["smoke_test"]["passed"] and result["alias"] == "live" and result["function_url"]
    assert lambda_client.get_alias(FunctionName="wf-fn", Name="live")["FunctionVersion"] == "1"
    assert "### Deploy" in (tmp_path / "summary").read_text()


def test_lambda_refusing_a_given_role_is_said_plainly(
    make_image, registry, lambda_client, proxy, capsys
):
    refusal = Fault(
        400,
        "InvalidParameterValueException",
        "The role defined for the function cannot be assumed by Lambda.",
    )
    proxy.rule = lambda method, path: (
        refusal if method == "POST" and path == "/2015-03-31/functions" else None
    )
    uri = pushed(make_image, registry)
    role = make_role("given", "lambda.amazonaws.com")
    status, _, err = deploy(
        capsys, registry, "--function", "fn", "--image-uri", uri, "--role", role
    )
    assert status == 2 and f"Lambda cannot assume the role {role}" in err
    assert lambda_client.list_functions()["Functions"] == []


def test_snapstart_publishes_a_version_points_the_alias_and_smoke_tests_the_version(
    make_image, registry, lambda_client, aws, writes, capsys
):
    expected = json.loads(EVENT.read_text())["expect"]["response"]
    uri = pushed(make_image, registry)
    queue_result(aws, expected)
    argv = ["--function", "fn", "--create-role", "--alias", "live", "--snapstart"]
    status, answer, err = deploy(capsys, registry, *argv, "--image-uri", uri, "--smoke-event",
                                 str(EVENT))  # fmt: skip
    assert status == 0, err
    create = next(p for name, p in writes if name == "CreateFunction")
    assert create["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    assert answer["version"] == "1" and answer["smoke_test"]["passed"]
    assert lambda_client.get_alias(FunctionName="fn", Name="live")["FunctionVersion"] == "1"
    (invoke,) = [p for name, p in writes if name == "Invoke"]
    assert invoke["Qualifier"] == "1"  # the version, which runs from the snapshot
    assert "smoke test: 01-total.json -> fn:1" in err
