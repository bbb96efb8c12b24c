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
        (["--recipe", "hello", "--snapstart"], "--snapstart goes with --test"),
        # SnapStart's limits (AWS: snapstart.html, "Supported features and limitations").
        (
            [*HTTP_API, "--snapstart", "--ephemeral-storage", "1024"],
            "SnapStart supports at most 512 MB of ephemeral storage",
        ),
        (
            [*HTTP_API, "--snapstart", "--region", "ap-east-2"],
            "SnapStart is not available in ap-east-2 (Asia Pacific (Taipei)",
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


EFS = [
    {"Arn": "arn:aws:elasticfilesystem:us-east-1:1:access-point/fsap-1", "LocalMountPath": "/mnt"}
]


@pytest.mark.parametrize(
    ("existing", "message"),
    [
        ({"EphemeralStorage": {"Size": 2048}}, "has 2048 MB of ephemeral storage"),
        ({"FileSystemConfigs": EFS}, "mounts Amazon EFS"),
    ],
)
def test_snapstart_refuses_what_an_existing_function_has(
    aws, capsys, monkeypatch, existing, message
):
    # As above: the function as GetFunction describes it; SnapStart does not support it.
    function = {"FunctionName": "fn", "PackageType": "Image", "Architectures": ["x86_64"]}
    monkeypatch.setattr(deploy, "read_configuration", lambda lam, name: {**function, **existing})
    monkeypatch.setattr(build.job, "run", lambda *a, **k: pytest.fail("nothing may be built"))
    argv = ["--recipe", "hello", "--push", "--deploy", "fn", "--snapstart"]
    status = build.main(["--r", "4.5.0", "--family", "debian", *argv])
    err = capsys.readouterr().err
    assert status == 2 and message in err, err
