"""build.py's answers to bad input: a clear message, the right exit status, nothing left behind."""

import shutil

import pytest

import build
from rlambda import job
from rlambda.build import builder, engine
from rlambda.recipes import recipe

from ..conftest import ROOT
from ..helpers import run_build as run


def test_help_lists_the_commands(capsys):
    with pytest.raises(SystemExit) as raised:
        build.main(["--help"])
    assert raised.value.code == 0
    out = capsys.readouterr().out
    for command in build.COMMANDS:
        assert command in out


@pytest.mark.parametrize(
    ("command", "flags"),
    [
        ("build", ["--cran-mirror", "--family", "--recipe", "--push", "--allow-account"]),
        ("render", ["--r", "--family", "--arch"]),
        ("lock", ["NAME", "--cran-mirror"]),
        ("update", ["--r", "--package", "--no-bases", "--versions-file"]),
        ("matrix", ["--changed-since", "--allow-empty"]),
        ("test", ["--image", "--events", "--memory"]),
    ],
)
def test_every_command_explains_itself(capsys, command, flags):
    with pytest.raises(SystemExit) as raised:
        build.main([command, "--help"])
    assert raised.value.code == 0
    out = capsys.readouterr().out
    assert f"usage: build.py {command}" in out
    for flag in flags:
        assert flag in out, flag


def test_options_alone_mean_build(capsys):
    with pytest.raises(SystemExit):
        build.main(["--r"])  # --r needs a value: build's own usage error
    assert "usage: build.py build" in capsys.readouterr().err


def test_unknown_r_version_lists_pinned(capsys):
    status, out = run(capsys, "render", "--r", "4.0.3")
    assert status == 2
    assert "R 4.0.3 is not pinned" in out and "4.0.2, 4.0.4" in out


def test_prefix_says_what_it_resolved_to(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(build.render, "IMAGES_DIR", tmp_path)
    status, out = run(capsys, "render", "--r", "4.0", "--family", "debian")
    assert status == 0
    assert "--r 4.0 resolved to R 4.0.5" in out
    assert f"{tmp_path}/r-4.0.5-debian-x86_64/Dockerfile" in out


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--family", "alpine", "unknown family 'alpine'; choose one of: al2023, al2, debian"),
        ("--arch", "amd64", "unknown architecture 'amd64'; choose one of: x86_64, arm64"),
    ],
)
def test_unknown_family_or_arch(capsys, flag, value, message):
    status, out = run(capsys, "render", "--r", "4.5.0", flag, value)
    assert status == 2 and message in out


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--cran-mirror", "ftp://mirror", "expected an http://, https:// or file:// URL"),
        ("--base-image", "x; rm -rf /", "is not an image reference"),
    ],
)
def test_bad_flags_are_refused_before_any_work(capsys, nothing_happens, flag, value, message):
    status, out = run(capsys, "--r", "4.5.0", "--family", "debian", flag, value)
    assert status == 2 and message in out


@pytest.fixture
def nothing_happens(monkeypatch):
    """Fails the test if the job starts: the engine, a download or a push is reached."""

    def forbidden(*args, **kwargs):
        raise AssertionError("work started before every input was checked")

    monkeypatch.setattr(engine, "connect", forbidden)
    monkeypatch.setattr(builder, "fetch_verified", forbidden)
    monkeypatch.setattr(job, "publish", forbidden)


@pytest.fixture
def recipes_copy(tmp_path, monkeypatch):
    """A private copy of recipes/, so a test can change one."""
    copy = tmp_path / "recipes"
    shutil.copytree(recipe.RECIPES_DIR, copy)
    monkeypatch.setattr(recipe, "RECIPES_DIR", copy)
    return copy


DEBIAN = ("--r", "4.5.0", "--family", "debian")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--recipe", "nope"], "no recipe 'nope'"),
        (["--recipe", "Bad_Name"], "recipe name 'Bad_Name'"),
        # A path is a project directory: it must be one, and hold an R project.
        (["--recipe", "../no-such-project"], "no-such-project does not exist"),
        (["--recipe", f"{ROOT}/runtime/bootstrap"], "bootstrap is not a directory"),
        (["--recipe", f"{ROOT}/docker"], "holds none of recipe.toml, renv.lock, DESCRIPTION"),
        (["--recipe", ""], "recipe name ''"),
        (["--push"], "no AWS region: pass --region or set AWS_REGION"),
        (
            ["--push", "--region", "eu-west-1", "--allow-account", "12"],
            "--allow-account '12': expected a 12-digit AWS account ID",
        ),
        (["--test", "--memory", "64"], "--memory 64: Lambda allows 128 to 10240 MB"),
        (["--test", "--timeout", "0"], "--timeout 0: Lambda allows more than 0"),
        (["--test", "--timeout", "-5"], "--timeout -5: Lambda allows more than 0"),
        (["--test", "--timeout", "901"], "--timeout 901"),
        (["--push", "--region", "eu-west-1", "--moving-repository", "r-lambda"], "must differ"),
        (["--push", "--region", "eu-west-1", "--keep-untagged", "-1"], "--keep-untagged must be 0"),
        (["--push", "--region", "eu-west-1", "--repository", "BAD NAME"], "name 'BAD NAME'"),
        (
            ["--push", "--region", "eu-west-1", "--moving-repository", "Moving"],
            "--moving-repository: repository name 'Moving'",
        ),
        (
            ["--push", "--region", "eu-west-1", "--registry-endpoint", "http://10.0.0.5:5000"],
            "plain http would send the ECR token unencrypted",
        ),
        (["--push", "--region", "eu west 1"], "--region 'eu west 1': not an AWS region name"),
    ],
)
def test_input_errors_come_before_any_work(capsys, monkeypatch, nothing_happens, argv, message):
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    status, out = run(capsys, *DEBIAN, *argv)
    assert status == 2
    assert message in out
    assert "Traceback" not in out


def test_a_registry_endpoint_from_the_environment_is_checked_too(
    capsys, monkeypatch, nothing_happens
):
    monkeypatch.setenv("RLAMBDA_REGISTRY_ENDPOINT", "http://registry.example:5000")
    status, out = run(capsys, *DEBIAN, "--push", "--region", "eu-west-1")
    assert status == 2 and "$RLAMBDA_REGISTRY_ENDPOINT: registry endpoint" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--keep-untagged", "-1"], "--keep-untagged must be 0"),
        (["--repository", "BAD NAME"], "repository name 'BAD NAME'"),
        (["--registry-endpoint", "http://192.168.1.9:5000"], "plain http would send"),
        (["--registry-endpoint", "ftp://x"], "expected http(s)://HOST[:PORT]"),
    ],
)
def test_registry_push_checks_its_options_before_the_engine(
    capsys, monkeypatch, nothing_happens, argv, message
):
    import registry

    status = registry.main(["push", "r-lambda:x", "--region", "eu-west-1", *argv])
    out = capsys.readouterr().err
    assert status == 2 and message in out and "Traceback" not in out


def test_a_versions_file_that_is_not_utf8_is_an_input_error(capsys, nothing_happens, tmp_path):
    bad = tmp_path / "VERSIONS.toml"
    bad.write_bytes(b"\xff\xfe[r]\n")
    status, out = run(capsys, *DEBIAN, "--versions-file", str(bad))
    assert status == 2 and f"{bad}: not UTF-8 text" in out and "Traceback" not in out


def test_testing_an_image_with_the_engine_down_says_how_to_start_it(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    status = build.main(
        ["test", "--image", "r-lambda:x", "--events", str(ROOT / "recipes" / "hello" / "events")]
    )
    out = capsys.readouterr().err
    assert status == 1 and "cannot reach the Docker engine" in out
    assert "scripts/start-docker.sh" in out and "Traceback" not in out


def test_a_stale_lock_is_refused_before_any_work(capsys, nothing_happens, recipes_copy):
    toml = recipes_copy / "json-api" / "recipe.toml"
    toml.write_text(toml.read_text().replace('jsonlite = ">= 1.8"', 'jsonlite = ">= 1.9"'))
    status, out = run(capsys, *DEBIAN, "--recipe", "json-api")
    assert status == 2
    assert "re-lock: python build.py lock json-api" in out


def test_a_stale_smoke_lock_is_refused_before_a_base_image_test(
    capsys, nothing_happens, recipes_copy
):
    """--test on a base image runs recipes/hello: its lock is checked up front too."""
    (recipes_copy / "hello" / "lock.toml").unlink()
    status, out = run(capsys, *DEBIAN, "--test")
    assert status == 2
    assert "hello/lock.toml: file not found" in out


def test_docker_not_running_says_how_to_start_it(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    status, out = run(capsys, "--r", "4.5.0", "--family", "debian")
    assert status == 1
    assert "cannot reach the Docker engine" in out and "scripts/start-docker.sh" in out


def test_render_writes_only_the_committed_pins(capsys):
    """images/ is rendered from VERSIONS.toml only: a copy of the pins (--versions-file, for
    builds against another mirror) cannot rewrite the committed Dockerfiles."""
    with pytest.raises(SystemExit) as raised:
        build.main(["render", "--versions-file", "/tmp/elsewhere.toml"])
    assert raised.value.code == 2
    assert "unrecognized arguments: --versions-file" in capsys.readouterr().err


def test_a_lock_whose_render_fails_is_not_written(recipes_copy, local_mirror, capsys, monkeypatch):
    from rlambda.build import render
    from rlambda.errors import JobError

    toml = recipes_copy / "json-api" / "recipe.toml"
    toml.write_text(toml.read_text().replace('jsonlite = ">= 1.8"', 'jsonlite = ">= 1.9"'))
    lock = recipes_copy / "json-api" / "lock.toml"
    before = lock.read_bytes()

    def broken(*args, **kwargs):
        raise JobError("the render failed")

    monkeypatch.setattr(render, "render_all", broken)
    status = build.main(["lock", "json-api", "--cran-mirror", local_mirror])
    err = capsys.readouterr().err
    assert status == 1 and "the render failed" in err
    assert "left as it was: images/ could not be rendered" in err
    assert lock.read_bytes() == before
