"""Recipe images end to end on the local stand-ins: built FROM the base image without touching
its layers, locked packages installed from verified tarballs, and the recipe's events passing
when run as Lambda runs the image."""

import io
import json
import shutil
from pathlib import Path

import pytest

import build
from rlambda import job
from rlambda.build import builder, engine, render
from rlambda.build.builder import build_recipe_image
from rlambda.ci import summary
from rlambda.local.events.run import run_events
from rlambda.recipes import load_recipe, recipe
from rlambda.recipes import recipe_dir as find_recipe
from rlambda.target.tags import REPOSITORY

from ..conftest import DEBIAN_BASE, LOCAL_R_VERSIONS, local_target

pytestmark = pytest.mark.docker

RECIPES = ["hello", "json-api", "xml-extract", "s3-summary", "worker", "plumber-api"]


# Who plays Lambda: our emulator, AWS's RIE, and RIE's managed-instances mode (each event
# sent twice at once: the runtime's two forked workers take one each).
EMULATORS = [
    pytest.param("ours", None, id="ours"),
    pytest.param("aws", None, id="aws-rie"),
    pytest.param("aws", 2, id="aws-rie-mi"),
]


@pytest.mark.parametrize("r_version", LOCAL_R_VERSIONS)
@pytest.mark.parametrize(("emulator", "max_concurrency"), EMULATORS)
@pytest.mark.parametrize("name", RECIPES)
def test_recipe_builds_and_its_events_pass(
    name, emulator, max_concurrency, r_version, local_pins, local_mirror, r_image_of, docker_client
):
    r_image = r_image_of(r_version)
    image = build_recipe_image(
        local_target(local_pins, local_mirror, name, r_version), r_image, docker_client
    )
    outcomes = run_events(
        image.image_id,
        load_recipe(find_recipe(name)).events_dir,
        timeout_s=60,
        emulator=emulator,
        max_concurrency=max_concurrency,
    )
    assert outcomes and all(o.passed for o in outcomes), [(o.name, o.got) for o in outcomes]

    # The recipe only adds layers: every layer of the base R image is shared, unchanged.
    base_layers = docker_client.images.get(r_image.image_id).attrs["RootFS"]["Layers"]
    layers = docker_client.images.get(image.image_id).attrs["RootFS"]["Layers"]
    assert layers[: len(base_layers)] == base_layers
    labels = docker_client.images.get(image.image_id).labels
    assert labels["io.rlambda.recipe"] == name
    assert image.readable_tag == f"r-{r_version}-{name}-debian-x86_64"
    assert image.content_tag.startswith("content-")


def test_a_new_runtime_client_compiles_no_package(
    local_pins, local_mirror, r_image, docker_client, monkeypatch, tmp_path, capsys
):
    """`build.py --recipe`, the command a user types: a recipe's packages compile on the base's
    r-only stage (R without the runtime client), so after a change to the runtime client alone
    the base is rebuilt, the packages come from Docker's layer cache, and the recipe on the new
    base still answers its events."""
    argv = [
        *("--r", "4.5.0", "--family", "debian", "--base-image", DEBIAN_BASE),
        *("--cran-mirror", local_mirror, "--versions-file", str(local_pins.path)),
        *("--recipe", "xml-extract", "--json"),
    ]
    assert build.main(argv) == 0
    before = json.loads(capsys.readouterr().out)

    probe = tmp_path / "zz-probe.R"
    probe.write_text("# a runtime client change that changes no behaviour\n")
    real = builder.project_files

    def with_probe(include_runtime: bool = True) -> dict[str, Path]:
        extra = {"runtime/R/zz-probe.R": probe} if include_runtime else {}
        return {**real(include_runtime), **extra}

    monkeypatch.setattr(builder, "project_files", with_probe)
    after = None
    try:
        assert build.main([*argv, "--test"]) == 0
        after = json.loads(capsys.readouterr().out)
        assert after["built"] and after["image_id"] != before["image_id"]
        assert after["test"]["passed"], after["test"]
        log = Path(after["log"]).read_text()
        install = log[log.index("R CMD INSTALL") :].split("\nStep ", 1)[0]
        assert "Using cache" in install, install
    finally:
        # The readable tags go back to the session's images; the probe's images are dropped.
        new_base = docker_client.images.get(f"{REPOSITORY}:{r_image.readable_tag}")
        engine.tag(docker_client, r_image.image_id, REPOSITORY, [r_image.readable_tag])
        engine.tag(docker_client, before["image_id"], REPOSITORY, [before["image"].split(":")[1]])
        dropped = []
        if new_base.id != r_image.image_id:
            dropped = [t for t in new_base.tags if ":content-" in t]
            dropped += [f"{t}-{builder.R_ONLY_STAGE}" for t in dropped]
        dropped += [t for t in (after or {}).get("tags", []) if ":content-" in t]
        for tag in dropped:
            docker_client.images.remove(tag)


def test_compiled_package_gets_its_runtime_library(
    local_pins, local_mirror, r_image, docker_client
):
    """xml2 links libxml2: the runtime stage must have installed it (found by ldd)."""
    image = build_recipe_image(
        local_target(local_pins, local_mirror, "xml-extract"), r_image, docker_client
    )
    out = docker_client.containers.run(
        image.image_id,
        entrypoint=[
            "sh",
            "-c",
            "dpkg-query -W -f '${Package}\\n' 'libxml2*'; ls /var/lang/lib/R/site-library",
        ],
        remove=True,
    ).decode()
    assert "libxml2" in out.split()
    assert {"xml2", "cli", "rlang"} <= set(out.split())
    assert "libxml2-dev" not in out.split()  # headers stay in the builder


@pytest.fixture
def recipes_copy(tmp_path, monkeypatch):
    """A private copy of recipes/, so a test can change one."""
    copy = tmp_path / "recipes"
    shutil.copytree(recipe.RECIPES_DIR, copy)
    monkeypatch.setattr(recipe, "RECIPES_DIR", copy)
    return copy


def test_failing_event_fails_the_job_and_nothing_is_pushed(
    recipes_copy,
    local_pins,
    local_mirror,
    r_image,
    monkeypatch,
    capsys,
    aws,
):
    # aws: moto's ECR, which --push asks first (it holds nothing: the image is built).
    event = recipes_copy / "hello" / "events" / "zz-wrong.json"
    event.write_text('{"event": {}, "expect": {"response": "not what hello says"}}')

    def no_push(*args, **kwargs):
        raise AssertionError("nothing may be pushed after a failed test")

    monkeypatch.setattr(job, "publish", no_push)
    status = build.main(
        [
            *("--r", "4.5.0", "--family", "debian", "--base-image", DEBIAN_BASE),
            *("--cran-mirror", local_mirror, "--versions-file", str(local_pins.path)),
            *("--recipe", "hello", "--test", "--push"),
        ]
    )
    out = capsys.readouterr()
    assert status == 1
    assert "zz-wrong.json" in out.out and "FAIL" in out.out
    assert "nothing was pushed" in out.err


def test_lock_cli_keeps_a_current_lock(recipes_copy, local_mirror, capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(render, "IMAGES_DIR", tmp_path / "images")
    before = (recipes_copy / "json-api" / "lock.toml").read_text()
    assert build.main(["lock", "json-api", "--cran-mirror", local_mirror]) == 0
    assert (recipes_copy / "json-api" / "lock.toml").read_text() == before


@pytest.mark.parametrize("emulator", ["ours", "aws"])
def test_json_result_feeds_the_ci_summary(emulator, local_pins, local_mirror, r_image, capsys):
    status = build.main(
        [
            *("--r", "4.5.0", "--family", "debian", "--base-image", DEBIAN_BASE),
            *("--cran-mirror", local_mirror, "--versions-file", str(local_pins.path)),
            *("--recipe", "hello", "--test", "--json", "--emulator", emulator),
        ]
    )
    out = capsys.readouterr().out
    assert status == 0
    result = json.loads(out)  # stdout carries only the JSON
    assert result["recipe"] == "hello" and result["test"]["passed"] is True
    assert result["test"]["events"][0]["init_ms"] > 0  # the first event is the cold start
    assert result["size_bytes"] > 0
    table = summary.summary_markdown([("result.json", result)])
    assert "`r-4.5.0-hello-debian-x86_64`" in table and "PASS (3/3 events)" in table


def one_event(tmp_path, name: str, body: dict) -> Path:
    folder = tmp_path / f"events-{name}"
    folder.mkdir()
    (folder / f"{name}.json").write_text(json.dumps(body))
    return folder


def test_plumber_route_error_is_logged_not_sent_unless_debugging(
    local_pins, local_mirror, r_image, tmp_path, docker_client
):
    image = build_recipe_image(
        local_target(local_pins, local_mirror, "plumber-api"), r_image, docker_client
    )
    events = load_recipe(find_recipe("plumber-api")).events_dir
    case = json.loads((events / "07-route-error.json").read_text())
    log = io.StringIO()
    [outcome] = run_events(image.image_id, one_event(tmp_path, "quiet", case), output=log)
    assert outcome.passed, outcome.got  # the 500 without the message
    assert "the database is on fire" in log.getvalue()
    [outcome] = run_events(
        image.image_id,
        one_event(tmp_path, "debug", case),
        env={"RLAMBDA_PLUMBER_DEBUG": "true"},
    )
    assert not outcome.passed and "the database is on fire" in outcome.got
    assert "500" in outcome.got


def test_plumber_file_with_a_syntax_error_fails_init_with_rs_message(
    recipes_copy, local_pins, local_mirror, r_image, tmp_path, docker_client
):
    plumber = local_target(local_pins, local_mirror, "plumber-api")
    good = build_recipe_image(plumber, r_image, docker_client)
    api = recipes_copy / "plumber-api" / "plumber.R"
    text = api.read_text() + "\n#* @get /broken\nfunction( {\n"
    api.write_text(text)
    broken_line = text.count("\n")  # the last line, where R's parser stops
    try:
        image = build_recipe_image(
            local_target(local_pins, local_mirror, "plumber-api"), r_image, docker_client
        )
        case = {"fixture": "function-url", "expect": {"error_type": "Runtime.UserCodeSyntaxError"}}
        [outcome] = run_events(image.image_id, one_event(tmp_path, "syntax", case))
    finally:
        # The broken build took the recipe's readable tag: give it back to the real recipe.
        docker_client.images.get(good.image_id).tag(good.repository, good.readable_tag)
    assert outcome.passed, outcome.got
    assert "unexpected" in outcome.got and f"plumber.R:{broken_line}:" in outcome.got


def test_snapstart_primed_restore_serves_every_event_and_a_failing_priming_fails_init(
    local_pins, local_mirror, r_image, tmp_path, docker_client
):
    # plumber-api under our emulator playing SnapStart: init, priming with the recipe's first
    # event, restore, then all its events, as `build.py test --snapstart --prime` runs them.
    image = build_recipe_image(
        local_target(local_pins, local_mirror, "plumber-api"), r_image, docker_client
    )
    events = load_recipe(find_recipe("plumber-api")).events_dir
    hello = events / "01-hello-function-url.json"
    log = io.StringIO()
    outcomes = run_events(image.image_id, events, output=log, snapstart=True, prime=hello)
    assert all(o.passed for o in outcomes), [(o.name, o.got) for o in outcomes]
    assert outcomes[0].restore_ms is not None and outcomes[0].init_ms is not None
    assert "SnapStart (the last restored environment): init" in log.getvalue()

    # A route that fails (HTTP 500) as the priming event: init fails with what happened.
    [outcome] = run_events(
        image.image_id,
        one_event(tmp_path, "hello", json.loads(hello.read_text())),
        snapstart=True,
        prime=events / "07-route-error.json",
    )  # fmt: skip
    assert not outcome.passed
    assert outcome.got.startswith(
        "Runtime.PrimingError: priming event /var/rlambda/prime-event.json:"
    )
    assert "the handler answered HTTP 500" in outcome.got
