"""The build matrix: every image the scheduled rebuild makes, derived from the pins.

    python build.py matrix                           every entry, as {"include": [...]}
    python build.py matrix --family debian --arch arm64 --r 4.5
    python build.py matrix --changed-since origin/main   only what a change touches

The matrix is one definition: pinned R releases x families x architectures (the base images),
plus each recipe's locked R version x families x architectures. Workflows read it from here
(`strategy.matrix: ${{ fromJSON(needs.matrix.outputs.matrix) }}`) and never list versions
themselves, so a new pin in VERSIONS.toml is rebuilt without touching a workflow.

Exit status: 0 ok, 1 the job failed (e.g. git), 2 bad input or a filter that selects nothing.
"""

import argparse
import json
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rlambda.errors import JobError, UsageError, report
from rlambda.pins import versions
from rlambda.pins.platforms import ARCHITECTURES, FAMILIES, check_arch, family, family_choices
from rlambda.recipes import RECIPES_DIR, recipe_dir
from rlambda.sources.cran import mirror_name
from rlambda.target import Target
from rlambda.target.variants import pinned_variants, recipe_targets

# Native GitHub-hosted runners per Lambda architecture: arm64 images are built on arm64
# hardware, not under QEMU (compiling R under emulation is roughly 10x slower).
RUNNERS = {"x86_64": "ubuntu-24.04", "arm64": "ubuntu-24.04-arm"}

# GitHub Actions refuses a matrix of more than 256 jobs; the tests keep us under it.
MAX_JOBS = 256


@dataclass(frozen=True)
class Entry:
    r: str
    family: str
    arch: str
    recipe: str | None
    runner: str
    tag: str
    # The recipe's lock names another mirror than the one the job builds from (the pins'
    # cran.mirror, CRAN): the job locks it against that mirror before building (rebuild.yml).
    # The committed locks name the development machine's local mirror (README, "CI and AWS").
    relock: bool = False


def entry(target: Target) -> Entry:
    """A job that builds `target` (a base image, or its recipe on one)."""
    lock = target.recipe.lock if target.recipe else None
    relock = bool(lock and lock.downloads and lock.mirror != mirror_name(target.mirror))
    return Entry(
        r=target.r.version,
        family=target.family.name,
        arch=target.arch,
        recipe=target.recipe.name if target.recipe else None,
        runner=RUNNERS[target.arch],
        tag=target.readable_tag,
        relock=relock,
    )


def recipe_versions(pins: versions.Versions, root: Path = RECIPES_DIR) -> dict[str, str]:
    """Each recipe's locked R version (lock.toml's [lock] r_version), by recipe name."""
    return {name: rt.lock.r_version for name, rt in recipe_targets(pins, root).items()}


def full_matrix(pins: versions.Versions, root: Path = RECIPES_DIR) -> list[Entry]:
    """Every entry, base images first, each group in version, family, arch order."""
    return [entry(t) for t in pinned_variants(pins, root)]


# ---- --changed-since: which entries a change touches ------------------------------------------

# What a changed path means for the images, first match wins, as GitHub-style globs (`*` within
# one directory, `**` across them). The effects:
#   everything  an input of every image (the template, the runtime client, the build code)
#   pins        VERSIONS.toml: compared key by key with the old file (see pin_changes)
#   recipe      recipes/<recipe>/...: that recipe's entries
#   nothing     not an input of any image (docs, tests, workflows, this module)
# Paths that match no rule change nothing: new top-level files must be added here to count.
# The rebuild workflow's push trigger is the same list (`trigger_paths`;
# tests/unit/test_workflows.py checks rebuild.yml says exactly that), so a push is rebuilt exactly
# when this says it counts.
PATH_RULES: tuple[tuple[str, str], ...] = (
    ("VERSIONS.toml", "pins"),
    ("recipes/*/**", "recipe"),
    # The matrix and the pin updater decide what is built, not what an image contains.
    ("rlambda/ci/**", "nothing"),
    ("rlambda/update/**", "nothing"),
    # Pushing and testing code: a change must reach every pushed image (tags, labels, checks).
    ("Dockerfile.base", "everything"),
    ("Dockerfile.recipe", "everything"),
    ("docker/**", "everything"),
    ("runtime/**", "everything"),
    ("rlambda/**", "everything"),
    ("build.py", "everything"),
    ("registry.py", "everything"),
    ("pyproject.toml", "everything"),
)


def _glob(pattern: str) -> re.Pattern[str]:
    parts = re.split(r"(\*\*|\*)", pattern)
    return re.compile(
        "".join({"**": ".+", "*": "[^/]+"}.get(part, re.escape(part)) for part in parts)
    )


_RULES = tuple((_glob(pattern), effect) for pattern, effect in PATH_RULES)


def trigger_paths() -> list[str]:
    """PATH_RULES as a workflow's `on.push.paths` (where the last matching pattern wins): every
    path that counts, then `!` before those that do not. Exact while every "nothing" rule
    comes before the rules it carves out of, as above."""
    counted = [pattern for pattern, effect in PATH_RULES if effect != "nothing"]
    return counted + [f"!{pattern}" for pattern, effect in PATH_RULES if effect == "nothing"]


@dataclass(frozen=True)
class Scope:
    """A set of entries, described by what selects them (so it can be explained)."""

    everything: bool = False
    r_versions: frozenset[str] = frozenset()
    # (family, arch) pairs whose base image changed
    bases: frozenset[tuple[str, str]] = frozenset()
    recipes: frozenset[str] = frozenset()

    def __or__(self, other: "Scope") -> "Scope":
        return Scope(
            self.everything or other.everything,
            self.r_versions | other.r_versions,
            self.bases | other.bases,
            self.recipes | other.recipes,
        )

    def touches(self, e: Entry) -> bool:
        return (
            self.everything
            or e.r in self.r_versions
            or (e.family, e.arch) in self.bases
            or (e.recipe is not None and e.recipe in self.recipes)
        )


def path_effect(path: str) -> tuple[str, str | None]:
    """(effect, recipe name or None) of one changed path, by PATH_RULES."""
    for pattern, effect in _RULES:
        if pattern.fullmatch(path):
            return effect, path.split("/")[1] if effect == "recipe" else None
    return "nothing", None


def pin_changes(old: dict[str, Any] | None, new: dict[str, Any]) -> Scope:
    """What a change of VERSIONS.toml touches, from the parsed old and new files.

    An R pin added or changed touches that version's entries; a base image's digest that
    family and arch (its image or tag: every arch of it); anything else (the mirror, the runtime
    client's R packages, which every image installs, or an unknown key) touches everything.
    A removed R pin touches nothing: there is nothing left to build. No old file: everything.
    """
    if old is None:
        return Scope(everything=True)
    scope = Scope()
    for key in sorted(set(old) | set(new)):
        before, after = old.get(key), new.get(key)
        if before == after:
            continue
        if key == "r" and isinstance(before, dict) and isinstance(after, dict):
            changed = {v for v, pin in after.items() if before.get(v) != pin}
            scope |= Scope(r_versions=frozenset(changed))
        elif key == "bases" and isinstance(before, dict) and isinstance(after, dict):
            for name in set(before) | set(after):
                b, a = before.get(name) or {}, after.get(name) or {}
                if b == a:
                    continue
                same_image = all(b.get(k) == a.get(k) for k in ("image", "tag"))
                archs = [x for x in ARCHITECTURES if not same_image or b.get(x) != a.get(x)]
                scope |= Scope(bases=frozenset((name, x) for x in archs))
        else:
            return Scope(everything=True)
    return scope


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, check=False
        )
    except FileNotFoundError:
        raise JobError("git is not installed: --changed-since needs it") from None


def changed_scope(ref: str, root: Path, versions_file: Path) -> Scope:
    """Everything the files changed between `ref` and the work tree touch."""
    # --no-renames: a rename is its old path deleted and its new path added, both counted.
    # --end-of-options: a ref such as `--output=FILE` is a ref to git, never an option.
    diff = _git(root, "diff", "--name-only", "--no-renames", "--end-of-options", ref, "--")
    if diff.returncode != 0:
        raise UsageError(
            f"--changed-since {ref!r}: git cannot diff against it ({diff.stderr.strip()});"
            " give a commit the checkout has (fetch more history, e.g. fetch-depth: 0)"
        )
    scope = Scope()
    for path in diff.stdout.splitlines():
        effect, recipe = path_effect(path)
        if effect == "everything":
            scope |= Scope(everything=True)
        elif effect == "recipe" and recipe:
            scope |= Scope(recipes=frozenset([recipe]))
        elif effect == "pins":
            old = _git(root, "show", "--end-of-options", f"{ref}:{path}")
            try:
                before = tomllib.loads(old.stdout) if old.returncode == 0 else None
            except tomllib.TOMLDecodeError:
                before = None  # an unreadable old file: rebuild everything, to be safe
            scope |= pin_changes(before, tomllib.loads(versions_file.read_text()))
    return scope


# ---- filters --------------------------------------------------------------------------------


def _values(given: Sequence[str] | None) -> list[str]:
    """Repeated options and comma-separated lists alike (workflow inputs are one string)."""
    return [v.strip() for item in given or [] for v in item.split(",") if v.strip()]


def select(
    entries: Iterable[Entry],
    pins: versions.Versions,
    *,
    r: Sequence[str] = (),
    families: Sequence[str] = (),
    archs: Sequence[str] = (),
    recipes: Sequence[str] = (),
    no_recipes: bool = False,
    scope: Scope | None = None,
    root: Path = RECIPES_DIR,
) -> list[Entry]:
    """The entries every given filter allows (an empty filter allows all).

    `r`: like build.py --r, exact (4.5.0) or a prefix resolving to the newest pinned release
    of that line (4.5 → 4.5.3). Unknown families, architectures or recipes are usage errors.
    A deprecated family (al2) is selected only when named.
    """
    wanted_r = {pins.resolve_r(v).version for v in r}
    wanted_families = {family(f).name for f in families} or {
        name for name, fam in FAMILIES.items() if not fam.deprecated
    }
    wanted_archs = {check_arch(a) for a in archs}
    wanted_recipes = {recipe_dir(name, root).name for name in recipes}
    return [
        e
        for e in entries
        if (not wanted_r or e.r in wanted_r)
        and e.family in wanted_families
        and (not wanted_archs or e.arch in wanted_archs)
        and (not wanted_recipes or e.recipe in wanted_recipes)
        and not (no_recipes and e.recipe is not None)
        and (scope is None or scope.touches(e))
    ]


def as_github_matrix(entries: Iterable[Entry]) -> dict[str, list[dict[str, Any]]]:
    """The shape `strategy.matrix: ${{ fromJSON(...) }}` takes."""
    return {"include": [asdict(e) for e in entries]}


# ---- command line -----------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="build.py matrix",
        description="Print the build matrix (every pinned R release x family x architecture,"
        " and each recipe's locked R version x family x architecture) as GitHub Actions'"
        ' {"include": [...]}. Filters combine; each takes a comma-separated list or repeats.',
        epilog="Each entry: r, family, arch, recipe (null for a base image), runner (the native"
        " GitHub runner for the arch), tag (the image's readable tag). A selection that is empty"
        " exits 2, unless --allow-empty.",
    )
    add_arguments(p)
    return p


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--r", action="append", metavar="VERSION", help="exact (4.5.0) or a prefix (4.5 → newest)"
    )
    p.add_argument("--family", action="append", help=f"one of {family_choices()}")
    p.add_argument("--arch", action="append", help=f"one of {', '.join(ARCHITECTURES)}")
    p.add_argument("--recipe", action="append", metavar="NAME", help="only this recipe's entries")
    p.add_argument("--no-recipes", action="store_true", help="only the base images")
    p.add_argument(
        "--changed-since",
        metavar="REF",
        help="only entries a change since the git commit REF touches (git diff --name-only REF)",
    )
    p.add_argument(
        "--allow-empty",
        action="store_true",
        help='print {"include": []} and exit 0 when nothing is selected (a push that touched'
        " no image)",
    )
    p.add_argument("--versions-file", type=Path, default=versions.VERSIONS_FILE, metavar="PATH")
    p.add_argument("--recipes-dir", type=Path, default=RECIPES_DIR, metavar="DIR")


def _describe(args: argparse.Namespace) -> str:
    given = [
        f"--{name.replace('_', '-')} {','.join(value) if isinstance(value, list) else value}"
        for name in ("r", "family", "arch", "recipe", "changed_since")
        if (value := getattr(args, name))
    ]
    if args.no_recipes:
        given.append("--no-recipes")
    if not args.family:
        deprecated = [name for name, fam in FAMILIES.items() if fam.deprecated]
        given.append(f"deprecated {', '.join(deprecated)} left out: name it with --family")
    return "; ".join(given) or "no filter"


def run(args: argparse.Namespace) -> int:
    try:
        pins = versions.load(args.versions_file)
        entries = full_matrix(pins, args.recipes_dir)
        scope = None
        if args.changed_since:
            root = args.versions_file.resolve().parent
            scope = changed_scope(args.changed_since, root, args.versions_file)
        selected = select(
            entries,
            pins,
            r=_values(args.r),
            families=_values(args.family),
            archs=_values(args.arch),
            recipes=_values(args.recipe),
            no_recipes=args.no_recipes,
            scope=scope,
            root=args.recipes_dir,
        )
    except (UsageError, JobError) as e:
        return report(e)
    if len(selected) > MAX_JOBS:
        print(
            f"error: {len(selected)} entries; GitHub Actions runs at most {MAX_JOBS} jobs per"
            " matrix: split the run with filters (e.g. --arch)",
            file=sys.stderr,
        )
        return 2
    if not selected:
        print(
            f"matrix: nothing selected of {len(entries)} entries ({_describe(args)})",
            file=sys.stderr,
        )
        if not args.allow_empty:
            return 2
    else:
        print(
            f"matrix: {len(selected)} of {len(entries)} entries ({_describe(args)})",
            file=sys.stderr,
        )
    print(json.dumps(as_github_matrix(selected), separators=(",", ":")))
    return 0


def main(argv: Sequence[str]) -> int:
    return run(parser().parse_args(list(argv)))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
