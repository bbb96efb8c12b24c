"""Downloads into a content-addressed cache, every byte verified before anything uses it.

A file lives at `<cache>/sha256/<hex>` and is only ever put there after its hash matched. It is
hashed again on every use: the cache is a directory anyone with the user's rights can write to,
and a cached file that no longer matches its name is refused (and removed), never built from.
Hashing costs ~0.1 s for R's ~40 MB tarball (sha256 over 40 MB in memory: 0.07 s here). Mirrors
may be http(s):// or file:// URLs.
"""

import hashlib
import os
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

from rlambda.errors import JobError

CHUNK = 1 << 20


class NotFound(JobError):
    """The mirror has no such file (HTTP 404, or a missing file:// path)."""


def cache_dir() -> Path:
    """`$RLAMBDA_CACHE`, else `$XDG_CACHE_HOME/rlambda`, else `~/.cache/rlambda`."""
    if env := os.environ.get("RLAMBDA_CACHE"):
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(xdg) / "rlambda"


def public_url(url: str) -> str:
    """`url` without what may be a secret (user:password@, a ?token=... query, a #fragment): the
    form that goes into a lock, an SBOM or a log. Downloads still use the URL as given."""
    parts = urllib.parse.urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


# A response shorter than its Content-Length is read again this many times in all: a dropped
# connection is usually transient, a server that keeps cutting the file short is not.
ATTEMPTS = 2


def download(url: str, dest: Path, progress: Callable[[int, int | None], None]) -> str:
    """Stream `url` into `dest`, returning the sha256 of what was written. A response that ends
    before the length its server announced is read again, then refused (JobError naming both
    counts): urllib's read() returns a short body without complaint, and the hash of a short
    file would otherwise be pinned by `build.py update`."""
    for attempt in range(1, ATTEMPTS + 1):
        digest, done, total = _download_once(url, dest, progress)
        if total is None or done == total:
            return digest
        print(
            f"  {public_url(url)}: the server announced {total} bytes and sent {done}"
            f" (attempt {attempt} of {ATTEMPTS})",
            file=sys.stderr,
        )
    raise JobError(
        f"cannot download {public_url(url)}: the server announced {total} bytes"
        f" (Content-Length) and sent"
        f" {done}, {ATTEMPTS} times; the file is incomplete and was not used. Try again later,"
        " or another mirror."
    )


def _download_once(
    url: str, dest: Path, progress: Callable[[int, int | None], None]
) -> tuple[str, int, int | None]:
    """One pass: (sha256 of what arrived, bytes that arrived, the announced length or None)."""
    digest = hashlib.sha256()
    done = 0
    total = None
    try:
        with urllib.request.urlopen(url, timeout=60) as response, dest.open("wb") as out:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isascii() and length.isdigit() else None
            while chunk := response.read(CHUNK):
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                progress(done, total)
    except urllib.error.HTTPError as e:
        error = NotFound if e.code == 404 else JobError
        raise error(f"cannot download {public_url(url)}: HTTP {e.code} {e.reason}") from None
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", e)
        error = NotFound if isinstance(reason, FileNotFoundError) else JobError
        raise error(f"cannot download {public_url(url)}: {reason}") from None
    return digest.hexdigest(), done, total


_CRAN_MISMATCH = (
    "The mirror serves a different file than the pinned release: use an official CRAN mirror"
    " (--cran-mirror). If CRAN itself replaced the release, review why, delete its pin from"
    " VERSIONS.toml and pin it again with `python build.py update`."
)


def fetch_verified(
    url: str | Sequence[str],
    sha256: str,
    *,
    cache: Path | None = None,
    mirror_hint: str = "",
    progress: Callable[[int, int | None], None] | None = None,
    mismatch_advice: str = "",
) -> Path:
    """The cached file for `sha256`, downloading it from `url` first if the cache lacks it.

    `url` may list places to try in order: the next is tried only when one has no such file.
    On a mismatch the download is deleted and the error gives both hashes, then
    `mismatch_advice` (by default, what to do about a CRAN mirror's file).
    """
    urls = [url] if isinstance(url, str) else list(url)
    store = (cache or cache_dir()) / "sha256"
    target = store / sha256
    if target.is_file():
        actual = sha256_file(target)
        if actual == sha256:
            return target
        target.unlink()
        raise JobError(
            f"the cached file {target} no longer matches its sha256:\n"
            f"  expected sha256 {sha256} (pinned)\n"
            f"  got      sha256 {actual}\n"
            "It was removed, not used: something changed the cache (disk trouble, or someone"
            " with write access to it). Run the command again to download it afresh, and check"
            " who can write to the cache (~/.cache/rlambda, or $RLAMBDA_CACHE)."
        )
    store.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=store, prefix=".download-")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        for i, url in enumerate(urls):
            try:
                actual = download(url, tmp, progress or _print_progress(url))
                break
            except NotFound as e:
                if i + 1 == len(urls):
                    raise JobError(f"{e}{mirror_hint}") from None
            except JobError as e:
                raise JobError(f"{e}{mirror_hint}") from None
        if actual != sha256:
            raise JobError(
                f"checksum mismatch for {public_url(url)}:\n"
                f"  expected sha256 {sha256} (pinned)\n"
                f"  got      sha256 {actual}\n"
                f"The download was deleted. {mismatch_advice or _CRAN_MISMATCH}"
            )
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def _print_progress(url: str) -> Callable[[int, int | None], None]:
    """A progress printer for a terminal: at most a line every half second, and the last one."""
    started = time.monotonic()
    last = 0.0
    name = url.rsplit("/", 1)[-1]

    def show(done: int, total: int | None) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last < 0.5 and done != total:
            return
        last = now
        size = f"{done / 1e6:.1f}/{total / 1e6:.1f} MB" if total else f"{done / 1e6:.1f} MB"
        print(f"  fetching {name}: {size} ({now - started:.1f}s)", file=sys.stderr)

    return show
