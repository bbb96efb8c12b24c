"""build.py's answers to builds that fail on the engine: a clear message, the right exit status,
nothing left behind (the checks before any work are in tests/unit/test_cli.py)."""

import contextlib
import io
import tarfile
from pathlib import Path

import docker.errors
import pytest

from rlambda.build import engine
from rlambda.target.tags import REPOSITORY

from ..conftest import DEBIAN_BASE
from ..helpers import run_build as run


@pytest.mark.docker
def test_unreachable_mirror_names_url_and_flag(capsys, cache, docker_client, debian_base):
    status, out = run(
        capsys, "--r", "4.5.0", "--family", "debian", "--cran-mirror", "http://127.0.0.1:9",
        "--base-image", debian_base,
    )  # fmt: skip
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
def arm64_only_base(docker_client):
    """A base present locally for arm64 only, as an image index pinned for both architectures
    leaves it after an arm64 build (the engine keeps one image per name)."""
    tag = "rlambda-test/arm64-only:1"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        dockerfile = b"FROM scratch\nCOPY marker /marker\n"
        for name, data in (("Dockerfile", dockerfile), ("marker", b"arm64")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    docker_client.images.build(fileobj=buf, custom_context=True, tag=tag, platform="linux/arm64")
    assert engine.image_platform(docker_client.images.get(tag)) == "linux/arm64"
    yield tag
    with contextlib.suppress(docker.errors.ImageNotFound):
        docker_client.images.remove(tag, force=True)


@pytest.mark.docker
def test_a_base_of_the_other_architecture_is_never_taken(
    capsys, docker_client, local_mirror, local_pins, arm64_only_base
):
    before = _tags(docker_client)
    status, out = run(
        capsys, "--r", "4.5.0", "--family", "debian", "--cran-mirror", local_mirror,
        "--base-image", arm64_only_base, "--versions-file", str(local_pins.path),
    )  # fmt: skip
    assert status == 2
    assert f"base image {arm64_only_base} is present locally only for linux/arm64" in out
    assert "not linux/amd64" in out and "docker pull --platform linux/amd64" in out
    assert _tags(docker_client) == before
    # The same image is what an arm64 build starts from.
    arm64 = engine.base_identity(docker_client, arm64_only_base, "linux/arm64")
    assert arm64 == docker_client.images.get(arm64_only_base).id


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
