"""Make sure the ECR repository exists, with the settings this project relies on."""

import re
import sys
from dataclasses import dataclass, field

import botocore.exceptions

from rlambda import aws
from rlambda.errors import JobError, UsageError
from rlambda.registry import policy

MUTABILITIES = ("IMMUTABLE", "MUTABLE")
_COMPONENT = r"[a-z0-9]+(?:[._-][a-z0-9]+)*"
_REPOSITORY_NAME = re.compile(rf"(?:{_COMPONENT}/)*{_COMPONENT}")


@dataclass(frozen=True)
class RepositorySettings:
    """How a repository is created when missing. An existing one is used as it is: its own
    tag mutability decides which tags may go there (see publish.py)."""

    name: str
    tag_mutability: str = "IMMUTABLE"
    scan_on_push: bool = True
    keep_untagged: int = 10  # lifecycle policy; 0: none
    create: bool = True


@dataclass(frozen=True)
class Repository:
    name: str
    uri: str  # <account>.dkr.ecr.<region>.amazonaws.com/<name>
    registry_id: str
    mutability: str  # one of ECR's four: MUTABLE, IMMUTABLE, and either _WITH_EXCLUSION
    exclusions: tuple[str, ...] = field(default=())  # the exclusion filters' wildcards

    @property
    def mutable(self) -> bool:
        return self.mutability == "MUTABLE"

    def can_move(self, tag: str) -> bool:
        """Whether ECR lets `tag` be overwritten in this repository.

        ECR's exclusion filters (type WILDCARD, `*` the only wildcard) invert the repository's
        setting for the tags they match: IMMUTABLE_WITH_EXCLUSION lets matching tags move,
        MUTABLE_WITH_EXCLUSION pins them. https://docs.aws.amazon.com/AmazonECR/latest/
        APIReference/API_ImageTagMutabilityExclusionFilter.html
        """
        matched = any(_wildcard(f).fullmatch(tag) for f in self.exclusions)
        if self.mutability.startswith("IMMUTABLE"):
            return self.mutability == "IMMUTABLE_WITH_EXCLUSION" and matched
        return not (self.mutability == "MUTABLE_WITH_EXCLUSION" and matched)


def _wildcard(pattern: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")))


def check_settings(settings: RepositorySettings) -> RepositorySettings:
    if settings.tag_mutability not in MUTABILITIES:
        raise UsageError(
            f"--tag-mutability {settings.tag_mutability!r}: choose one of {', '.join(MUTABILITIES)}"
        )
    if settings.keep_untagged < 0:
        raise UsageError("--keep-untagged must be 0 (no lifecycle policy) or more")
    # ECR's rule for repository names (CreateRepository's repositoryName pattern, 2-256 long).
    name = settings.name
    if not 2 <= len(name) <= 256 or not _REPOSITORY_NAME.fullmatch(name):
        raise UsageError(
            f"repository name {name!r}: use lower-case letters and digits, separated by single"
            " '.', '_', '-' or '/' (e.g. r-lambda, team/r-lambda)"
        )
    return settings


def _from_description(d: dict) -> Repository:
    filters = d.get("imageTagMutabilityExclusionFilters") or []
    return Repository(
        d["repositoryName"],
        d["repositoryUri"],
        d["registryId"],
        d.get("imageTagMutability", "MUTABLE"),
        tuple(f["filter"] for f in filters if f.get("filterType") == "WILDCARD"),
    )


def find_repository(ecr, name: str) -> Repository | None:
    try:
        found = ecr.describe_repositories(repositoryNames=[name])["repositories"]
        return _from_description(found[0])
    except botocore.exceptions.ClientError as e:
        if aws.code(e) != "RepositoryNotFoundException":
            raise aws.explain(e, f"looking up repository {name}") from None
    except botocore.exceptions.BotoCoreError as e:
        raise aws.explain(e, f"looking up repository {name}") from None
    return None


def ensure_repository(ecr, settings: RepositorySettings) -> Repository:
    check_settings(settings)
    if (found := find_repository(ecr, settings.name)) is not None:
        return found

    if not settings.create:
        raise UsageError(
            f"ECR repository {settings.name} does not exist; create it, or drop --no-create"
            " to let this command create it"
        )
    try:
        created = ecr.create_repository(
            repositoryName=settings.name,
            imageTagMutability=settings.tag_mutability,
            imageScanningConfiguration={"scanOnPush": settings.scan_on_push},
            tags=[{"Key": "managed-by", "Value": "rlambda"}],
        )["repository"]
    except botocore.exceptions.ClientError as e:
        # Another job (a parallel matrix entry) created it since we looked: use theirs.
        raced = aws.code(e) == "RepositoryAlreadyExistsException"
        if raced and (found := find_repository(ecr, settings.name)) is not None:
            return found
        if aws.denied(e):
            raise JobError(
                f"ECR repository {settings.name} does not exist and these credentials may not"
                " create it (ecr:CreateRepository denied). Ask an administrator to create it"
                f" (tag mutability {settings.tag_mutability}, scan on push), or grant"
                " ecr:CreateRepository and ecr:PutLifecyclePolicy."
            ) from None
        raise aws.explain(e, f"creating repository {settings.name}") from None
    print(
        f"==> created ECR repository {settings.name} ({settings.tag_mutability},"
        f" scan on push: {settings.scan_on_push})",
        file=sys.stderr,
    )
    if settings.keep_untagged:
        try:
            ecr.put_lifecycle_policy(
                repositoryName=settings.name,
                lifecyclePolicyText=policy.lifecycle_policy(settings.keep_untagged),
            )
        except botocore.exceptions.ClientError as e:
            raise aws.explain(e, f"setting the lifecycle policy of {settings.name}") from None
    return _from_description(created)


def allow_cross_account_pulls(
    ecr, repository: Repository, accounts: list[str], region: str
) -> None:
    """Add (or refresh) the statements letting Lambda in `accounts` pull from the repository."""
    try:
        try:
            existing = ecr.get_repository_policy(repositoryName=repository.name)["policyText"]
        except botocore.exceptions.ClientError as e:
            if aws.code(e) != "RepositoryPolicyNotFoundException":
                raise
            existing = None
        document = policy.merge_policy(existing, policy.pull_statements(accounts, region))
        ecr.set_repository_policy(repositoryName=repository.name, policyText=document)
    except botocore.exceptions.ClientError as e:
        raise aws.explain(e, f"setting the repository policy of {repository.name}") from None
