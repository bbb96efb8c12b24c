"""`build.py update`: pins come from the bytes a mirror serves, never from a typed hash."""

import hashlib
import http.server

import pytest
import tomlkit

import build
from rlambda.errors import JobError, UsageError
from rlambda.pins import versions
from rlambda.update import pin_release

from ..helpers import serve_in_thread

REAL_450 = versions.load().r["4.5.0"].sha256


@pytest.fixture
def versions_file(tmp_path):
    """A copy of VERSIONS.toml without the 4.5.0 pin."""
    path = tmp_path / "VERSIONS.toml"
    document = tomlkit.parse(versions.VERSIONS_FILE.read_text())
    del document["r"]["4.5.0"]
    path.write_text(tomlkit.dumps(document))
    return path


def test_pins_a_new_release_from_the_mirror(versions_file, tmp_path, cache, local_mirror):
    images = tmp_path / "images"
    assert pin_release("4.5.0", local_mirror, versions_file, images, allow_http=True) == REAL_450
    pinned = versions.load(versions_file).r["4.5.0"]
    assert pinned.sha256 == REAL_450  # Debian's orig tarball is CRAN's, byte for byte
    assert pinned.url == "https://cloud.r-project.org/src/base/R-4/R-4.5.0.tar.gz"
    assert (images / "r-4.5.0-debian-x86_64" / "Dockerfile").is_file()
    assert (cache / "sha256" / REAL_450).is_file()


def test_existing_pin_that_agrees_is_kept(versions_file, tmp_path, cache, local_mirror):
    before = versions_file.read_text()
    pin_release("4.0.4", local_mirror, versions_file, tmp_path / "images")
    assert versions_file.read_text() == before


def test_existing_pin_is_never_overwritten(versions_file, tmp_path, cache, local_mirror):
    """The local mirror's R-4.2.2.tar.gz is Debian's patched snapshot, not CRAN's 4.2.2."""
    before = versions_file.read_text()
    with pytest.raises(JobError, match=r"(?s)checksum mismatch.*expected sha256 .* \(pinned\)"):
        pin_release("4.2.2", local_mirror, versions_file, tmp_path / "images")
    assert versions_file.read_text() == before
    assert not (tmp_path / "images").exists()


def test_release_missing_from_mirror(versions_file, tmp_path, cache, local_mirror):
    before = versions_file.read_text()
    with pytest.raises(JobError, match=r"(?s)R-4\.9\.9\.tar\.gz: HTTP 404.*--cran-mirror"):
        pin_release("4.9.9", local_mirror, versions_file, tmp_path / "images", allow_http=True)
    assert versions_file.read_text() == before


@pytest.mark.parametrize("bad", ["4.5", "4.5.0; rm -rf /", "latest"])
def test_needs_an_exact_release(versions_file, bad):
    with pytest.raises(UsageError, match=r"X\.Y\.Z"):
        pin_release(bad, None, versions_file)


class _ShortHandler(http.server.BaseHTTPRequestHandler):
    """Announces 40 MB and sends 100 KB, `short` times, then the whole body."""

    body = b"R" * 40_000_000
    short = 99

    def do_GET(self) -> None:
        cls = type(self)
        self.send_response(200)
        self.send_header("Content-Length", str(len(cls.body)))
        self.end_headers()
        if cls.short > 0:
            cls.short -= 1
            self.wfile.write(cls.body[:100_000])
            self.close_connection = True
        else:
            self.wfile.write(cls.body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def short_mirror():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _ShortHandler)
    serve_in_thread(server)
    yield server
    server.shutdown()
    server.server_close()


def test_a_truncated_download_is_never_pinned(versions_file, cache, short_mirror, capsys):
    """`build.py update` against a server that cuts R's tarball short: exit 1 naming both byte
    counts, VERSIONS.toml unchanged, nothing left in the cache."""
    _ShortHandler.short = 99
    before = versions_file.read_text()
    mirror = f"http://127.0.0.1:{short_mirror.server_address[1]}"
    argv = ["update", "--r", "4.9.9", "--cran-mirror", mirror, "--allow-http"]
    argv += ["--versions-file", str(versions_file)]
    assert build.main(argv) == 1
    err = capsys.readouterr().err
    assert "announced 40000000 bytes (Content-Length) and sent 100000" in err, err
    assert versions_file.read_text() == before
    assert not any((cache / "sha256").iterdir())


def test_a_download_cut_once_is_read_again(versions_file, cache, short_mirror, capsys):
    _ShortHandler.short = 1
    mirror = f"http://127.0.0.1:{short_mirror.server_address[1]}"
    argv = ["update", "--r", "4.9.9", "--cran-mirror", mirror, "--allow-http"]
    argv += ["--versions-file", str(versions_file)]
    assert build.main(argv) == 0
    assert "announced 40000000 bytes and sent 100000 (attempt 1 of 2)" in capsys.readouterr().err
    whole = hashlib.sha256(_ShortHandler.body).hexdigest()
    assert versions.load(versions_file).r["4.9.9"].sha256 == whole


def test_a_new_pin_over_plain_http_needs_asking(versions_file, cache, short_mirror, capsys):
    """Refused before anything is downloaded."""
    _ShortHandler.short = 0
    before = versions_file.read_text()
    mirror = f"http://127.0.0.1:{short_mirror.server_address[1]}"
    argv = ["update", "--r", "4.9.9", "--cran-mirror", mirror]
    assert build.main([*argv, "--versions-file", str(versions_file)]) == 2
    assert "pass --allow-http" in capsys.readouterr().err
    assert versions_file.read_text() == before and not (cache / "sha256").exists()


def test_a_release_that_is_not_crans_published_tarball_is_refused(
    versions_file, cache, short_mirror, capsys
):
    """reference/r-tarballs.toml has R 4.5.0's published sha256: other bytes are not pinned."""
    _ShortHandler.short = 0
    before = versions_file.read_text()
    mirror = f"http://127.0.0.1:{short_mirror.server_address[1]}"
    argv = ["update", "--r", "4.5.0", "--cran-mirror", mirror, "--allow-http"]
    assert build.main([*argv, "--versions-file", str(versions_file)]) == 1
    err = capsys.readouterr().err
    assert "is not CRAN's tarball" in err and f"published sha256 {REAL_450}" in err, err
    assert versions_file.read_text() == before
    assert not any((cache / "sha256").iterdir())
