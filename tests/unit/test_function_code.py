"""What of a recipe directory reaches /var/task: its code, never the secrets lying beside it."""

import io
import shutil
import tarfile

import pytest

from rlambda.build.builder import prepare_recipe
from rlambda.build.function_code import function_files
from rlambda.errors import UsageError
from rlambda.recipes import load_recipe, recipe

from ..conftest import ROOT, local_target


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """recipes/hello as a user's working directory: secrets beside the code."""
    root = tmp_path / "recipes"
    hello = root / "hello"
    shutil.copytree(ROOT / "recipes" / "hello", hello)
    (hello / ".env").write_text("AWS_SECRET_ACCESS_KEY=from-dotenv\n")
    (hello / ".git").mkdir()
    (hello / ".git" / "config").write_text('[remote "origin"]\n url = https://tok3n@host/x\n')
    (hello / "lib").mkdir()
    (hello / "lib" / "util.R").write_text("util <- function() 1\n")
    (hello / "lib" / ".Rhistory").write_text("secret()\n")
    home = tmp_path / "home"
    (home / ".aws").mkdir(parents=True)
    (home / ".aws" / "credentials").write_text("[default]\naws_secret_access_key = fake\n")
    monkeypatch.setattr(recipe, "RECIPES_DIR", root)
    return hello, home / ".aws" / "credentials"


def copied(path) -> set[str]:
    return {name.removeprefix("function/") for name in function_files(load_recipe(path))}


def test_dotfiles_and_vcs_directories_are_never_copied(workdir):
    hello, _ = workdir
    assert copied(hello) == {"hello.R", "lib/util.R"}


def test_a_symlink_leaving_the_recipe_is_refused(workdir):
    hello, credentials = workdir
    (hello / "credentials").symlink_to(credentials)
    with pytest.raises(UsageError) as error:
        function_files(load_recipe(hello))
    message = str(error.value)
    assert "recipes/hello/credentials is a symlink to" in message
    assert str(credentials) in message and "outside the recipe directory" in message
    # The same through a linked directory.
    (hello / "credentials").unlink()
    (hello / "aws").symlink_to(credentials.parent)
    with pytest.raises(UsageError, match="recipes/hello/aws is a symlink"):
        function_files(load_recipe(hello))


def test_links_inside_the_recipe_and_ignored_links_are_fine(workdir):
    hello, credentials = workdir
    (hello / "helpers.R").symlink_to(hello / "lib" / "util.R")
    (hello / ".aws-credentials").symlink_to(credentials)  # a dotfile: never copied, no error
    (hello / "loop").symlink_to(hello)  # a link back up is walked once, not forever
    assert copied(hello) == {"hello.R", "lib/util.R", "helpers.R"}


def test_the_ignore_file_drops_more_and_can_re_include_a_dotfile(workdir):
    hello, credentials = workdir
    (hello / "notes").mkdir()
    (hello / "notes" / "todo.md").write_text("x")
    (hello / "big.csv").write_text("1,2\n")
    (hello / ".Renviron").write_text("TZ=UTC\n")
    (hello / "creds").symlink_to(credentials)
    (hello / ".dockerignore").write_text("# not for Lambda\nnotes/\n*.csv\ncreds\n!.Renviron\n")
    assert copied(hello) == {"hello.R", "lib/util.R", ".Renviron"}


def test_the_build_context_holds_only_the_code_and_the_log_lists_it(
    workdir, local_pins, local_mirror, capsys
):
    target = local_target(local_pins, local_mirror, "hello")
    prepared = prepare_recipe(target, "0" * 64)
    with tarfile.open(fileobj=io.BytesIO(prepared.context.tar)) as tar:
        names = set(tar.getnames())
        everything = b"".join(tar.extractfile(m).read() for m in tar.getmembers() if m.isfile())
    assert {n for n in names if n.startswith("function/")} == {
        "function/hello.R",
        "function/lib/util.R",
    }
    assert b"from-dotenv" not in everything and b"tok3n" not in everything
    log = capsys.readouterr().err
    assert "function code for /var/task (2 files)" in log
    assert "  hello.R (" in log and "  lib/util.R (21 bytes)" in log
