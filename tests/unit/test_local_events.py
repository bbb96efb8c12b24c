"""`build.py test`'s event files and checks that need no Docker (moved from
tests/docker/test_local_lambda.py, which runs the images)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from rlambda.errors import UsageError
from rlambda.local.docker_launcher import DockerRuntime
from rlambda.local.events import files as local_lambda
from rlambda.local.events.cli import main
from rlambda.local.events.files import EventFileError, load_event_file

from ..helpers import write_event

# ---- event files (no Docker) --------------------------------------------------------------


def test_event_file_that_is_not_json_names_file_line_and_column(tmp_path: Path) -> None:
    path = write_event(tmp_path, "broken.json", '{\n  "event": {"a": 1},\n  "expect": {,}\n}\n')
    with pytest.raises(EventFileError) as caught:
        load_event_file(path)
    assert str(caught.value).startswith(f"{path}:3:14: not valid JSON")


@pytest.mark.parametrize(
    ("document", "key", "problem"),
    [
        ({"event": 1}, "'expect'", "missing"),
        ({"event": 1, "expcet": {"response": 1}}, "'expcet'", "unknown key"),
        ({"expect": {"response": 1}}, "'event'", "exactly one of"),
        ({"event": 1, "fixture": "sqs", "expect": {"response": 1}}, "'event'", "exactly one"),
        ({"fixture": "nope", "expect": {"response": 1}}, "'fixture'", "no fixture 'nope'"),
        ({"event": 1, "expect": {}}, "'expect'", "exactly one of"),
        ({"event": 1, "expect": {"response": 1, "error_type": "X"}}, "'expect'", "exactly"),
        ({"event": 1, "expect": {"error_type": ""}}, "'expect.error_type'", "non-empty"),
        ({"event": 1, "expect": {"respones": 1}}, "'expect.respones'", "unknown key"),
        (
            {"event": 1, "expect": {"response": 1, "error_message": "x"}},
            "'expect.error_message'",
            "goes with",
        ),
        ({"event": 1, "expect": [1]}, "'expect'", "must be"),
    ],
)
def test_event_file_schema_mistakes_name_file_and_key(
    tmp_path: Path, document: dict[str, Any], key: str, problem: str
) -> None:
    path = write_event(tmp_path, "case.json", document)
    with pytest.raises(EventFileError) as caught:
        load_event_file(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: key {key}: ")
    assert problem in message


def test_event_file_with_a_fixture_carries_the_fixture(tmp_path: Path) -> None:
    path = write_event(tmp_path, "s3.json", {"fixture": "s3-put", "expect": {"error_type": "E"}})
    case = load_event_file(path)
    assert case.payload["Records"][0]["eventName"] == "ObjectCreated:Put"
    assert case.expects_error and case.expect_error_type == "E"


def test_fixtures_are_the_documented_trigger_shapes() -> None:
    names = local_lambda.fixture_names()
    assert names == [
        "apigateway-http-v2",
        "apigateway-rest-v1",
        "direct-invoke",
        "eventbridge-scheduled",
        "function-url",
        "s3-put",
        "sqs",
    ]
    load = local_lambda.load_fixture
    assert {"resource", "httpMethod", "multiValueHeaders", "requestContext"} <= set(
        load("apigateway-rest-v1")
    )
    assert load("apigateway-http-v2")["version"] == "2.0"
    assert load("function-url")["routeKey"] == "$default"
    assert load("function-url")["requestContext"]["domainName"].endswith(".on.aws")
    assert load("s3-put")["Records"][0]["s3"]["object"]["key"]
    for record in load("sqs")["Records"]:
        assert record["eventSource"] == "aws:sqs"
        assert record["md5OfBody"] == hashlib.md5(record["body"].encode()).hexdigest()
    assert load("eventbridge-scheduled")["detail-type"] == "Scheduled Event"
    # The event-file documentation (and `build.py test --help`) lists every fixture.
    assert all(name in (local_lambda.__doc__ or "") for name in names)


def test_events_directory_missing_or_empty_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        local_lambda.load_events(tmp_path / "nope")
    with pytest.raises(UsageError, match=r"no event files \(\*\.json\)"):
        local_lambda.load_events(tmp_path)


def test_cli_rejects_memory_outside_lambdas_range(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--image", "x", "--memory", "64"]) == 2
    assert "Lambda allows 128 to 10240 MB" in capsys.readouterr().err


def test_docker_runtime_refuses_reserved_keys_and_odd_credentials() -> None:
    with pytest.raises(ValueError, match="pass credentials as aws_credentials"):
        DockerRuntime("x", env={"AWS_SECRET_ACCESS_KEY": "s"})
    with pytest.raises(ValueError, match="reserved keys"):
        DockerRuntime("x", env={"AWS_LAMBDA_FUNCTION_NAME": "f"})
    with pytest.raises(ValueError, match="lacks AWS_SECRET_ACCESS_KEY"):
        DockerRuntime("x", aws_credentials={"AWS_ACCESS_KEY_ID": "AKIA"})
    with pytest.raises(ValueError, match="outside Lambda's range"):
        DockerRuntime("x", memory_mb=64)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--snapstart", "--emulator", "aws"], "AWS's RIE has no snap-start mode"),
        (["--prime", "x.json"], "--prime runs an event before the SnapStart snapshot"),
        (["--snapstart", "--prime", "nope.json"], "nope.json: cannot read it"),
    ],
)
def test_cli_snapstart_options_are_checked_before_any_container(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    events = tmp_path / "events"
    events.mkdir()
    (events / "01.json").write_text('{"event": {}, "expect": {"response": null}}')
    # No such image: the check must come first for the message to be this one.
    assert main(["--image", "rlambda-test/no-such-image:0", "--events", str(events), *argv]) == 2
    assert message in capsys.readouterr().err
