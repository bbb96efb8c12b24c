"""The default family, al2023, built end to end on the al2023-shaped stand-in (rlambda/local/
standin.py): the al2023-rendered Dockerfiles, unchanged, on a base with provided:al2023's
layout, environment, entry point and missing packages. What it cannot show: Amazon Linux's
real package names, versions and glibc 2.34 (it is Debian underneath)."""

import json
import re
import shutil

import pytest

from rlambda.build.builder import BuildResult, build_base_image, build_recipe_image
from rlambda.local.events.files import load_events
from rlambda.local.events.run import run_events
from rlambda.local.standin import build_standin
from rlambda.recipes import load_recipe, recipe_dir
from rlambda.sources.fetch import cache_dir
from rlambda.target import Target, resolve

from ..conftest import check_locale_and_time_zone, run
from ..helpers import invoke_rie, run_build, started_as_lambda_base

pytestmark = pytest.mark.docker


@pytest.fixture(scope="session")
def al2023_standin(debian_base: str) -> str:
    return build_standin(debian_base)


def test_standin_is_shaped_like_provided_al2023(al2023_standin, docker_client):
    script = (
        "test -f /etc/debian_version && echo debian_version; test -d /usr/lib64 && echo lib64;"
        " for c in which find xargs tar gzip; do command -v $c >/dev/null && echo has-$c; done;"
        " test -e /usr/share/zoneinfo/UTC && echo tzdata;"
        " locale -a 2>/dev/null | tr '\\n' ' '; echo"
    )
    out = run(docker_client, al2023_standin, ["sh", "-c", script])
    assert out.split() == ["lib64", "C", "C.utf8", "POSIX"]
    config = docker_client.images.get(al2023_standin).attrs["Config"]
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env["LANG"] == "en_US.UTF-8"
    assert env["TZ"] == ":/etc/localtime"
    assert env["PATH"] == "/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin"
    assert env["LD_LIBRARY_PATH"].startswith("/var/lang/lib:/lib64:/usr/lib64:/var/runtime:")
    assert env["LAMBDA_TASK_ROOT"] == "/var/task"
    assert env["LAMBDA_RUNTIME_DIR"] == "/var/runtime"
    assert config["WorkingDir"] == "/var/task"
    assert config["Entrypoint"] == ["/lambda-entrypoint.sh"]


def test_entrypoint_takes_exactly_one_argument(al2023_standin, docker_client):
    container = docker_client.containers.run(al2023_standin, detach=True)
    try:
        assert container.wait(timeout=30)["StatusCode"] == 142
        assert b"requires the handler name" in container.logs()
    finally:
        container.remove(force=True)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        # A Debian name where an al2023 one belongs is refused, as microdnf refuses it.
        (["install", "-y", "libcurl4-openssl-dev"], "No package matches 'libcurl4-openssl-dev'"),
        # dnf's flags and values that microdnf 3.8-3.10 does not take.
        (["install", "-y", "--allowerasing", "which"], "Unknown option --allowerasing"),
        (["install", "-y", "--setopt=install_weak_deps=False", "which"], "'False'"),
    ],
)
def test_microdnf_standin_refuses_what_microdnf_refuses(
    al2023_standin, docker_client, arguments, message
):
    container = docker_client.containers.run(
        al2023_standin, entrypoint=["microdnf", *arguments], detach=True
    )
    try:
        assert container.wait(timeout=60)["StatusCode"] == 1
        assert message in container.logs().decode()
    finally:
        container.remove(force=True)


def al2023_target(pins, mirror: str, base: str, recipe: str | None = None) -> Target:
    return resolve(
        pins,
        r_version="4.5.0",
        family_name="al2023",
        arch="x86_64",
        cran_mirror=mirror,
        base_image=base,
        recipe=recipe,
    )


@pytest.fixture(scope="module")
def al2023_r(local_pins, local_mirror, al2023_standin, docker_client) -> BuildResult:
    """R 4.5.0 from the al2023-rendered Dockerfile.base, built on the stand-in."""
    target = al2023_target(local_pins, local_mirror, al2023_standin)
    return build_base_image(target, docker_client)


def test_r_installs_under_var_lang_lib_r_where_configure_would_pick_lib64(al2023_r, docker_client):
    """R's configure takes LIBnn=lib64 here (/usr/lib64, no /etc/debian_version); the
    Dockerfile's LIBnn=lib keeps R_HOME where every path in the templates expects it."""
    script = (
        "test -d /usr/lib64 && test ! -f /etc/debian_version && echo lib64-layout;"
        " R RHOME; sed -n 's/^LIBnn = //p' \"$(R RHOME)/etc/Makeconf\"; ls -d /var/lang/lib64/R"
        " 2>/dev/null || echo no-lib64"
    )
    assert run(docker_client, al2023_r.image_id, ["sh", "-c", script]).split() == [
        "lib64-layout",
        "/var/lang/lib/R",
        "lib",
        "no-lib64",
    ]


def test_r_starts_without_locale_warnings_under_lambdas_environment(al2023_r, docker_client):
    check_locale_and_time_zone(docker_client, al2023_r.image_id)


def test_every_shared_library_resolves(al2023_r, docker_client):
    """The final stage got every library ldd found in the builder (no find here: AL2023's
    minimal image has no findutils, so shell globs list R's ELF files)."""
    script = (
        "cd /var/lang/lib/R && LD_LIBRARY_PATH=lib ldd bin/exec/R lib/*.so modules/*.so"
        " library/*/libs/*.so | grep 'not found' || echo all-found"
    )
    assert run(docker_client, al2023_r.image_id, ["sh", "-c", script]).strip() == "all-found"


def test_runtime_stage_has_no_toolchain(al2023_r, docker_client):
    """The builder's compilers stay in the builder; the final stage got only what it runs."""
    out = run(docker_client, al2023_r.image_id, ["sh", "-c", "command -v gcc || echo no-gcc"])
    assert out.strip() == "no-gcc"


@pytest.fixture(scope="module")
def al2023_recipe(local_pins, local_mirror, al2023_standin, al2023_r, docker_client):
    target = al2023_target(local_pins, local_mirror, al2023_standin, "json-api")
    return build_recipe_image(target, al2023_r, docker_client)


def test_recipe_events_pass_through_our_emulator(al2023_recipe):
    events = load_recipe(recipe_dir("json-api")).events_dir
    outcomes = run_events(al2023_recipe.image_id, events, timeout_s=60)
    assert outcomes and all(o.passed for o in outcomes), [(o.name, o.got) for o in outcomes]


def test_recipe_events_pass_through_the_entrypoint_and_aws_rie(al2023_recipe, docker_client):
    """With AWS_LAMBDA_RUNTIME_API unset, the stand-in's /lambda-entrypoint.sh runs AWS's RIE
    (the pinned binary from the aws-sam-cli wheel) in front of /var/runtime/bootstrap."""
    cases = load_events(load_recipe(recipe_dir("json-api")).events_dir)
    with started_as_lambda_base(docker_client, al2023_recipe.image_id) as (container, url):
        for case in cases:
            body = invoke_rie(url, json.dumps(case.payload).encode())
            if case.expects_error:
                # RIE answers a function error with 200 and the runtime's error body.
                assert body["errorType"] == case.expect_error_type, (case.path.name, body)
                if case.expect_error_message:
                    assert case.expect_error_message in body["errorMessage"]
            else:
                assert body == case.expect_response, (case.path.name, body)
        assert b"START RequestId" in container.logs()


@pytest.fixture(scope="module")
def al2023_plumber(local_pins, local_mirror, al2023_standin, al2023_r, docker_client):
    """plumber-api on al2023. The stand-in refuses libsodium-devel, as AL2023 does, so sodium
    compiles against the libsodium the recipe's [system-sources] builds from its tarball."""
    target = al2023_target(local_pins, local_mirror, al2023_standin, "plumber-api")
    return build_recipe_image(target, al2023_r, docker_client)


def test_plumber_api_answers_its_events_on_al2023(al2023_plumber):
    """All ten events, the digest one through libsodium, under our emulator."""
    events = load_recipe(recipe_dir("plumber-api")).events_dir
    outcomes = run_events(al2023_plumber.image_id, events, timeout_s=60)
    assert len(outcomes) == 10
    assert all(o.passed for o in outcomes), [(o.name, o.got) for o in outcomes]


def test_plumber_api_needs_no_libsodium_at_run_time(al2023_plumber, docker_client):
    """libsodium is linked into sodium's shared object: no libsodium file, package or build
    prefix is in the image, and sodium loads and hashes in a fresh R."""
    script = (
        "ldd /var/lang/lib/R/site-library/sodium/libs/sodium.so | grep -c libsodium;"
        " ls /usr/lib64/libsodium* /usr/lib/libsodium* /usr/lib/*/libsodium* /opt/rlambda"
        " 2>/dev/null | wc -l;"
        ' Rscript -e \'cat(sodium::bin2hex(sodium::sha256(charToRaw("abc"))), "\\n")\''
    )
    out = run(docker_client, al2023_plumber.image_id, ["sh", "-c", script]).split()
    assert out == [
        "0",
        "0",
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    ]


def test_a_source_serving_other_bytes_stops_the_build_py_command_and_tags_nothing(
    capsys, tmp_path, local_pins, local_mirror, al2023_standin, al2023_r, serve_directory,
    docker_client,
):  # fmt: skip
    """plumber-api as a user's project whose libsodium URL serves other bytes than its sha256:
    `build.py --recipe DIR` stops before the recipe's build, naming the recipe's key and both
    hashes, keeps no download, and tags no image."""
    project = tmp_path / "sodium-api"
    shutil.copytree(recipe_dir("plumber-api"), project)
    site = tmp_path / "site"
    site.mkdir()
    (site / "libsodium-1.0.22.tar.gz").write_bytes(b"not libsodium")
    url = f"{serve_directory(site)}/libsodium-1.0.22.tar.gz"
    recipe = project / "recipe.toml"
    text = re.sub(r"urls = \[[^\]]*\]", f'urls = ["{url}"]', recipe.read_text())
    pinned = "1" * 64  # no cache holds it: the download happens
    recipe.write_text(re.sub(r'sha256 = "[0-9a-f]{64}"', f'sha256 = "{pinned}"', text))
    status, out = run_build(
        capsys, "--r", "4.5.0", "--family", "al2023", "--base-image", al2023_standin,
        "--cran-mirror", local_mirror, "--versions-file", str(local_pins.path),
        "--recipe", str(project),
    )  # fmt: skip
    assert status != 0, out
    assert "[system-sources.al2023.libsodium]" in out and f"expected sha256 {pinned}" in out
    assert not (cache_dir() / "sha256" / pinned).exists()
    assert not list((cache_dir() / "sha256").glob(".download-*"))  # no partial file either
    assert not docker_client.images.list(name="r-lambda:r-4.5.0-sodium-api-al2023-x86_64")
