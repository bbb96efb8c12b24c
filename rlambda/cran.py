"""A CRAN-like mirror as the resolver sees it: the PACKAGES index, the Archive listings, and
tarballs downloaded into the verified cache.

CRAN keeps the current version of each package in `src/contrib/` (listed in PACKAGES) and every
older one in `src/contrib/Archive/<pkg>/<pkg>_<ver>.tar.gz`, which only a directory listing
tells. Mirrors may be http(s):// or file:// URLs.
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

from rlambda.build import fetch
from rlambda.errors import JobError
from rlambda.recipes import dcf
from rlambda.recipes.rversion import VERSION, RVersion

CONTRIB = "src/contrib"


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
                path = f"{CONTRIB}/{name}_{version}.tar.gz"
                index.setdefault(name, []).append(Candidate(name, RVersion(version), path, record))
            for versions in index.values():
                versions.sort(key=lambda c: c.version, reverse=True)
            self._index = index
        return self._index

    def archived(self, name: str) -> list[Candidate]:
        """Older versions under Archive/<name>/, newest first; [] if there is no such folder."""
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
        url = f"{self.url}/{candidate.path}"
        cached, sha256, md5 = _download_to_cache(url, self.cache)
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

    def _list(self, path: str) -> list[str]:
        """File names in a mirror directory: os.listdir for file://, else the links of the
        HTML index page a web server (CRAN's Apache, Python's http.server) makes."""
        url = f"{self.url}/{path}"
        parsed = urllib.parse.urlparse(url)
        if parsed.scheme == "file":
            local = Path(urllib.request.url2pathname(parsed.path))
            return os.listdir(local) if local.is_dir() else []
        try:
            page = _read_url(url).decode("utf-8", errors="replace")
        except FileNotFoundError:
            return []
        links = re.findall(r'href="([^"?#]+)"', page)
        return [urllib.parse.unquote(html.unescape(link)).rsplit("/", 1)[-1] for link in links]


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


def _download_to_cache(url: str, cache: Path | None) -> tuple[Path, str, str]:
    """Download into the content-addressed cache under the sha256 of the bytes themselves (a
    lock has no hash to check yet: it is the lock that records it). Returns (path, sha256,
    md5)."""
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
