"""Resolve a recipe's packages to their full dependency closure on a CRAN-like mirror.

Like install.packages(), one version per package and no backtracking: each package gets the
newest version that every requirement met so far allows (the current one in PACKAGES, else the
newest allowed one in Archive/), and whose own `R (>= x)` the target R version meets. When a
later requirement rules a chosen version out, the choice is made again with all requirements
known so far, until nothing changes. Depends, Imports and LinkingTo count; base packages and
those shipped with R are R's to provide.
"""

from __future__ import annotations

import difflib
import heapq
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rlambda.errors import JobError, UsageError
from rlambda.sources import dcf
from rlambda.sources.rversion import Constraint, RVersion, allows_all

if TYPE_CHECKING:  # rlambda.sources.cran imports this package: only its types are needed here
    from rlambda.sources.cran import Candidate, Mirror, Tarball

# Installed with every R (its base and default packages); `R` is the version requirement.
BASE_PACKAGES = frozenset(
    [
        "base",
        "compiler",
        "datasets",
        "graphics",
        "grDevices",
        "grid",
        "methods",
        "parallel",
        "splines",
        "stats",
        "stats4",
        "tcltk",
        "tools",
        "utils",
    ]
)
RECIPE = "recipe.toml"


@dataclass(frozen=True)
class Resolved:
    name: str
    version: RVersion
    path: str  # below the mirror
    tarball: Tarball
    dependencies: tuple[str, ...]  # non-base packages it needs installed first, sorted
    requires_r: tuple[Constraint, ...]


@dataclass(frozen=True)
class _Requirement:
    constraint: Constraint | None
    by: str  # "recipe.toml" or "xml2 1.3.8"

    def __str__(self) -> str:
        return f"{self.constraint or 'any version'} (required by {self.by})"


def resolve(
    roots: dict[str, tuple[Constraint, ...]],
    mirror: Mirror,
    r_version: RVersion,
    *,
    log: Callable[[str], None] = lambda line: None,
    source: str = RECIPE,
) -> list[Resolved]:
    """The closure of `roots`, in install order (dependencies first; ties by name). `source`
    names where the roots come from in messages (recipe.toml, renv.lock, DESCRIPTION)."""
    for name in roots:
        if name in BASE_PACKAGES or name == "R":
            raise UsageError(
                f"{RECIPE}: key packages.{name}: {name} comes with R itself; remove it"
            )
    # Requirements only accumulate (see the module's docstring), so the loop ends: each pass
    # either changes nothing or moves some package to an older version.
    requirements: dict[str, set[_Requirement]] = defaultdict(set)
    for name, constraints in roots.items():
        requirements[name] |= {_Requirement(c, source) for c in constraints} or {
            _Requirement(None, source)
        }
    chosen: dict[str, tuple[Candidate, Tarball]] = {}
    while True:
        reachable: dict[str, list[dcf.Dependency]] = {}
        todo = sorted(roots, reverse=True)
        while todo:
            name = todo.pop()
            if name in reachable:
                continue
            if name not in chosen or not _allows(requirements[name], chosen[name][0].version):
                chosen[name] = _choose(name, requirements[name], roots, mirror, r_version)
                candidate = chosen[name][0]
                where = "Archive" if candidate.archived else "current"
                log(f"  {name} {candidate.version} ({where})")
            deps = [d for d in _dependencies(*chosen[name]) if d.name not in BASE_PACKAGES]
            reachable[name] = deps
            by = f"{name} {chosen[name][0].version}"
            for dep in deps:
                if dep.name == "R":
                    continue
                requirements[dep.name].add(_Requirement(dep.constraint, by))
                todo.append(dep.name)
        if all(_allows(requirements[n], chosen[n][0].version) for n in reachable):
            break
    return _in_install_order({name: chosen[name] for name in reachable}, reachable)


def _allows(requirements: set[_Requirement], version: RVersion) -> bool:
    return allows_all([r.constraint for r in requirements if r.constraint], version)


def _dependencies(candidate: Candidate, tarball: Tarball) -> list[dcf.Dependency]:
    try:
        return dcf.dependencies(tarball.description)
    except dcf.DcfError as e:
        raise JobError(f"{candidate.path}: DESCRIPTION: {e}") from None


def _choose(
    name: str,
    requirements: set[_Requirement],
    roots: dict[str, tuple[Constraint, ...]],
    mirror: Mirror,
    r_version: RVersion,
) -> tuple[Candidate, Tarball]:
    current = mirror.index().get(name, [])
    too_new = []
    # The Archive is listed only when no current version will do: most packages never need it.
    for pool in (lambda: current, lambda: mirror.archived(name)):
        for candidate in pool():
            if not _allows(requirements, candidate.version):
                continue
            tarball = mirror.tarball(candidate)
            r_needs = _r_requirement(candidate, tarball)
            if allows_all(r_needs, r_version):
                return candidate, tarball
            too_new.append(f"{candidate.version} needs R {', '.join(map(str, r_needs))}")
    archived = mirror.archived(name)
    if not current and not archived:
        _missing(name, requirements, roots, mirror)
    versions = ", ".join(
        [f"{c.version} (current)" for c in current] + [f"{c.version} (Archive)" for c in archived]
    )
    wanted = "; ".join(sorted(str(r) for r in requirements))
    detail = f"; for R {r_version}: {'; '.join(too_new)}" if too_new else ""
    raise UsageError(
        f"no version of {name} satisfies {wanted}. The mirror has {versions}{detail}."
        " Relax the constraint in recipe.toml (or lock for another R version with --r)."
    )


def _missing(
    name: str,
    requirements: set[_Requirement],
    roots: dict[str, tuple[Constraint, ...]],
    mirror: Mirror,
) -> None:
    known = list(mirror.index())
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    # CRAN names are case-sensitive but people type them in lower case (R6, Rcpp).
    close += [k for k in known if k.lower() == name.lower() and k not in close]
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    if name in roots:
        raise UsageError(
            f"{RECIPE}: key packages.{name}: unknown package {name!r}: not in"
            f" {mirror.url}/src/contrib/PACKAGES nor its Archive.{hint}"
        )
    by = ", ".join(sorted({r.by for r in requirements}))
    raise JobError(
        f"{name}, required by {by}, is missing from {mirror.url} (not in"
        f" src/contrib/PACKAGES nor its Archive): the mirror is incomplete; use another"
        " (--cran-mirror)."
    )


def _r_requirement(candidate: Candidate, tarball: Tarball) -> tuple[Constraint, ...]:
    return tuple(
        d.constraint
        for d in _dependencies(candidate, tarball)
        if d.name == "R" and d.constraint is not None
    )


def _in_install_order(
    chosen: dict[str, tuple[Candidate, Tarball]], deps: dict[str, list[dcf.Dependency]]
) -> list[Resolved]:
    """Kahn's algorithm, always taking the alphabetically first ready package, so the order
    depends on the packages alone; a cycle is reported with its path."""
    needs = {n: sorted({d.name for d in deps[n] if d.name != "R"}) for n in chosen}
    waiting = {n: len(v) for n, v in needs.items()}
    users: dict[str, list[str]] = defaultdict(list)
    for name, wanted in needs.items():
        for dep in wanted:
            users[dep].append(name)
    ready = [(n.lower(), n) for n, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        _, name = heapq.heappop(ready)
        order.append(name)
        for user in users[name]:
            waiting[user] -= 1
            if waiting[user] == 0:
                heapq.heappush(ready, (user.lower(), user))
    if len(order) < len(chosen):
        raise JobError(f"dependency cycle: {_cycle(needs, set(chosen) - set(order))}")
    result = []
    for name in order:
        candidate, tarball = chosen[name]
        result.append(
            Resolved(
                name=name,
                version=candidate.version,
                path=candidate.path,
                tarball=tarball,
                dependencies=tuple(needs[name]),
                requires_r=_r_requirement(candidate, tarball),
            )
        )
    return result


def _cycle(needs: dict[str, list[str]], stuck: set[str]) -> str:
    """One cycle among the packages Kahn's algorithm could not place, as `a -> b -> a`."""
    start = min(stuck)
    path = [start]
    while True:
        nxt = min(d for d in needs[path[-1]] if d in stuck)
        if nxt in path:
            return " -> ".join([*path[path.index(nxt) :], nxt])
        path.append(nxt)
