"""lambdaparallel's R client without a Lambda: its testthat suite (the SigV4 signer against AWS's
published test suite, credentials, endpoints, seeds, staging, the worker's task runner), its
signatures against botocore's for the same requests, and the container credentials endpoint."""

from __future__ import annotations

import base64
import datetime
import json
import subprocess
from pathlib import Path

import botocore.auth
import pytest
from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.credentials_service import CredentialsService
from tests.lambdaparallel import needs_r_packages
from tests.parallel_service import ACCESS_KEY, ROOT

pytestmark = [pytest.mark.r, needs_r_packages]


def rscript(code: str, library: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        ["Rscript", "-e", code],
        env={
            "PATH": "/usr/bin:/bin",
            "R_LIBS": str(library),
            "HOME": "/nonexistent",
            **(env or {}),
        },
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_testthat_suite(r_library: Path) -> None:
    out = rscript(
        'library(testthat); library(lambdaparallel); options(warn = 1); test_dir("'
        + str(ROOT / "parallel" / "tests" / "testthat")
        + '", reporter = "summary", stop_on_failure = TRUE)',
        r_library,
    )
    assert "DONE" in out


# Requests as the client sends them: an ARN as the function name with a qualifier (double
# encoding for Lambda), an S3 key with spaces, a plus and non-ASCII letters (single encoding),
# a binary body, a session token.
REQUESTS = """
creds <- list(access_key_id = "AKIDEXAMPLE",
              secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
              session_token = "FQoGZXIvYXdzEJr//////////wEaDOKEN")
time <- as.POSIXct("2026-11-30 23:59:58", tz = "UTC")
session <- list(region = "eu-west-1", credentials = creds, lambda = "https://lambda.eu-west-1.amazonaws.com",
                s3 = "https://s3.eu-west-1.amazonaws.com")
out <- list()
add <- function(name, service, method, url, headers = character(), body = raw()) {
  s <- sigv4_sign(method, url, headers, body, service = service, region = "eu-west-1",
                  credentials = creds, time = time)
  out[[name]] <<- list(service = service, method = method, url = url, headers = as.list(s$headers),
                       body = openssl::base64_encode(body))
}
fn <- "arn:aws:lambda:eu-west-1:123456789012:function:r-worker"
add("invoke", "lambda", "POST",
    paste0(lambdaparallel:::invoke_url(session, fn), "?Qualifier=", "live"),
    c("Content-Type" = "application/json", "X-Amz-Invocation-Type" = "RequestResponse",
      "X-Amz-Log-Type" = "Tail"), charToRaw('{"lambdaparallel":1,"x":"caf\\u00e9"}'))
add("configuration", "lambda", "GET",
    "https://lambda.eu-west-1.amazonaws.com/2015-03-31/functions/r-worker/configuration")
add("s3-put", "s3", "PUT",
    lambdaparallel:::s3_url(session, "my-bucket", "lambdaparallel/run 1/tasks+1-\\u00e9.rds"),
    body = as.raw(c(0:255, 0:10)))
add("s3-get", "s3", "GET", lambdaparallel:::s3_url(session, "my-bucket", "a/b.csv"))
cat(jsonlite::toJSON(out, auto_unbox = TRUE))
"""


def botocore_signature(request: dict) -> str:
    body = base64.b64decode(request["body"])
    headers = request["headers"]
    names = headers["Authorization"].split("SignedHeaders=")[1].split(",")[0].split(";")
    lower = {k.lower(): v for k, v in headers.items()}
    aws = AWSRequest(method=request["method"], url=request["url"], data=body)
    for name in names:
        if name not in ("x-amz-security-token", "x-amz-date"):
            aws.headers[name] = lower[name]
    credentials = Credentials(
        "AKIDEXAMPLE",
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        "FQoGZXIvYXdzEJr//////////wEaDOKEN",
    )
    signer_class = S3SigV4Auth if request["service"] == "s3" else SigV4Auth
    signer = signer_class(credentials, request["service"], "eu-west-1")
    # botocore takes the time from the clock; pin it to the client's X-Amz-Date.
    when = datetime.datetime.strptime(lower["x-amz-date"], "%Y%m%dT%H%M%SZ")
    original = botocore.auth.get_current_datetime
    botocore.auth.get_current_datetime = lambda: when  # type: ignore[assignment]
    try:
        signer.add_auth(aws)
    finally:
        botocore.auth.get_current_datetime = original  # type: ignore[assignment]
    return aws.headers["Authorization"]


def test_signatures_match_botocores_for_the_same_requests(r_library: Path) -> None:
    requests = json.loads(rscript("library(lambdaparallel)\n" + REQUESTS, r_library))
    assert set(requests) == {"invoke", "configuration", "s3-put", "s3-get"}
    for name, request in requests.items():
        assert request["headers"]["Authorization"] == botocore_signature(request), name
    assert "%253A" not in requests["invoke"]["url"]  # sent once-encoded, signed twice-encoded
    assert "run%201/tasks%2B1-%C3%A9.rds" in requests["s3-put"]["url"]


def test_container_credentials_endpoint_with_a_token_file(r_library: Path, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("file-token\n")
    with CredentialsService(container_token="file-token") as endpoint:
        out = rscript(
            "library(lambdaparallel); c <- aws_credentials(); "
            "cat(c$access_key_id, c$session_token, c$source, sep = '|')",
            r_library,
            {
                "AWS_CONTAINER_CREDENTIALS_FULL_URI": endpoint.endpoint + "/container",
                "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": str(token_file),
            },
        )
    assert out == f"{ACCESS_KEY}|token-1|container credentials endpoint"
    assert endpoint.requests[-1]["headers"]["authorization"] == "file-token"
