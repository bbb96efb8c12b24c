"""R package versions compared the way R's `package_version()` compares them.

R splits a version on `.` and `-` into integers and compares the lists element by element, a
list that runs out first being the smaller: `1.10 > 1.9`, `1.0-1 == 1.0.1`, `1.0 < 1.0.0`.
"""

import re
from dataclasses import dataclass
from functools import total_ordering

from rlambda.errors import UsageError

# Digits separated by single dots or dashes; nothing else may reach a path, URL or Dockerfile.
VERSION = re.compile(r"[0-9]+(?:[.-][0-9]+)*")
# An R release, X.Y.Z: the one pattern every R version given or read is held to. [0-9], not \d,
# which in Python also matches other scripts' digits (Arabic-Indic ones, for example).
R_RELEASE = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+")


@total_ordering
@dataclass(frozen=True, eq=False)
class RVersion:
    text: str

    def __post_init__(self) -> None:
        if not VERSION.fullmatch(self.text):
            raise ValueError(f"not an R package version: {self.text!r}")

    @property
    def parts(self) -> tuple[int, ...]:
        return tuple(int(p) for p in re.split(r"[.-]", self.text))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RVersion) and self.parts == other.parts

    def __hash__(self) -> int:
        return hash(self.parts)

    def __lt__(self, other: "RVersion") -> bool:
        return self.parts < other.parts

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class Constraint:
    """One `op version` requirement, as in `R (>= 3.6.0)` or a recipe's `>= 1.8`."""

    op: str
    version: RVersion

    def allows(self, version: RVersion) -> bool:
        v, c = version.parts, self.version.parts
        return {
            ">=": v >= c,
            "<=": v <= c,
            "==": v == c,
            "!=": v != c,
            ">": v > c,
            "<": v < c,
        }[self.op]

    def __str__(self) -> str:
        return f"{self.op} {self.version}"


_CONSTRAINT = re.compile(r"\s*(>=|<=|==|!=|>|<)\s*(" + VERSION.pattern + r")\s*")


def parse_constraint(text: str) -> Constraint:
    """`>= 1.8` -> Constraint; raises ValueError on anything else."""
    m = _CONSTRAINT.fullmatch(text)
    if not m:
        raise ValueError(f"not a version constraint (like '>= 1.8'): {text!r}")
    return Constraint(m.group(1), RVersion(m.group(2)))


def parse_constraints(text: str) -> tuple[Constraint, ...]:
    """A recipe's constraint string: `*` (any version) or constraints joined by commas. Only
    spaces may separate the parts: a newline or tab is refused, not skipped."""
    if re.search(r"[^ <>=!0-9.,*-]", text):
        raise ValueError(f"not a version constraint (like '>= 1.8'): {text!r}")
    if text.strip() == "*":
        return ()
    return tuple(parse_constraint(part) for part in text.split(","))


def allows_all(constraints: tuple[Constraint, ...] | list[Constraint], version: RVersion) -> bool:
    return all(c.allows(version) for c in constraints)


def check_r_version(text: str) -> RVersion:
    """The R version a lock is made for (X.Y.Z), as an RVersion; a UsageError otherwise."""
    if not R_RELEASE.fullmatch(text):
        raise UsageError(f"R version {text!r}: expected X.Y.Z (--r)")
    return RVersion(text)
