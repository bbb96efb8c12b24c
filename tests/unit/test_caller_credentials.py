"""`build.py serve --aws-credentials [PROFILE]` and `build.py test --aws-credentials [PROFILE]`:
the caller's AWS credentials, resolved through botocore's chain, handed to functions run here as
Lambda hands a function its role's; off by default, checked before anything starts, never in a
repr, a label or the service's output."""

from __future__ import annotations

import argparse
from pathlib import Path
from types import SimpleNamespace

import pytest

from rlambda.aws import caller_credentials
from rlambda.errors import UsageError
from rlambda.local.docker_launcher import DockerRuntime
from rlambda.local.events import cli as events_cli
from rlambda.local.service import cli as serve_cli

SECRET = "caller-secret-never-shown"


@pytest.fixture
def aws_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No AWS settings but those a test writes; no instance metadata to wait for."""
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_ROLE_ARN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return tmp_path


def test_the_callers_environment(aws_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDCALLER")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    assert caller_credentials(None)() == {
        "AWS_ACCESS_KEY_ID": "AKIDCALLER",
        "AWS_SECRET_ACCESS_KEY": SECRET,
    }


def test_a_profile_with_a_session_token(aws_home: Path) -> None:
    (aws_home / "credentials").write_text(
        f"[dev]\naws_access_key_id = ASIADEV\naws_secret_access_key = {SECRET}\n"
        "aws_session_token = dev-token\n"
    )
    assert caller_credentials("dev")() == {
        "AWS_ACCESS_KEY_ID": "ASIADEV",
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_SESSION_TOKEN": "dev-token",
    }


def test_bad_sources_are_one_line_with_what_to_run(aws_home: Path) -> None:
    with pytest.raises(UsageError, match=r"--aws-credentials: no profile 'nope' in the AWS"):
        caller_credentials("nope")
    with pytest.raises(UsageError, match="no AWS credentials found for profile 'default'"):
        caller_credentials(None)
    # An SSO profile whose login was never cached (or expired): botocore says so, we add how.
    (aws_home / "config").write_text(
        "[profile sso]\nsso_session = corp\nsso_account_id = 123456789012\n"
        "sso_role_name = Analyst\n[sso-session corp]\n"
        "sso_start_url = https://d-123.awsapps.com/start\nsso_region = us-east-1\n"
    )
    with pytest.raises(UsageError) as caught:
        caller_credentials("sso")
    message = str(caught.value)
    assert "run `aws sso login --profile sso`" in message and "\n" not in message


def _args(parser_of, argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser_of(parser)
    return parser.parse_args(argv)


def test_serve_passes_them_only_when_asked(aws_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDCALLER")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    plain = serve_cli._functions(_args(serve_cli.add_arguments, ["--image", "img"]))
    assert plain[0].aws_credentials is None
    given = serve_cli._functions(
        _args(serve_cli.add_arguments, ["--image", "img", "--aws-credentials"])
    )
    spec = given[0]
    assert spec.aws_credentials is not None
    assert spec.aws_credentials()["AWS_ACCESS_KEY_ID"] == "AKIDCALLER"
    assert SECRET not in repr(spec)
    # A profile that does not exist stops serve before any container starts (exit 2).
    with pytest.raises(UsageError, match="no profile 'ghost'"):
        serve_cli._functions(
            _args(serve_cli.add_arguments, ["--image", "img", "--aws-credentials", "ghost"])
        )


def test_build_py_test_refuses_a_bad_profile_before_running(
    aws_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert events_cli.main(["--image", "img", "--aws-credentials", "ghost"]) == 2
    err = capsys.readouterr().err
    assert "no profile 'ghost'" in err and len(err.strip().splitlines()) == 1


class _Images:
    def get(self, image: str) -> SimpleNamespace:
        return SimpleNamespace(
            attrs={"Config": {"Cmd": ["handler.fn"], "Env": []}, "Architecture": "amd64"}
        )


def _engine() -> SimpleNamespace:
    """The engine as far as DockerRuntime.environment() asks it: an image, its architecture."""
    return SimpleNamespace(images=_Images(), info=lambda: {"Architecture": "x86_64"})


def test_each_cold_start_gets_the_current_ones_in_its_environment_only() -> None:
    issued = iter(["token-1", "token-2"])

    def current() -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": "ASIACALLER",
            "AWS_SECRET_ACCESS_KEY": SECRET,
            "AWS_SESSION_TOKEN": next(issued),
        }

    runtime = DockerRuntime("img", aws_credentials=current, client=_engine())
    lambda_env = {"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512"}
    first = runtime.environment(lambda_env)
    second = runtime.environment(lambda_env)
    assert first["AWS_SESSION_TOKEN"] == "token-1" and second["AWS_SESSION_TOKEN"] == "token-2"
    assert first["AWS_SECRET_ACCESS_KEY"] == SECRET
    # Without the option the host's credentials never reach a function.
    bare = DockerRuntime("img", client=_engine())
    assert "AWS_SECRET_ACCESS_KEY" not in bare.environment(lambda_env)


def test_serve_and_test_give_functions_the_env_they_are_told(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--env / --env-file, as `registry.py deploy` takes them: a function run here gets the
    variables it gets on Lambda (a local S3's endpoint, say), and KEY alone reads this
    environment."""
    env_file = tmp_path / "function.env"
    env_file.write_text("# the local S3\nAWS_ENDPOINT_URL_S3=http://127.0.0.1:5000\nMODE=file\n")
    monkeypatch.setenv("TOKEN", "from-the-caller")
    argv = ["--image", "img", "--env-file", str(env_file), "--env", "MODE=flag", "--env", "TOKEN"]
    [spec] = serve_cli._functions(_args(serve_cli.add_arguments, argv))
    wanted = {
        "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:5000",
        "MODE": "flag",
        "TOKEN": "from-the-caller",
    }
    assert dict(spec.env) == wanted
    assert serve_cli._functions(_args(serve_cli.add_arguments, ["--image", "img"]))[0].env == {}

    seen = {}

    def run_events(image, events, **options):
        seen.update(options["env"])
        return []

    monkeypatch.setattr(events_cli, "run_events", run_events)
    events = tmp_path / "events"
    events.mkdir()
    assert events_cli.main(["--image", "img", "--events", str(events), *argv[2:]]) == 0
    assert seen == wanted
