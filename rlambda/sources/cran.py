"""CRAN mirrors: where things are on one, what its listings and PACKAGES index say, and
tarballs downloaded from it into the cache. Every mirror URL is checked by `check_mirror`.

CRAN keeps R's sources in `src/base/R-<major>/`, the current version of each package in
`src/contrib/` (listed in PACKAGES) and every older one in
`src/contrib/Archive/<pkg>/<pkg>_<ver>.tar.gz`, which only a directory listing tells. Mirrors
may be http(s):// or file:// URLs.
"""

import gzip
import hashlib
import html
import os
import re
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from rlambda.errors import JobError, UsageError
from rlambda.sources import dcf, fetch, repository
from rlambda.sources.rversion import R_RELEASE, VERSION, RVersion

CONTRIB = "src/contrib"
# R source tarballs in a listing: .tar.gz, not .tar.gz.asc or R-latest.tar.gz.
R_TARBALL = re.compile(rf"R-({R_RELEASE.pattern})\.tar\.gz")
# What a mirror may be: the schemes urllib downloads from, and nothing a shell or a Dockerfile
# could misread (no spaces).
MIRROR_URL = re.compile(r"(https?|file)://\S+")


def check_mirror(url: str, flag: str = "--cran-mirror") -> str:
    """A mirror URL as given (`flag` names where), without its trailing slash; UsageError if
    it is not an http://, https:// or file:// URL."""
    if not MIRROR_URL.fullmatch(url):
        raise UsageError(f"{flag} {url!r}: expected an http://, https:// or file:// URL")
    return url.rstrip("/")


LOOPBACK = ("127.0.0.1", "localhost", "::1")


def mirror_name(url: str) -> str:
    """The name a lock gives the mirror it was made against, and a build compares with its own:
    the URL without credentials, query or trailing slash, and, for a mirror on this machine's
    loopback, without its port (scripts and tests serve a local mirror on whatever port is free;
    two local mirrors are told apart by their paths). Mirrors are compared by name because their
    bytes differ: Debian's repacked jsonlite is not CRAN's, and a lock's sha256 are one mirror's."""
    parts = urllib.parse.urlsplit(fetch.public_url(url.rstrip("/")))
    host = parts.hostname or ""
    netloc = (f"[{host}]" if ":" in host else host) if host in LOOPBACK else parts.netloc
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def is_local(url: str) -> bool:
    """A file:// mirror, or one on this machine's loopback."""
    parsed = urllib.parse.urlsplit(url)
    return parsed.scheme == "file" or parsed.hostname in LOOPBACK


# ---- layout -----------------------------------------------------------------------------------


def r_source_path(version: str) -> str:
    """src/base/R-4/R-4.5.0.tar.gz"""
    return f"src/base/R-{version.split('.')[0]}/R-{version}.tar.gz"


def package_path(name: str, version: str) -> str:
    """Where the current version of a package is: src/contrib/<name>_<version>.tar.gz"""
    return f"{CONTRIB}/{name}_{version}.tar.gz"


def archive_path(name: str, version: str) -> str:
    """Where a superseded version is: src/contrib/Archive/<name>/<name>_<version>.tar.gz"""
    return f"{CONTRIB}/Archive/{name}/{name}_{version}.tar.gz"


def package_urls(mirror: str, name: str, version: str, path: str | None = None) -> list[str]:
    """Where `mirror` serves a package version: `path` (default the current directory) first,
    then Archive/, where it moves once a newer release supersedes it."""
    paths = dict.fromkeys([path or package_path(name, version), archive_path(name, version)])
    return [f"{mirror.rstrip('/')}/{p}" for p in paths]


# ---- listings ---------------------------------------------------------------------------------


def listing(url: str) -> list[str] | None:
    """File names in a mirror directory (`url` ends in /): os.listdir for file://, else the
    links of the HTML index page a web server makes (CRAN's Apache, nginx, Python's
    http.server). None if there is no such directory."""
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme == "file":
        local = Path(urllib.request.url2pathname(parsed.path))
        return sorted(os.listdir(local)) if local.is_dir() else None
    try:
        page = _read_url(url).decode("utf-8", errors="replace")
    except FileNotFoundError:
        return None
    return link_names(page)


def link_names(page: str) -> list[str]:
    """The file names an HTML directory index links to."""
    links = re.findall(r'href="([^"?#]+)"', page)
    return [urllib.parse.unquote(html.unescape(link)).rsplit("/", 1)[-1] for link in links]


def r_releases(mirror: str, major: int) -> list[str] | None:
    """The R releases in the mirror's src/base/R-<major>/, or None if it has no such folder."""
    names = listing(f"{mirror.rstrip('/')}/src/base/R-{major}/")
    return None if names is None else r_releases_in(names)


def r_releases_in(names: list[str]) -> list[str]:
    return [m.group(1) for name in names if (m := R_TARBALL.fullmatch(name))]


@dataclass(frozen=True)
class Candidate:
    """One version of a package the mirror offers. `record` is its PACKAGES entry for a
    current version; for an archived one it is read from the tarball when first needed."""

    name: str
    version: RVersion
    path: str  # below the mirror: src/contrib/x_1.0.tar.gz or src/contrib/Archive/x/...
    record: dict[str, str] | None

    @property
    def archived(self) -> bool:
        return self.record is None


@dataclass(frozen=True)
class Tarball:
    path: Path  # in the verified cache: <cache>/sha256/<hex>
    sha256: str
    description: dict[str, str]


class Mirror:
    def __init__(self, url: str, *, cache: Path | None = None):
        self.url = url.rstrip("/")
        self.cache = cache
        self._index: dict[str, list[Candidate]] | None = None
        self._archive: dict[str, list[Candidate]] = {}
        self._tarballs: dict[str, Tarball] = {}

    def index(self) -> dict[str, list[Candidate]]:
        """The current versions (PACKAGES.gz, else PACKAGES), newest first per package."""
        if self._index is None:
            text = self._read_index()
            try:
                records = dcf.parse(text)
            except dcf.DcfError as e:
                raise JobError(f"{self.url}/{CONTRIB}/PACKAGES: {e}") from None
            index: dict[str, list[Candidate]] = {}
            for record in records:
                name, version = record.get("Package", ""), record.get("Version", "")
                if not dcf.PACKAGE_NAME.fullmatch(name) or not VERSION.fullmatch(version):
                    # Never let a malformed entry reach a path or URL; skip it, as R does.
                    continue
                path = package_path(name, version)
                index.setdefault(name, []).append(Candidate(name, RVersion(version), path, record))
            for versions in index.values():
                versions.sort(key=lambda c: c.version, reverse=True)
            # This repository's own packages come from the checkout, whatever the mirror has.
            for name, path in repository.PACKAGES.items():
                record = repository.description(name)
                version = RVersion(record.get("Version", ""))
                index[name] = [Candidate(name, version, path, record)]
            self._index = index
        return self._index

    def archived(self, name: str) -> list[Candidate]:
        """Older versions under Archive/<name>/, newest first; [] if there is no such folder."""
        if name in repository.PACKAGES:
            return []
        if name not in self._archive:
            path = f"{CONTRIB}/Archive/{name}/"
            found = set()
            for file in self._list(path):
                m = re.fullmatch(rf"{re.escape(name)}_({VERSION.pattern})\.tar\.gz", file)
                if m:
                    found.add(m.group(1))
            self._archive[name] = sorted(
                (Candidate(name, RVersion(v), f"{path}{name}_{v}.tar.gz", None) for v in found),
                key=lambda c: c.version,
                reverse=True,
            )
        return self._archive[name]

    def tarball(self, candidate: Candidate) -> Tarball:
        """Download a candidate's tarball into the verified cache (its sha256 from its bytes),
        check it against the index's MD5sum and its own DESCRIPTION, and read the latter."""
        if candidate.path in self._tarballs:
            return self._tarballs[candidate.path]
        if candidate.name in repository.PACKAGES:
            sha256 = repository.sha256(candidate.name)
            store = (self.cache or fetch.cache_dir()) / "repository"
            made = repository.write_tarball(candidate.name, sha256, store)
            return Tarball(made, sha256, repository.description(candidate.name))
        url = f"{self.url}/{candidate.path}"
        cached, sha256, md5 = download_to_cache(url, self.cache)
        expected_md5 = (candidate.record or {}).get("MD5sum")
        if expected_md5 and expected_md5 != md5:
            raise JobError(
                f"checksum mismatch for {url}:\n"
                f"  expected MD5 {expected_md5} (the mirror's PACKAGES index)\n"
                f"  got      MD5 {md5}\n"
                "The mirror's index and its tarball disagree: use another mirror"
                " (--cran-mirror), or on a mirror of your own, rewrite its index."
            )
        try:
            description = dcf.read_description(cached)
        except dcf.DcfError as e:
            raise JobError(f"{url}: {e}") from None
        got = (description.get("Package"), description.get("Version"))
        if got != (candidate.name, str(candidate.version)):
            raise JobError(
                f"{url}: its DESCRIPTION is {got[0]} {got[1]}, expected"
                f" {candidate.name} {candidate.version}"
            )
        tarball = Tarball(cached, sha256, description)
        self._tarballs[candidate.path] = tarball
        return tarball

    def _read_index(self) -> str:
        errors = []
        for name in ("PACKAGES.gz", "PACKAGES"):
            try:
                data = _read_url(f"{self.url}/{CONTRIB}/{name}")
            except FileNotFoundError as e:
                errors.append(str(e))
                continue
            try:
                raw = gzip.decompress(data) if name.endswith(".gz") else data
            except (OSError, EOFError) as e:
                raise JobError(f"{self.url}/{CONTRIB}/{name}: not gzip data ({e})") from None
            return raw.decode("utf-8", errors="replace")
        raise JobError(
            f"{self.url} has no package index ({'; '.join(errors)}): is it a CRAN mirror?"
            " (--cran-mirror)"
        )

    def current(self, name: str) -> Candidate:
        """The current version of `name` (the index's newest); UsageError if it has none."""
        found = self.index().get(name)
        if not found:
            raise UsageError(f"{name} is not in {self.url}/{CONTRIB}/PACKAGES")
        return found[0]

    def _list(self, path: str) -> list[str]:
        return listing(f"{self.url}/{path}") or []


def _read_url(url: str) -> bytes:
    """The body of a URL; FileNotFoundError if the mirror has no such file (HTTP 404)."""
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            return response.read()
    except urllib.error.HTTPError as e:
        if e.code == 404:
            raise FileNotFoundError(f"{url}: HTTP 404") from None
        raise JobError(f"cannot read {url}: HTTP {e.code} {e.reason}") from None
    except urllib.error.URLError as e:
        if isinstance(e.reason, FileNotFoundError):
            raise FileNotFoundError(f"{url}: no such file") from None
        raise JobError(f"cannot read {url}: {e.reason}") from None
    except OSError as e:
        raise JobError(f"cannot read {url}: {e}") from None


# ---- downloads --------------------------------------------------------------------------------


def download_to_cache(url: str, cache: Path | None = None) -> tuple[Path, str, str]:
    """Download into the content-addressed cache under the sha256 of the bytes themselves: for
    what has no pin yet (a lock or a pin is what will record the hash). Returns (path, sha256,
    md5). A pinned file is fetched with fetch.fetch_verified instead."""
    store = (cache or fetch.cache_dir()) / "sha256"
    store.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=store, prefix=".download-")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        sha256 = fetch.download(url, tmp, lambda done, total: None)
        md5 = hashlib.md5(tmp.read_bytes()).hexdigest()
        target = store / sha256
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
    return target, sha256, md5
