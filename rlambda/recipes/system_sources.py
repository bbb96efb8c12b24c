"""A recipe's `[system-sources.<family>.<name>]`: a C library a family's package manager cannot
install, built from a source tarball pinned by sha256.

    [system-sources.al2023.libsodium]
    for = ["sodium"]                  # the CRAN packages whose system requirement it satisfies
    version = "1.0.22"
    urls = ["https://.../libsodium_1.0.22.orig.tar.gz"]   # where these bytes are, tried in
    sha256 = "5838bb0c..."            # order (the next only when one has no such file)
    license = "ISC"                   # optional, for the image's SBOM

AL2023 leaves out some libraries CRAN packages link (libsodium, "removed purposefully"), and
its maintainers' answer is to build them from source
(https://github.com/amazonlinux/amazon-linux-2023/issues/204). The builder stage builds the
tarball with its own `./configure && make && make install` (an autotools source, as most C
libraries ship) as a static, position-independent archive in a prefix of its own, and the CRAN
packages named in `for` compile against it: their shared objects then carry the library, and
the final stage needs nothing of it (no run-time file, no package to install). The host
downloads the tarball and checks its sha256 before anything is built, as for R's own source.
"""

import re
import urllib.parse
from dataclasses import dataclass
from pathlib import PurePosixPath

from rlambda.pins.platforms import FAMILIES
from rlambda.sources.cran import is_local
from rlambda.sources.dcf import PACKAGE_NAME
from rlambda.tomlcheck import TomlChecker, quote_key

# Where the builder stage installs them: their headers, static archives and pkg-config files,
# never copied into the final stage.
PREFIX = "/opt/rlambda/system-sources"

_NAME = re.compile(r"[a-z0-9][a-z0-9+._-]{0,62}")
_VERSION = re.compile(r"[0-9A-Za-z][0-9A-Za-z.+_~-]{0,39}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_LICENSE = re.compile(r"[A-Za-z0-9][A-Za-z0-9 .+()-]{0,79}")
# Docker's ADD unpacks exactly these local archives; the name goes into the Dockerfile.
_ARCHIVE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*\.(?:tar\.gz|tgz|tar\.xz|tar\.bz2)")
# What a URL may hold: it goes into the SBOM and into messages, never into a shell line.
_URL = re.compile(r"[A-Za-z0-9:/?&=%._~+@-]{1,500}")
_KEYS = ("for", "version", "urls", "sha256", "license")


@dataclass(frozen=True)
class SystemSource:
    name: str  # the library, as the table's key names it
    family: str
    version: str
    urls: tuple[str, ...]
    sha256: str
    for_packages: tuple[str, ...]  # the CRAN packages it is built for
    license: str = ""

    @property
    def url(self) -> str:
        """The first place it is named at (for comments and the SBOM)."""
        return self.urls[0]

    @property
    def filename(self) -> str:
        """The archive's name in the build context (system-sources/<filename>): the first
        URL's, whose suffix says how it is packed."""
        return PurePosixPath(urllib.parse.urlsplit(self.url).path).name

    @property
    def context_name(self) -> str:
        return f"system-sources/{self.filename}"


def read_system_sources(check: TomlChecker, data: dict) -> dict[str, tuple[SystemSource, ...]]:
    """`[system-sources]` of a recipe.toml, validated: family -> its sources, in file order."""
    result: dict[str, tuple[SystemSource, ...]] = {}
    for family, table in check.table(data, "system-sources", default={}).items():
        fkey = f"system-sources.{quote_key(family)}"
        if family not in FAMILIES:
            check.fail(fkey, f"a family ({', '.join(FAMILIES)})")
        if not isinstance(table, dict):
            check.fail(fkey, "a table of libraries: [system-sources.FAMILY.NAME]")
        sources = []
        for name, entry in table.items():
            key = f"{fkey}.{quote_key(name)}"
            if not _NAME.fullmatch(name):
                check.fail(key, f"a library name matching {_NAME.pattern}")
            entry = check.table(table, key, name)
            check.known_keys(entry, key, _KEYS)
            sources.append(_read_one(check, key, name, family, entry))
        filenames = [s.filename for s in sources]
        for s in sources:
            if filenames.count(s.filename) > 1:
                check.fail(f"{fkey}.{s.name}.urls", f"an archive of its own: {s.filename} twice")
        result[family] = tuple(sources)
    return result


def _read_one(check: TomlChecker, key: str, name: str, family: str, entry: dict) -> SystemSource:
    packages = entry.get("for")
    if (
        not isinstance(packages, list)
        or not packages
        or not all(isinstance(p, str) and PACKAGE_NAME.fullmatch(p) for p in packages)
    ):
        check.fail(f"{key}.for", 'an array of the CRAN packages it is built for, e.g. ["sodium"]')
    urls = entry.get("urls")
    if not isinstance(urls, list) or not urls or not all(isinstance(u, str) for u in urls):
        check.fail(f"{key}.urls", "an array of URLs serving the pinned file")
    for i, url in enumerate(urls):
        _check_url(check, f"{key}.urls[{i}]", url, archive=i == 0)
    return SystemSource(
        name=name,
        family=family,
        version=check.string(entry, key, "version", _VERSION),
        urls=tuple(urls),
        sha256=check.string(entry, key, "sha256", _SHA256),
        for_packages=tuple(packages),
        license=check.string(entry, key, "license", _LICENSE) if "license" in entry else "",
    )


def _check_url(check: TomlChecker, key: str, url: str, *, archive: bool) -> None:
    """https (http only on the loopback: the sha256 is checked either way, but a mirror in the
    clear tells the network what is built); the first URL ends in the archive's name."""
    if not _URL.fullmatch(url):
        check.fail(key, f"a URL matching {_URL.pattern}, found {url!r}")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "https" and not (parts.scheme == "http" and is_local(url)):
        check.fail(key, f"an https:// URL (http only on this machine's loopback), found {url!r}")
    if not parts.hostname or parts.username or parts.password or parts.query or parts.fragment:
        check.fail(key, f"a URL with a host and without credentials, query or fragment: {url!r}")
    if archive and not _ARCHIVE.fullmatch(PurePosixPath(parts.path).name):
        check.fail(
            key,
            "a URL ending in a source archive's name (.tar.gz, .tgz, .tar.xz or .tar.bz2),"
            f" found {url!r}",
        )
