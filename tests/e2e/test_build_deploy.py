"""build.py --push --deploy NAME: checked before building; the real image built, tested, pushed
(layers to a real docker-registry, API to moto), deployed to moto's Lambda, smoke-tested with the
recipe's first event, and rolled back when that fails.

moto's simple Lambda does not run the image: the smoke test's answer is queued through
/moto-api, which is how these tests make it pass or fail. The image itself was run, by --test,
through the project's Runtime API emulator.
"""

import json

import pytest

import build
import registry as registry_cli
from rlambda.registry import PushOptions, RepositorySettings, push_image

from ..conftest import DEBIAN_BASE, ROOT
from ..registry.stand_ins import queue_result

HELLO_FIRST = json.loads((ROOT / "recipes" / "hello" / "events" / "01-named.json").read_text())


def build_argv(local_mirror, local_pins, registry, *more: str) -> list[str]:
    return [
        *("--r", "4.5.0", "--family", "debian", "--base-image", DEBIAN_BASE),
        *("--cran-mirror", local_mirror, "--versions-file", str(local_pins.path)),
        *("--recipe", "hello", "--test", "--push", "--repository", "deploy-build"),
        *("--registry-endpoint", registry.endpoint, "--json"),
        *more,
    ]


@pytest.mark.docker
def test_build_push_deploy_smoke_test_then_rollback_on_failure(
    local_pins, local_mirror, r_image, registry, aws, lambda_client, make_image, capsys
):
    # An older image on the alias first, so the build's deploy moves it (version 1 -> 2).
    older = push_image(
        make_image(),
        PushOptions(RepositorySettings("deploy-build"), registry_endpoint=registry.endpoint),
    ).image_uri
    status = registry_cli.main(
        [
            "deploy", "--function", "hello-fn", "--image-uri", older, "--create-role",
            "--alias", "live", "--registry-endpoint", registry.endpoint,
        ]
    )  # fmt: skip
    assert status == 0
    capsys.readouterr()

    deploy = ["--deploy", "hello-fn", "--create-role", "--alias", "live", "--function-url"]
    queue_result(aws, {"wrong": True})  # what Lambda answers the smoke test
    status = build.main(build_argv(local_mirror, local_pins, registry, *deploy))
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert status == 1, captured.err
    assert result["test"]["passed"]  # the image itself passed its events locally
    assert result["deploy"]["version"] == "2" and result["deploy"]["function_url"]
    assert result["deploy"]["rolled_back"] == {
        "function": "hello-fn", "alias": "live", "from_version": "2", "to_version": "1",
    }  # fmt: skip
    assert "smoke test FAILED: rolling the alias back" in captured.err
    assert lambda_client.get_alias(FunctionName="hello-fn", Name="live")["FunctionVersion"] == "1"

    # The same build again, and Lambda answers as the event expects: the alias moves forward
    # to the version already published (nothing new is published) and stays.
    queue_result(aws, HELLO_FIRST["expect"]["response"])
    status = build.main(build_argv(local_mirror, local_pins, registry, *deploy))
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert status == 0, captured.err
    assert result["deploy"]["smoke_test"]["passed"] and result["deploy"]["rolled_back"] is None
    assert result["deploy"]["version"] == "2"
    assert lambda_client.get_alias(FunctionName="hello-fn", Name="live")["FunctionVersion"] == "2"
    code = lambda_client.get_function(FunctionName="hello-fn", Qualifier="live")
    assert code["Configuration"]["CodeSha256"] == result["push"]["digest"].split(":")[1]
