"""The main job, in order: base image → recipe image → test with its events → push → deploy.

It takes a `Job`: a resolved Target (rlambda.target) and what to do with its image, so every
input was checked before it starts. Nothing is pushed unless every step before it succeeded: a
failing event stops the job. A deploy is smoke-tested with the recipe's first event; a failure
rolls its alias back. With --push, ECR is asked first whether it holds the content tag of these
inputs: then the job only adds the new tags (a scheduled rebuild with unchanged pins builds
nothing).
"""

import json
import sys
from dataclasses import dataclass
from typing import TextIO

from docker import DockerClient
from rlambda import aws
from rlambda.build import engine, sbom
from rlambda.build.builder import (
    BuildResult,
    Prepared,
    build_prepared,
    build_recipe_image,
    prepare_base,
    prepare_recipe,
)
from rlambda.build.function_code import function_files
from rlambda.build.layer import Layer, LayerOptions, build_layers
from rlambda.errors import HalfDone, JobError, UsageError
from rlambda.functions.release import DeployPlan, carry_out
from rlambda.local.events.judge import EventOutcome
from rlambda.local.events.run import run_events
from rlambda.local.events.settings import TestSettings
from rlambda.local.events.table import format_table
from rlambda.local.zip_function import run_zip_events
from rlambda.registry import ImageFacts, PushOptions, PushResult, publish, pushed_digest
from rlambda.sources.fetch import cache_dir
from rlambda.target import SMOKE_RECIPE, RecipeTarget, Target, recipe_target
from rlambda.target.tags import REPOSITORY, content_tag


@dataclass(frozen=True)
class Job:
    """A resolved Target and what to do with its image: test it with `test`'s settings
    (through `test_recipe`: the recipe itself, or for a base image the smoke recipe), push it."""

    target: Target
    test: TestSettings | None = None
    test_recipe: RecipeTarget | None = None
    push: PushOptions | None = None


def plan(target: Target, *, test: TestSettings | None, push: PushOptions | None) -> Job:
    """The job for `target`; the smoke recipe's lock is checked here, before anything runs."""
    tested = None
    if test is not None:
        tested = target.recipe or recipe_target(SMOKE_RECIPE, target.r)
        events = tested.recipe.events_dir
        if not events.is_dir():
            # A project directory may have no events yet: say so before building, not after.
            raise UsageError(f"--test runs the event files in {events}: it does not exist")
    return Job(target, test, tested, push)


def run(
    job: Job,
    *,
    as_json: bool,
    deploy: DeployPlan | None = None,
    layer: LayerOptions | None = None,
) -> int:
    target = job.target
    client = engine.connect()
    # An arm64 build on an x86_64 engine needs QEMU: said before anything is downloaded.
    engine.check_runs(client, target.platform)
    base_inputs = prepare_base(target, client)
    inputs = prepare_recipe(target, base_inputs.content_hash) if target.recipe else base_inputs
    if job.push is not None and not target.no_cache:
        with aws.guard("asking ECR for the content tag"):
            digest = pushed_digest(job.push, inputs.content_hash)
        if digest is not None:
            return _tag_pushed(job, inputs, digest, as_json=as_json, deploy=deploy)

    base = build_prepared(client, base_inputs, target)
    # The one way a recipe image is built (tests and benches too): its packages on the base's
    # r-only stage, so a new runtime client compiles no package again.
    image = build_recipe_image(target, base, client, inputs) if target.recipe else base
    _report_build(image)

    # With --json, stdout carries only the JSON document: the table goes to stderr.
    table_out = sys.stderr if as_json else sys.stdout
    outcomes = test_image(job, base, image, client, table_out) if job.test else None
    if outcomes is not None and not all(o.passed for o in outcomes):
        print("failed: an event did not pass; nothing was pushed", file=sys.stderr)
        return 1
    layers = build_layers(target, image.image_id, layer, client) if layer else []
    if layers and job.test and not all(o.passed for o in test_layers(job, layers, table_out)):
        print("failed: an event did not pass on the layer; nothing was pushed", file=sys.stderr)
        return 1

    pushed = None
    if job.push is not None:
        facts = image_facts(target, image.image_id, image.content_hash)
        with aws.guard("pushing to ECR"):
            pushed = publish(facts, job.push, client=client)
    deployed, passed = _deploy(deploy, pushed)
    if as_json:
        size = client.images.get(image.image_id).attrs["Size"]
        # The SBOM beside the build log; a reused image's is copied out of the image.
        sbom_file = image.sbom_path or sbom.export(
            client, image.image_id, cache_dir() / "logs" / f"{image.readable_tag}.cdx.json"
        )
        document = to_json(target, image, size, outcomes, pushed)
        document["deploy"] = deployed
        document["layers"] = [
            {
                "path": str(x.path),
                "kind": x.kind,
                "sha256": x.sha256,
                "unzipped_bytes": x.unzipped_bytes,
            }
            for x in layers
        ]
        document["sbom"] = str(sbom_file)
        document["log"] = str(image.log_path) if image.log_path else None  # None: reused
        print(json.dumps(document, indent=2))
    else:
        for name in image.tags:
            print(f"{image.repository}:{name}")
        _print_pushed(pushed, deployed)
        for built in layers:
            print(built.path)
    return _deploy_status(passed)


def image_facts(target: Target, image_id: str | None, content_hash: str) -> ImageFacts:
    """What the push's tags are computed from: the target's own facts, never read back from
    the image's labels (that is only for `registry.py push IMAGE`, which has no build)."""
    recipe = target.recipe.name if target.recipe else None
    return ImageFacts(
        image_id, target.r.version, target.family.name, target.arch, recipe, content_hash,
        target.r.sha256,
    )  # fmt: skip


def _tag_pushed(
    job: Job, inputs: Prepared, digest: str, *, as_json: bool, deploy: DeployPlan | None
) -> int:
    """ECR holds the content tag: these inputs were built, tested and pushed by an earlier run
    (a scheduled rebuild with unchanged pins). Nothing is built, tested or pushed again; only
    the new tags (the dated one) are added to the manifest ECR has."""
    target = job.target
    assert job.push is not None
    print(
        f"==> ECR holds {content_tag(inputs.content_hash)} ({digest}): these inputs were built,"
        " tested and pushed before; skipping the build, the test and the push",
        file=sys.stderr,
    )
    facts = image_facts(target, None, inputs.content_hash)
    with aws.guard("tagging in ECR"):
        pushed = publish(facts, job.push)
    deployed, passed = _deploy(deploy, pushed)
    if as_json:
        document = {
            "r_version": target.r.version,
            "family": target.family.name,
            "arch": target.arch,
            "recipe": facts.recipe,
            "image": f"{REPOSITORY}:{inputs.readable}",
            "image_id": None,  # not built here
            "tags": [],
            "built": False,
            "size_bytes": None,
            "test": None,
            "push": pushed.to_json(),
            "deploy": deployed,
            "sbom": None,  # the image was not built here: its SBOM is in the image (sbom.export)
        }
        print(json.dumps(document, indent=2))
    else:
        _print_pushed(pushed, deployed)
    return _deploy_status(passed)


def _deploy(deploy: DeployPlan | None, pushed: PushResult | None) -> tuple[dict | None, bool]:
    if deploy is None or pushed is None:
        return None, True
    plan = deploy.for_image(pushed.image_uri, pushed.architecture)
    try:
        with aws.guard(f"deploying {plan.request.function}"):
            return carry_out(aws.DeployClients.make(pushed.region), plan)
    except (UsageError, JobError) as e:
        # The image is in ECR whatever happened to the function: say so.
        done = f"pushed {pushed.image_uri}" if pushed.pushed else f"tagged {pushed.image_uri}"
        raise HalfDone.wrap(e, [done], [f"deploying it to {plan.request.function}"]) from None


def _print_pushed(pushed: PushResult | None, deployed: dict | None) -> None:
    if pushed:
        print(pushed.image_uri)
    for key in ("function_arn", "version", "alias", "function_url", "http_api_url"):
        if deployed and deployed.get(key):
            print(f"{key}: {deployed[key]}")


def _deploy_status(passed: bool) -> int:
    if not passed:
        print("failed: the deployed function failed its smoke test", file=sys.stderr)
        return 1
    return 0


def test_image(
    job: Job,
    base: BuildResult,
    image: BuildResult,
    client: DockerClient,
    table_out: TextIO,
) -> list[EventOutcome]:
    """Run the recipe's events against its image; a base image through the smoke recipe."""
    target, settings, tested_recipe = job.target, job.test, job.test_recipe
    assert settings is not None and tested_recipe is not None
    tested = image
    if not target.recipe:
        print(f"==> testing the base image through recipes/{tested_recipe.name}", file=sys.stderr)
        tested = build_recipe_image(target.with_recipe(tested_recipe), base, client)
    outcomes = run_events(
        tested.image_id,
        tested_recipe.recipe.events_dir,
        memory_mb=settings.memory_mb,
        timeout_s=settings.timeout_s,
        client=client,
        emulator=settings.emulator,
        max_concurrency=settings.max_concurrency,
        output=sys.stderr if settings.snapstart else None,  # init, restore, first invoke
        snapstart=settings.snapstart,
    )
    print(format_table(outcomes), file=table_out)
    return outcomes


def test_layers(job: Job, layers: list[Layer], table_out: TextIO) -> list[EventOutcome]:
    """The same events as a zip function: the layers at /opt on the family's bare base."""
    target, settings = job.target, job.test
    assert settings is not None and job.test_recipe is not None
    recipe = job.test_recipe.recipe
    print(f"==> testing the layers as a zip function on {target.base_ref}", file=sys.stderr)
    code = {name.removeprefix("function/"): path for name, path in function_files(recipe).items()}
    outcomes = run_zip_events(
        target.base_ref,
        [x.path for x in layers],
        code,
        recipe.events_dir,
        recipe.handler,
        memory_mb=settings.memory_mb,
        timeout_s=settings.timeout_s,
    )
    print(format_table(outcomes), file=table_out)
    return outcomes


def _report_build(image: BuildResult) -> None:
    verb = "built" if image.built else "reused"
    print(f"{verb} {image.repository}:{image.readable_tag} ({image.image_id})", file=sys.stderr)


def to_json(
    target: Target,
    image: BuildResult,
    size_bytes: int,
    outcomes: list[EventOutcome] | None,
    pushed: PushResult | None,
) -> dict[str, object]:
    """One build's result, as CI's job summary (rlambda.ci.summary) reads it."""
    test = None
    if outcomes is not None:
        test = {
            "passed": all(o.passed for o in outcomes),
            "events": [  # the first is the cold start
                {
                    "name": o.name,
                    "passed": o.passed,
                    "duration_ms": o.duration_ms,
                    "init_ms": o.init_ms,
                    "max_memory_mb": o.max_memory_mb,
                }
                for o in outcomes
            ],
        }
    return {
        "r_version": image.r_version,
        "family": target.family.name,
        "arch": target.arch,
        "recipe": target.recipe.name if target.recipe else None,
        "image": f"{image.repository}:{image.readable_tag}",
        "image_id": image.image_id,
        "tags": [f"{image.repository}:{t}" for t in image.tags],
        "built": image.built,
        "size_bytes": size_bytes,
        "test": test,
        "push": pushed.to_json() if pushed else None,
    }
