"""The local Lambda service's parts that need no Docker: names and ARNs, the SigV4 check with
botocore's signer, the HTTP front's event and response, and `build.py serve`'s usage errors."""

from __future__ import annotations

import base64
import datetime
import json

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

import build
from rlambda.local.service import errors
from rlambda.local.service.errors import ApiError
from rlambda.local.service.http_front import to_event, to_response
from rlambda.local.service.names import resolve_function
from rlambda.local.service.sigv4 import Verifier

SERVED = {"hello", "api"}


@pytest.mark.parametrize(
    ("function_name", "qualifier"),
    [
        ("hello", None),
        ("hello", "$LATEST"),
        ("hello:$LATEST", None),
        ("arn:aws:lambda:us-east-1:012345678912:function:hello", None),
        ("arn:aws:lambda:us-east-1:012345678912:function:hello:$LATEST", "$LATEST"),
        ("012345678912:function:hello", None),
    ],
)
def test_names_arns_and_partial_arns_resolve(function_name, qualifier):
    assert resolve_function(function_name, qualifier, "us-east-1", SERVED).name == "hello"


@pytest.mark.parametrize(
    ("function_name", "qualifier", "arn"),
    [
        ("nope", None, "arn:aws:lambda:us-east-1:012345678912:function:nope"),
        ("hello", "prod", "arn:aws:lambda:us-east-1:012345678912:function:hello:prod"),
        (
            "arn:aws:lambda:eu-west-1:012345678912:function:hello",
            None,
            "arn:aws:lambda:eu-west-1:012345678912:function:hello",
        ),
        (
            "111122223333:function:hello",
            None,
            "arn:aws:lambda:us-east-1:111122223333:function:hello",
        ),
    ],
)
def test_what_is_not_served_is_lambdas_404(function_name, qualifier, arn):
    with pytest.raises(ApiError) as caught:
        resolve_function(function_name, qualifier, "us-east-1", SERVED)
    error = caught.value
    assert (error.status, error.code) == (404, "ResourceNotFoundException")
    assert json.loads(error.body()) == {"Type": "User", "message": f"Function not found: {arn}"}


def test_a_qualifier_twice_must_agree():
    with pytest.raises(ApiError) as caught:
        resolve_function("hello:$LATEST", "prod", "us-east-1", SERVED)
    assert caught.value.code == "InvalidParameterValueException"


def test_throttle_body_is_lambdas():
    error = errors.throttled()
    assert error.status == 429
    assert json.loads(error.body()) == {
        "Reason": "ReservedFunctionConcurrentInvocationLimitExceeded",
        "Type": "User",
        "message": "Rate Exceeded.",
    }
    assert error.headers()["x-amzn-ErrorType"] == "TooManyRequestsException"


# ---- SigV4, signed by botocore exactly as boto3 signs an Invoke -----------------------------


def signed(
    secret: str, *, key: str = "AKIDLOCAL", body: bytes = b'{"x":1}', path: str | None = None
):
    path = (
        path
        or "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A012345678912%3Afunction%3A"
        "hello/invocations?Qualifier=%24LATEST"
    )
    request = AWSRequest(method="POST", url=f"http://127.0.0.1:3001{path}", data=body)
    request.headers["X-Amz-Invocation-Type"] = "RequestResponse"
    SigV4Auth(Credentials(key, secret), "lambda", "us-east-1").add_auth(request)
    headers = {name.lower(): [value] for name, value in request.headers.items()}
    headers["host"] = ["127.0.0.1:3001"]
    return path, headers, body


VERIFIER = Verifier("AKIDLOCAL", "s3cret")


def test_botocore_signature_verifies():
    path, headers, body = signed("s3cret")
    VERIFIER.check("POST", path, headers, body)


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ("secret", "InvalidSignatureException"),
        ("key", "UnrecognizedClientException"),
        ("body", "InvalidSignatureException"),
        ("unsigned", "MissingAuthenticationTokenException"),
        ("old", "InvalidSignatureException"),
    ],
)
def test_bad_signatures_are_refused_with_403(change, code):
    path, headers, body = signed(
        "wrong" if change == "secret" else "s3cret", key="OTHER" if change == "key" else "AKIDLOCAL"
    )
    if change == "body":
        body = b'{"x":2}'
    if change == "unsigned":
        del headers["authorization"]
    now = datetime.datetime.now(datetime.UTC) + datetime.timedelta(
        minutes=6 if change == "old" else 0
    )
    with pytest.raises(ApiError) as caught:
        VERIFIER.check("POST", path, headers, body, now=now)
    assert (caught.value.status, caught.value.code) == (403, code)
    assert "message" in json.loads(caught.value.body())


def test_credentials_syntax():
    with pytest.raises(ValueError, match="KEY_ID:SECRET"):
        Verifier.parse("no-colon")


# ---- the HTTP front ---------------------------------------------------------------------


def test_request_becomes_a_payload_2_event():
    headers = [
        ("Host", "127.0.0.1:8080"),
        ("Content-Type", "application/json"),
        ("Cookie", "a=1; b=2"),
        ("X-Many", "one"),
        ("X-Many", "two"),
    ]
    event = to_event("POST", "/items/7?q=1&q=2&z=", headers, b'{"n": 1}', "127.0.0.1", now=0)
    assert event["version"] == "2.0" and event["routeKey"] == "$default"
    assert (event["rawPath"], event["rawQueryString"]) == ("/items/7", "q=1&q=2&z=")
    assert event["cookies"] == ["a=1", "b=2"]
    assert "cookie" not in event["headers"]
    assert event["headers"]["x-many"] == "one,two"
    assert event["queryStringParameters"] == {"q": "1,2", "z": ""}
    assert event["requestContext"]["http"]["method"] == "POST"
    assert (event["body"], event["isBase64Encoded"]) == ('{"n": 1}', False)


def test_binary_body_is_base64():
    event = to_event("PUT", "/", [("Content-Type", "image/png")], b"\x89PNG\x00", "127.0.0.1")
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"\x89PNG\x00"


def test_proxy_result_becomes_the_response():
    result = {
        "statusCode": 201,
        "headers": {"X-Test": "yes"},
        "cookies": ["a=1", "b=2; Path=/"],
        "body": base64.b64encode(b"\x00\x01").decode(),
        "isBase64Encoded": True,
    }
    status, headers, body = to_response(json.dumps(result).encode())
    assert status == 201 and body == b"\x00\x01"
    assert ("X-Test", "yes") in headers
    assert [v for k, v in headers if k == "Set-Cookie"] == ["a=1", "b=2; Path=/"]


def test_non_proxy_result_is_json_with_200():
    assert to_response(b'{"message": "hi"}') == (
        200,
        [("Content-Type", "application/json")],
        b'{"message": "hi"}',
    )


# ---- build.py serve usage errors (checked before the engine is asked anything) ------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--image", "x", "--concurrency", "0"], "--concurrency 0"),
        (["--image", "x", "--function", "a=b"], "exactly one of"),
        (["--function", "a"], "NAME=IMAGE"),
        (["--r", "4.5.0"], "--r and --recipe go together"),
        (["--r", "4.0.3", "--recipe", "hello"], "R 4.0.3 is not pinned"),
        (["--r", "4.5.0", "--recipe", "hello", "--family", "alpine"], "unknown family 'alpine'"),
        (["--r", "4.5.0", "--recipe", "hello", "--arch", "amd64"], "unknown architecture"),
        (["--function", "a=x", "--function", "b=y", "--http", "8080"], "say which"),
        (["--function", "bad name=x"], "function name"),
        (["--image", "x", "--memory", "64"], "128 to 10240"),
        (["--image", "x", "--credentials", "nocolon"], "KEY_ID:SECRET"),
    ],
)
def test_bad_usage_is_exit_2(argv, message, capsys):
    assert build.main(["serve", *argv]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--port", "70000"], "argument --port: 70000 is not a port: 1-65535, or 0"),
        (["--port", "-1"], "argument --port: -1 is not a port"),
        (["--port", "http"], "argument --port: 'http' is not a port number"),
        (["--http", "70000"], "argument --http: '70000': 70000 is not a port"),
        (["--http", "api=65536"], "argument --http: 'api=65536': 65536 is not a port"),
        (["--http", "=8080"], "argument --http: '=8080': expected [NAME=]PORT"),
    ],
)
def test_ports_out_of_range_are_argparse_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as caught:
        build.main(["serve", "--image", "x", *argv])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_ports_in_range_parse():
    from rlambda.local.service.cli import build_parser

    args = build_parser().parse_args(["--image", "x", "--port", "0", "--http", "api=65535"])
    assert (args.port, args.http) == (0, [("api", 65535)])


# ---- credentials: from a file or the environment, never printed ----------------------------

SECRET = "wJalrXUtnFEMI-K7MDENG-bPxRfiCY"


def _verifier(argv, monkeypatch, env=None):
    from rlambda.local.service.cli import _verifier, build_parser

    monkeypatch.delenv("RLAMBDA_SERVE_CREDENTIALS", raising=False)
    if env is not None:
        monkeypatch.setenv("RLAMBDA_SERVE_CREDENTIALS", env)
    return _verifier(build_parser().parse_args(["--image", "x", *argv]))


def test_credentials_from_a_file_or_the_environment(tmp_path, monkeypatch):
    path = tmp_path / "creds"
    path.write_text(f"AKIDLOCAL:{SECRET}\n")
    expected = Verifier("AKIDLOCAL", SECRET)
    assert _verifier(["--credentials-file", str(path)], monkeypatch) == expected
    assert _verifier([], monkeypatch, env=f"AKIDLOCAL:{SECRET}") == expected
    assert _verifier([], monkeypatch) is None
    # The command line wins over the environment.
    assert _verifier(["--credentials", "K:S"], monkeypatch, env=f"AKIDLOCAL:{SECRET}") == (
        Verifier("K", "S")
    )
    assert SECRET not in repr(expected)


def test_credentials_errors_never_show_the_secret(tmp_path, monkeypatch, capsys):
    from rlambda.errors import UsageError

    path = tmp_path / "creds"
    path.write_text(f"AKIDLOCAL{SECRET}\n")  # the colon forgotten
    for argv, env, where in [
        (["--credentials-file", str(path)], None, f"--credentials-file {path}"),
        ([], f"AKIDLOCAL{SECRET}", "$RLAMBDA_SERVE_CREDENTIALS"),
        (["--credentials", f"AKIDLOCAL{SECRET}"], None, "--credentials"),
    ]:
        with pytest.raises(UsageError) as caught:
            _verifier(argv, monkeypatch, env=env)
        assert str(caught.value) == f"{where}: expected ACCESS_KEY_ID:SECRET_ACCESS_KEY"
    assert build.main(["serve", "--image", "x", "--credentials", f"AKIDLOCAL{SECRET}"]) == 2
    assert SECRET not in capsys.readouterr().err
    with pytest.raises(SystemExit):
        build.main(["serve", "--image", "x", "--credentials", "a:b", "--credentials-file", "f"])
    assert "not allowed with argument" in capsys.readouterr().err
