"""`build.py serve` end to end: boto3 against the service, serving images built here (the hello
and json-api recipes, and R 4.5.0 with tests/r_handlers/service.R), each environment a
Lambda-like container with its own Runtime API emulator."""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import re
import signal
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore import UNSIGNED
from botocore.exceptions import ClientError

import build
from rlambda.local.service import FunctionSpec, Verifier
from rlambda.local.service.cli import _functions, add_arguments

from .serving import lambda_client, running, serve_process, service_containers

# The images the service serves (hello_image, json_api_image, probe_image) are session fixtures
# in tests/e2e/conftest.py.

pytestmark = pytest.mark.docker

FAST_RETRIES = (0.2, 0.2)


def probe(image: str, handler: str, name: str | None = None, **kw) -> FunctionSpec:
    return FunctionSpec(name or handler, image, handler=f"service.{handler}", **kw)


def payload(response) -> dict:
    return json.loads(response["Payload"].read())


def error_code(excinfo) -> tuple[int, str]:
    error = excinfo.value.response
    return error["ResponseMetadata"]["HTTPStatusCode"], error["Error"]["Code"]


def test_sync_invoke_by_name_arn_partial_arn_and_qualifier(hello_image):
    with running([FunctionSpec("hello", hello_image)], concurrency=1) as service:
        client = lambda_client(service.endpoint_url)
        names = [
            ("hello", None),
            ("hello:$LATEST", None),
            ("arn:aws:lambda:us-east-1:012345678912:function:hello", "$LATEST"),
            ("012345678912:function:hello", None),
        ]
        for name, qualifier in names:
            extra = {"Qualifier": qualifier} if qualifier else {}
            response = client.invoke(FunctionName=name, Payload=b'{"name": "Ada"}', **extra)
            assert response["StatusCode"] == 200
            assert response["ExecutedVersion"] == "$LATEST"
            assert "FunctionError" not in response
            assert payload(response) == {"message": "Hello, Ada!"}

        for name, qualifier in [("nope", None), ("hello", "prod")]:
            extra = {"Qualifier": qualifier} if qualifier else {}
            with pytest.raises(ClientError) as caught:
                client.invoke(FunctionName=name, **extra)
            assert error_code(caught) == (404, "ResourceNotFoundException")
            assert "Function not found: arn:aws:lambda:us-east-1:012345678912:function:" in str(
                caught.value
            )
            assert caught.value.response["Type"] == "User"


def test_dry_run_async_and_async_retries(probe_image):
    functions = [probe(probe_image, "count"), probe(probe_image, "fail")]
    with running(functions, concurrency=2, async_retry_delays_s=FAST_RETRIES) as service:
        client = lambda_client(service.endpoint_url)
        dry = client.invoke(FunctionName="count", InvocationType="DryRun")
        assert dry["StatusCode"] == 204 and dry["Payload"].read() == b""
        assert not service.containers()  # a dry run starts nothing

        queued = client.invoke(FunctionName="count", InvocationType="Event", Payload=b"{}")
        assert queued["StatusCode"] == 202
        request_id = queued["ResponseMetadata"]["RequestId"]
        _wait_for(service, rf"REPORT RequestId: {request_id}\t")

        failing = client.invoke(FunctionName="fail", InvocationType="Event", Payload=b"{}")
        failed_id = failing["ResponseMetadata"]["RequestId"]
        _wait_for(service, r"attempt 3 of 3\)")
        # Lambda runs a failed async event twice more, under the same request id.
        starts = re.findall(rf"START RequestId: {failed_id} ", service._log.text())
        assert len(starts) == 3


def _wait_for(service, pattern: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not re.search(pattern, service._log.text()):
        assert time.monotonic() < deadline, f"no {pattern!r} in:\n{service._log.text()}"
        time.sleep(0.05)


def test_tail_logs_function_error_and_client_context(probe_image):
    functions = [probe(probe_image, "talk"), probe(probe_image, "fail")]
    with running(functions, concurrency=1) as service:
        client = lambda_client(service.endpoint_url)
        context = base64.b64encode(json.dumps({"custom": {"job": "42"}}).encode()).decode()
        response = client.invoke(
            FunctionName="talk", Payload=b"{}", LogType="Tail", ClientContext=context
        )
        assert payload(response) == {"client_context": {"custom": {"job": "42"}}}
        log = base64.b64decode(response["LogResult"]).decode()
        request_id = response["ResponseMetadata"]["RequestId"]
        lines = log.splitlines()
        assert lines[0].startswith(f"START RequestId: {request_id}")
        assert "said on stdout" in log and "said on stderr" in log
        assert lines[-1].startswith(f"REPORT RequestId: {request_id}")
        assert "Init Duration" in lines[-1]  # the first invoke is a cold start
        assert log.index("said on stdout") < log.index(f"END RequestId: {request_id}")

        failed = client.invoke(FunctionName="fail", Payload=b"{}")
        assert failed["StatusCode"] == 200
        assert failed["FunctionError"] == "Unhandled"
        assert "boom" in payload(failed)["errorMessage"]
        assert "LogResult" not in failed


def test_429_beyond_n_in_flight_and_none_with_queue(probe_image):
    for queue in (False, True):
        with running([probe(probe_image, "sleep")], concurrency=2, queue=queue) as service:
            client = lambda_client(service.endpoint_url)

            def call(_: int, client=client):
                try:
                    return client.invoke(FunctionName="sleep", Payload=b"{}")["StatusCode"]
                except ClientError as exc:
                    assert exc.response["Reason"] == (
                        "ReservedFunctionConcurrentInvocationLimitExceeded"
                    )
                    assert exc.response["Error"]["Message"] == "Rate Exceeded."
                    return exc.response["ResponseMetadata"]["HTTPStatusCode"]

            client.invoke(FunctionName="sleep", Payload=b"{}")  # one warm environment
            with ThreadPoolExecutor(3) as pool:
                codes = sorted(pool.map(call, range(3)))
            assert codes == ([200, 200, 200] if queue else [200, 200, 429])


def test_eight_concurrent_invokes_at_n4_are_all_answered(probe_image):
    with running([probe(probe_image, "sleep")], concurrency=4, queue=True) as service:
        client = lambda_client(service.endpoint_url)
        with ThreadPoolExecutor(8) as pool:
            answers = list(
                pool.map(lambda _: client.invoke(FunctionName="sleep", Payload=b"{}"), range(8))
            )
        assert [a["StatusCode"] for a in answers] == [200] * 8
        environments = {payload(a)["env"] for a in answers}
        assert len(environments) == 4  # N environments, each reused
        assert service.pool("sleep").size == 4


def test_warm_state_is_kept_per_environment_and_reported(probe_image):
    with running([probe(probe_image, "count")], concurrency=2) as service:
        client = lambda_client(service.endpoint_url)
        answers = [payload(client.invoke(FunctionName="count", Payload=b"{}")) for _ in range(3)]
        assert [a["count"] for a in answers] == [1, 2, 3]
        assert len({a["env"] for a in answers}) == 1
        reports = re.findall(r"^\[count:1\] (REPORT .*)$", service._log.text(), re.MULTILINE)
        assert len(reports) == 3
        assert "Init Duration" in reports[0]
        assert all("Init Duration" not in line for line in reports[1:])
        assert all(re.search(r"Max Memory Used: \d+ MB", line) for line in reports)


def test_crashed_and_timed_out_environments_are_replaced(probe_image):
    functions = [
        FunctionSpec("count", probe_image, handler="service.count"),
        probe(probe_image, "crash"),
        probe(probe_image, "hang", timeout_s=3),
    ]
    with running(functions, concurrency=1) as service:
        client = lambda_client(service.endpoint_url)
        crashed = client.invoke(FunctionName="crash", Payload=b"{}")
        assert crashed["FunctionError"] == "Unhandled"
        body = payload(crashed)
        assert body["errorType"] == "Runtime.ExitError"
        assert "status 3" in body["errorMessage"]

        timed_out = client.invoke(FunctionName="hang", Payload=b"{}")
        assert timed_out["FunctionError"] == "Unhandled"
        body = payload(timed_out)
        assert body["errorType"] == "Sandbox.Timedout"
        assert "Task timed out after 3.00 seconds" in body["errorMessage"]
        assert "Status: timeout" in service._log.text()  # its REPORT line

        # The service keeps serving; the broken environments were replaced by fresh ones.
        first = payload(client.invoke(FunctionName="count", Payload=b"{}"))
        assert first["count"] == 1
        assert len(service.containers()) == 1  # count's: crash's and hang's were removed


def test_signatures_checked_with_botocores_signer(hello_image):
    verifier = Verifier("AKIDLOCAL", "s3cret")
    with running([FunctionSpec("hello", hello_image)], verifier=verifier) as service:
        good = lambda_client(service.endpoint_url, "AKIDLOCAL", "s3cret")
        assert payload(good.invoke(FunctionName="hello", Payload=b"{}"))["message"]

        cases = [
            (
                lambda_client(service.endpoint_url, "AKIDLOCAL", "wrong"),
                "InvalidSignatureException",
            ),
            (
                lambda_client(service.endpoint_url, "AKIDOTHER", "s3cret"),
                "UnrecognizedClientException",
            ),
            (
                lambda_client(service.endpoint_url, signature_version=UNSIGNED),
                "MissingAuthenticationTokenException",
            ),
        ]
        for client, code in cases:
            with pytest.raises(ClientError) as caught:
                client.invoke(FunctionName="hello", Payload=b"{}")
            assert error_code(caught) == (403, code)


def test_payloads_over_lambdas_limits_get_413(hello_image):
    with running([FunctionSpec("hello", hello_image)]) as service:
        client = lambda_client(service.endpoint_url)
        with pytest.raises(ClientError) as caught:
            client.invoke(FunctionName="hello", Payload=b"x" * (6 * 1024 * 1024 + 1))
        assert error_code(caught) == (413, "RequestEntityTooLargeException")
        with pytest.raises(ClientError) as caught:
            client.invoke(
                FunctionName="hello", InvocationType="Event", Payload=b"x" * (1024 * 1024 + 1)
            )
        assert error_code(caught) == (413, "RequestTooLargeException")
        assert not service.containers()


def _http(url: str, method: str, path: str, body: bytes | None = None, headers=None):
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    connection.request(method, path, body=body, headers=headers or {})
    response = connection.getresponse()
    return response.status, dict(response.getheaders()), response.read()


def test_http_front_serves_json_api_as_a_function_url(json_api_image, hello_image):
    functions = [FunctionSpec("api", json_api_image), FunctionSpec("hello", hello_image)]
    with running(functions, http_ports={"api": 0, "hello": 0}) as service:
        api = service.http_url("api")
        status, headers, body = _http(
            api,
            "POST",
            "/items/42?verbose=1",
            b'{"quantity": 3, "unit_price": 2.5}',
            {"Content-Type": "application/json"},
        )
        assert status == 200, body
        assert headers["Content-Type"] == "application/json"
        assert json.loads(body) == {"id": "42", "quantity": 3, "unit_price": 2.5, "total": 7.5}

        status, _, body = _http(api, "POST", "/items/42", b"quantity=3")
        assert status == 400 and b"must be JSON" in body
        status, _, body = _http(api, "GET", "/elsewhere")
        assert status == 404

        # hello returns a plain JSON object (no statusCode): sent as JSON with 200.
        status, headers, body = _http(service.http_url("hello"), "GET", "/")
        assert status == 200 and json.loads(body) == {"message": "Hello, world!"}
        assert headers["Content-Type"] == "application/json"


# ---- the command, as a user runs it --------------------------------------------------------


@pytest.mark.parametrize(
    ("stop_signal", "what"),
    [
        (signal.SIGTERM, ["--r", "4.5.0", "--family", "debian", "--recipe", "hello"]),
        (signal.SIGINT, ["--function", "hello={image}", "--function", "other={image}"]),
    ],
)
def test_serve_command_stops_cleanly_on_a_signal(hello_image, docker_client, stop_signal, what):
    argv = [arg.format(image=hello_image) for arg in what]
    with serve_process(*argv, "--concurrency", "2") as (process, url):
        client = lambda_client(url)
        with ThreadPoolExecutor(2) as pool:
            answers = list(
                pool.map(lambda _: client.invoke(FunctionName="hello", Payload=b"{}"), range(2))
            )
        assert all(payload(a) == {"message": "Hello, world!"} for a in answers)
        assert len(service_containers(docker_client, process.pid)) >= 1
        process.send_signal(stop_signal)
        assert process.wait(timeout=60) == 0
        err = process.stderr.read() if process.stderr else ""
        assert "REPORT RequestId" in err
    assert service_containers(docker_client, process.pid) == []


def test_missing_image_is_a_usage_error(capsys):
    status = build.main(["serve", "--image", "rlambda-test/no-such-image:1", "--port", "0"])
    assert status == 2
    err = capsys.readouterr().err
    assert "rlambda-test/no-such-image:1" in err and "build it first" in err


def test_concurrency_beyond_the_machine_is_a_usage_error(hello_image, capsys):
    argv = ["serve", "--image", hello_image, "--port", "0", "--memory", "10240"]
    assert build.main([*argv, "--concurrency", "1000"]) == 2
    assert "lower --concurrency or --memory" in capsys.readouterr().err


def test_taken_port_fails_and_leaves_nothing_running(hello_image, docker_client, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert build.main(["serve", "--image", hello_image, "--port", str(port)]) == 1
        assert f"port {port} is already in use" in capsys.readouterr().err
        # With the Invoke API bound, a taken --http port still stops everything.
        status = build.main(["serve", "--image", hello_image, "--port", "0", "--http", str(port)])
        assert status == 1
        assert "HTTP front" in capsys.readouterr().err
    assert service_containers(docker_client, os.getpid()) == []


def test_engine_down_is_a_clear_error(monkeypatch, capsys):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    assert build.main(["serve", "--image", "anything", "--port", "0"]) == 1
    assert "cannot reach the Docker engine" in capsys.readouterr().err


def test_environments_have_no_network_unless_host_network_is_asked(hello_image, docker_client):
    functions = [
        FunctionSpec("isolated", hello_image),
        FunctionSpec("open", hello_image, host_network=True),
    ]
    with running(functions, concurrency=1) as service:
        client = lambda_client(service.endpoint_url)
        for name in ("isolated", "open"):
            assert client.invoke(FunctionName=name, Payload=b"{}")["StatusCode"] == 200
        modes = {
            c.labels["rlambda.service.function"]: c.attrs["HostConfig"]["NetworkMode"]
            for c in (docker_client.containers.get(i) for i in service.containers())
        }
    assert modes == {"isolated": "none", "open": "host"}


def test_cli_host_network_reaches_the_function_spec():
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    [default] = _functions(parser.parse_args(["--image", "x"]))
    [opened] = _functions(parser.parse_args(["--image", "x", "--host-network"]))
    assert (default.host_network, opened.host_network) == (False, True)
