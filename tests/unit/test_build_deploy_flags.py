"""build.py --push --deploy NAME: the flags are checked before building, against moto (the
build, push and deploy themselves are in tests/e2e/test_build_deploy.py)."""

import pytest

import build
from rlambda.functions import deploy

HTTP_API = ["--recipe", "hello", "--push", "--deploy", "fn", "--create-role", "--http-api"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--recipe", "hello", "--deploy", "fn"], "--deploy needs --push"),
        (["--push", "--deploy", "fn"], "--deploy needs --recipe"),
        (
            ["--recipe", "hello", "--push", "--deploy", "fn"],
            "a new function needs an execution role",
        ),
        (
            ["--recipe", "hello", "--push", "--deploy", "fn", "--create-role", "--auth", "NONE"],
            "go with --function-url or --http-api",
        ),
        (
            [*HTTP_API, "--auth", "NONE"],
            "callable by anyone on the internet",
        ),
        (
            [*HTTP_API, "--cors-origin", "https://example.org"],
            "the CORS options go with --function-url",
        ),
    ],
)
def test_deploy_flags_are_checked_before_building(
    aws, lambda_client, capsys, monkeypatch, argv, message
):
    def no_build(*args, **kwargs):
        raise AssertionError("nothing may be built when the deploy cannot happen")

    monkeypatch.setattr(build.job, "run", no_build)
    status = build.main(["--r", "4.5.0", "--family", "debian", *argv])
    assert status == 2 and message in capsys.readouterr().err
    assert lambda_client.list_functions()["Functions"] == []


@pytest.mark.parametrize(
    ("build_arch", "function_arch"), [("arm64", "x86_64"), ("x86_64", "arm64")]
)
def test_a_function_of_the_other_architecture_is_refused_before_building(
    aws, capsys, monkeypatch, build_arch, function_arch
):
    # The function as Lambda's GetFunction describes it (moto cannot create an image function
    # without a pullable image).
    existing = {"FunctionName": "fn", "PackageType": "Image", "Architectures": [function_arch]}
    monkeypatch.setattr(deploy, "read_configuration", lambda lam, name: existing)

    def no_build(*args, **kwargs):
        raise AssertionError("nothing may be built when the deploy cannot happen")

    monkeypatch.setattr(build.job, "run", no_build)
    status = build.main(
        ["--r", "4.5.0", "--family", "debian", "--arch", build_arch, "--recipe", "hello",
         "--push", "--deploy", "fn"]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert status == 2
    assert f"the image is built for {build_arch} but function 'fn' runs on {function_arch}" in err
