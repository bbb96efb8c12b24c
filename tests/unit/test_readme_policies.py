"""The README's least-privilege policies for lambdaparallel (caller, worker role, bucket): valid
policy documents that grant what the client and the worker call and nothing more, beside the
trust boundary they answer to."""

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
SECTION = README[README.index("## Running R in parallel on Lambda") :]
SECTION = SECTION[: SECTION.index("\n## ", 1)]
STAGING = "arn:aws:s3:::my-bucket/lambdaparallel/*"


def policies() -> list[dict]:
    return [json.loads(block) for block in re.findall(r"```json\n(.*?)```", SECTION, re.S)]


def actions(policy: dict, effect: str = "Allow") -> dict[str, set[str]]:
    """Action -> the resources it is granted on."""
    granted: dict[str, set[str]] = {}
    for statement in policy["Statement"]:
        assert statement["Effect"] in ("Allow", "Deny")
        if statement["Effect"] != effect:
            continue
        listed = (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
        resources = statement["Resource"]
        for action in listed:
            granted.setdefault(action, set()).update(
                resources if isinstance(resources, list) else [resources]
            )
    return granted


def test_the_trust_boundary_is_stated() -> None:
    text = " ".join(SECTION.split())
    assert "anyone who can invoke the worker function runs arbitrary R as its role" in text
    assert "anyone who can write the staging prefix can inject code" in text


def test_caller_worker_and_bucket_policies_grant_what_the_code_calls() -> None:
    caller, worker, bucket = policies()
    for policy in (caller, worker, bucket):
        assert policy["Version"] == "2012-10-17"
    assert actions(caller) == {
        "lambda:InvokeFunction": {
            "arn:aws:lambda:REGION:ACCOUNT:function:r-worker",
            "arn:aws:lambda:REGION:ACCOUNT:function:r-worker:*",
        },
        "lambda:GetFunctionConfiguration": {"arn:aws:lambda:REGION:ACCOUNT:function:r-worker"},
        "s3:PutObject": {STAGING},
        "s3:GetObject": {STAGING},
        "s3:DeleteObject": {STAGING},
    }
    # The worker reads request parts and writes results (parallel/R/wire.R, worker.R); the
    # caller deletes. It may not invoke anything.
    worker_actions = actions(worker)
    assert {a for a in worker_actions if a.startswith("s3:")} == {"s3:GetObject", "s3:PutObject"}
    assert all(r == {STAGING} for a, r in worker_actions.items() if a.startswith("s3:"))
    assert not [a for a in worker_actions if a.startswith("lambda:")]
    assert {a for a in worker_actions if a.startswith("logs:")} == {
        "logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents",
    }  # fmt: skip
    assert actions(bucket) == {}
    assert actions(bucket, "Deny") == {"s3:PutObject": {STAGING}, "s3:DeleteObject": {STAGING}}


def test_the_client_calls_only_the_s3_operations_the_policies_name() -> None:
    s3 = (ROOT / "parallel" / "R" / "s3.R").read_text()
    methods = set(re.findall(r's3_request\(session, "([A-Z]+)"', s3))
    assert methods == {"GET", "PUT", "DELETE"}  # GetObject, PutObject, DeleteObject
    worker = (ROOT / "parallel" / "R" / "worker.R").read_text()
    assert "s3_delete_object" not in worker
