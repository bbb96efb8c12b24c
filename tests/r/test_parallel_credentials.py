"""lambdaparallel's credential chain, each source against a local stand-in: moto's STS for
AssumeRole and AssumeRoleWithWebIdentity, tests/credentials_service.py for what moto lacks (the
SSO portal, IMDSv2, refusals), a credential_process script; the SDKs' order among them; and the
bad inputs (an expired SSO login, a role that cannot be assumed, an IMDS that does not answer,
an MFA profile without a terminal), each one error line naming the source and what to run,
before any invoke."""

from __future__ import annotations

import hashlib
import json
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.credentials_service import IMDS_ROLE, CredentialsService
from tests.lambdaparallel import needs_r_packages
from tests.parallel_service import ACCESS_KEY, SECRET_KEY

pytestmark = [pytest.mark.r, needs_r_packages]

# Prints where the credentials came from, or the error's class and message.
WHICH = """
library(lambdaparallel)
out <- tryCatch({
  c <- aws_credentials(%s)
  token <- if (is.null(c$session_token)) "" else c$session_token
  list(source = c$source, key = c$access_key_id, token = token,
       expires = !is.null(c$expiration), printed = format(c))
}, error = function(e) list(error = conditionMessage(e), class = class(e)[[1L]]))
cat(jsonlite::toJSON(out, auto_unbox = TRUE))
"""


@pytest.fixture
def home(tmp_path: Path) -> Path:
    (tmp_path / ".aws").mkdir()
    return tmp_path


@pytest.fixture
def stand_in() -> Iterator[CredentialsService]:
    with CredentialsService(deny_roles=frozenset({"arn:aws:iam::123456789012:role/nope"})) as s:
        yield s


def which(
    r_library: Path, home: Path, env: dict[str, str] | None = None, profile: str | None = None
) -> dict:
    done = subprocess.run(
        ["Rscript", "-e", WHICH % (f'"{profile}"' if profile else "")],
        env={
            "PATH": "/usr/bin:/bin",
            "R_LIBS": str(r_library),
            "HOME": str(home),
            "AWS_REGION": "us-east-1",
            # A silent IMDS unless a test gives one: connection refused at once.
            "AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://127.0.0.1:9",
            **(env or {}),
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def config(home: Path, text: str, credentials: str = "") -> None:
    (home / ".aws" / "config").write_text(text)
    (home / ".aws" / "credentials").write_text(credentials)


BASE = "[base]\naws_access_key_id = AKIDBASE\naws_secret_access_key = base-secret\n"


def test_the_sdks_order_environment_web_identity_profile(
    r_library: Path, home: Path, moto_s3: str, tmp_path: Path
) -> None:
    config(
        home,
        "[default]\nregion = us-east-1\n",
        "[default]\naws_access_key_id = AKIDPROFILE\naws_secret_access_key = p\n",
    )
    token = tmp_path / "oidc-token"
    token.write_text("eyJhbGciOiJSUzI1NiJ9.e30.sig\n")
    web = {
        "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/ci",
        "AWS_WEB_IDENTITY_TOKEN_FILE": str(token),
        "AWS_ENDPOINT_URL_STS": moto_s3,
    }
    keys = {"AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": "e"}
    assert which(r_library, home, {**keys, **web})["source"] == "environment"
    found = which(r_library, home, web)
    # moto's STS answered AssumeRoleWithWebIdentity: its keys, a session token, an expiry.
    assert found["source"] == "web identity (AWS_ROLE_ARN, AWS_WEB_IDENTITY_TOKEN_FILE)"
    assert found["key"].startswith("ASIA") and found["token"] and found["expires"]
    assert "secret" not in found["printed"].lower() and found["key"] in found["printed"]
    assert which(r_library, home)["source"] == "profile 'default'"
    # A profile given in code skips the environment, as in the SDKs.
    assert which(r_library, home, keys, profile="default")["source"] == "profile 'default'"


def test_assume_role_from_a_source_profile_on_motos_sts(
    r_library: Path, home: Path, moto_s3: str
) -> None:
    config(
        home,
        "[profile dev]\nrole_arn = arn:aws:iam::123456789012:role/dev\n"
        "source_profile = base\nexternal_id = ext-42\n",
        BASE,
    )
    found = which(r_library, home, {"AWS_PROFILE": "dev", "AWS_ENDPOINT_URL_STS": moto_s3})
    assert found["source"] == "assume role (profile 'dev')"
    assert found["key"].startswith("ASIA") and found["expires"]


def test_assume_role_sends_external_id_signed_with_the_source_profile(
    r_library: Path, home: Path, stand_in: CredentialsService
) -> None:
    config(
        home,
        "[profile dev]\nrole_arn = arn:aws:iam::123456789012:role/dev\n"
        "source_profile = base\nexternal_id = ext-42\nrole_session_name = me\n",
        BASE,
    )
    found = which(
        r_library, home, {"AWS_PROFILE": "dev", "AWS_ENDPOINT_URL_STS": stand_in.endpoint}
    )
    assert found["token"] == "token-1"
    call = stand_in.requests[-1]
    assert call["form"]["Action"] == "AssumeRole" and call["form"]["ExternalId"] == "ext-42"
    assert call["form"]["RoleSessionName"] == "me"
    assert "Credential=AKIDBASE/" in call["headers"]["authorization"]


def test_a_role_that_cannot_be_assumed_is_one_line_before_any_invoke(
    r_library: Path, home: Path, stand_in: CredentialsService
) -> None:
    config(
        home,
        "[profile dev]\nrole_arn = arn:aws:iam::123456789012:role/nope\nsource_profile = base\n",
        BASE,
    )
    done = subprocess.run(
        ["Rscript", "-e", 'library(lambdaparallel); lambda_map(1:3, sqrt, function_name = "w")'],
        env={
            "PATH": "/usr/bin:/bin",
            "R_LIBS": str(r_library),
            "HOME": str(home),
            "AWS_REGION": "us-east-1",
            "AWS_PROFILE": "dev",
            "AWS_ENDPOINT_URL_STS": stand_in.endpoint,
            "AWS_ENDPOINT_URL_LAMBDA": stand_in.endpoint,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    error, _halted = done.stderr.strip().splitlines()  # Rscript adds "Execution halted"
    message = error.removeprefix("Error: ")
    assert "assume role (profile 'dev')" in message and "AccessDenied" in message
    assert "role/nope" in message and "sts:AssumeRole" in message
    assert not [r for r in stand_in.requests if r["path"].startswith("/2015-03-31")]


def test_mfa_profiles_are_refused_without_a_terminal(r_library: Path, home: Path) -> None:
    config(
        home,
        "[profile mfa]\nrole_arn = arn:aws:iam::123456789012:role/dev\n"
        "source_profile = base\nmfa_serial = arn:aws:iam::123456789012:mfa/me\n",
        BASE,
    )
    found = which(r_library, home, {"AWS_PROFILE": "mfa"})
    assert found["class"] == "lambdaparallel_mfa"
    assert "needs an MFA code" in found["error"] and "not interactive" in found["error"]


def sso_config(home: Path, legacy: bool = False) -> None:
    if legacy:
        profile = (
            "[profile sso]\nsso_start_url = https://d-123.awsapps.com/start\n"
            "sso_region = us-east-1\n"
        )
    else:
        profile = (
            "[profile sso]\nsso_session = corp\n[sso-session corp]\n"
            "sso_start_url = https://d-123.awsapps.com/start\nsso_region = us-east-1\n"
        )
    config(
        home,
        profile.replace(
            "[profile sso]\n",
            "[profile sso]\nsso_account_id = 123456789012\nsso_role_name = Analyst\n",
            1,
        ),
    )


def sso_cache(home: Path, key: str, token: str, expires: str) -> None:
    cache = home / ".aws" / "sso" / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    name = hashlib.sha1(key.encode()).hexdigest() + ".json"
    (cache / name).write_text(
        json.dumps(
            {
                "accessToken": token,
                "expiresAt": expires,
                "startUrl": "https://d-123.awsapps.com/start",
            }
        )
    )


@pytest.mark.parametrize("legacy", [False, True])
def test_sso_from_the_cache_aws_sso_login_writes(
    r_library: Path, home: Path, stand_in: CredentialsService, legacy: bool
) -> None:
    sso_config(home, legacy)
    key = "https://d-123.awsapps.com/start" if legacy else "corp"
    sso_cache(home, key, stand_in.sso_token, "2099-01-01T00:00:00Z")
    found = which(
        r_library, home, {"AWS_PROFILE": "sso", "AWS_ENDPOINT_URL_SSO": stand_in.endpoint}
    )
    assert found["source"] == "SSO (profile 'sso')" and found["token"] == "token-1"
    call = stand_in.requests[-1]
    assert call["query"] == {"account_id": "123456789012", "role_name": "Analyst"}


def test_an_expired_or_refused_sso_login_says_aws_sso_login(
    r_library: Path, home: Path, stand_in: CredentialsService
) -> None:
    sso_config(home)
    env = {"AWS_PROFILE": "sso", "AWS_ENDPOINT_URL_SSO": stand_in.endpoint}
    missing = which(r_library, home, env)
    sso_cache(home, "corp", stand_in.sso_token, "2020-01-01T00:00:00Z")
    expired = which(r_library, home, env)
    sso_cache(home, "corp", "revoked", "2099-01-01T00:00:00UTC")
    refused = which(r_library, home, env)
    for found, says in (
        (missing, "no cached login"),
        (expired, "the login expired at 2020-01-01"),
        (refused, "refused the cached login (HTTP 401)"),
    ):
        assert found["class"] == "lambdaparallel_sso_login", found
        assert says in found["error"] and "run `aws sso login --profile sso`" in found["error"]
        assert "\n" not in found["error"]
    assert not [
        r
        for r in stand_in.requests
        if r["headers"].get("x-amz-sso_bearer_token") == stand_in.sso_token
    ]


def test_credential_process(r_library: Path, home: Path) -> None:
    script = home / "creds.sh"
    script.write_text(
        '#!/bin/sh\necho \'{"Version": 1, "AccessKeyId": "AKIDPROC", '
        '"SecretAccessKey": "s", "SessionToken": "proc-token", '
        '"Expiration": "2099-01-01T00:00:00Z"}\'\n'
    )
    script.chmod(0o755)
    config(
        home,
        f"[profile proc]\ncredential_process = {script} --profile x\n"
        "[profile broken]\ncredential_process = /bin/false\n",
    )
    found = which(r_library, home, {"AWS_PROFILE": "proc"})
    assert found["source"] == "credential_process (profile 'proc')"
    assert found["key"] == "AKIDPROC" and found["token"] == "proc-token" and found["expires"]
    broken = which(r_library, home, {"AWS_PROFILE": "broken"})
    assert "`/bin/false` exited with status 1" in broken["error"]


def test_imdsv2_and_a_silent_one(r_library: Path, home: Path, stand_in: CredentialsService) -> None:
    found = which(r_library, home, {"AWS_EC2_METADATA_SERVICE_ENDPOINT": stand_in.endpoint})
    assert found["source"] == f"EC2 instance metadata (role {IMDS_ROLE})"
    assert found["key"] == ACCESS_KEY and found["token"] == "token-1"
    # Every metadata GET carried the session token the PUT gave.
    gets = [r for r in stand_in.requests if r["method"] == "GET"]
    assert gets and all(r["headers"].get("x-aws-ec2-metadata-token") for r in gets)
    # A metadata address that takes the connection and never answers: 1 s, then one line.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        nothing = which(r_library, home, {"AWS_EC2_METADATA_SERVICE_ENDPOINT": url})
    assert nothing["class"] == "lambdaparallel_no_credentials"
    assert f"EC2 instance metadata at {url}: no answer in 1 s" in nothing["error"]
    assert "aws sso login --profile default" in nothing["error"] and "\n" not in nothing["error"]


def test_container_endpoint_through_the_chain(
    r_library: Path, home: Path, stand_in: CredentialsService
) -> None:
    stand_in.container_token = "container-secret"
    found = which(
        r_library,
        home,
        {
            "AWS_CONTAINER_CREDENTIALS_FULL_URI": stand_in.endpoint + "/container",
            "AWS_CONTAINER_AUTHORIZATION_TOKEN": "container-secret",
        },
    )
    assert found["source"] == "container credentials endpoint" and found["token"] == "token-1"
    assert SECRET_KEY not in json.dumps(found)
