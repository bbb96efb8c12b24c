"""The push options: registry.py push and build.py --push take the same ones, checked alike."""

import argparse
import datetime

from rlambda import aws
from rlambda.errors import UsageError
from rlambda.registry import policy
from rlambda.registry.auth import ENDPOINT_ENV, endpoint_override, parse_endpoint
from rlambda.registry.publish import PushOptions
from rlambda.registry.repository import MUTABILITIES, RepositorySettings, check_settings
from rlambda.registry.transport import RetryPolicy
from rlambda.target import tags


def _date(value: str) -> datetime.date:
    try:
        return datetime.datetime.strptime(value, "%Y%m%d").date()
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r}: expected YYYYMMDD") from None


def add_push_arguments(parser: argparse.ArgumentParser) -> None:
    """The push options, shared by registry.py push and build.py --push (which has --recipe)."""
    group = parser.add_argument_group("pushing to ECR")
    group.add_argument(
        "--repository", default=tags.REPOSITORY, help="ECR repository (default %(default)s)"
    )
    group.add_argument("--region", help="AWS region (default: AWS_REGION / AWS_DEFAULT_REGION)")
    group.add_argument(
        "--dated", action="store_true", help="also tag …-YYYYMMDD (today, UTC): scheduled rebuilds"
    )
    group.add_argument(
        "--date", type=_date, metavar="YYYYMMDD", help="the dated tag's date (implies --dated)"
    )
    group.add_argument(
        "--moving-tags", action="store_true", help="also move r-X.Y, r-X, latest (forward only)"
    )
    group.add_argument(
        "--moving-repository",
        metavar="NAME",
        help="mutable repository for the moving tags when --repository has immutable tags",
    )
    group.add_argument(
        "--tag-mutability",
        default="IMMUTABLE",
        choices=MUTABILITIES,
        help="for a repository this command creates (default %(default)s)",
    )
    group.add_argument("--no-scan-on-push", action="store_true", help="create without scan on push")
    group.add_argument(
        "--keep-untagged",
        type=int,
        default=10,
        metavar="N",
        help="lifecycle policy of a created repository: keep the last N untagged images (0: none)",
    )
    group.add_argument("--no-create", action="store_true", help="fail if the repository is missing")
    group.add_argument(
        "--allow-account",
        action="append",
        default=[],
        metavar="ACCOUNT",
        help="let Lambda functions of this account pull (repository policy); repeatable",
    )
    group.add_argument(
        "--push-attempts", type=int, default=3, metavar="N", help="bounded push retries (default 3)"
    )
    group.add_argument(
        "--retry-delay", type=float, default=2.0, metavar="SECONDS", help="first backoff (doubles)"
    )
    add_endpoint_argument(group)


def add_endpoint_argument(group: argparse._ArgumentGroup) -> None:
    """--registry-endpoint: where a push sends the image bytes and a deploy reads its config."""
    group.add_argument(
        "--registry-endpoint",
        metavar="URL",
        help=f"send the image bytes to this registry instead of ECR's endpoint (tests and the"
        f" local demo: http://127.0.0.1:PORT); also ${ENDPOINT_ENV}",
    )


def check_endpoint(option: str | None) -> str | None:
    """--registry-endpoint, else $RLAMBDA_REGISTRY_ENDPOINT, checked (None: ECR's own)."""
    endpoint = endpoint_override(option)
    if endpoint:
        try:
            parse_endpoint(endpoint)
        except UsageError as e:
            where = "--registry-endpoint" if option else f"${ENDPOINT_ENV}"
            raise UsageError(f"{where}: {e}") from None
    return endpoint


def push_options(args: argparse.Namespace, recipe: str | None = None) -> PushOptions:
    """The push settings, every one checked now: before a build, not after it."""
    if args.push_attempts < 1 or args.retry_delay < 0:
        raise UsageError("--push-attempts must be 1 or more and --retry-delay 0 or more")
    region = aws.region_or_fail(args.region)
    policy.check_accounts(args.allow_account)
    if args.moving_repository == args.repository:
        raise UsageError("--moving-repository must differ from the repository itself")
    settings = check_settings(
        RepositorySettings(
            args.repository,
            args.tag_mutability,
            scan_on_push=not args.no_scan_on_push,
            keep_untagged=args.keep_untagged,
            create=not args.no_create,
        )
    )
    if args.moving_repository is not None:
        try:
            check_settings(RepositorySettings(args.moving_repository, "MUTABLE"))
        except UsageError as e:
            raise UsageError(f"--moving-repository: {e}") from None
    check_endpoint(args.registry_endpoint)
    date = args.date or (datetime.datetime.now(datetime.UTC).date() if args.dated else None)
    return PushOptions(
        repository=settings,
        region=region,
        recipe=recipe,
        date=date,
        moving=args.moving_tags,
        moving_repository=args.moving_repository,
        allow_accounts=tuple(args.allow_account),
        registry_endpoint=args.registry_endpoint,
        retry=RetryPolicy(args.push_attempts, args.retry_delay),
    )
