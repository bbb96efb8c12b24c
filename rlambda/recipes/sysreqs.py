"""Build-time OS packages for a lock's CRAN packages, per family, from one table.

The table (data/system-requirements.json, derived by sysreqs_table.py from the rules pak and
Posit Package Manager use) maps a package's `SystemRequirements` text to -dev/-devel packages.
Run-time libraries are not listed here: the build finds them with `ldd`. A recipe's
`[system-requirements.<family>]` entry for a CRAN package replaces the lookup for it. Text we
cannot map fails the lookup, naming the CRAN package and the library, rather than leaving a
build to fail half an hour later in a compiler error.
"""

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cache

from rlambda.errors import UsageError
from rlambda.pins import package_db
from rlambda.pins.platforms import FAMILIES
from rlambda.recipes.lockfile import Lock
from rlambda.recipes.recipe import Recipe
from rlambda.recipes.sysreqs_table import TABLE_FILE

# SystemRequirements clauses that name no library: language standards and build tools every
# builder already has (gcc, g++, make; see platforms.BUILD_PACKAGES).
_NO_LIBRARY = re.compile(
    r"(c\+\+ ?\d*|c\d\d|gnu make|make|posix|utf-8|(deb|rpm|csw|brew)\)?|\(?(deb|rpm)\)?)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Rule:
    name: str
    patterns: tuple[re.Pattern[str], ...]
    families: dict[str, dict]

    def matches(self, text: str) -> bool:
        return any(p.search(text) for p in self.patterns)


@dataclass(frozen=True)
class Requirement:
    """One OS package a CRAN package needs, and why: for the build's comments and errors."""

    os_package: str
    cran_package: str
    rule: str  # the table's rule, or "recipe.toml" for an override
    guess: bool  # Amazon Linux names taken from Fedora/RHEL
    unchecked: bool = False  # not in the committed list of the family's names (partial)
    checked: str = ""  # what that list says of the name: where it is, on whose word

    @property
    def why(self) -> str:
        """What the recipe Dockerfile's comment says about this package."""
        if self.rule == "recipe.toml":
            source = f"{self.cran_package}, as recipe.toml's [system-requirements] says"
        else:
            source = (
                f"{self.cran_package}'s SystemRequirements, r-system-requirements rule {self.rule}"
            )
        if self.unchecked:
            return source + " (not in reference/amazon-linux's partial list: unchecked)"
        if self.checked:
            return f"{source} ({self.checked})"
        return source + (" (an Amazon Linux name guessed from Fedora/RHEL)" if self.guess else "")


@cache
def rules() -> tuple[Rule, ...]:
    data = json.loads(TABLE_FILE.read_text())
    return tuple(
        Rule(
            name=r["name"],
            patterns=tuple(re.compile(p, re.IGNORECASE) for p in r["patterns"]),
            families={f: r[f] for f in FAMILIES},
        )
        for r in data["rules"]
    )


def requirements_for(
    cran_package: str,
    system_requirements: str,
    family: str,
    overrides: Mapping[str, Sequence[str]] | None = None,
) -> list[Requirement]:
    """The OS packages one CRAN package needs to build on `family`."""
    if family not in FAMILIES:
        raise UsageError(f"unknown family {family!r}; choose one of: {', '.join(FAMILIES)}")
    overrides = overrides or {}
    if cran_package in overrides:
        result = [
            Requirement(p, cran_package, "recipe.toml", False) for p in overrides[cran_package]
        ]
        return _check_available(result, family, system_requirements)
    text = " ".join(system_requirements.split())
    if not text:
        return []
    matched = [r for r in rules() if r.matches(text)]
    for clause in re.split(r"[,;]|\band\b", text):
        clause = clause.strip(" .")
        if (
            clause
            and not _NO_LIBRARY.fullmatch(clause)
            and not any(r.matches(clause) for r in matched)
        ):
            _fail(
                cran_package, clause, family, "no rule in the system-requirements table matches it"
            )
    result = []
    for rule in matched:
        entry = rule.families[family]
        if "unavailable" in entry:
            _fail(cran_package, rule.name, family, entry["unavailable"])
        result += [
            Requirement(p, cran_package, rule.name, entry["guess"]) for p in entry["packages"]
        ]
    return _check_available(result, family, text)


def _check_available(requirements: list[Requirement], family: str, text: str) -> list[Requirement]:
    """Each OS package AWS's own package lists (reference/amazon-linux/) say the family lacks is
    refused: the mapping's Amazon Linux names are guesses from Fedora, and a wrong one would
    otherwise fail the build half an hour in. A name the partial lists do not hold is kept,
    marked unchecked (the Dockerfile's comment says so)."""
    db = package_db.load()
    checked = []
    for req in requirements:
        # A package the recipe names itself must be one the database knows: the partial lists
        # cannot vouch for a name they do not hold, and the user can say another.
        why = db.unavailable(family, req.os_package, strict=req.rule == "recipe.toml")
        if why is None:
            entry = db.lookup(family, req.os_package)
            note = ""
            if entry is not None:
                where = "AL2023's core" if entry.repo == "core" else "SPAL"
                note = (
                    f"in {where}: {', '.join(entry.sources)}"
                    if entry.verified
                    else f"in {where}, unverified: reference/amazon-linux/packages.toml says why"
                )
            unchecked = db.unchecked(family, req.os_package)
            checked.append(replace(req, unchecked=unchecked, checked=note))
            continue
        if req.rule == "recipe.toml":
            raise UsageError(
                f"recipe.toml's [system-requirements.{family}] {req.cran_package} names"
                f" {req.os_package!r}, which {family} cannot install: {why}. Name packages AL2023"
                f" or SPAL has (reference/amazon-linux/packages.toml), or drop the recipe's"
                f" {family} variant"
            )
        _fail(
            req.cran_package,
            text or req.rule,
            family,
            f"r-system-requirements rule {req.rule} maps it to {req.os_package!r}; {why}",
        )
    return checked


def build_requirements(
    lock: Lock, family: str, overrides: Mapping[str, Sequence[str]] | None = None
) -> list[Requirement]:
    """Every OS package the lock's packages need to build on `family`, in install order of the
    CRAN packages, each OS package once. `overrides`: a recipe's
    `system_requirements.get(family)`."""
    seen: dict[str, Requirement] = {}
    for package in lock.packages:
        for req in requirements_for(package.name, package.system_requirements, family, overrides):
            seen.setdefault(req.os_package, req)
    return list(seen.values())


def recipe_requirements(lock: Lock, recipe: Recipe, family: str) -> list[Requirement]:
    """What the builder installs for a recipe's lock on `family`, with the recipe's overrides.
    A CRAN package a `[system-sources.<family>]` library is built for maps to nothing: the
    library comes from its source, and the package's own `[system-requirements.<family>]`
    entry, if any, names what it needs beside."""
    overrides = dict(recipe.system_requirements.get(family, {}))
    locked = {p.name for p in lock.packages}
    for source in recipe.system_sources.get(family, ()):
        for name in source.for_packages:
            if name not in locked:
                raise UsageError(
                    f"{recipe.file}: [system-sources.{family}.{source.name}] is for CRAN package"
                    f" {name}, which the lock does not hold ({lock.path}): name a package the"
                    f" recipe installs, or re-lock ({recipe.lock_command})"
                )
            overrides.setdefault(name, ())
    return build_requirements(lock, family, overrides)


def build_packages(lock: Lock, recipe: Recipe, family: str) -> list[str]:
    """The sorted OS package names to install in the builder for a recipe's lock on `family`."""
    return sorted({r.os_package for r in recipe_requirements(lock, recipe, family)})


def _fail(cran_package: str, library: str, family: str, why: str) -> None:
    raise UsageError(
        f"cannot map the system requirement {library!r} of CRAN package {cran_package} to"
        f" {family} packages: {why}. Say what to install in recipe.toml:"
        f' [system-requirements.{family}] {cran_package} = ["..."] (or [] if nothing is needed),'
        f" or build the library from its source tarball: [system-sources.{family}.NAME]"
        f' with for = ["{cran_package}"], version, urls and sha256'
    )
