"""build.py's answers to bad input: a clear message, the right exit status, nothing left behind."""

import contextlib
import io
import tarfile
from pathlib import Path

import docker.errors
import pytest

import build
from rlambda.build.tags import REPOSITORY

from .conftest import DEBIAN_BASE


def run(capsys, *argv: str) -> tuple[int, str]:
    status = build.main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out + captured.err


def test_help_teaches(capsys):
    with pytest.raises(SystemExit) as raised:
        build.main(["--help"])
    assert raised.value.code == 0
    out = capsys.readouterr().out
    assert "--cran-mirror" in out and "--family" in out and "render" in out


def test_unknown_r_version_lists_pinned(capsys):
    status, out = run(capsys, "--r", "4.0.3", "--render")
    assert status == 2
    assert "R 4.0.3 is not pinned" in out and "4.0.2, 4.0.4" in out


def test_prefix_says_what_it_resolved_to(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(build.render, "IMAGES_DIR", tmp_path)
    monkeypatch.setattr(build.render.dockerfile_path, "__defaults__", (tmp_path,))
    status, out = run(capsys, "--r", "4.0", "--family", "debian", "--render")
    assert status == 0
    assert "--r 4.0 resolved to R 4.0.5" in out
    assert f"{tmp_path}/r-4.0.5-debian-x86_64/Dockerfile" in out


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--family", "alpine", "unknown family 'alpine'; choose one of: al2023, al2, debian"),
        ("--arch", "amd64", "unknown architecture 'amd64'; choose one of: x86_64, arm64"),
    ],
)
def test_unknown_family_or_arch(capsys, flag, value, message):
    status, out = run(capsys, "--r", "4.5.0", flag, value, "--render")
    assert status == 2 and message in out


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--cran-mirror", "ftp://mirror", "expected an http://, https:// or file:// URL"),
        ("--base-image", "x; rm -rf /", "is not an image reference"),
    ],
)
def test_bad_flags_are_refused_before_any_work(capsys, flag, value, message):
    status, out = run(capsys, "--r", "4.5.0", "--family", "debian", flag, value)
    assert status == 2 and message in out


def test_docker_not_running_says_how_to_start_it(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    status, out = run(capsys, "--r", "4.5.0", "--family", "debian")
    assert status == 1
    assert "cannot reach the Docker engine" in out and "scripts/start-docker.sh" in out


@pytest.mark.docker
def test_unreachable_mirror_names_url_and_flag(capsys, cache, docker_client):
    status, out = run(
        capsys, "--r", "4.5.0", "--family", "debian", "--cran-mirror", "http://127.0.0.1:9"
    )
    assert status == 1
    assert "cannot download http://127.0.0.1:9/src/base/R-4/R-4.5.0.tar.gz" in out
    assert "--cran-mirror" in out


def _tags(client) -> set[str]:
    return {t for image in client.images.list(name=REPOSITORY) for t in image.tags}


@pytest.mark.docker
def test_checksum_mismatch_stops_before_building(capsys, cache, docker_client, local_mirror):
    """Debian's bookworm 4.2.2 is a patched snapshot, not CRAN's R-4.2.2.tar.gz."""
    before = _tags(docker_client)
    status, out = run(
        capsys, "--r", "4.2.2", "--family", "debian", "--cran-mirror", local_mirror,
        "--base-image", DEBIAN_BASE,
    )  # fmt: skip
    assert status == 1
    assert "checksum mismatch" in out
    assert "expected sha256 0ff62b42ec51afa5713caee7c4fde7a0c45940ba39bef8c5c9487fef0c953df5" in out
    assert "got      sha256 8976903842d7df1f885c85a820826b8d4e8edef4ce4b49550683b851bd4a3a74" in out
    assert not (cache / "sha256").exists() or not any((cache / "sha256").iterdir())
    assert _tags(docker_client) == before


@pytest.mark.docker
def test_base_image_neither_present_nor_pullable(capsys, docker_client, local_mirror, local_pins):
    status, out = run(
        capsys, "--r", "4.5.0", "--family", "debian", "--cran-mirror", local_mirror,
        "--base-image", "rlambda-test/no-such-base:1", "--versions-file", str(local_pins.path),
    )  # fmt: skip
    assert status == 2
    assert (
        "base image rlambda-test/no-such-base:1 is not present locally and cannot be pulled" in out
    )
    assert "--base-image" in out


@pytest.fixture
def shell_less_base(docker_client):
    """An image with no /bin/sh: its first RUN step fails."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("etc/os-release")
        info.size = 4
        tar.addfile(info, io.BytesIO(b"ID=x"))
    tag = "rlambda-test/no-shell:1"
    docker_client.api.import_image_from_data(buf.getvalue(), repository=tag.split(":")[0], tag="1")
    yield tag
    with contextlib.suppress(docker.errors.ImageNotFound):
        docker_client.images.remove(tag, force=True)


@pytest.mark.docker
def test_failed_build_tags_nothing_and_points_at_the_log(
    capsys, docker_client, local_mirror, local_pins, shell_less_base
):
    before = _tags(docker_client)
    readable = f"{REPOSITORY}:r-4.5.0-debian-x86_64"
    readable_before = docker_client.images.get(readable).id if readable in before else None
    status, out = run(
        capsys, "--r", "4.5.0", "--family", "debian", "--cran-mirror", local_mirror,
        "--base-image", shell_less_base, "--versions-file", str(local_pins.path),
    )  # fmt: skip
    assert status == 1
    assert "the build failed" in out and "full log: " in out
    log = out.split("full log: ")[-1].split()[0]
    assert "Step 3/" in Path(log).read_text()
    assert _tags(docker_client) == before
    if readable_before:
        assert docker_client.images.get(readable).id == readable_before
