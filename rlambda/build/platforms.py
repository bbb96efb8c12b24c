"""Families and architectures: the one table of everything that differs between base images.

Templates never branch on a family's name; they read the fields of its `Family`.
"""

from dataclasses import dataclass

from rlambda.errors import UsageError

DEFAULT_FAMILY = "al2023"

# Lambda's architecture names → Docker platform strings.
ARCHITECTURES = {"x86_64": "linux/amd64", "arm64": "linux/arm64"}


@dataclass(frozen=True)
class Family:
    name: str
    # Shell fragments the template joins: `{install} PKG... && {clean}`.
    install: str
    clean: str
    # How the builder maps a shared library to the package that owns it (see runtime-libs.sh).
    owner_query: str
    # The image's ENTRYPOINT, or "" to keep the base's (the AWS bases' /lambda-entrypoint.sh
    # runs AWS's emulator when started outside Lambda, else /var/runtime/bootstrap).
    entrypoint: str


FAMILIES = {
    "al2023": Family(
        name="al2023",
        # The AL2023 minimal image ships microdnf, not dnf.
        install="microdnf install -y --setopt=install_weak_deps=0 --nodocs",
        clean="microdnf clean all",
        owner_query="rpm",
        entrypoint="",
    ),
    "al2": Family(
        name="al2",
        install="yum install -y --setopt=skip_missing_names_on_install=False",
        clean="yum clean all && rm -rf /var/cache/yum",
        owner_query="rpm",
        entrypoint="",
    ),
    "debian": Family(
        name="debian",
        install=(
            "apt-get update && DEBIAN_FRONTEND=noninteractive"
            " apt-get install -y --no-install-recommends"
        ),
        # apt-get clean: downloaded .debs and apt's caches, which a bare base does not
        # drop by itself (debian:*-slim does, through its docker-clean apt config).
        clean="apt-get clean && rm -rf /var/lib/apt/lists/*",
        owner_query="dpkg",
        entrypoint="/var/runtime/bootstrap",
    ),
}

# What the builder stage needs to compile R, by role, in each family's package names.
# Libraries here are the build-time (-dev/-devel) side; the runtime stage installs whatever
# `ldd` finds on the result, so this table never lists runtime packages.
BUILD_PACKAGES: dict[str, dict[str, str]] = {
    "C compiler": {"debian": "gcc", "al2023": "gcc", "al2": "gcc"},
    "C++ compiler (packages with C++ code)": {
        "debian": "g++",
        "al2023": "gcc-c++",
        "al2": "gcc-c++",
    },
    "Fortran compiler (R's BLAS/LAPACK)": {
        "debian": "gfortran",
        "al2023": "gcc-gfortran",
        "al2": "gcc-gfortran",
    },
    "make": {"debian": "make", "al2023": "make", "al2": "make"},
    "strip (binutils)": {"debian": "binutils", "al2023": "binutils", "al2": "binutils"},
    "find, used by runtime-libs.sh": {
        "debian": "findutils",
        "al2023": "findutils",
        "al2": "findutils",
    },
    "rpm -qf / dpkg -S, used by runtime-libs.sh": {
        "debian": "dpkg",
        "al2023": "rpm",
        "al2": "rpm",
    },
    "zlib (required by R)": {"debian": "zlib1g-dev", "al2023": "zlib-devel", "al2": "zlib-devel"},
    "bzip2 (required by R)": {
        "debian": "libbz2-dev",
        "al2023": "bzip2-devel",
        "al2": "bzip2-devel",
    },
    "xz/lzma (required by R)": {"debian": "liblzma-dev", "al2023": "xz-devel", "al2": "xz-devel"},
    "PCRE2 (required by R >= 4.0)": {
        "debian": "libpcre2-dev",
        "al2023": "pcre2-devel",
        "al2": "pcre2-devel",
    },
    "libcurl (required by R >= 4.0: download.file, url())": {
        "debian": "libcurl4-openssl-dev",
        "al2023": "libcurl-devel",
        "al2": "libcurl-devel",
    },
}


def family(name: str) -> Family:
    try:
        return FAMILIES[name]
    except KeyError:
        raise UsageError(
            f"unknown family {name!r}; choose one of: {', '.join(FAMILIES)} (--family)"
        ) from None


def check_arch(arch: str) -> str:
    if arch not in ARCHITECTURES:
        raise UsageError(
            f"unknown architecture {arch!r}; choose one of: {', '.join(ARCHITECTURES)} (--arch)"
        )
    return arch


def build_packages(family_name: str) -> list[str]:
    """The builder stage's packages for a family, sorted and without duplicates."""
    return sorted({names[family_name] for names in BUILD_PACKAGES.values()})
