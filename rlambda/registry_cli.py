"""registry.py's command line: its parser and what each command does.

The options live beside what they drive: the push options in rlambda.registry.cli, the deploy,
invoke and publish-layer ones in rlambda.functions.cli.
"""

import argparse
import json
import sys

from rlambda import aws
from rlambda.errors import HalfDone, JobError, UsageError, report
from rlambda.functions import layers
from rlambda.functions.cli import (
    add_deploy_arguments,
    add_invoke_arguments,
    add_layer_arguments,
    deploy_plan,
)
from rlambda.functions.deploy import DeployRequest, deploy
from rlambda.functions.image import image_architecture
from rlambda.functions.invoke import invoke, show
from rlambda.functions.release import carry_out
from rlambda.functions.rollback import rollback
from rlambda.registry.cli import add_push_arguments, check_endpoint, push_options
from rlambda.registry.publish import push_image

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
    add_layer_arguments(layer_parser)

    invoke_parser = commands.add_parser("invoke", help="invoke a function once with an event")
    add_invoke_arguments(invoke_parser)
    return top


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
            try:
                clients = aws.DeployClients.make(result.region)
                request = DeployRequest(args.deploy, result.image_uri, result.architecture)
                answer["deploy"] = deploy(clients, request).to_json()
            except (UsageError, JobError) as e:
                pushed = f"pushed {result.image_uri}" if result.pushed else "tagged in ECR"
                raise HalfDone.wrap(e, [pushed], [f"deploying it to {args.deploy}"]) from None
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
    check_endpoint(args.registry_endpoint)
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
        with aws.guard(f"registry.py {args.command}"):
            answer, text, status = run(args)
    except (UsageError, JobError) as e:
        return report(e, as_json=args.json)
    if args.json:
        print(json.dumps(answer, indent=2, sort_keys=True))
    elif text:
        print(text)
    return status
