"""Debian-control-format records (R's DESCRIPTION files and CRAN's PACKAGES index).

A record is `Field: value` lines, a continuation line starting with white space, records
separated by blank lines. Dependency fields (`Depends`, `Imports`, `LinkingTo`) are comma lists
of `name` or `name (op version)`.
"""

import re
import tarfile
from dataclasses import dataclass
from pathlib import Path

from rlambda.sources.rversion import Constraint, parse_constraint

# The one pattern for an R package name, wherever one is read (VERSIONS.toml, recipes, locks,
# PACKAGES): at least two characters, a letter first, then letters, digits and dots, not ending
# in a dot ("Writing R Extensions", 1.1.1; R's own tools:::.standard_regexps()
# valid_package_name, "[[:alpha:]][[:alnum:].]*[[:alnum:]]"). In Depends, R itself appears as
# the pseudo-package "R", which _DEPENDENCY reads apart.
PACKAGE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9.]*[A-Za-z0-9]")
DEPENDENCY_FIELDS = ("Depends", "Imports", "LinkingTo")
_FIELD = re.compile(r"([A-Za-z0-9/@._-]+):(.*)")
_DEPENDENCY = re.compile(r"\s*([A-Za-z][A-Za-z0-9.]*)\s*(?:\(([^()]*)\))?\s*")


class DcfError(ValueError):
    """A malformed record; the message says which line or field."""


@dataclass(frozen=True)
class Dependency:
    name: str
    constraint: Constraint | None

    def __str__(self) -> str:
        return f"{self.name} ({self.constraint})" if self.constraint else self.name


def parse(text: str) -> list[dict[str, str]]:
    """Records in order; continuation lines are joined with a newline, as R's read.dcf does
    for fields it keeps white space in (we normalise where it matters)."""
    records: list[dict[str, str]] = []
    record: dict[str, str] = {}
    field = None
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            if record:
                records.append(record)
            record, field = {}, None
        elif line[0] in " \t":
            if field is None:
                raise DcfError(f"line {number}: continuation line outside a field")
            record[field] += "\n" + line.strip()
        else:
            m = _FIELD.fullmatch(line)
            if not m:
                raise DcfError(f"line {number}: expected 'Field: value', found {line!r}")
            field = m.group(1)
            record[field] = m.group(2).strip()
    if record:
        records.append(record)
    return records


def dependencies(record: dict[str, str]) -> list[Dependency]:
    """Depends + Imports + LinkingTo, in that order. A name listed in two fields appears twice:
    each of its constraints binds."""
    return [
        dep
        for field in DEPENDENCY_FIELDS
        for dep in parse_dependency_field(record.get(field, ""), field)
    ]


def parse_dependency_field(value: str, field: str = "Depends") -> list[Dependency]:
    deps = []
    for item in value.split(","):
        if not item.strip():
            continue  # trailing commas are common and harmless
        m = _DEPENDENCY.fullmatch(item)
        if not m:
            raise DcfError(f"{field}: cannot read dependency {item.strip()!r}")
        constraint = None
        if m.group(2) is not None:
            try:
                constraint = parse_constraint(m.group(2))
            except ValueError:
                raise DcfError(
                    f"{field}: cannot read version requirement {item.strip()!r}"
                ) from None
        deps.append(Dependency(m.group(1), constraint))
    return deps


def read_description(tarball: Path) -> dict[str, str]:
    """The DESCRIPTION record of a source package tarball (`<pkg>/DESCRIPTION`)."""
    try:
        with tarfile.open(tarball, "r:gz") as tar:
            for member in tar:
                parts = member.name.split("/")
                if len(parts) == 2 and parts[1] == "DESCRIPTION" and member.isfile():
                    data = tar.extractfile(member)
                    assert data is not None
                    raw = data.read()
                    break
            else:
                raise DcfError(f"{tarball.name}: no <package>/DESCRIPTION inside")
    except (tarfile.TarError, OSError, EOFError) as e:
        raise DcfError(f"{tarball.name}: not a readable .tar.gz ({e})") from None
    records = parse(_decode(raw))
    if len(records) != 1:
        raise DcfError(f"{tarball.name}: DESCRIPTION holds {len(records)} records, expected 1")
    return records[0]


def _decode(raw: bytes) -> str:
    # DESCRIPTION files are UTF-8 unless they declare otherwise; Latin-1 decodes any byte.
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")
