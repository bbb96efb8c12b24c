"""build.py update without --r/--package (rlambda.update): new R releases from a mirror's
listing, the refusal of a changed tarball, and base-image digests from a real registry server."""

import hashlib
import http.server
import json
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import tomlkit

from rlambda import update as pin_updates
from rlambda.errors import JobError, UsageError
from rlambda.pins import versions
from rlambda.sources import cran

from ..helpers import serve_in_thread

ROOT = Path(__file__).resolve().parents[2]
# The fake mirrors here serve plain http on 127.0.0.1: new pins from them need asking.
LOCAL = ["--allow-http", "--cran-mirror"]

# As CRAN's Apache serves https://cloud.r-project.org/src/base/R-4/ (abridged).
CRAN_INDEX = """<html><body><h1>Index of /src/base/R-4</h1><table>
<tr><td><a href="R-4.5.2.tar.gz">R-4.5.2.tar.gz</a></td><td>2025-10-31 09:11</td><td> 38M</td></tr>
<tr><td><a href="R-4.5.3.tar.gz">R-4.5.3.tar.gz</a></td><td>2026-03-06 09:12</td><td> 38M</td></tr>
<tr><td><a href="R-4.6.0.tar.gz">R-4.6.0.tar.gz</a></td><td>2026-04-24 09:10</td><td> 39M</td></tr>
<tr><td><a href="R-4.6.0.tar.gz.asc">R-4.6.0.tar.gz.asc</a></td><td></td><td>1K</td></tr>
<tr><td><a href="R-4.6.1.tar.gz">R-4.6.1.tar.gz</a></td><td>2026-06-13 09:10</td><td> 39M</td></tr>
</table></body></html>"""


def test_releases_in_cran_listing() -> None:
    names = cran.link_names(CRAN_INDEX)
    assert cran.r_releases_in(names) == ["4.5.2", "4.5.3", "4.6.0", "4.6.1"]


def make_mirror(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        path = root / "src" / "base" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


@pytest.fixture
def mirror_dir(tmp_path: Path) -> Path:
    return make_mirror(
        tmp_path / "mirror",
        {
            "R-4/R-4.5.3.tar.gz": b"old",
            "R-4/R-4.6.0.tar.gz": b"pinned",
            "R-4/R-4.6.1.tar.gz": b"new release",
            "R-4/R-4.10.0.tar.gz": b"newer still",
            "R-5/R-5.0.0.tar.gz": b"next major",
        },
    )


def test_new_releases_from_file_mirror(mirror_dir: Path) -> None:
    found = pin_updates.new_r_releases(mirror_dir.as_uri(), ["4.5.3", "4.6.0"])
    assert found == ["4.6.1", "4.10.0", "5.0.0"]  # version order, not string order


def test_new_releases_over_http(mirror_dir: Path, serve_directory) -> None:
    shutil.rmtree(mirror_dir / "src" / "base" / "R-5")  # no next major yet: a 404, not an error
    url = serve_directory(mirror_dir)
    assert pin_updates.new_r_releases(url, ["4.6.0"]) == ["4.6.1", "4.10.0"]
    assert pin_updates.new_r_releases(url, ["4.10.0"]) == []


def test_a_mirror_without_the_directory_fails(tmp_path: Path) -> None:
    with pytest.raises(JobError, match="not found"):
        pin_updates.new_r_releases(tmp_path.as_uri(), ["4.6.0"])


# ---- main: pinning and refusing ---------------------------------------------------------------


def versions_copy(tmp_path: Path, newest_sha256: str | None = None) -> Path:
    """A copy of VERSIONS.toml; the newest R pin's sha256 optionally replaced."""
    path = tmp_path / "VERSIONS.toml"
    document = tomlkit.parse((ROOT / "VERSIONS.toml").read_text())
    if newest_sha256:
        newest = max(document["r"], key=versions.Version)
        document["r"][newest]["sha256"] = newest_sha256
    path.write_text(tomlkit.dumps(document))
    return path


def test_main_pins_new_releases_and_keeps_comments(
    tmp_path: Path, cache: Path, capsys, serve_directory
) -> None:
    newest = max(versions.load().r, key=versions.Version)
    mirror = make_mirror(
        tmp_path / "m", {f"R-4/R-{newest}.tar.gz": b"the pinned bytes", "R-4/R-4.99.0.tar.gz": b"x"}
    )
    pins = versions_copy(tmp_path, hashlib.sha256(b"the pinned bytes").hexdigest())
    before = pins.read_text()
    url = serve_directory(mirror)
    code = pin_updates.main([*LOCAL, url, "--versions-file", str(pins), "--no-bases"])
    out, err = capsys.readouterr()
    assert code == 0, err
    expected = hashlib.sha256(b"x").hexdigest()
    assert out.strip() == f"- R 4.99.0: sha256 `{expected}`"
    loaded = versions.load(pins)
    assert loaded.r["4.99.0"].sha256 == expected
    assert loaded.r["4.99.0"].url == "https://cloud.r-project.org/src/base/R-4/R-4.99.0.tar.gz"
    text = pins.read_text()
    assert text.startswith(before.split("[cran]")[0])  # the header comments are intact
    assert "# index digest of al2.2025.12.22.12" in text
    # A second run finds nothing new.
    assert pin_updates.main([*LOCAL, url, "--versions-file", str(pins), "--no-bases"]) == 0
    assert capsys.readouterr().out.strip() == "nothing new"


def test_main_refuses_a_changed_tarball(
    tmp_path: Path, cache: Path, capsys, serve_directory
) -> None:
    newest = max(versions.load().r, key=versions.Version)
    # The mirror now serves other bytes under the newest pinned name, and has a new release.
    mirror = make_mirror(
        tmp_path / "m",
        {f"R-4/R-{newest}.tar.gz": b"replaced upstream", "R-4/R-4.99.0.tar.gz": b"x"},
    )
    pins = versions_copy(tmp_path)
    before = pins.read_text()
    url = serve_directory(mirror)
    code = pin_updates.main([*LOCAL, url, "--versions-file", str(pins), "--no-bases"])
    out, err = capsys.readouterr()
    assert code == 1
    assert f"refused: R {newest} is pinned" in err and "checksum mismatch" in err
    assert hashlib.sha256(b"replaced upstream").hexdigest() in err
    assert pins.read_text() == before  # nothing written, not even the new release
    assert out == ""


# ---- base images: a real registry server on 127.0.0.1 -------------------------------------


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def registry(tmp_path_factory) -> Iterator[str]:
    """Debian's docker-registry, no auth, bound to 127.0.0.1; yields host:port."""
    if shutil.which("docker-registry") is None:
        pytest.skip("docker-registry is not installed (scripts/setup.sh installs it)")
    root = tmp_path_factory.mktemp("registry")
    port = _free_port()
    config = root / "config.yml"
    config.write_text(
        "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n"
        f"    rootdirectory: {root / 'storage'}\n  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    log = (root / "log").open("wb")
    process = subprocess.Popen(
        ["docker-registry", "serve", str(config)], stdout=log, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1)
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((root / "log").read_text()) from None
                time.sleep(0.05)
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def _put(url: str, data: bytes, content_type: str) -> None:
    request = urllib.request.Request(url, data=data, method="PUT")
    request.add_header("Content-Type", content_type)
    urllib.request.urlopen(request, timeout=10).close()


def push_manifest(registry: str, repo: str, arch: str) -> str:
    """Upload a config blob and a one-layer manifest for `arch`; return the manifest digest."""
    base = f"http://{registry}/v2/{repo}"
    blobs = {}
    for kind, data in {
        "config": json.dumps({"architecture": arch, "os": "linux", "rootfs": {}}).encode(),
        "layer": f"layer for {arch}".encode(),
    }.items():
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        request = urllib.request.Request(f"{base}/blobs/uploads/", method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            location = response.headers["Location"]
        sep = "&" if "?" in location else "?"
        _put(f"{location}{sep}digest={digest}", data, "application/octet-stream")
        blobs[kind] = (digest, len(data))
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": blobs["config"][0],
                "size": blobs["config"][1],
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": blobs["layer"][0],
                    "size": blobs["layer"][1],
                }
            ],
        }
    ).encode()
    digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
    _put(f"{base}/manifests/{digest}", manifest, "application/vnd.oci.image.manifest.v1+json")
    return digest


def push_index(registry: str, repo: str, tag: str, platforms: dict[str, str]) -> str:
    manifests = [
        {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": digest,
            "size": 1,
            "platform": {"architecture": arch, "os": os_},
        }
        for (arch, os_), digest in (
            ((k.split("/")[1], k.split("/")[0]), v) for k, v in platforms.items()
        )
    ]
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": manifests,
        }
    ).encode()
    _put(
        f"http://{registry}/v2/{repo}/manifests/{tag}",
        index,
        "application/vnd.oci.image.index.v1+json",
    )
    return "sha256:" + hashlib.sha256(index).hexdigest()


def test_resolve_digests_from_an_index(registry: str) -> None:
    amd64 = push_manifest(registry, "lambda/base", "amd64")
    arm64 = push_manifest(registry, "lambda/base", "arm64")
    # An attestation-like entry (unknown/unknown) is skipped; the per-arch manifests are pinned.
    push_index(
        registry,
        "lambda/base",
        "weekly",
        {"unknown/unknown": amd64, "linux/amd64": amd64, "linux/arm64": arm64},
    )
    digests = pin_updates.resolve_digests(f"{registry}/lambda/base", "weekly")
    assert digests == {"x86_64": amd64, "arm64": arm64}


def test_resolve_digests_single_arch_tag_is_refused(registry: str) -> None:
    amd64 = push_manifest(registry, "lambda/single", "amd64")
    request = urllib.request.Request(f"http://{registry}/v2/lambda/single/manifests/{amd64}")
    request.add_header("Accept", "application/vnd.oci.image.manifest.v1+json")
    body = urllib.request.urlopen(request, timeout=10).read()
    _put(
        f"http://{registry}/v2/lambda/single/manifests/only-amd64",
        body,
        "application/vnd.oci.image.manifest.v1+json",
    )
    with pytest.raises(JobError, match="no linux manifest for arm64"):
        pin_updates.resolve_digests(f"{registry}/lambda/single", "only-amd64")


def test_main_writes_changed_base_digests(tmp_path: Path, registry: str, capsys) -> None:
    amd64 = push_manifest(registry, "mirror/base", "amd64")
    arm64 = push_manifest(registry, "mirror/base", "arm64")
    push_index(registry, "mirror/base", "stable", {"linux/amd64": amd64, "linux/arm64": arm64})
    pins = tmp_path / "VERSIONS.toml"
    document = tomlkit.parse((ROOT / "VERSIONS.toml").read_text())
    for name in document["bases"]:
        document["bases"][name]["image"] = f"{registry}/mirror/base"
        document["bases"][name]["tag"] = "stable"
    document["bases"]["debian"]["x86_64"] = amd64  # already current: unchanged, not listed
    pins.write_text(tomlkit.dumps(document))
    code = pin_updates.main(["--versions-file", str(pins), "--no-r"])
    out, err = capsys.readouterr()
    assert code == 0, err
    loaded = versions.load(pins)
    for base in loaded.bases.values():
        assert base.digests == {"x86_64": amd64, "arm64": arm64}
    assert len(out.strip().splitlines()) == 5  # 3 families x 2 archs, less the current one
    assert "base debian/x86_64" not in out and f"base debian/arm64 ({registry}" in out
    text = pins.read_text()
    assert "# index digest, seen 2026-09-24" not in text  # described the old digests
    assert text.count("# per-architecture manifests of stable, resolved ") == 3
    assert "# Base images per family, pinned by digest per architecture." in text


class _TokenRegistry(http.server.BaseHTTPRequestHandler):
    """Answers like public.ecr.aws: 401 with a bearer challenge, then the manifest."""

    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [
                {"digest": "sha256:" + "1" * 64, "platform": {"os": "linux", "architecture": a}}
                for a in ("amd64", "arm64")
            ],
        }
    ).encode()

    def do_GET(self) -> None:
        host = f"http://127.0.0.1:{self.server.server_address[1]}"
        if self.path.startswith("/token?") and "scope=repository" in self.path:
            self._send(200, json.dumps({"token": "anonymous-token"}).encode())
        elif self.headers.get("Authorization") != "Bearer anonymous-token":
            self.send_response(401)
            self.send_header(
                "WWW-Authenticate",
                f'Bearer realm="{host}/token",service="test",'
                'scope="repository:lambda/provided:pull"',
            )
            self.end_headers()
        else:
            self._send(200, self.index)

    def _send(self, code: int, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_anonymous_bearer_token() -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _TokenRegistry)
    serve_in_thread(server)
    try:
        image = f"127.0.0.1:{server.server_address[1]}/lambda/provided"
        digests = pin_updates.resolve_digests(image, "al2023")
    finally:
        server.shutdown()
        server.server_close()
    assert digests == {"x86_64": "sha256:" + "1" * 64, "arm64": "sha256:" + "1" * 64}


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("debian", ("registry-1.docker.io", "library/debian")),
        ("amazon/aws-cli", ("registry-1.docker.io", "amazon/aws-cli")),
        ("public.ecr.aws/lambda/provided", ("public.ecr.aws", "lambda/provided")),
        ("127.0.0.1:5000/x/y", ("127.0.0.1:5000", "x/y")),
        ("localhost/x", ("localhost", "x")),
    ],
)
def test_parse_reference(image: str, expected: tuple[str, str]) -> None:
    ref = pin_updates.parse_reference(image, "t")
    assert (ref.registry, ref.repository) == expected


def test_write_base_digests_validates_before_replacing(tmp_path: Path) -> None:
    pins = versions_copy(tmp_path)
    before = pins.read_text()
    with pytest.raises(UsageError, match=r"bases\.al2\.arm64"):
        pin_updates.write_base_digests(
            "al2", {"x86_64": "sha256:" + "4" * 64, "arm64": "not-a-digest"}, pins, None
        )
    assert pins.read_text() == before
    assert not pins.with_name("VERSIONS.toml.new").exists()
