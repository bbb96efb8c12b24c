"""Files a system library opens at run time, which `ldd` cannot see (data/runtime-data.toml).

PROJ's proj.db, GDAL's data, udunits2's XML, fontconfig's configuration and a font: a recipe whose
locked packages match a system-requirements rule (sysreqs.rules(), the same matching the build
packages come from) gets that rule's packages in its final stage, and the final stage checks that
each file the rule names is there, failing the build with the rule's name when one is not. The
events of a recipe that uses them (recipes/geo-plot) check them by calling the functions that
read them.
"""

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from rlambda.inputs import load_toml
from rlambda.pins.platforms import FAMILIES
from rlambda.recipes.lockfile import Lock
from rlambda.recipes.sysreqs import rules
from rlambda.tomlcheck import TomlChecker, toml_kind

DATA_FILE = Path(__file__).resolve().parent / "data" / "runtime-data.toml"
_TEXT = re.compile(r"[^\x00-\x1f\x7f]+")
# Absolute paths or shell globs without quotes, spaces or other shell syntax: they go into a
# RUN line of the Dockerfile.
_PATH = re.compile(r"/[A-Za-z0-9._+*?/-]+")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9+._-]*")


@dataclass(frozen=True)
class DataRule:
    name: str  # the system-requirements rule it belongs to
    why: str
    source: str
    files: tuple[tuple[str, ...], ...]  # each: one of these paths or globs must match
    packages: dict[str, tuple[str, ...]]  # family -> packages the final stage installs


@cache
def data_rules(path: Path = DATA_FILE) -> dict[str, DataRule]:
    check = TomlChecker(path, "see the comment at the top of the file")
    data = load_toml(path)
    known = {r.name for r in rules()}
    result = {}
    for name in data:
        table = check.table(data, name)
        if name not in known:
            check.fail(name, "the name of a rule in the system-requirements table")
        check.known_keys(table, name, ("why", "source", "files", *FAMILIES))
        files = table.get("files")
        if not isinstance(files, list) or not files:
            check.fail(f"{name}.files", f"a non-empty array, found {toml_kind(files)}")
        alternatives = []
        for entry in files:
            choices = entry if isinstance(entry, list) else [entry]
            if not choices or not all(isinstance(c, str) and _PATH.fullmatch(c) for c in choices):
                check.fail(f"{name}.files", f"paths or globs matching {_PATH.pattern}")
            alternatives.append(tuple(choices))
        packages = {}
        for family in FAMILIES:
            if family not in table:
                continue
            entry = check.table(table, f"{name}.{family}", family)
            check.known_keys(entry, f"{name}.{family}", ("packages",))
            names = entry.get("packages")
            if not isinstance(names, list) or not all(
                isinstance(n, str) and _NAME.fullmatch(n) for n in names
            ):
                check.fail(f"{name}.{family}.packages", "an array of package names")
            packages[family] = tuple(names)
        result[name] = DataRule(
            name=name,
            why=check.string(table, name, "why", _TEXT),
            source=check.string(table, name, "source", _TEXT),
            files=tuple(alternatives),
            packages=packages,
        )
    return result


def matched_rules(lock: Lock) -> list[str]:
    """The system-requirements rules the lock's packages match, sorted (whatever a recipe's
    overrides install for them: the library is the same, and so are its files)."""
    names = set()
    for package in lock.packages:
        text = " ".join(package.system_requirements.split())
        if text:
            names.update(r.name for r in rules() if r.matches(text))
    return sorted(names)


def recipe_data_rules(lock: Lock) -> list[DataRule]:
    """The data rules a lock's packages need, in rule-name order."""
    table = data_rules()
    return [table[name] for name in matched_rules(lock) if name in table]


def data_packages(rules_: list[DataRule], family: str) -> list[str]:
    """The packages the final stage installs for `rules_` on `family`, sorted, each once."""
    return sorted({p for rule in rules_ for p in rule.packages.get(family, ())})
