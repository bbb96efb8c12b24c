"""The Lambda side of the command line: the deploy options (registry.py deploy and build.py
--deploy NAME), and the arguments of registry.py invoke and publish-layer."""

import argparse
from pathlib import Path

from rlambda import aws
from rlambda.errors import UsageError
from rlambda.function_env import add_env_arguments, environment
from rlambda.functions.deploy import DeployRequest
from rlambda.functions.front_doors import AUTH_TYPES, UrlSettings, check_auth
from rlambda.functions.release import DeployPlan
from rlambda.functions.settings import LOG_FORMATS, LOG_LEVELS, FunctionSettings
from rlambda.registry.cli import add_endpoint_argument


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
        add_endpoint_argument(group)
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
    if standalone:  # build.py has one --snapstart, for --test and --deploy (add_emulator_arguments)
        group.add_argument(
            "--snapstart",
            action="store_true",
            help="turn on Lambda SnapStart (ApplyOn: PublishedVersions): the version published is"
            " initialised once and snapshotted, environments start from the snapshot; the smoke"
            " test invokes that version. Refused with EFS, ephemeral storage over 512 MB, or in a"
            " Region without SnapStart",
        )
    add_env_arguments(group, replaces=True)
    group.add_argument("--description", help="the function's description")
    group.add_argument("--log-format", choices=sorted(LOG_FORMATS), help="Lambda's log format")
    group.add_argument("--log-level", choices=LOG_LEVELS, help="application log level (json only)")
    group.add_argument(
        "--function-url", action="store_true", help="give the function (its alias) a URL"
    )
    group.add_argument(
        "--auth",
        choices=AUTH_TYPES,
        default="AWS_IAM",
        help="auth of the function URL and the HTTP API's route (default AWS_IAM: callers sign"
        " with SigV4)",
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
        environment=environment(args),
        description=args.description,
        log_format=LOG_FORMATS[args.log_format] if args.log_format else None,
        log_level=args.log_level,
        snapstart=args.snapstart,
    )
    settings.check()
    url = None
    cors_given = args.cors_origin or args.cors_method or args.cors_header or args.cors_max_age
    if not (args.function_url or args.http_api) and (args.public or args.auth != "AWS_IAM"):
        raise UsageError("--auth and --public go with --function-url or --http-api")
    if cors_given and not args.function_url:
        raise UsageError("the CORS options go with --function-url")
    check_auth(args.auth, args.public)
    if args.function_url:
        url = UrlSettings(
            args.auth, args.public, tuple(args.cors_origin), tuple(args.cors_method),
            tuple(args.cors_header), args.cors_max_age,
        )  # fmt: skip
        url.check()
    request = DeployRequest(function, "", "", args.role, args.create_role, settings, args.alias)
    return DeployPlan(request, url, args.http_api, smoke_event, http_api_auth=args.auth)


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
    with aws.guard(f"checking function {args.deploy}"):
        clients = aws.DeployClients.make(aws.region_or_fail(args.region))
        plan.for_image("", args.arch).check(clients)
    return plan


def add_layer_arguments(parser: argparse.ArgumentParser) -> None:
    """registry.py publish-layer ZIP and its options."""
    parser.add_argument("zip", type=Path, help="the layer zip (build.py --layer wrote it)")
    parser.add_argument("--name", required=True, help="the layer's name (letters, digits, - and _)")
    parser.add_argument(
        "--arch", help="x86_64 or arm64 (default: the layer's; a different one is refused)"
    )
    parser.add_argument(
        "--license-info",
        metavar="TEXT",
        help="SPDX identifier, URL or text (default: R's and each package's licence)",
    )
    parser.add_argument("--description", help="default: R version, recipe, family, arch")
    parser.add_argument(
        "--s3-bucket", metavar="BUCKET", help="upload through this bucket (needed over 50 MB)"
    )
    parser.add_argument(
        "--any-family",
        action="store_true",
        help="publish a layer built on another family than al2023 anyway (it needs that"
        " family's glibc; provided.al2023 has 2.34)",
    )
    parser.add_argument("--region", help="AWS region (default: AWS_REGION)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def add_invoke_arguments(parser: argparse.ArgumentParser) -> None:
    """registry.py invoke: a function, an event, and where."""
    parser.add_argument("--function", required=True, help="function name")
    parser.add_argument("--alias", help="the alias (or version) to invoke")
    parser.add_argument(
        "--event", required=True, type=Path, metavar="FILE",
        help="a JSON payload, or a recipe event file (then its expectation is checked)",
    )  # fmt: skip
    parser.add_argument("--region", help="AWS region (default: AWS_REGION)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
