"""The verified, content-addressed download cache."""

import hashlib

import pytest

from rlambda.errors import JobError
from rlambda.sources.fetch import fetch_verified, public_url


@pytest.fixture
def served(tmp_path, serve_directory):
    """A file served over HTTP from a fresh directory: (url, sha256, path)."""
    root = tmp_path / "mirror"
    (root / "src").mkdir(parents=True)
    path = root / "src" / "pkg.tar.gz"
    path.write_bytes(b"real bytes " * 1000)
    url = f"{serve_directory(root)}/src/pkg.tar.gz"
    return url, hashlib.sha256(path.read_bytes()).hexdigest(), path


def test_download_is_verified_and_content_addressed(cache, served):
    url, sha256, source = served
    path = fetch_verified(url, sha256, progress=lambda *_: None)
    assert path == cache / "sha256" / sha256
    assert path.read_bytes() == source.read_bytes()


def test_cache_hit_needs_no_mirror(cache, served):
    url, sha256, source = served
    fetch_verified(url, sha256, progress=lambda *_: None)
    source.unlink()  # the mirror no longer has it: the verified copy is used
    assert fetch_verified(url, sha256).read_bytes() == b"real bytes " * 1000


def test_mismatch_deletes_the_download_and_names_both_hashes(cache, served):
    url, actual, _ = served
    pinned = "0" * 64
    with pytest.raises(JobError) as raised:
        fetch_verified(url, pinned, progress=lambda *_: None)
    message = str(raised.value)
    assert f"expected sha256 {pinned}" in message and f"got      sha256 {actual}" in message
    assert url in message
    assert list((cache / "sha256").iterdir()) == []  # nothing kept, no partial file


def test_file_urls_work(cache, served):
    _, sha256, source = served
    path = fetch_verified(source.as_uri(), sha256, progress=lambda *_: None)
    assert path.read_bytes() == source.read_bytes()


def test_unreachable_mirror_names_url_and_flag(cache):
    url = "http://127.0.0.1:9/src/base/R-4/R-4.5.0.tar.gz"  # discard port: nothing listens
    with pytest.raises(JobError, match=r"cannot download http://127\.0\.0\.1:9/.*--cran-mirror"):
        fetch_verified(url, "1" * 64, mirror_hint=" Use --cran-mirror URL.")
    assert list((cache / "sha256").iterdir()) == []


def test_missing_file_on_mirror(cache, served):
    url, sha256, _ = served
    with pytest.raises(JobError, match=r"cannot download .*missing\.tar\.gz: HTTP 404"):
        fetch_verified(url.replace("pkg", "missing"), sha256)


@pytest.mark.parametrize("scheme", ["http", "file"])
def test_falls_back_to_the_next_place_only_when_the_file_is_missing(cache, served, scheme):
    """A superseded CRAN package moves to Archive/: the first URL 404s, the second serves it."""
    url, sha256, source = served
    first = url if scheme == "http" else source.as_uri()
    missing = first.replace("pkg.tar.gz", "gone.tar.gz")
    path = fetch_verified([missing, first], sha256, progress=lambda *_: None)
    assert path.read_bytes() == source.read_bytes()


def test_no_fallback_past_a_mismatch(cache, served):
    url, _, _ = served
    with pytest.raises(JobError, match="checksum mismatch"):
        fetch_verified([url, "http://127.0.0.1:9/never-tried"], "0" * 64, progress=lambda *_: None)


def test_a_tampered_cache_entry_is_refused_and_removed(cache, served):
    url, sha256, _ = served
    path = fetch_verified(url, sha256, progress=lambda *_: None)
    path.write_bytes(b"evil bytes")  # same name, other content
    with pytest.raises(JobError) as error:
        fetch_verified(url, sha256, progress=lambda *_: None)
    message = str(error.value)
    assert "no longer matches its sha256" in message
    assert sha256 in message and hashlib.sha256(b"evil bytes").hexdigest() in message
    assert not path.exists()  # not left for the next run to trust
    # The next run downloads the pinned bytes again.
    assert (
        fetch_verified(url, sha256, progress=lambda *_: None).read_bytes() == b"real bytes " * 1000
    )


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("https://user:s3cret@cran.example.org/repo", "https://cran.example.org/repo"),
        ("https://cran.example.org/repo?token=s3cret#x", "https://cran.example.org/repo"),
        ("https://tok@cran.example.org:8443/", "https://cran.example.org:8443/"),
        ("file:///srv/cran", "file:///srv/cran"),
    ],
)
def test_what_is_stored_of_a_mirror_url_carries_no_secret(given, stored):
    assert public_url(given) == stored


def test_an_error_names_the_url_without_its_credentials(cache):
    with pytest.raises(JobError) as error:
        fetch_verified("http://user:s3cret@127.0.0.1:9/pkg.tar.gz", "0" * 64)
    assert "s3cret" not in str(error.value) and "127.0.0.1:9/pkg.tar.gz" in str(error.value)
