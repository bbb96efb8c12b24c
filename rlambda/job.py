"""The main job, in order: base image → recipe image → test with its events → push.

Nothing is pushed unless every step before it succeeded: a failing event stops the job.
"""

import json
import sys
from dataclasses import dataclass, replace
from typing import TextIO

from rlambda.build import engine
from rlambda.build.builder import BuildRequest, BuildResult, build_base_image, build_recipe_image
from rlambda.build.versions import Versions
from rlambda.local.events import EventOutcome, format_table, run_events
from rlambda.recipes import load_recipe, recipe_dir
from rlambda.registry import PushOptions, PushResult, push_image

# A base image is tested through this recipe: base R only, its own events.
SMOKE_RECIPE = "hello"


@dataclass(frozen=True)
class TestSettings:
    """The function settings events run with (Lambda's memory size and timeout)."""

    memory_mb: int
    timeout_s: float


def run(
    pins: Versions,
    request: BuildRequest,
    *,
    test: TestSettings | None,
    push: PushOptions | None,
    as_json: bool,
) -> int:
    base = build_base_image(pins, request)
    image = build_recipe_image(pins, request, base) if request.recipe else base
    _report_build(image)

    # With --json, stdout carries only the JSON document: the table goes to stderr.
    table_out = sys.stderr if as_json else sys.stdout
    outcomes = test_image(pins, request, base, image, test, table_out) if test else None
    if outcomes is not None and not all(o.passed for o in outcomes):
        print("failed: an event did not pass; nothing was pushed", file=sys.stderr)
        return 1

    pushed = push_image(f"{image.repository}:{image.tags[1]}", push) if push else None
    if as_json:
        size = engine.connect().images.get(image.image_id).attrs["Size"]
        print(json.dumps(to_json(request, image, size, outcomes, pushed), indent=2))
    else:
        for name in image.tags:
            print(f"{image.repository}:{name}")
        if pushed:
            print(pushed.image_uri)
    return 0


def test_image(
    pins: Versions,
    request: BuildRequest,
    base: BuildResult,
    image: BuildResult,
    settings: TestSettings,
    table_out: TextIO,
) -> list[EventOutcome]:
    """Run the recipe's events against its image; a base image through the smoke recipe."""
    tested = image
    if not request.recipe:
        print(f"==> testing the base image through recipes/{SMOKE_RECIPE}", file=sys.stderr)
        tested = build_recipe_image(pins, replace(request, recipe=SMOKE_RECIPE), base)
    recipe = load_recipe(recipe_dir(request.recipe or SMOKE_RECIPE))
    outcomes = run_events(
        tested.image_id,
        recipe.events_dir,
        memory_mb=settings.memory_mb,
        timeout_s=settings.timeout_s,
    )
    print(format_table(outcomes), file=table_out)
    return outcomes


def _report_build(image: BuildResult) -> None:
    verb = "built" if image.built else "reused"
    print(f"{verb} {image.repository}:{image.tags[0]} ({image.image_id})", file=sys.stderr)


def to_json(
    request: BuildRequest,
    image: BuildResult,
    size_bytes: int,
    outcomes: list[EventOutcome] | None,
    pushed: PushResult | None,
) -> dict[str, object]:
    """One build's result, as CI's job summary (rlambda.ci.matrix summary) reads it."""
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
        "family": request.family,
        "arch": request.arch,
        "recipe": request.recipe,
        "image": f"{image.repository}:{image.tags[0]}",
        "image_id": image.image_id,
        "tags": [f"{image.repository}:{t}" for t in image.tags],
        "built": image.built,
        "size_bytes": size_bytes,
        "test": test,
        "push": pushed.to_json() if pushed else None,
    }
