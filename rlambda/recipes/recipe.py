"""recipes/<name>/recipe.toml, or a project directory given by path: load and validate
strictly, before anything is rendered.

Every value that can reach a Dockerfile, a shell line, a URL or a path is matched against a
narrow pattern here, so `jsonlite; rm -rf /`, quotes or newlines never get past loading. Errors
name the file and the exact key, like VERSIONS.toml's loader.

    name = "my-api"                   # optional: the image's name (tags); in recipes/ it
                                      # must be the directory's name, elsewhere the default is
                                      # the directory's name, normalised (My_API -> my-api)
    description = "JSON in and out through API Gateway"   # optional
    handler = "handler.handle"        # <file>.<function>: recipes/<name>/<file>.R
    plumber = "plumber.R"             # or: a plumber API file (its #* annotations), served
                                      # in-process for HTTP events (runtime/R/plumber.R)
    events = "events"                 # optional (default "events"): recipes/<name>/events/*.json
    snapstart-prime = "prime.json"    # optional: an event (JSON, as Lambda sends it) shipped with
                                      # the code and run through the handler before a SnapStart
                                      # snapshot (RLAMBDA_SNAPSTART_PRIME; runtime/R/snapstart.R)

    [packages]                        # CRAN packages; "*" = any version
    jsonlite = ">= 1.8"               # constraints as in DESCRIPTION, joined by commas
    packages-from = "renv.lock"       # or, instead of [packages]: the project's renv.lock (its
                                      # exact versions) or "DESCRIPTION" (its Depends, Imports)

    [system-requirements.debian]      # optional, per family: OS packages to build a CRAN
    xml2 = ["libxml2-dev"]            # package with, replacing the mapped ones ([] = none)

    [system-sources.al2023.libsodium] # optional, per family: a C library the family cannot
    for = ["sodium"]                  # install, built from a pinned source tarball for these
    version = "1.0.22"                # CRAN packages (recipes/system_sources.py)
    urls = ["https://..."]
    sha256 = "..."

    [not-built-on]                    # optional: families this recipe cannot be built on,
    al2023 = "why"                    # with the reason (no render, no CI job)

A project directory (`--recipe PATH`, `lock PATH`: PATH has a `/` or is an existing directory)
is a user's R project wherever it lives. With a recipe.toml it is read as above, except that its
events directory may be missing (--test and --deploy then say so); without one it needs a
renv.lock (preferred) or a DESCRIPTION for its packages, and its handler is app.R's function
`handler` (`app.handler`), or a plumber.R when there is no app.R.
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
from rlambda.recipes.system_sources import SystemSource, read_system_sources
from rlambda.sources.dcf import PACKAGE_NAME
from rlambda.sources.rversion import Constraint, parse_constraints
from rlambda.tomlcheck import TomlChecker, quote_key

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


# How a directory's name becomes a recipe name: lower case, each run of separators a dash.
_NAME_SEPARATORS = re.compile(r"[-_. ]+")


def name_from_directory(directory: Path) -> str:
    """The recipe name a project directory gives its image (My_API -> my-api), or a UsageError
    saying why its name cannot be one."""
    name = _NAME_SEPARATORS.sub("-", directory.name.lower()).strip("-")
    if not is_recipe_name(name):
        raise UsageError(
            f"{directory}: the directory's name {directory.name!r} cannot name an image"
            f" (lower-case letters, digits and single '-', at most {RECIPE_NAME_MAX}"
            f' characters): give one with name = "..." in {directory / RECIPE_FILE}'
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
# A path under the recipe's directory, without "..": it goes into an ENV line.
_PRIME_FILE = re.compile(r"(?:[A-Za-z0-9_][A-Za-z0-9_.-]*/)*[A-Za-z0-9_][A-Za-z0-9_.-]*\.json")
_PLUMBER_FILE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*\.[Rr]")
# The runtime's handler for a plumber file (runtime/R/plumber.R).
PLUMBER_PREFIX = "plumber:"
_KEYS = {
    "name",
    "description",
    "handler",
    "plumber",
    "events",
    "snapstart-prime",
    "packages",
    "packages-from",
    "system-requirements",
    "system-sources",
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
    # family -> C libraries built from pinned source tarballs ([system-sources]).
    system_sources: dict[str, tuple[SystemSource, ...]] = field(default_factory=dict)
    # packages-from: the renv.lock or DESCRIPTION the packages were read from.
    packages_from: Path | None = None
    renv_r_version: str | None = None  # the R version renv.lock records
    exact_packages: bool = False  # renv.lock: the packages are the whole closure, pinned
    # SnapStart priming: an event file among the function's files, relative to its directory.
    snapstart_prime: str | None = None
    # family -> why the recipe is not built there ([not-built-on]).
    not_built_on: dict[str, str] = field(default_factory=dict)
    # A directory given by path (anywhere), not one of this repository's recipes/: its lock
    # is written there, and nothing of it is rendered into images/.
    project: bool = False
    has_recipe_file: bool = True  # False: a project read from its renv.lock or DESCRIPTION

    @property
    def file(self) -> Path:
        """The file its packages were read from (for messages): recipe.toml, else the
        project's renv.lock or DESCRIPTION."""
        if self.has_recipe_file or self.packages_from is None:
            return self.path / RECIPE_FILE
        return self.packages_from

    @property
    def lock_command(self) -> str:
        """The command that (re-)locks it, for messages."""
        if self.project:
            return f"rlambda lock {self.path}"
        return f"python build.py lock {self.name}"

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
            f" recipes: {', '.join(known) or 'none'}; for a project directory, give its path"
            f" (./{name})"
        )
    return path


def is_path(ref: str) -> bool:
    """Whether --recipe REF / lock REF names a directory (a `/` in it, or an existing directory
    here) rather than a recipe under recipes/."""
    return "/" in ref or (ref != "" and Path(ref).is_dir())


def locate(ref: str, root: Path | None = None) -> tuple[Path, bool]:
    """Where --recipe REF / lock REF points: (its directory, whether it is a project given by
    path). A name is recipes/NAME; a path must be a directory holding a recipe.toml, a
    renv.lock or a DESCRIPTION. Every way it can be wrong is one UsageError line."""
    root = root or RECIPES_DIR
    if not is_path(ref):
        return recipe_dir(ref, root), False
    given = Path(ref).expanduser()
    path = given.resolve()
    if "/" not in ref and (root / ref / RECIPE_FILE).is_file():
        if path == (root / ref).resolve():
            return recipe_dir(ref, root), False  # in recipes/ itself: the name means the same
        raise UsageError(
            f"recipe {ref!r}: both {root / ref} and the directory {path} exist;"
            f" write ./{ref} for the directory"
        )
    if path.parent == root.resolve() and (path / RECIPE_FILE).is_file():
        # recipes/NAME given by path is that recipe, under the repository's rules.
        return recipe_dir(path.name, root), False
    if not path.is_dir():
        what = "does not exist" if not path.exists() else "is not a directory"
        raise UsageError(f"recipe {ref!r}: {path} {what}")
    if path in (Path(path.anchor), Path.home().resolve()):
        # Everything under it would be walked for the function's code.
        raise UsageError(f"recipe {ref!r}: {path} is not a project directory; give the project's")
    if not any((path / name).is_file() for name in (RECIPE_FILE, *SOURCES)):
        raise UsageError(
            f"recipe {ref!r}: {path} holds none of {RECIPE_FILE}, {', '.join(SOURCES)}:"
            " not an R project"
        )
    return path, True


def recipe_name(ref: str) -> str:
    """The recipe name in the tags of `--recipe REF`'s image: REF itself, checked, or a
    project directory's name (its recipe.toml's, or its own normalised). Its lock is not read."""
    if not is_path(ref):
        return check_recipe_name(ref)
    path, project = locate(ref)
    return load_recipe(path, project=project).name


def load(ref: str) -> Recipe:
    """The recipe --recipe REF / lock REF names: recipes/NAME, or a project directory."""
    path, project = locate(ref)
    return load_recipe(path, project=project)


def load_recipe(path: Path, *, project: bool = False) -> Recipe:
    """Load recipes/<name>/ (the directory, or its recipe.toml) and validate all of it; with
    `project`, a directory anywhere (see `locate`), with or without a recipe.toml."""
    directory = path.parent if path.name == RECIPE_FILE else path
    file = directory / RECIPE_FILE
    check = TomlChecker(file)
    if project and not file.is_file():
        return _load_bare_project(directory)
    if not project and not is_recipe_name(directory.name):
        check.fail("(directory name)", "lower-case letters, digits and single dashes")
    data = load_toml(file)

    for key in data:
        if key not in _KEYS:
            check.fail(key, f"no such key; a recipe has: {', '.join(sorted(_KEYS))}")
    if "name" in data:
        own_name = check.string(data, None, "name", RECIPE_NAME)
        if len(own_name) > RECIPE_NAME_MAX:
            check.fail("name", f"at most {RECIPE_NAME_MAX} characters")
        if not project and own_name != directory.name:
            check.fail("name", f"the directory's name under recipes/, {directory.name!r}")
    else:
        own_name = name_from_directory(directory) if project else directory.name
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
    # A project need not have events until it is tested; a directory it names must exist.
    if not (directory / events).is_dir() and not (project and "events" not in data):
        check.fail("events", f"a directory of events; {directory / events} not found")

    prime = None
    if "snapstart-prime" in data:
        prime = check.string(data, None, "snapstart-prime", _PRIME_FILE)
        prime_file = directory / prime
        if not prime_file.is_file():
            check.fail("snapstart-prime", f"an event file that exists; {prime_file} not found")
        if prime_file.resolve().is_relative_to((directory / events).resolve()):
            check.fail(
                "snapstart-prime", f"a file shipped with the code, not under {events}/ (not copied)"
            )
        try:
            json.loads(prime_file.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            check.fail("snapstart-prime", f"a JSON event; {prime_file}: {exc}")

    packages: dict[str, tuple[Constraint, ...]] = {}
    read = None  # the renv.lock or DESCRIPTION packages-from names
    if "packages-from" in data:
        if "packages" in data:
            check.fail("packages-from", "either [packages] or packages-from, not both")
        source = check.string(data, None, "packages-from", re.compile("|".join(SOURCES)))
        read = read_project(directory / source)
        packages = read.packages
    for name, spec in check.table(data, "packages", default={}).items():
        key = f"packages.{quote_key(name)}"
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
        fkey = f"system-requirements.{quote_key(family)}"
        if family not in FAMILIES:
            check.fail(fkey, f"a family ({', '.join(FAMILIES)})")
        if not isinstance(table, dict):
            check.fail(fkey, "a table of CRAN package = [OS packages]")
        overrides[family] = {}
        for name, names in table.items():
            key = f"{fkey}.{quote_key(name)}"
            if not PACKAGE_NAME.fullmatch(name):
                check.fail(key, "an R package name (a letter, then letters, digits, dots)")
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                check.fail(key, "an array of OS package names")
            for n in names:
                if not OS_PACKAGE.fullmatch(n):
                    check.fail(key, f"OS package names matching {OS_PACKAGE.pattern}, found {n!r}")
            overrides[family][name] = tuple(names)

    system_sources = read_system_sources(check, data)

    not_built_on: dict[str, str] = {}
    for family in check.table(data, "not-built-on", default={}):
        key = f"not-built-on.{quote_key(family)}"
        if family not in FAMILIES:
            check.fail(key, f"a family ({', '.join(FAMILIES)})")
        not_built_on[family] = check.string(
            data["not-built-on"], "not-built-on", family, _DESCRIPTION
        )
        if not not_built_on[family]:
            check.fail(key, "the reason, not an empty string")

    return Recipe(
        name=own_name,
        path=directory,
        description=description,
        handler=handler,
        handler_file=handler_file,
        events_dir=directory / events,
        snapstart_prime=prime,
        packages=packages,
        system_requirements=overrides,
        system_sources=system_sources,
        packages_from=read.file if read else None,
        renv_r_version=read.r_version if read else None,
        exact_packages=read.exact if read else False,
        not_built_on=not_built_on,
        project=project,
    )


# A project without recipe.toml: its handler by convention.
DEFAULT_HANDLER = "app.handler"
DEFAULT_PLUMBER = "plumber.R"


def _load_bare_project(directory: Path) -> Recipe:
    """A project directory without recipe.toml: packages from its renv.lock (else its
    DESCRIPTION), the handler app.R's `handler` (else plumber.R), events in events/."""
    source = next((directory / s for s in SOURCES if (directory / s).is_file()), None)
    if source is None:
        raise UsageError(
            f"{directory}: holds none of {RECIPE_FILE}, {', '.join(SOURCES)}: not an R project"
        )
    app_file = directory / (DEFAULT_HANDLER.split(".")[0] + ".R")
    plumber_file = directory / DEFAULT_PLUMBER
    write_one = f'or say which in {directory / RECIPE_FILE}: handler = "FILE.FUNCTION"'
    if app_file.is_file() and plumber_file.is_file():
        raise UsageError(f"{directory}: both {app_file.name} and {plumber_file.name}; {write_one}")
    if app_file.is_file():
        handler, handler_file = DEFAULT_HANDLER, app_file
    elif plumber_file.is_file():
        handler, handler_file = PLUMBER_PREFIX + DEFAULT_PLUMBER, plumber_file
    else:
        raise UsageError(
            f"{directory}: no {RECIPE_FILE}, so its handler is the function `handler` in"
            f" {app_file.name} (or a {plumber_file.name}): neither exists; add one, {write_one}"
        )
    packages = read_project(source)
    return Recipe(
        name=name_from_directory(directory),
        path=directory,
        description="",
        handler=handler,
        handler_file=handler_file,
        events_dir=directory / "events",
        packages=packages.packages,
        packages_from=packages.file,
        renv_r_version=packages.r_version,
        exact_packages=packages.exact,
        project=True,
        has_recipe_file=False,
    )


def _dotted_keys(table: dict) -> list[str]:
    """The first path down a table made from a dotted key (`a.b.c = x` -> ["b", "c"])."""
    key, value = next(iter(table.items()))
    return [key, *(_dotted_keys(value) if isinstance(value, dict) and value else [])]
