"""registry.py's pure parts: policy documents, credentials' repr, endpoint parsing, retries."""

import json

import pytest

from rlambda import aws
from rlambda.errors import UsageError
from rlambda.registry import policy
from rlambda.registry.auth import RegistryAuth, parse_endpoint
from rlambda.registry.transport import RetryPolicy


def test_lifecycle_policy_expires_untagged_beyond_n():
    rule = json.loads(policy.lifecycle_policy(7))["rules"][0]
    assert rule["selection"] == {
        "tagStatus": "untagged",
        "countType": "imageCountMoreThan",
        "countNumber": 7,
    }
    assert rule["action"] == {"type": "expire"}


def test_pull_policy_merges_and_keeps_foreign_statements():
    foreign = {"Sid": "Theirs", "Effect": "Allow", "Principal": "*", "Action": "ecr:ListImages"}
    existing = json.dumps({"Version": "2012-10-17", "Statement": [foreign]})
    once = policy.merge_policy(existing, policy.pull_statements(["111122223333"], "eu-west-1"))
    twice = policy.merge_policy(once, policy.pull_statements(["111122223333"], "eu-west-1"))
    assert once == twice  # refreshing replaces ours, never duplicates
    statements = json.loads(twice)["Statement"]
    assert statements[0] == foreign and len(statements) == 3
    service = statements[2]
    assert service["Principal"] == {"Service": "lambda.amazonaws.com"}
    assert service["Condition"]["StringLike"]["aws:sourceARN"] == [
        "arn:aws:lambda:eu-west-1:111122223333:function:*"
    ]
    assert statements[1]["Principal"] == {"AWS": ["arn:aws:iam::111122223333:root"]}


def test_credentials_never_show_in_repr():
    auth = RegistryAuth("127.0.0.1:5000", "http", "AWS", "s3cret-token")
    assert "s3cret-token" not in repr(auth) and "s3cret-token" not in str(auth)
    assert auth.docker() == {"username": "AWS", "password": "s3cret-token"}


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("http://127.0.0.1:5000", ("http", "127.0.0.1:5000")),
        ("https://registry.example:443/", ("https", "registry.example:443")),
    ],
)
def test_endpoint(value, parsed):
    assert parse_endpoint(value) == parsed


@pytest.mark.parametrize("value", ["127.0.0.1:5000", "ftp://host", "http://user:pw@host"])
def test_bad_endpoint(value):
    with pytest.raises(UsageError, match="expected http"):
        parse_endpoint(value)


def test_backoff_is_bounded_and_doubles():
    assert RetryPolicy(4, 1.5).delays() == [1.5, 3.0, 6.0]
    assert RetryPolicy(1, 2.0).delays() == []


def test_aws_calls_retry_throttling_in_standard_mode():
    ecr, lam = aws.clients("us-east-1")
    for client in (ecr, lam):
        retries = client.meta.config.retries
        assert retries["mode"] == "standard"  # retries throttling and transient errors
        assert retries.get("total_max_attempts", retries.get("max_attempts")) >= 8


def test_no_region_is_bad_input(monkeypatch):
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    with pytest.raises(UsageError, match="no AWS region"):
        aws.region_or_fail(None)
