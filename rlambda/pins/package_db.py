"""Which OS package names exist on Amazon Linux: the database in reference/amazon-linux/.

The judge of the names our family table and system-requirements mapping produce, so it is never
derived from them: every entry there was read in one of AWS's publications (or, for a name
looked for and not found, a real `dnf install` against AWS's repositories), with its source.
reference/amazon-linux/README.md says which names are verified and what is still missing.

For each family it answers: is this name in core (the base image's repositories), in SPAL
(Supplementary Packages for Amazon Linux, which a build must enable first), or in neither.
al2 has no database yet (see the README): its names are not checked.
"""

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

from rlambda.errors import UsageError
from rlambda.inputs import load_toml
from rlambda.tomlcheck import TomlChecker

DB_FILE = Path(__file__).resolve().parents[2] / "reference" / "amazon-linux" / "packages.toml"
Repo = Literal["core", "spal", "absent"]
REPOS: tuple[Repo, ...] = ("core", "spal", "absent")
# The families this database covers; names of any other family are not checked.
CHECKED_FAMILIES = ("al2023",)

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9+._-]*")
_TEXT = re.compile(r"[^\x00-\x1f\x7f]+")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_URL = re.compile(r"https://[^\s\"]+")
_ENTRY_KEYS = ("repo", "sources", "version", "verified", "reason", "spal")


@dataclass(frozen=True)
class Source:
    url: str
    what: str
    kind: str


@dataclass(frozen=True)
class Entry:
    name: str
    repo: Repo
    sources: tuple[str, ...]
    version: str = ""
    verified: bool = True
    reason: str = ""  # why an unverified name is kept
    spal: str = ""  # for an "absent" name: what is known about SPAL


@dataclass(frozen=True)
class PackageDb:
    path: Path
    checked: str
    release: str
    sources: dict[str, Source]
    packages: dict[str, dict[str, Entry]]  # family -> name -> entry

    def lookup(self, family: str, name: str) -> Entry | None:
        return self.packages.get(family, {}).get(name)

    def repo(self, family: str, name: str) -> Repo | None:
        """core, spal or absent; None when the database has no entry for the name."""
        entry = self.lookup(family, name)
        return entry.repo if entry else None

    def names(self, family: str, repos: tuple[Repo, ...] = ("core",)) -> list[str]:
        """The family's names in `repos`, sorted."""
        return sorted(n for n, e in self.packages.get(family, {}).items() if e.repo in repos)

    def needs_spal(self, family: str, names: list[str] | tuple[str, ...]) -> bool:
        """Whether installing `names` on `family` needs the SPAL repository enabled."""
        return any(self.repo(family, n) == "spal" for n in names)

    def unchecked(self, family: str, name: str) -> bool:
        """Whether `name` could not be checked: the family is checked, the database (partial:
        see its README) has no entry for it."""
        return family in CHECKED_FAMILIES and self.lookup(family, name) is None

    def unavailable(self, family: str, name: str, *, strict: bool = False) -> str | None:
        """Why `name` cannot be installed on `family`, or None when it can (in core or SPAL,
        or the family is not checked). A name the database does not know counts as unavailable
        only when `strict` (the family table's own names, which must all be verified): for a
        project's requirements the partial list could not tell, and refusing would turn away
        names AL2023 has."""
        if family not in CHECKED_FAMILIES:
            return None
        entry = self.lookup(family, name)
        where = f"{self.path.name} ({family}, release {self.release})"
        if entry is None:
            if not strict:
                return None
            return (
                f"{name!r} is not in {where}: no AWS source seen says it exists"
                " (add it to reference/amazon-linux/packages.toml with its source if it does)"
            )
        if entry.repo == "absent":
            spal = f"; SPAL: {entry.spal}" if entry.spal else "; SPAL: not verified"
            return (
                f"{name!r} is not in AL2023's core repositories ({', '.join(entry.sources)}){spal}"
            )
        return None


@cache
def load(path: Path = DB_FILE) -> PackageDb:
    check = TomlChecker(path, "see reference/amazon-linux/README.md")
    data = load_toml(path, "see reference/amazon-linux/README.md")
    check.known_keys(data, "(top level)", ("meta", "sources", *CHECKED_FAMILIES))
    meta = check.table(data, "meta")
    checked = check.string(meta, "meta", "checked", _DATE)
    release = check.string(meta, "meta", "release", re.compile(r"[0-9]{4}\.[0-9]+(\.[0-9]{8})?"))
    sources: dict[str, Source] = {}
    for key, table in check.table(data, "sources").items():
        where = f"sources.{key}"
        check.table(data["sources"], where, key)
        check.known_keys(table, where, ("url", "what", "kind"))
        sources[key] = Source(
            url=check.string(table, where, "url", _URL),
            what=check.string(table, where, "what", _TEXT),
            kind=check.string(table, where, "kind", _TEXT),
        )
    packages: dict[str, dict[str, Entry]] = {}
    for family in CHECKED_FAMILIES:
        packages[family] = {}
        for name, table in check.table(data, family).items():
            where = f"{family}.{name}"
            if not _NAME.fullmatch(name):
                check.fail(where, f"a package name matching {_NAME.pattern}")
            check.table(data[family], where, name)
            check.known_keys(table, where, _ENTRY_KEYS)
            repo = table.get("repo")
            if repo not in REPOS:
                check.fail(f"{where}.repo", f"one of {', '.join(REPOS)}, found {repo!r}")
            refs = table.get("sources")
            if not isinstance(refs, list) or not all(r in sources for r in refs):
                check.fail(
                    f"{where}.sources", f"an array of keys of [sources] ({', '.join(sources)})"
                )
            verified = table.get("verified", True)
            if not isinstance(verified, bool):
                check.fail(f"{where}.verified", "a boolean")
            if verified and not refs:
                check.fail(f"{where}.sources", "at least one source for a verified name")
            reason = check.string(table, where, "reason", _TEXT, default="-")
            if not verified and reason == "-":
                check.fail(f"{where}.reason", "why an unverified name is kept")
            packages[family][name] = Entry(
                name=name,
                repo=repo,
                sources=tuple(refs),
                version=check.string(table, where, "version", _TEXT, default="-").strip("-"),
                verified=verified,
                reason="" if reason == "-" else reason,
                spal=check.string(table, where, "spal", _TEXT, default="-").strip("-"),
            )
    return PackageDb(path, checked, release, sources, packages)


def check_names(family: str, names: list[str] | tuple[str, ...], what: str) -> None:
    """Refuse, before anything is downloaded, a name `family` cannot install; `what` says
    where the names come from (for the message)."""
    db = load()
    problems = [p for n in names if (p := db.unavailable(family, n, strict=True))]
    if problems:
        raise UsageError(f"{what} names packages {family} cannot install: " + "; ".join(problems))
