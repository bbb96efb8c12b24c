"""An R project where it lives: `--recipe PATH` and `lock PATH` take a directory outside
recipes/ (its recipe.toml, or just its renv.lock or DESCRIPTION and app.R), name its image from
the directory, lock it in place, copy only its code, and render it into its build context."""

import io
import json
import shutil
import tarfile
from pathlib import Path

import pytest

import build
from rlambda import job
from rlambda.build import builder, engine, render
from rlambda.build.builder import prepare_recipe
from rlambda.build.function_code import function_files
from rlambda.errors import UsageError
from rlambda.local.service import cli as serve_cli
from rlambda.pins import versions
from rlambda.recipes import load, locate, name_from_directory, recipe, recipe_name
from rlambda.target import resolve

from ..conftest import ROOT, local_target
from ..helpers import run_build as run
from .recipe_mirror import url

HELLO = ROOT / "recipes" / "hello"
DEBIAN = ("--r", "4.5.0", "--family", "debian")
RENV = {
    "R": {"Version": "4.5.0", "Repositories": [{"Name": "CRAN", "URL": "https://x.org"}]},
    "Packages": {
        name: {"Package": name, "Version": version, "Source": "Repository", "Repository": "CRAN"}
        for name, version in [("beta", "0.3-2"), ("gamma", "2.1")]
    },
}


def hello_copy(parent: Path, name: str = "My_Hello") -> Path:
    """recipes/hello's files as a user's project outside the repository."""
    directory = parent / name
    shutil.copytree(HELLO, directory)
    return directory


def bare_project(parent: Path, name: str = "report-api", source: str = "renv.lock") -> Path:
    """A project with no recipe.toml: its packages in renv.lock (or DESCRIPTION), app.R."""
    directory = parent / name
    directory.mkdir(parents=True)
    (directory / "app.R").write_text("handler <- function(event) event\n")
    if source == "renv.lock":
        (directory / "renv.lock").write_text(json.dumps(RENV))
    else:
        (directory / "DESCRIPTION").write_text("Package: api\nVersion: 1\nImports: beta\n")
    return directory


@pytest.fixture
def nothing_happens(monkeypatch):
    """Fails the test if the job starts: the engine, a download or a push is reached."""

    def forbidden(*args, **kwargs):
        raise AssertionError("work started before every input was checked")

    monkeypatch.setattr(engine, "connect", forbidden)
    monkeypatch.setattr(builder, "fetch_verified", forbidden)
    monkeypatch.setattr(job, "publish", forbidden)


# ---- where --recipe points ----------------------------------------------------------------


def test_a_name_is_a_repository_recipe_and_a_path_a_project(tmp_path, monkeypatch):
    assert locate("hello") == (recipe.RECIPES_DIR / "hello", False)
    project = hello_copy(tmp_path)
    assert locate(str(project)) == (project, True)
    monkeypatch.chdir(tmp_path)
    assert locate("My_Hello") == (project, True)  # an existing directory here, no '/'
    assert locate("./My_Hello/") == (project, True)
    # recipes/hello given by path is still the repository's recipe, under its rules.
    assert locate(str(HELLO)) == (recipe.RECIPES_DIR / "hello", False)


def test_a_name_that_is_also_a_directory_here_is_ambiguous(tmp_path, monkeypatch):
    hello_copy(tmp_path, "hello")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError, match=r"write \./hello for the directory"):
        locate("hello")
    assert locate("./hello") == (tmp_path / "hello", True)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "missing", "missing does not exist"),
        (lambda p: (p / "file.R").write_text("x") and p / "file.R", "file.R is not a directory"),
        (lambda p: (p / "empty").mkdir() or p / "empty", "holds none of recipe.toml"),
    ],
)
def test_a_path_that_is_no_project_is_one_line_exit_2_before_any_work(
    tmp_path, capsys, nothing_happens, make, message
):
    path = make(tmp_path)
    for argv in ([*DEBIAN, "--recipe", str(path)], ["lock", str(path)]):
        status, out = run(capsys, *argv)
        assert status == 2 and message in out, out
        assert out.count("\n") == 1 and "Traceback" not in out


def test_the_home_directory_is_not_a_project(tmp_path, monkeypatch):
    home = bare_project(tmp_path, "home")
    monkeypatch.setenv("HOME", str(home))
    with pytest.raises(UsageError, match="is not a project directory"):
        locate(str(home))


# ---- its name -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("directory", "name"),
    [
        ("my-api", "my-api"),
        ("My_API", "my-api"),
        ("report.api v2", "report-api-v2"),
        ("__api__", "api"),
        ("a" * 63, "a" * 63),
    ],
)
def test_the_directory_names_the_image(directory, name):
    assert name_from_directory(Path("/somewhere") / directory) == name


@pytest.mark.parametrize("directory", ["données", "api+v2", "---", "a" * 64])
def test_a_directory_name_that_cannot_be_a_name_says_so(directory):
    with pytest.raises(UsageError) as error:
        name_from_directory(Path("/somewhere") / directory)
    assert f"the directory's name {directory!r} cannot name an image" in str(error.value)
    assert 'give one with name = "..." in /somewhere/' in str(error.value)


def test_recipe_toml_can_name_it(tmp_path):
    project = hello_copy(tmp_path, "données")
    toml = project / "recipe.toml"
    with pytest.raises(UsageError, match="cannot name an image"):
        load(str(project))
    toml.write_text('name = "hello-fr"\n' + toml.read_text())
    assert load(str(project)).name == recipe_name(str(project)) == "hello-fr"
    toml.write_text('name = "Hello_FR"\n' + HELLO.joinpath("recipe.toml").read_text())
    with pytest.raises(UsageError, match="key name"):
        load(str(project))


def test_in_recipes_the_name_is_the_directory(tmp_path, monkeypatch):
    root = tmp_path / "recipes"
    shutil.copytree(HELLO, root / "hello")
    monkeypatch.setattr(recipe, "RECIPES_DIR", root)
    toml = root / "hello" / "recipe.toml"
    toml.write_text('name = "other"\n' + toml.read_text())
    with pytest.raises(UsageError, match="the directory's name under recipes/, 'hello'"):
        load("hello")


def test_a_project_builds_under_its_name(tmp_path, nothing_happens):
    project = hello_copy(tmp_path)
    target = resolve(
        versions.load(), r_version="4.5.0", family_name="debian", arch="x86_64",
        recipe=str(project),
    )  # fmt: skip
    assert target.recipe is not None and target.recipe.recipe.project
    assert target.readable_tag == "r-4.5.0-my-hello-debian-x86_64"


def test_serve_finds_a_projects_image_by_its_name(tmp_path):
    project = hello_copy(tmp_path)
    args = serve_cli.build_parser().parse_args(["--r", "4.5.0", "--recipe", str(project)])
    [spec] = serve_cli._functions(args)
    assert spec.name == "my-hello" and spec.image == "r-lambda:r-4.5.0-my-hello-al2023-x86_64"


# ---- without recipe.toml ------------------------------------------------------------------


def test_a_renv_project_needs_no_recipe_toml(tmp_path):
    project = bare_project(tmp_path)
    (project / "DESCRIPTION").write_text("Package: api\nVersion: 1\nImports: alpha\n")
    loaded = load(str(project))
    assert loaded.name == "report-api" and loaded.handler == "app.handler"
    assert loaded.packages_from == project / "renv.lock"  # renv.lock before DESCRIPTION
    assert loaded.exact_packages and set(loaded.packages) == {"beta", "gamma"}
    assert loaded.file == project / "renv.lock"


def test_a_description_project_and_a_plumber_one(tmp_path):
    project = bare_project(tmp_path, source="DESCRIPTION")
    assert set(load(str(project)).packages) == {"beta"}
    (project / "app.R").rename(project / "plumber.R")
    assert load(str(project)).handler == "plumber:plumber.R"


def test_without_recipe_toml_the_handler_must_be_found(tmp_path):
    project = bare_project(tmp_path)
    (project / "plumber.R").write_text("#* @get /\nfunction() 1\n")
    with pytest.raises(UsageError, match=r"both app\.R and plumber\.R"):
        load(str(project))
    (project / "app.R").unlink()
    (project / "plumber.R").unlink()
    with pytest.raises(UsageError, match=r"its handler is the function `handler` in app\.R"):
        load(str(project))


def test_test_without_events_is_refused_before_any_work(tmp_path, capsys, nothing_happens):
    project = hello_copy(tmp_path)
    shutil.rmtree(project / "events")
    assert load(str(project)).name == "my-hello"  # a project may have no events yet
    status, out = run(capsys, *DEBIAN, "--recipe", str(project), "--test")
    assert status == 2 and "--test runs the event files in" in out and "does not exist" in out


# ---- its lock -----------------------------------------------------------------------------


def test_lock_writes_into_the_project_and_leaves_images_alone(
    tmp_path, mirror, cache, capsys, monkeypatch
):
    def no_render(*args, **kwargs):
        raise AssertionError("a project outside recipes/ is not rendered into images/")

    monkeypatch.setattr(render, "write_all", no_render)
    project = bare_project(tmp_path / "work")
    status = build.main(["lock", str(project), "--r", "4.5.0", "--cran-mirror", url(mirror)])
    assert status == 0, capsys.readouterr().err
    lock = (project / "lock.toml").read_text()
    # Where the project lives is not in its lock (the file:// mirror's path is: its name).
    assert "rlambda lock DIR" in lock and str(project) not in lock
    target = resolve(
        versions.load(), r_version="4.5.0", family_name="debian", arch="x86_64",
        recipe=str(project), cran_mirror=url(mirror),
    )  # fmt: skip
    assert target.recipe is not None
    assert [p.name for p in target.recipe.lock.packages] == ["gamma", "beta"]
    # A changed renv.lock makes the lock stale; the message says how to re-lock it.
    renv = {**RENV, "Packages": {"gamma": RENV["Packages"]["gamma"]}}
    (project / "renv.lock").write_text(json.dumps(renv))
    status, out = run(capsys, *DEBIAN, "--recipe", str(project))
    assert status == 2 and f"re-lock: rlambda lock {project}" in out


# ---- what goes into the image -------------------------------------------------------------


def project_with_secrets(tmp_path: Path) -> tuple[Path, Path]:
    project = hello_copy(tmp_path / "work")
    outside = tmp_path / "home" / ".cache" / "R" / "renv"
    outside.mkdir(parents=True)
    (outside / "jsonlite").write_text("a package built for the host")
    (project / ".Rprofile").write_text('source("renv/activate.R")\n')
    (project / ".Renviron").write_text("GITHUB_PAT=secret\n")
    (project / "renv" / "library").mkdir(parents=True)
    (project / "renv" / "activate.R").write_text("# renv\n")
    (project / "renv" / "library" / "jsonlite").symlink_to(outside / "jsonlite")  # renv's cache
    (project / "packrat").mkdir()
    (project / "packrat" / "packrat.lock").write_text("x")
    (project / "R").mkdir()
    (project / "R" / "util.R").write_text("util <- function() 1\n")
    return project, outside


def test_only_the_projects_code_is_copied(tmp_path):
    project, outside = project_with_secrets(tmp_path)
    names = {n.removeprefix("function/") for n in function_files(load(str(project)))}
    assert names == {"hello.R", "R/util.R"}
    (project / "R" / "token").symlink_to(outside / "jsonlite")
    with pytest.raises(UsageError) as error:
        function_files(load(str(project)))
    assert f"{project}/R/token is a symlink to {outside}/jsonlite" in str(error.value)
    assert "outside the recipe directory" in str(error.value)


def test_a_project_renders_into_its_build_context_wherever_it_lives(
    tmp_path, local_pins, local_mirror, capsys
):
    """The context names no path of the project, so two copies are one image."""
    hashes = set()
    for where in ("a", "b/c"):
        project, _ = project_with_secrets(tmp_path / where)
        target = local_target(local_pins, local_mirror, str(project))
        prepared = prepare_recipe(target, "0" * 64)
        with tarfile.open(fileobj=io.BytesIO(prepared.context.tar)) as tar:
            names = set(tar.getnames())
            everything = b"".join(tar.extractfile(m).read() for m in tar.getmembers() if m.isfile())
        assert {n for n in names if n.startswith("function/")} == {
            "function/hello.R",
            "function/R/util.R",
        }
        dockerfile = tar_file(prepared.context.tar, "Dockerfile")
        assert "# Recipe my-hello on R 4.5.0" in dockerfile and "--recipe DIR`" in dockerfile
        assert str(tmp_path).encode() not in everything and b"secret" not in everything
        hashes.add(prepared.context.content_hash)
    assert len(hashes) == 1
    # images/ holds the repository's recipes only.
    assert not list(render.IMAGES_DIR.glob("*/my-hello"))
    capsys.readouterr()


def tar_file(data: bytes, name: str) -> str:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        member = tar.extractfile(name)
        assert member is not None
        return member.read().decode()


# ---- what a family cannot install ---------------------------------------------------------


def test_a_requirement_al2023_cannot_install_fails_the_lock_naming_everything(
    tmp_path, mirror, cache, capsys
):
    """saltlick needs libsodium, which neither AL2023's core nor (as far as AWS's lists were
    read) SPAL has: the lock says so, naming the package, the requirement, what was looked up
    and how to say what to install, and no lock is left behind."""
    project = tmp_path / "salty"
    project.mkdir()
    (project / "app.R").write_text("handler <- function(event) event\n")
    (project / "recipe.toml").write_text('handler = "app.handler"\n[packages]\nsaltlick = "*"\n')
    status = build.main(["lock", str(project), "--r", "4.5.0", "--cran-mirror", url(mirror)])
    err = capsys.readouterr().err
    assert status == 2
    for part in (
        "CRAN package saltlick",
        "'libsodium (>= 1.0.3)'",
        "rule libsodium maps it to 'libsodium-devel'",
        "not in AL2023's core repositories",
        '[system-requirements.al2023] saltlick = ["..."]',
    ):
        assert part in err, part
    assert not (project / "lock.toml").exists()


def test_an_override_naming_a_package_in_neither_list_fails_before_the_build(
    tmp_path, mirror, cache, capsys, nothing_happens
):
    """An [system-requirements.al2023] override must name a package AWS's lists hold: the build
    stops at its inputs, before anything is downloaded."""
    project = tmp_path / "salty"
    project.mkdir()
    (project / "app.R").write_text("handler <- function(event) event\n")
    toml = 'handler = "app.handler"\n[packages]\nsaltlick = "*"\n'
    (project / "recipe.toml").write_text(
        toml + '[system-requirements.al2023]\nsaltlick = ["libsodium-devel"]\n'
    )
    assert build.main(["lock", str(project), "--r", "4.5.0", "--cran-mirror", url(mirror)]) == 2
    assert "names 'libsodium-devel', which al2023 cannot install" in capsys.readouterr().err
    (project / "recipe.toml").write_text(
        toml + '[system-requirements.al2023]\nsaltlick = ["sodium-from-nowhere-devel"]\n'
    )
    assert build.main(["lock", str(project), "--r", "4.5.0", "--cran-mirror", url(mirror)]) == 2
    err = capsys.readouterr().err
    assert "sodium-from-nowhere-devel" in err and "no AWS source seen says it exists" in err
    # A lock made with a name AL2023 has, then the override changed: the al2023 build is
    # refused at its inputs (nothing_happens: no engine, no download).
    (project / "recipe.toml").write_text(
        toml + '[system-requirements.al2023]\nsaltlick = ["openssl-devel"]\n'
    )
    assert build.main(["lock", str(project), "--r", "4.5.0", "--cran-mirror", url(mirror)]) == 0
    (project / "recipe.toml").write_text(
        toml + '[system-requirements.al2023]\nsaltlick = ["sodium-from-nowhere-devel"]\n'
    )
    status, out = run(
        capsys, "--r", "4.5.0", "--family", "al2023", "--recipe", str(project),
        "--cran-mirror", url(mirror),
    )  # fmt: skip
    assert status == 2 and "sodium-from-nowhere-devel" in out, out
