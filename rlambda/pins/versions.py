"""VERSIONS.toml: load and validate every pin, and resolve what a build asks for.

The whole file is validated on load, so a bad pin fails every command the same way, naming the
file, the exact key and what was expected there.
"""

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.version import Version

from rlambda.errors import UsageError
from rlambda.inputs import load_toml
from rlambda.pins.platforms import ARCHITECTURES, FAMILIES
from rlambda.sources import cran
from rlambda.sources.dcf import PACKAGE_NAME
from rlambda.sources.rversion import R_RELEASE
from rlambda.tomlcheck import TomlChecker, toml_kind

VERSIONS_FILE = Path(__file__).resolve().parents[2] / "VERSIONS.toml"

_SHA256 = re.compile(r"[0-9a-f]{64}")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
# R releases are plain X.Y.Z; nothing else may reach a URL, a path or a Dockerfile.
R_VERSION = R_RELEASE
# CRAN's rule for package versions (Writing R Extensions, 1.1.1); names: dcf.PACKAGE_NAME.
R_PACKAGE_VERSION = re.compile(r"\d+([.-]\d+)+")
_IMAGE_NAME = re.compile(r"[a-z0-9]+(?:[._/-][a-z0-9]+)*(?::\d+)?(?:/[a-z0-9._-]+)*")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


@dataclass(frozen=True)
class RRelease:
    version: str
    url: str
    sha256: str
    # The URL's path below the mirror, e.g. src/base/R-4/R-4.5.0.tar.gz
    mirror_path: str

    @property
    def filename(self) -> str:
        return self.mirror_path.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class RPackage:
    """A CRAN package the runtime client needs, pinned like R itself."""

    name: str
    version: str
    url: str
    sha256: str
    mirror_path: str  # src/contrib/<name>_<version>.tar.gz

    @property
    def filename(self) -> str:
        return f"{self.name}_{self.version}.tar.gz"

    def urls(self, mirror: str) -> list[str]:
        """Where a mirror serves it: the current directory, or Archive/ once superseded."""
        return [
            f"{mirror}/{self.mirror_path}",
            f"{mirror}/src/contrib/Archive/{self.name}/{self.filename}",
        ]


@dataclass(frozen=True)
class BaseImage:
    family: str
    image: str
    tag: str
    digests: dict[str, str]  # arch -> sha256:...

    def ref(self, arch: str) -> str:
        return f"{self.image}@{self.digests[arch]}"


# AWS's RIE comes in the aws-sam-cli wheel, one binary per architecture.
RIE_ARCHES = ("x86_64", "arm64")


@dataclass(frozen=True)
class RiePin:
    """[aws_rie]: the aws-sam-cli wheel that carries AWS's RIE, and each binary in it."""

    version: str
    wheel_url: str
    wheel_sha256: str
    binaries: dict[str, str]  # arch -> sha256 of samcli/local/rapid/aws-lambda-rie-<arch>

    def member(self, arch: str) -> str:
        return f"samcli/local/rapid/aws-lambda-rie-{arch}"


_REQUESTED_R = re.compile(r"[0-9]+(\.[0-9]+){0,2}")


@dataclass(frozen=True)
class Versions:
    path: Path
    cran_mirror: str
    r: dict[str, RRelease]
    bases: dict[str, BaseImage]
    packages: dict[str, RPackage]  # in install order
    aws_rie: RiePin

    def resolve_r(self, requested: str) -> RRelease:
        """An exact pinned version, or the newest pinned release of `X.Y` / `X`."""
        # Plain releases only: packaging's Version also reads pre-releases (4.0rc1) and epochs
        # (4!4.0), whose `release` part would then match 4.0.x.
        if not _REQUESTED_R.fullmatch(requested):
            raise UsageError(
                f"--r {requested!r} is not an R release (X.Y.Z, or X.Y / X for the newest"
                f" pinned one); pinned: {self.pinned_list()}"
            )
        wanted = Version(requested)
        if requested in self.r:
            return self.r[requested]
        depth = len(wanted.release)
        matches = [
            Version(v) for v in self.r if depth < 3 and Version(v).release[:depth] == wanted.release
        ]
        if not matches:
            raise UsageError(
                f"R {requested} is not pinned in {self.path.name}; pinned: {self.pinned_list()}."
                f" To add a release: python build.py update --r X.Y.Z"
            )
        return self.r[str(max(matches))]

    def newest(self) -> RRelease:
        """The newest pinned R release."""
        return self.r[max(self.r, key=Version)]

    def pinned_list(self) -> str:
        """The pinned releases, oldest first, for messages."""
        return ", ".join(sorted(self.r, key=Version))


def _aws_rie(check: TomlChecker, data: dict[str, Any]) -> RiePin:
    entry = check.table(data, "aws_rie")
    check.known_keys(entry, "aws_rie", ("version", "wheel", "wheel_sha256", *RIE_ARCHES))
    return RiePin(
        version=check.string(entry, "aws_rie", "version", re.compile(r"[0-9]+(\.[0-9]+)+")),
        wheel_url=check.string(entry, "aws_rie", "wheel", re.compile(r"(https|file)://\S+\.whl")),
        wheel_sha256=check.string(entry, "aws_rie", "wheel_sha256", _SHA256),
        binaries={arch: check.string(entry, "aws_rie", arch, _SHA256) for arch in RIE_ARCHES},
    )


def load_rie_pin(path: Path = VERSIONS_FILE) -> RiePin:
    """[aws_rie] alone, read and checked as load() does: fetching RIE needs no other pin."""
    return _aws_rie(TomlChecker(path), load_toml(path))


def load(path: Path = VERSIONS_FILE) -> Versions:
    data = load_toml(path)
    check = TomlChecker(path)
    check.known_keys(data, "", ("cran", "r", "bases", "packages", "aws_rie"))

    check.known_keys(check.table(data, "cran"), "cran", ("mirror",))
    mirror = check.string(check.table(data, "cran"), "cran", "mirror", cran.MIRROR_URL)
    mirror = mirror.rstrip("/")

    releases = {}
    for version, entry in check.table(data, "r").items():
        key = f'r."{version}"'
        if not R_VERSION.fullmatch(version):
            check.fail(key, "an R version of the form X.Y.Z")
        if not isinstance(entry, dict):
            check.fail(key, f"a table, found {toml_kind(entry)}")
        url = check.string(entry, key, "url", re.compile(r"\S+\.tar\.gz"))
        if not url.startswith(mirror + "/"):
            check.fail(f"{key}.url", f"a URL under cran.mirror ({mirror}/...), found {url!r}")
        mirror_path = url[len(mirror) + 1 :]
        if mirror_path.rsplit("/", 1)[-1] != f"R-{version}.tar.gz":
            check.fail(f"{key}.url", f"a URL ending in R-{version}.tar.gz, found {url!r}")
        sha256 = check.string(entry, key, "sha256", _SHA256)
        check.known_keys(entry, key, ("url", "sha256"))
        releases[version] = RRelease(version, url, sha256, mirror_path)
    if not releases:
        check.fail("r", "at least one pinned R release")

    tables = check.table(data, "bases")
    for family in tables:
        if family not in FAMILIES:
            check.fail(f"bases.{family}", f"one of the known families ({', '.join(FAMILIES)})")
    bases = {}
    for family in FAMILIES:
        key = f"bases.{family}"
        entry = check.table(tables, key, family)
        check.known_keys(entry, key, ("image", "tag", *ARCHITECTURES))
        bases[family] = BaseImage(
            family=family,
            image=check.string(entry, key, "image", _IMAGE_NAME),
            tag=check.string(entry, key, "tag", _TAG),
            digests={a: check.string(entry, key, a, _DIGEST) for a in ARCHITECTURES},
        )
    packages = {}
    for name, entry in check.table(data, "packages").items():
        key = f"packages.{name}"
        if not PACKAGE_NAME.fullmatch(name):
            check.fail(key, "an R package name")
        if not isinstance(entry, dict):
            check.fail(key, f"a table, found {toml_kind(entry)}")
        version = check.string(entry, key, "version", R_PACKAGE_VERSION)
        url = check.string(entry, key, "url", re.compile(r"\S+"))
        mirror_path = f"src/contrib/{name}_{version}.tar.gz"
        if url != f"{mirror}/{mirror_path}":
            check.fail(f"{key}.url", f"{mirror}/{mirror_path}, found {url!r}")
        sha256 = check.string(entry, key, "sha256", _SHA256)
        check.known_keys(entry, key, ("version", "url", "sha256"))
        packages[name] = RPackage(name, version, url, sha256, mirror_path)
    return Versions(path, mirror, releases, bases, packages, _aws_rie(check, data))
