"""registry.py's command line; `add_push_arguments` and `push_options` serve build.py --push."""

import argparse
import datetime
import json
import re
import sys

from rlambda.build import tags
from rlambda.errors import JobError, UsageError, report
from rlambda.registry import aws, images, policy, transport
from rlambda.registry.auth import ENDPOINT_ENV, authorize, endpoint_override
from rlambda.registry.deploy import deploy_function
from rlambda.registry.publish import LAMBDA_ARCH, PushOptions, push_image
from rlambda.registry.repository import MUTABILITIES, RepositorySettings
from rlambda.registry.transport import RetryPolicy

_IMAGE_URI = re.compile(r"(?P<host>[^/@]+)/(?P<repo>[a-z0-9._/-]+)@(?P<digest>sha256:[0-9a-f]{64})")

DESCRIPTION = """\
Put an image built by build.py into Amazon ECR, and optionally point a Lambda function at it.

  registry.py push r-lambda:r-4.5.0-debian-x86_64 --region eu-west-1
  registry.py push IMAGE --dated --moving-tags --moving-repository r-lambda-moving
  registry.py push IMAGE --deploy my-function --json
  registry.py deploy --function my-fn --image-uri ACCT.dkr.ecr.REGION.amazonaws.com/r-lambda@…

Tags: content-<hash16> and r-<version>[-<recipe>]-<family>-<arch> always; with --dated also
…-YYYYMMDD; with --moving-tags r-X.Y-…, r-X-…, latest-… (and bare r-X.Y, r-X, latest for the
default variant: no recipe, al2023, x86_64). Fixed tags are never overwritten; moving tags only
move forward, and only in a repository with mutable tags (--moving-repository names one when the
main repository is immutable, the default).

Credentials come from boto3's usual chain; the ECR token goes to the push call only (never to
~/.docker/config.json, never printed). Exit status: 0 ok, 1 the job failed, 2 bad input.
"""


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
    _add_endpoint(group)


def _add_endpoint(group) -> None:
    group.add_argument(
        "--registry-endpoint",
        metavar="URL",
        help=f"send the image bytes to this registry instead of ECR's endpoint (tests and the"
        f" local demo: http://127.0.0.1:PORT); also ${ENDPOINT_ENV}",
    )


def push_options(args: argparse.Namespace, recipe: str | None = None) -> PushOptions:
    """The push settings, every one checked now: before a build, not after it."""
    if args.push_attempts < 1 or args.retry_delay < 0:
        raise UsageError("--push-attempts must be 1 or more and --retry-delay 0 or more")
    region = aws.region_or_fail(args.region)
    policy.check_accounts(args.allow_account)
    if args.moving_repository == args.repository:
        raise UsageError("--moving-repository must differ from the repository itself")
    date = args.date or (datetime.datetime.now(datetime.UTC).date() if args.dated else None)
    return PushOptions(
        repository=RepositorySettings(
            args.repository,
            args.tag_mutability,
            scan_on_push=not args.no_scan_on_push,
            keep_untagged=args.keep_untagged,
            create=not args.no_create,
        ),
        region=region,
        recipe=recipe,
        date=date,
        moving=args.moving_tags,
        moving_repository=args.moving_repository,
        allow_accounts=tuple(args.allow_account),
        registry_endpoint=args.registry_endpoint,
        retry=RetryPolicy(args.push_attempts, args.retry_delay),
    )


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="registry.py",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = top.add_subparsers(dest="command", required=True)
    push = commands.add_parser("push", help="push a local image to ECR")
    push.add_argument(
        "image", help="local image: name:tag or ID (e.g. r-lambda:r-4.5.0-debian-x86_64)"
    )
    push.add_argument("--recipe", help="recipe name for the tags (default: from the image)")
    push.add_argument(
        "--deploy", metavar="FUNCTION", help="then point this Lambda function at the digest"
    )
    push.add_argument(
        "--publish", action="store_true", help="with --deploy: publish a function version"
    )
    push.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    add_push_arguments(push)

    deploy = commands.add_parser("deploy", help="point a Lambda function at a pushed image digest")
    deploy.add_argument("--function", required=True, help="function name or ARN")
    deploy.add_argument(
        "--image-uri", required=True, help="ACCT.dkr.ecr.REGION.amazonaws.com/REPO@sha256:…"
    )
    deploy.add_argument("--region", help="AWS region (default: AWS_REGION / AWS_DEFAULT_REGION)")
    deploy.add_argument("--publish", action="store_true", help="publish a function version")
    deploy.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    _add_endpoint(deploy)
    return top


def image_architecture(image_uri: str, region: str, endpoint: str | None) -> str:
    """The Lambda architecture of a pushed image, from its config in the registry."""
    match = _IMAGE_URI.fullmatch(image_uri)
    if match is None:
        raise UsageError(f"--image-uri {image_uri!r}: expected HOST/REPOSITORY@sha256:<64 hex>")
    ecr, _ = aws.clients(region)
    repo, digest = match["repo"], match["digest"]
    record = images.find_digest(ecr, repo, digest)
    if record is None:
        raise UsageError(f"ECR has no image {repo}@{digest}: push it first (registry.py push)")
    registry_id = match["host"].split(".")[0]
    auth = authorize(ecr, registry_id, endpoint_override(endpoint))
    config = json.loads(transport.read_blob(auth, repo, record.config_digest, RetryPolicy()))
    arch = LAMBDA_ARCH.get(config.get("architecture", ""))
    if arch is None:
        raise UsageError(
            f"{image_uri} is built for {config.get('architecture')!r}, which Lambda does not run"
        )
    return arch


def run(args: argparse.Namespace) -> dict:
    if args.command == "push":
        result = push_image(args.image, push_options(args, args.recipe))
        answer = result.to_json()
        for tag in result.tags:
            print(f"  {result.repository}:{tag}", file=sys.stderr)
        for tag, what in result.moving.items():
            print(
                f"  {result.moving_repository_uri or result.repository}:{tag} ({what})",
                file=sys.stderr,
            )
        if args.deploy:
            _, lam = aws.clients(result.region)
            answer["deploy"] = deploy_function(
                lam, args.deploy, result.image_uri, result.architecture, publish=args.publish
            ).to_json()
        return answer
    region = aws.region_or_fail(args.region)
    arch = image_architecture(args.image_uri, region, args.registry_endpoint)
    _, lam = aws.clients(region)
    return deploy_function(lam, args.function, args.image_uri, arch, publish=args.publish).to_json()


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    try:
        answer = run(args)
    except (UsageError, JobError) as e:
        return report(e)
    if args.json:
        print(json.dumps(answer, indent=2, sort_keys=True))
    else:
        print(answer["image_uri"])
    return 0
