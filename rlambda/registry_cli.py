"""registry.py's command line; `add_push_arguments` and `push_options` serve build.py --push."""

import argparse
import datetime
import json
import re
import sys
from pathlib import Path

from rlambda import aws
from rlambda.errors import JobError, UsageError, report
from rlambda.functions import layers
from rlambda.functions.deploy import (
    LOG_FORMATS,
    LOG_LEVELS,
    DeployRequest,
    FunctionSettings,
    check_image_region,
    deploy,
    rollback,
)
from rlambda.functions.front_doors import AUTH_TYPES, UrlSettings
from rlambda.functions.invoke import invoke, show
from rlambda.functions.release import DeployPlan, carry_out
from rlambda.registry import images, policy, transport
from rlambda.registry.auth import ENDPOINT_ENV, authorize, endpoint_override
from rlambda.registry.publish import LAMBDA_ARCH, PushOptions, push_image
from rlambda.registry.repository import MUTABILITIES, RepositorySettings
from rlambda.registry.transport import RetryPolicy
from rlambda.target import tags

_IMAGE_URI = re.compile(r"(?P<host>[^/@]+)/(?P<repo>[a-z0-9._/-]+)@(?P<digest>sha256:[0-9a-f]{64})")

DESCRIPTION = """\
Put an image built by build.py into Amazon ECR, deploy it to a Lambda function, invoke that.

  registry.py push r-lambda:r-4.5.0-debian-x86_64 --region eu-west-1
  registry.py push IMAGE --dated --moving-tags --moving-repository r-lambda-moving
  registry.py push IMAGE --deploy my-function --json
  registry.py deploy --function my-fn --image-uri ACCT.dkr.ecr.REGION.amazonaws.com/r-lambda@… \
      --create-role --alias live --function-url
  registry.py deploy --function my-fn --rollback --alias live
  registry.py invoke --function my-fn --alias live --event recipes/json-api/events/01-total.json
  registry.py publish-layer layers/r-4.5.0-al2023-x86_64.zip --name r-4-5-0 [--arch x86_64]

Tags: content-<hash16> and r-<version>[-<recipe>]-<family>-<arch> always; with --dated also
…-YYYYMMDD; with --moving-tags r-X.Y-…, r-X-…, latest-… (and bare r-X.Y, r-X, latest for the
default variant: no recipe, al2023, x86_64). Fixed tags (content, dated) are never overwritten;
when ECR holds the content tag already, nothing is pushed and only the new tags are added. The
readable tag moves to new content, and moving tags move forward, only where the repository lets
them: a mutable repository, or exclusion filters (README, Tags); in a plain immutable one the
readable tag keeps its first image and --moving-repository names a mutable one for moving tags.

deploy creates the function when it is missing (--role ARN or --create-role) and otherwise
updates its code and the settings given, publishes a version when $LATEST changed, moves --alias
(recording the version it left, for --rollback), and sets up --function-url / --http-api. Every
input is checked before the first write; a second identical deploy makes no write call.

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


def _key_value(value: str) -> tuple[str, str]:
    key, sep, val = value.partition("=")
    if not sep or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", key):
        raise argparse.ArgumentTypeError(f"{value!r}: expected KEY=VALUE (KEY: letters, digits, _)")
    return key, val


def add_deploy_arguments(parser: argparse.ArgumentParser, *, standalone: bool) -> None:
    """The function's settings and front doors: registry.py deploy, and build.py --deploy NAME
    (which takes --memory and --timeout from its --test settings and the image from its push)."""
    group = parser.add_argument_group("deploying to Lambda")
    if standalone:
        group.add_argument("--function", required=True, help="function name")
        group.add_argument(
            "--image-uri",
            help="ACCT.dkr.ecr.REGION.amazonaws.com/REPO@sha256:… (not with --rollback)",
        )
        group.add_argument("--region", help="AWS region (default: AWS_REGION / AWS_DEFAULT_REGION)")
        group.add_argument(
            "--rollback",
            action="store_true",
            help="point --alias back at the version it pointed at before the last deploy",
        )
        group.add_argument("--memory", type=int, metavar="MB", help="memory (new function: 512)")
        group.add_argument("--timeout", type=int, metavar="S", help="timeout (new function: 30)")
        group.add_argument(
            "--smoke-event",
            type=Path,
            metavar="FILE",
            help="invoke this event after deploying; on failure roll the alias back (exit 1)",
        )
        group.add_argument("--json", action="store_true", help="print the result as JSON")
        _add_endpoint(group)
    group.add_argument(
        "--alias", metavar="NAME", help="move this alias to the new version (e.g. live)"
    )
    roles_group = group.add_mutually_exclusive_group()
    roles_group.add_argument("--role", metavar="ARN", help="execution role of a new function")
    roles_group.add_argument(
        "--create-role",
        action="store_true",
        help="make (or reuse) rlambda-FUNCTION: trusted by lambda.amazonaws.com only, basic logs",
    )
    group.add_argument("--ephemeral-storage", type=int, metavar="MB", help="/tmp size (512-10240)")
    group.add_argument(
        "--env", action="append", type=_key_value, metavar="KEY=VALUE",
        help="the function's environment (repeatable; replaces the whole set when given)",
    )  # fmt: skip
    group.add_argument("--description", help="the function's description")
    group.add_argument("--log-format", choices=sorted(LOG_FORMATS), help="Lambda's log format")
    group.add_argument("--log-level", choices=LOG_LEVELS, help="application log level (json only)")
    group.add_argument(
        "--function-url", action="store_true", help="give the function (its alias) a URL"
    )
    group.add_argument(
        "--auth", choices=AUTH_TYPES, default="AWS_IAM", help="function URL auth (default AWS_IAM)"
    )
    group.add_argument("--public", action="store_true", help="required with --auth NONE")
    group.add_argument("--cors-origin", action="append", default=[], metavar="ORIGIN")
    group.add_argument("--cors-method", action="append", default=[], metavar="METHOD")
    group.add_argument("--cors-header", action="append", default=[], metavar="HEADER")
    group.add_argument("--cors-max-age", type=int, metavar="S")
    group.add_argument(
        "--http-api",
        action="store_true",
        help="an API Gateway HTTP API whose default route invokes the function (its alias)",
    )


def deploy_plan(args: argparse.Namespace, function: str, smoke_event: Path | None) -> DeployPlan:
    """The flags as a DeployPlan (the image is filled in later), each checked."""
    settings = FunctionSettings(
        memory_mb=args.memory,
        timeout_s=None if args.timeout is None else int(args.timeout),
        ephemeral_mb=args.ephemeral_storage,
        environment=dict(args.env) if args.env is not None else None,
        description=args.description,
        log_format=LOG_FORMATS[args.log_format] if args.log_format else None,
        log_level=args.log_level,
    )
    settings.check()
    url = None
    cors_given = args.cors_origin or args.cors_method or args.cors_header or args.cors_max_age
    if args.function_url:
        url = UrlSettings(
            args.auth, args.public, tuple(args.cors_origin), tuple(args.cors_method),
            tuple(args.cors_header), args.cors_max_age,
        )  # fmt: skip
        url.check()
    elif args.public or args.auth != "AWS_IAM" or cors_given:
        raise UsageError("--auth, --public and the CORS options go with --function-url")
    request = DeployRequest(function, "", "", args.role, args.create_role, settings, args.alias)
    return DeployPlan(request, url, args.http_api, smoke_event)


def add_build_deploy_arguments(parser: argparse.ArgumentParser) -> None:
    """build.py's --deploy NAME and the deploy options (the image comes from its --push)."""
    parser.add_argument(
        "--deploy",
        metavar="FUNCTION",
        help="after --push: create or update this Lambda function, then invoke the recipe's"
        " first event as a smoke test (a failure rolls --alias back); see 'deploying' below",
    )
    add_deploy_arguments(parser, standalone=False)


def build_deploy_plan(args: argparse.Namespace, events_dir: Path | None) -> DeployPlan | None:
    """build.py --deploy, checked before anything is built: flags, function, role, event."""
    if not args.deploy:
        return None
    if not args.push:
        raise UsageError("--deploy needs --push: Lambda runs images from ECR")
    if events_dir is None:
        raise UsageError("--deploy needs --recipe: a base image has no handler to call")
    events = sorted(events_dir.glob("*.json"))
    if not events:
        raise UsageError(f"--deploy: no event in {events_dir} to smoke-test the function with")
    plan = deploy_plan(args, args.deploy, events[0])
    clients = aws.DeployClients.make(aws.region_or_fail(args.region))
    plan.for_image("", args.arch).check(clients)
    return plan


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
        "--deploy",
        metavar="FUNCTION",
        help="then point this existing Lambda function at the digest and publish a version",
    )
    push.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    add_push_arguments(push)

    deploy_parser = commands.add_parser(
        "deploy", help="create or update a Lambda function from a pushed image digest"
    )
    add_deploy_arguments(deploy_parser, standalone=True)

    layer_parser = commands.add_parser(
        "publish-layer",
        help="publish a layer zip from build.py --layer as a Lambda layer version",
        description="Publish a layer zip written by build.py --layer, for provided.al2023;"
        " prints the layer version's ARN. Everything is checked before the upload.",
    )
    layer_parser.add_argument("zip", type=Path, help="the layer zip (build.py --layer wrote it)")
    layer_parser.add_argument(
        "--name", required=True, help="the layer's name (letters, digits, - and _)"
    )
    layer_parser.add_argument(
        "--arch", help="x86_64 or arm64 (default: the layer's; a different one is refused)"
    )
    layer_parser.add_argument(
        "--license-info",
        metavar="TEXT",
        help="SPDX identifier, URL or text (default: R's and each package's licence)",
    )
    layer_parser.add_argument("--description", help="default: R version, recipe, family, arch")
    layer_parser.add_argument(
        "--s3-bucket", metavar="BUCKET", help="upload through this bucket (needed over 50 MB)"
    )
    layer_parser.add_argument(
        "--any-family",
        action="store_true",
        help="publish a layer built on another family than al2023 anyway (it needs that"
        " family's glibc; provided.al2023 has 2.34)",
    )
    layer_parser.add_argument("--region", help="AWS region (default: AWS_REGION)")
    layer_parser.add_argument("--json", action="store_true", help="print the result as JSON")

    invoke_parser = commands.add_parser("invoke", help="invoke a function once with an event")
    invoke_parser.add_argument("--function", required=True, help="function name")
    invoke_parser.add_argument("--alias", help="the alias (or version) to invoke")
    invoke_parser.add_argument(
        "--event", required=True, type=Path, metavar="FILE",
        help="a JSON payload, or a recipe event file (then its expectation is checked)",
    )  # fmt: skip
    invoke_parser.add_argument("--region", help="AWS region (default: AWS_REGION)")
    invoke_parser.add_argument("--json", action="store_true", help="print the result as JSON")
    return top


def image_architecture(ecr, image_uri: str, region: str, endpoint: str | None) -> str:
    """The Lambda architecture of a pushed image, from its config in the registry."""
    match = _IMAGE_URI.fullmatch(image_uri)
    if match is None:
        raise UsageError(f"--image-uri {image_uri!r}: expected HOST/REPOSITORY@sha256:<64 hex>")
    check_image_region(image_uri, region)
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


def _summary(answer: dict) -> str:
    keys = ("function_arn", "version", "alias", "image_digest", "function_url", "http_api_url")
    return "\n".join(f"{k}: {answer[k]}" for k in keys if answer.get(k))


def run(args: argparse.Namespace) -> tuple[dict, str, int]:
    """(the JSON answer, the plain-text answer, the exit status)."""
    if args.command == "push":
        result = push_image(args.image, push_options(args, args.recipe))
        answer = result.to_json()
        for tag in result.tags:
            print(f"  {result.repository}:{tag} ({result.readable.get(tag, 'fixed')})",
                  file=sys.stderr)  # fmt: skip
        for tag, what in result.moving.items():
            print(
                f"  {result.moving_repository_uri or result.repository}:{tag} ({what})",
                file=sys.stderr,
            )
        if args.deploy:
            clients = aws.DeployClients.make(result.region)
            request = DeployRequest(args.deploy, result.image_uri, result.architecture)
            answer["deploy"] = deploy(clients, request).to_json()
        return answer, result.image_uri, 0
    region = aws.region_or_fail(args.region)
    if args.command == "publish-layer":
        checked = layers.check(
            layers.LayerRequest(
                args.zip,
                args.name,
                arch=args.arch,
                license_info=args.license_info,
                description=args.description,
                s3_bucket=args.s3_bucket,
                any_family=args.any_family,
            )
        )
        s3 = aws.client("s3", region) if args.s3_bucket else None
        answer = layers.publish(aws.client("lambda", region), checked, s3)
        return answer, answer["layer_version_arn"], 0
    clients = aws.DeployClients.make(region)
    if args.command == "invoke":
        invocation = invoke(clients.lam, args.function, args.alias, args.event)
        show(invocation, out=sys.stderr if args.json else sys.stdout)
        return invocation.to_json(), "", 0 if invocation.passed else 1
    if args.rollback:
        if not args.alias:
            raise UsageError("--rollback needs --alias NAME (the alias to move back)")
        if args.image_uri:
            raise UsageError("--rollback takes no --image-uri: it returns to a recorded version")
        done = rollback(clients.lam, args.function, args.alias)
        text = f"{args.function}:{args.alias}: version {done.from_version} -> {done.to_version}"
        return done.to_json(), text, 0
    if not args.image_uri:
        raise UsageError("deploy needs --image-uri (or --rollback --alias NAME)")
    # Checks first, cheapest first: the flags, the image (ECR, its config), the function, the role.
    plan = deploy_plan(args, args.function, args.smoke_event)
    arch = image_architecture(clients.ecr, args.image_uri, region, args.registry_endpoint)
    plan = plan.for_image(args.image_uri, arch)
    plan.check(clients)
    answer, passed = carry_out(clients, plan)
    return answer, _summary(answer), 0 if passed else 1


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    try:
        answer, text, status = run(args)
    except (UsageError, JobError) as e:
        return report(e)
    if args.json:
        print(json.dumps(answer, indent=2, sort_keys=True))
    elif text:
        print(text)
    return status
