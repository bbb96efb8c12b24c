"""Families and architectures: the one table of everything that differs between base images.

Templates never branch on a family's name; they read the fields of its `Family`.

Primary sources for the Amazon Linux names and facts below (checked 2026-12-01):
- R's configure.ac (wch/r-source): `which` is required ("which is required but missing"; the
  path "ends up hard-coded in the utils package"); so is working tzdata ("date-time
  conversions do not work in 2020 -- is tzdata installed?"); and LIBnn=lib64 on x86_64 Linux
  whenever /usr/lib64 exists and /etc/debian_version does not.
- AWS's package list of the AL2023 minimal container image (the al2023-container-ami page,
  2023.6 snapshot; cross-checked with `rpm -qa` of the AL2023-based lambda/python:3.12 image in
  https://github.com/amazonlinux/amazon-linux-2023/issues/585): bash, coreutils-single, glibc with
  glibc-minimal-langpack only, curl-minimal, microdnf, rpm; no which, findutils, tar, gzip,
  tzdata or libgomp.
- RHEL 9 / Fedora package names where AL2023's list is silent (AL2023 is Fedora-derived): gcc,
  gcc-c++, gcc-gfortran, make, binutils, findutils, which, zlib-devel, bzip2-devel, xz-devel,
  pcre2-devel, libcurl-devel, glibc-langpack-en, tzdata.
- rstudio/r-builds' RHEL 9 builder (builder/Dockerfile.rhel-9, package.rhel-9): the same -devel
  set plus `which` to build, and `which` among the R package's run-time dependencies; its
  build.sh configures every platform with LIBnn=lib.
"""

from dataclasses import dataclass

from rlambda.errors import UsageError

DEFAULT_FAMILY = "al2023"

# Lambda's architecture names → Docker platform strings.
ARCHITECTURES = {"x86_64": "linux/amd64", "arm64": "linux/arm64"}


def lambda_arch(docker_arch: str) -> str | None:
    """Lambda's name (x86_64, arm64) for Docker's (amd64, arm64); None for one Lambda cannot
    run."""
    return next((a for a, p in ARCHITECTURES.items() if p == f"linux/{docker_arch}"), None)


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
    # A shell command run after RUNTIME_PACKAGES are installed in the final stage, or "".
    locale_setup: str = ""
    # Why the family is kept but no longer built by default, or "" while it is supported.
    deprecated: str = ""
    # A shell command that enables SPAL (Supplementary Packages for Amazon Linux), run before an
    # install that needs a package only SPAL has; "" where the family has no SPAL.
    enable_spal: str = ""


FAMILIES = {
    "al2023": Family(
        name="al2023",
        # The AL2023 minimal image ships microdnf (3.8.1; 3.10 from 2023.6.20241010), not dnf.
        # Keep this microdnf syntax; do not "fix" it into dnf's: microdnf 3.8-3.10 accepts
        # --nodocs and --setopt=install_weak_deps=0 (0 or 1 only: False is refused), has no
        # --allowerasing, and `swap` only from 3.10. libcurl-devel installs beside the image's
        # libcurl-minimal (it provides libcurl(x86-64)), so nothing needs swapping.
        install="microdnf install -y --setopt=install_weak_deps=0 --nodocs",
        clean="microdnf clean all",
        owner_query="rpm",
        entrypoint="",
        # glibc-langpack-en ships the compiled en_* locales: nothing to generate.
        # SPAL is enabled by installing the spal-release package from the core repositories
        # (AWS: https://docs.aws.amazon.com/linux/al2023/ug/spal.html and its "Configure the
        # SPAL repository" page, configure-spal-repository.html, whose text could not be read
        # here; `dnf install spal-release` on AL2023 2023.9.20251117 and 2023.12.20260914 in
        # https://github.com/amazonlinux/amazon-linux-2023/issues/151 and .../issues/67). SPAL
        # is published per AL2023 release, like core; the base image's digest pins the release,
        # and so SPAL's packages: nothing further can be pinned (no SPAL snapshot by date).
        enable_spal=(
            "microdnf install -y --setopt=install_weak_deps=0 --nodocs spal-release"
            " && microdnf clean all"
        ),
    ),
    "al2": Family(
        name="al2",
        # yum 3: tsflags=nodocs skips documentation; skip_missing_names_on_install=False makes
        # a misspelt name fail the build instead of being skipped with a warning.
        install=(
            "yum install -y --setopt=tsflags=nodocs --setopt=skip_missing_names_on_install=False"
        ),
        clean="yum clean all && rm -rf /var/cache/yum",
        owner_query="rpm",
        entrypoint="",
        # Amazon Linux 2's support ended 2026-06-30; Lambda deprecated provided.al2 then,
        # blocking function creation from 2026-07-31 and updates from 2026-08-31.
        deprecated=(
            "Amazon Linux 2 reached end of support on 2026-06-30 and Lambda deprecated"
            " provided.al2 (no new functions from 2026-07-31, no updates from 2026-08-31);"
            " kept for existing functions, not rebuilt by default"
        ),
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
        # Debian's `locales` ships locale sources; compile the one Lambda's LANG names. (Purging
        # `locales` afterwards to save its 17 MB of sources also drops the compiled locale: the
        # debian locale test failed with R's six warnings when tried.)
        locale_setup="localedef -i en_US -f UTF-8 en_US.UTF-8",
    ),
}

# al2's compiler is gcc 7.3 (AL2's gcc10 packages are not used). R-admin (R 4.5's manual, "C
# standards" and "C++ Support"): compiling R needs C99 or later, and for C++17 "version 7 [of
# GCC] should suffice"; rstudio/r-builds built R 4.x for CentOS 7 with gcc 4.8. So R 4.0.x to
# 4.5.x are expected to build on al2; none was compiled here (its base cannot be pulled), and
# R 4.6's requirements were not checked.

# What the builder stage needs to compile R, by role, in each family's package names.
# Libraries here are the build-time (-dev/-devel) side; the runtime stage installs whatever
# `ldd` finds on the result, plus RUNTIME_PACKAGES (what ldd cannot see).
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
    "which (R's configure stops without it: AC_PATH_PROGS(WHICH, which))": {
        "debian": "debianutils",
        "al2023": "which",
        "al2": "which",
    },
    "tzdata (R's configure checks mktime/localtime in 2020 and stops: 'date-time conversions"
    " do not work in 2020 -- is tzdata installed?'; found on the al2023 stand-in)": {
        "debian": "tzdata",
        "al2023": "tzdata",
        "al2": "tzdata",
    },
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


# What the final stage installs beyond the owners of what `ldd` finds: files R reads at run
# time that are not shared libraries, so no ldd scan can see them. The reason is the key.
RUNTIME_PACKAGES: dict[str, dict[str, str]] = {
    "en_US.UTF-8 locale: Lambda sets LANG=en_US.UTF-8, and the AWS bases' glibc-minimal-langpack"
    " has only C, C.UTF-8 and POSIX, so R warns at every start and runs in the C locale (the six"
    " warnings on provided:al2023: https://github.com/mdneuzerling/lambdr/issues/31)": {
        "debian": "locales",
        "al2023": "glibc-langpack-en",
        "al2": "glibc-langpack-en",
    },
    "tzdata: Lambda sets TZ=:UTC (provided:* set TZ=:/etc/localtime) and R's date-times read"
    " /usr/share/zoneinfo; the AL2023 minimal image has no tzdata": {
        "debian": "tzdata",
        "al2023": "tzdata",
        "al2": "tzdata",
    },
    "which: R's Sys.which() runs the `which` configure found (hard-coded into utils);"
    " r-builds' RHEL 9 R package depends on it": {
        "debian": "debianutils",
        "al2023": "which",
        "al2": "which",
    },
}


def family(name: str) -> Family:
    try:
        return FAMILIES[name]
    except KeyError:
        raise UsageError(
            f"unknown family {name!r}; choose one of: {', '.join(FAMILIES)} (--family)"
        ) from None


def family_choices() -> str:
    """The families for --help, the deprecated ones marked (they are built only when named)."""
    return ", ".join(
        f"{name} (deprecated: built only when named)" if fam.deprecated else name
        for name, fam in FAMILIES.items()
    )


def check_arch(arch: str) -> str:
    if arch not in ARCHITECTURES:
        raise UsageError(
            f"unknown architecture {arch!r}; choose one of: {', '.join(ARCHITECTURES)} (--arch)"
        )
    return arch


def toolchain_packages(family_name: str) -> list[str]:
    """The builder stage's toolchain for a family (compilers, R's headers), sorted, unique."""
    return sorted({names[family_name] for names in BUILD_PACKAGES.values()})


def runtime_packages(family_name: str) -> list[str]:
    """The final stage's packages beyond ldd's, sorted and without duplicates."""
    return sorted({names[family_name] for names in RUNTIME_PACKAGES.values()})
