"""The repository's policy documents, as pure functions (tested without AWS)."""

import json
import re

from rlambda.errors import UsageError

# Sids this project owns in a repository policy: replaced on every push, others left alone.
CROSS_ACCOUNT_SID = "RLambdaCrossAccountPull"
LAMBDA_SERVICE_SID = "RLambdaLambdaServicePull"
_ACCOUNT = re.compile(r"\d{12}")
# What Lambda needs to pull an image (AWS's Lambda developer guide, "cross-account permissions").
PULL_ACTIONS = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]


def lifecycle_policy(keep_untagged: int) -> str:
    """Expire untagged images beyond the newest `keep_untagged` (a moving tag leaves its old
    image untagged; an interrupted push can leave one too). Tagged images are never expired."""
    return json.dumps(
        {
            "rules": [
                {
                    "rulePriority": 1,
                    "description": f"keep the last {keep_untagged} untagged images",
                    "selection": {
                        "tagStatus": "untagged",
                        "countType": "imageCountMoreThan",
                        "countNumber": keep_untagged,
                    },
                    "action": {"type": "expire"},
                }
            ]
        },
        sort_keys=True,
    )


def check_accounts(accounts: list[str]) -> list[str]:
    for account in accounts:
        if not _ACCOUNT.fullmatch(account):
            raise UsageError(f"--allow-account {account!r}: expected a 12-digit AWS account ID")
    return accounts


def pull_statements(accounts: list[str], region: str, partition: str = "aws") -> list[dict]:
    """Let functions in `accounts` pull: the accounts themselves, and the Lambda service on
    their behalf, only for functions of those accounts (the aws:sourceARN condition)."""
    check_accounts(accounts)
    return [
        {
            "Sid": CROSS_ACCOUNT_SID,
            "Effect": "Allow",
            "Principal": {"AWS": [f"arn:{partition}:iam::{a}:root" for a in accounts]},
            "Action": PULL_ACTIONS,
        },
        {
            "Sid": LAMBDA_SERVICE_SID,
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": PULL_ACTIONS,
            "Condition": {
                "StringLike": {
                    "aws:sourceARN": [
                        f"arn:{partition}:lambda:{region}:{a}:function:*" for a in accounts
                    ]
                }
            },
        },
    ]


def merge_policy(existing: str | None, statements: list[dict]) -> str:
    """The existing policy with this project's statements replaced by `statements`."""
    ours = {s["Sid"] for s in statements}
    document = json.loads(existing) if existing else {"Version": "2012-10-17", "Statement": []}
    kept = [s for s in document.get("Statement", []) if s.get("Sid") not in ours]
    document["Statement"] = kept + statements
    return json.dumps(document, sort_keys=True)
