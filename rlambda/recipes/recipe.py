"""recipes/<name>/recipe.toml: load and validate strictly, before anything is rendered.

Every value that can reach a Dockerfile, a shell line, a URL or a path is matched against a
narrow pattern here, so `jsonlite; rm -rf /`, quotes or newlines never get past loading. Errors
name the file and the exact key, like VERSIONS.toml's loader.

    description = "JSON in and out through API Gateway"   # optional
    handler = "handler.handle"        # <file>.<function>: recipes/<name>/<file>.R
    plumber = "plumber.R"             # or: a plumber API file (its #* annotations), served
                                      # in-process for HTTP events (runtime/R/plumber.R)
    events = "events"                 # optional (default "events"): recipes/<name>/events/*.json

    [packages]                        # CRAN packages; "*" = any version
    jsonlite = ">= 1.8"               # constraints as in DESCRIPTION, joined by commas
    packages-from = "renv.lock"       # or, instead of [packages]: the project's renv.lock (its
                                      # exact versions) or "DESCRIPTION" (its Depends, Imports)

    [system-requirements.debian]      # optional, per family: OS packages to build a CRAN
    xml2 = ["libxml2-dev"]            # package with, replacing the mapped ones ([] = none)

    [not-built-on]                    # optional: families this recipe cannot be built on,
    al2023 = "why"                    # with the reason (no render, no CI job)
"""

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from rlambda.errors import UsageError
from rlambda.inputs import load_toml
from rlambda.pins.platforms import FAMILIES
from rlambda.recipes.project import SOURCES, read_project
from rlambda.sources.dcf import PACKAGE_NAME
from rlambda.sources.rversion import Constraint, parse_constraints
from rlambda.tomlcheck import TomlChecker

RECIPES_DIR = Path(__file__).resolve().parent.parent.parent / "recipes"
RECIPE_FILE = "recipe.toml"

# The one rule for a recipe's name: it names the folder under recipes/ and goes into image tags
# (ECR allows [A-Za-z0-9._-]). Single dashes only, so a readable tag r-4.5.0-NAME-FAMILY-ARCH
# splits one way, and no dot or slash, so a name is never a path.
RECIPE_NAME = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
RECIPE_NAME_MAX = 63


def is_recipe_name(name: str) -> bool:
    return len(name) <= RECIPE_NAME_MAX and RECIPE_NAME.fullmatch(name) is not None


def check_recipe_name(name: str) -> str:
    if not is_recipe_name(name):
        raise UsageError(
            f"recipe name {name!r} cannot go into an image tag or name a folder under recipes/:"
            f" use lower-case letters, digits and single '-' (at most {RECIPE_NAME_MAX}"
            " characters)"
        )
    return name


# The handler file is a plain stem (no dots, so "file.function" splits one way only, the way
# the runtime's first split finds it); the function an R syntactic name.
_HANDLER = re.compile(r"([A-Za-z0-9_][A-Za-z0-9_-]*)\.([A-Za-z][A-Za-z0-9_.]*(?<!\.))")
_EVENTS_DIR = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*")
# Debian names are [a-z0-9][a-z0-9+.-]+; RPM names add capitals and underscores
# (perl-ExtUtils-MakeMaker). No white space, quotes, shell or apt/dnf option syntax.
OS_PACKAGE = re.compile(r"[A-Za-z0-9][A-Za-z0-9+._-]*")
# Printable, one line, nothing a shell or a Dockerfile label would interpret.
_DESCRIPTION = re.compile(r"[^\x00-\x1f\x7f\"'`$\\]{0,200}")
_PLUMBER_FILE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*\.[Rr]")
# The runtime's handler for a plumber file (runtime/R/plumber.R).
PLUMBER_PREFIX = "plumber:"
_KEYS = {
    "description",
    "handler",
    "plumber",
    "events",
    "packages",
    "packages-from",
    "system-requirements",
    "not-built-on",
}


@dataclass(frozen=True)
class Recipe:
    name: str
    path: Path  # the recipe's directory
    description: str
    handler: str  # "file.function" or "plumber:file.R", as the runtime's _HANDLER
    handler_file: Path
    events_dir: Path
    # CRAN package -> its constraints (empty: any version), in the file's order.
    packages: dict[str, tuple[Constraint, ...]]
    # family -> CRAN package -> OS packages replacing the mapped system requirements.
    system_requirements: dict[str, dict[str, tuple[str, ...]]] = field(default_factory=dict)
    # packages-from: the renv.lock or DESCRIPTION the packages were read from.
    packages_from: Path | None = None
    renv_r_version: str | None = None  # the R version renv.lock records
    exact_packages: bool = False  # renv.lock: the packages are the whole closure, pinned
    # family -> why the recipe is not built there ([not-built-on]).
    not_built_on: dict[str, str] = field(default_factory=dict)

    @property
    def file(self) -> Path:
        return self.path / RECIPE_FILE

    def packages_hash(self) -> str:
        """sha256 of the package section, normalised (order and spacing do not count): the
        lock stores it, and a lock whose hash differs was made for other packages."""
        canonical = {name: [str(c) for c in cons] for name, cons in sorted(self.packages.items())}
        data = json.dumps(canonical, sort_keys=True, separators=(",", ":")).encode()
        return "sha256:" + hashlib.sha256(data).hexdigest()


def recipe_dir(name: str, root: Path | None = None) -> Path:
    """recipes/<name> (or <root>/<name>), for a name given on the command line."""
    root = root or RECIPES_DIR
    path = root / check_recipe_name(name)
    if not (path / RECIPE_FILE).is_file():
        known = sorted(p.name for p in root.glob(f"*/{RECIPE_FILE}") for p in [p.parent])
        raise UsageError(
            f"no recipe {name!r}: {path / RECIPE_FILE} not found;"
            f" recipes: {', '.join(known) or 'none'}"
        )
    return path


def load_recipe(path: Path) -> Recipe:
    """Load recipes/<name>/ (the directory, or its recipe.toml) and validate all of it."""
    directory = path.parent if path.name == RECIPE_FILE else path
    file = directory / RECIPE_FILE
    check = TomlChecker(file)
    if not is_recipe_name(directory.name):
        check.fail("(directory name)", "lower-case letters, digits and single dashes")
    data = load_toml(file)

    for key in data:
        if key not in _KEYS:
            check.fail(key, f"no such key; a recipe has: {', '.join(sorted(_KEYS))}")
    description = check.string(data, None, "description", _DESCRIPTION, default="")
    if ("handler" in data) == ("plumber" in data):
        check.fail("handler", "either handler (file.function) or plumber (a plumber file)")
    if "plumber" in data:
        plumber = check.string(data, None, "plumber", _PLUMBER_FILE)
        handler = PLUMBER_PREFIX + plumber
        handler_file = directory / plumber
        if not handler_file.is_file():
            check.fail("plumber", f"a plumber file that exists; {handler_file} not found")
    else:
        handler = check.string(data, None, "handler", _HANDLER)
        handler_file = directory / (_HANDLER.fullmatch(handler).group(1) + ".R")  # type: ignore[union-attr]
        if not handler_file.is_file():
            check.fail("handler", f"a handler whose file exists; {handler_file} not found")
    events = check.string(data, None, "events", _EVENTS_DIR, default="events")
    if not (directory / events).is_dir():
        check.fail("events", f"a directory of events; {directory / events} not found")

    packages: dict[str, tuple[Constraint, ...]] = {}
    project = None
    if "packages-from" in data:
        if "packages" in data:
            check.fail("packages-from", "either [packages] or packages-from, not both")
        source = check.string(data, None, "packages-from", re.compile("|".join(SOURCES)))
        project = read_project(directory / source)
        packages = project.packages
    for name, spec in check.table(data, "packages", default={}).items():
        key = f"packages.{_quote_key(name)}"
        if not PACKAGE_NAME.fullmatch(name):
            check.fail(key, "an R package name (a letter, then letters, digits, dots)")
        if isinstance(spec, dict):
            # `data.table = ">= 1.14"` is TOML's dotted key: a table `data` holding `table`.
            dotted = ".".join([name, *_dotted_keys(spec)])
            check.fail(
                key,
                f"a version constraint string; TOML read {dotted} = ... as nested keys: quote"
                f' package names that contain a dot: "{dotted}" = ...',
            )
        if not isinstance(spec, str):
            check.fail(key, 'a version constraint string such as ">= 1.8" or "*"')
        try:
            packages[name] = parse_constraints(spec)
        except ValueError:
            check.fail(key, f'"*" or constraints like ">= 1.8" or ">= 1.8, < 2", found {spec!r}')

    overrides: dict[str, dict[str, tuple[str, ...]]] = {}
    for family, table in check.table(data, "system-requirements", default={}).items():
        fkey = f"system-requirements.{_quote_key(family)}"
        if family not in FAMILIES:
            check.fail(fkey, f"a family ({', '.join(FAMILIES)})")
        if not isinstance(table, dict):
            check.fail(fkey, "a table of CRAN package = [OS packages]")
        overrides[family] = {}
        for name, names in table.items():
            key = f"{fkey}.{_quote_key(name)}"
            if not PACKAGE_NAME.fullmatch(name):
                check.fail(key, "an R package name (a letter, then letters, digits, dots)")
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                check.fail(key, "an array of OS package names")
            for n in names:
                if not OS_PACKAGE.fullmatch(n):
                    check.fail(key, f"OS package names matching {OS_PACKAGE.pattern}, found {n!r}")
            overrides[family][name] = tuple(names)

    not_built_on: dict[str, str] = {}
    for family in check.table(data, "not-built-on", default={}):
        key = f"not-built-on.{_quote_key(family)}"
        if family not in FAMILIES:
            check.fail(key, f"a family ({', '.join(FAMILIES)})")
        not_built_on[family] = check.string(
            data["not-built-on"], "not-built-on", family, _DESCRIPTION
        )
        if not not_built_on[family]:
            check.fail(key, "the reason, not an empty string")

    return Recipe(
        name=directory.name,
        path=directory,
        description=description,
        handler=handler,
        handler_file=handler_file,
        events_dir=directory / events,
        packages=packages,
        system_requirements=overrides,
        packages_from=project.file if project else None,
        renv_r_version=project.r_version if project else None,
        exact_packages=project.exact if project else False,
        not_built_on=not_built_on,
    )


def _dotted_keys(table: dict) -> list[str]:
    """The first path down a table made from a dotted key (`a.b.c = x` -> ["b", "c"])."""
    key, value = next(iter(table.items()))
    return [key, *(_dotted_keys(value) if isinstance(value, dict) and value else [])]


def _quote_key(key: str) -> str:
    """A key as TOML would write it, so a hostile key is shown quoted, not interpreted."""
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)
