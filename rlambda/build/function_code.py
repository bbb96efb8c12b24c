"""Which of a recipe's files go into /var/task: its code, never what happens to lie beside it.

A recipe directory is often a user's working directory: it can hold a `.env`, a `.git/` with a
token in its config, or a symlink to `~/.aws/credentials`. So:
- never copied: the recipe's own files (recipe.toml, lock.toml, its events, the ignore file),
  VCS directories (.git, .hg, .svn, CVS, wherever they are), __pycache__, and at the top the
  package managers' libraries (renv/, packrat/: packages built for the host, often symlinks
  into a cache in the home directory; the image installs the lock's packages instead);
- not copied unless the ignore file re-includes them (`!.Renviron`): dotfiles and dot-dirs;
- an ignore file `.dockerignore` in the recipe drops more, one gitignore-style pattern a line
  (pathspec's GitIgnoreSpec: `#` comments, `!` exceptions, `**`, a trailing `/` for
  directories). Unlike Docker's matcher, a pattern without a `/` matches at any depth, which
  only ever leaves out more;
- a symlink (file or directory) that would be copied must resolve inside the recipe directory:
  one leaving it is refused, before anything is downloaded or built.
"""

import os
from pathlib import Path

import pathspec

from rlambda.errors import UsageError
from rlambda.recipes import Recipe

IGNORE_FILE = ".dockerignore"
VCS_DIRS = frozenset({".git", ".hg", ".svn", ".bzr", "CVS", "_darcs"})
ALWAYS_SKIPPED = frozenset({"recipe.toml", "lock.toml", IGNORE_FILE})
LIBRARY_DIRS = frozenset({"renv", "packrat"})
# Applied before the recipe's own patterns, so those can re-include a dotfile.
DEFAULT_PATTERNS = (".*",)


def ignore_spec(root: Path) -> pathspec.GitIgnoreSpec:
    lines = list(DEFAULT_PATTERNS)
    path = root / IGNORE_FILE
    if path.is_file():
        try:
            lines += path.read_text(encoding="utf-8").splitlines()
        except (UnicodeDecodeError, OSError) as e:
            raise UsageError(f"{path}: cannot read it as UTF-8 text ({e})") from None
    return pathspec.GitIgnoreSpec.from_lines(lines)


def function_files(recipe: Recipe) -> dict[str, Path]:
    """The recipe's code by its name in the build context (`function/<relative path>`)."""
    root = recipe.path.resolve()
    spec = ignore_spec(root)
    events = recipe.events_dir.resolve()
    files: dict[str, Path] = {}
    seen: set[Path] = set()
    for current, dirs, names in os.walk(root, followlinks=True):
        here = Path(current)
        real = here.resolve()
        if real in seen:  # a link back to a directory already walked
            dirs[:] = []
            continue
        seen.add(real)
        kept = []
        for name in sorted(dirs):
            path = here / name
            relative = path.relative_to(root).as_posix()
            if name in VCS_DIRS or name == "__pycache__" or path.resolve() == events:
                continue
            if here == root and name in LIBRARY_DIRS:
                continue
            if spec.match_file(relative + "/"):
                continue
            _check_inside(path, root, recipe)
            kept.append(name)
        dirs[:] = kept
        for name in names:
            path = here / name
            relative = path.relative_to(root).as_posix()
            if (here == root and name in ALWAYS_SKIPPED) or spec.match_file(relative):
                continue
            _check_inside(path, root, recipe)
            if path.is_file():
                files[f"function/{relative}"] = path
    return dict(sorted(files.items()))


def _check_inside(path: Path, root: Path, recipe: Recipe) -> None:
    if not path.is_symlink():
        return
    target = path.resolve()
    if not target.is_relative_to(root):
        raise UsageError(
            f"{recipe.path / path.relative_to(root)} is a symlink to {target}, outside the"
            f" recipe directory: it is not copied into the image. Copy what the function needs"
            f" into {recipe.path}, or list the link in {recipe.path / IGNORE_FILE}."
        )


def describe(files: dict[str, Path]) -> str:
    """What was copied, for the build log: one line a file, with its size."""
    lines = [f"==> function code for /var/task ({len(files)} files):"]
    lines += [
        f"  {name.removeprefix('function/')} ({path.stat().st_size} bytes)"
        for name, path in files.items()
    ]
    return "\n".join(lines)
