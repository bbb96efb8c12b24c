"""A recipe's packages taken from the R project itself: its renv.lock, or its DESCRIPTION.

renv.lock (renv's documented format, https://rstudio.github.io/renv/articles/lockfile.html):

    {"R": {"Version": "4.5.0", "Repositories": [{"Name": "CRAN", "URL": "..."}]},
     "Packages": {"jsonlite": {"Package": "jsonlite", "Version": "1.9.1",
                               "Source": "Repository", "Repository": "CRAN", ...}, ...}}

Every package renv recorded is pinned to its exact version (`== x.y.z`); the lock then checks
that those versions are on the mirror and that they form a closed set. Only packages from a
CRAN-like repository (`"Source": "Repository"`, or the older `"Source": "CRAN"`) are accepted:
a GitHub, GitLab, Bitbucket, git, URL, local or Bioconductor package has no tarball on a CRAN
mirror whose sha256 a lock could record, so it is refused, naming the package and its source.

DESCRIPTION: its Depends and Imports (R itself and R's base packages aside) are the recipe's
packages, with their version requirements, resolved as [packages] in recipe.toml would be.
"""

import json
from dataclasses import dataclass
from pathlib import Path

from rlambda.errors import UsageError
from rlambda.inputs import load_json, read_text
from rlambda.recipes.resolve import BASE_PACKAGES as _BASE
from rlambda.sources import dcf
from rlambda.sources.rversion import VERSION, Constraint, RVersion

RENV_LOCK = "renv.lock"
DESCRIPTION = "DESCRIPTION"
SOURCES = (RENV_LOCK, DESCRIPTION)
# renv's names for packages that come from a CRAN-like repository (renv >= 0.15 writes
# "Repository"; older lockfiles say "CRAN").
_REPOSITORY_SOURCES = {"Repository", "CRAN"}


@dataclass(frozen=True)
class ProjectPackages:
    file: Path
    packages: dict[str, tuple[Constraint, ...]]
    r_version: str | None  # renv's R.Version; None for a DESCRIPTION
    exact: bool  # renv: every package of the closure pinned; DESCRIPTION: roots only


def read_project(file: Path) -> ProjectPackages:
    """The packages named by `file`, a renv.lock or a DESCRIPTION, by its name."""
    if file.name == RENV_LOCK:
        return read_renv_lock(file)
    if file.name == DESCRIPTION:
        return read_description_file(file)
    raise UsageError(f"{file}: expected a file named {' or '.join(SOURCES)}")


def read_renv_lock(file: Path) -> ProjectPackages:
    not_renv = f"{file}: not an renv lockfile"
    data = load_json(file, "write it again with renv::snapshot()")
    if not isinstance(data, dict) or not isinstance(data.get("Packages"), dict):
        raise UsageError(f'{not_renv}: expected an object with a "Packages" object')
    r_section = data.get("R")
    if not isinstance(r_section, dict) or not isinstance(r_section.get("Version"), str):
        raise UsageError(f'{not_renv}: expected "R": {{"Version": "X.Y.Z", ...}}')
    r_version = r_section["Version"]
    if not VERSION.fullmatch(r_version):
        raise UsageError(f"{file}: R.Version {r_version!r} is not an R version")

    packages: dict[str, tuple[Constraint, ...]] = {}
    refused = []
    for key, record in data["Packages"].items():
        where = f"{file}: Packages.{json.dumps(key)}"
        if not isinstance(record, dict):
            raise UsageError(f"{where}: expected an object with Package, Version and Source")
        name, version = record.get("Package", key), record.get("Version")
        if not isinstance(name, str) or not dcf.PACKAGE_NAME.fullmatch(name) or name != key:
            raise UsageError(f"{where}: Package must be the package's name, {key!r}")
        if not isinstance(version, str) or not VERSION.fullmatch(version):
            raise UsageError(f"{where}: Version {version!r} is not an R package version")
        source = record.get("Source")
        if not isinstance(source, str):
            raise UsageError(f"{where}: no Source (renv records where each package came from)")
        if name in _BASE:
            continue
        if source not in _REPOSITORY_SOURCES:
            origin = _describe_source(record)
            refused.append(f"{name} {version} (Source: {origin})")
            continue
        packages[name] = (Constraint("==", RVersion(version)),)
    if refused:
        raise UsageError(
            f"{file}: only packages from a CRAN-like repository can be locked (their tarballs"
            " have a sha256 on the mirror); not: "
            + "; ".join(refused)
            + ". Publish them to a CRAN-like repository (e.g. with drat or"
            " tools::write_PACKAGES) and install them from there, or pass that repository as"
            " --cran-mirror."
        )
    if not packages:
        raise UsageError(f"{file}: no packages to lock (Packages is empty)")
    return ProjectPackages(file, packages, r_version, exact=True)


def _describe_source(record: dict) -> str:
    source = str(record.get("Source"))
    if source == "GitHub":
        user, repo, ref = (record.get(k) for k in ("RemoteUsername", "RemoteRepo", "RemoteRef"))
        if user and repo:
            return f"GitHub {user}/{repo}" + (f"@{ref}" if ref else "")
    if source == "Bioconductor":
        return "Bioconductor"
    return source


def read_description_file(file: Path) -> ProjectPackages:
    text = read_text(file, errors="replace")
    try:
        records = dcf.parse(text)
        if len(records) != 1:
            raise dcf.DcfError(f"expected one record, found {len(records)}")
        deps = [
            d
            for field in ("Depends", "Imports")
            for d in dcf.parse_dependency_field(records[0].get(field, ""), field)
        ]
    except dcf.DcfError as e:
        raise UsageError(f"{file}: not a DESCRIPTION file: {e}") from None
    packages: dict[str, tuple[Constraint, ...]] = {}
    for dep in deps:
        if dep.name == "R" or dep.name in _BASE:
            continue
        packages[dep.name] = packages.get(dep.name, ()) + (
            (dep.constraint,) if dep.constraint else ()
        )
    if not packages:
        raise UsageError(f"{file}: its Depends and Imports name no package to install")
    return ProjectPackages(file, packages, None, exact=False)
