"""Which architectures this engine can run, asked before a build or a container: an arm64
image on an x86_64 engine needs QEMU's binfmt_misc handler (with the F flag), and without it
the user hears how to get it, before anything is downloaded or built."""

from pathlib import Path

import pytest

import build
from rlambda import job
from rlambda.build import builder, engine
from rlambda.errors import UsageError
from rlambda.local.docker_launcher import DockerRuntime

# /proc/sys/fs/binfmt_misc/qemu-aarch64 as the kernel shows it once Debian's handler is
# registered (flags from /usr/lib/binfmt.d/qemu-aarch64.conf).
REGISTERED = """enabled
interpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P
flags: POF
offset 0
magic 7f454c460201010000000000000000000200b700
mask ffffffffffffff00fffffffffffffffffeffffff
"""


class FakeApi:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url


class FakeImages:
    def get(self, ref: str):
        raise AssertionError(f"looked up {ref} after the engine was found unable to run it")


class FakeClient:
    def __init__(self, arch: str = "x86_64", base_url: str = "http+docker://localhost") -> None:
        self.arch = arch
        self.api = FakeApi(base_url)
        self.images = FakeImages()

    def info(self) -> dict:
        return {"Architecture": self.arch}


def binfmt_with(tmp_path: Path, text: str | None) -> Path:
    if text is not None:
        (tmp_path / "qemu-aarch64").write_text(text)
    return tmp_path


def test_the_engines_own_architecture_needs_nothing(tmp_path):
    engine.check_runs(FakeClient("x86_64"), "linux/amd64", binfmt=tmp_path)
    engine.check_runs(FakeClient("aarch64"), "linux/arm64", binfmt=tmp_path)


def test_arm64_runs_on_x86_64_once_qemu_is_registered_with_the_f_flag(tmp_path):
    engine.check_runs(FakeClient(), "linux/arm64", binfmt=binfmt_with(tmp_path, REGISTERED))


@pytest.mark.parametrize(
    ("handler", "why"),
    [
        (None, "is not registered"),
        (REGISTERED.replace("flags: POF", "flags: OC"), "without the F flag"),
        (REGISTERED.replace("enabled", "disabled"), "is registered"),
    ],
)
def test_arm64_without_a_usable_handler_says_how_to_get_one(tmp_path, handler, why):
    with pytest.raises(UsageError) as raised:
        engine.check_runs(FakeClient(), "linux/arm64", binfmt=binfmt_with(tmp_path, handler))
    message = str(raised.value)
    assert "runs x86_64 and cannot run linux/arm64 containers" in message
    assert why in message and "scripts/setup-arm64.sh" in message
    assert "native arm64 machine" in message and "build.py render" in message


def test_a_remote_engine_is_not_judged_by_this_kernel(tmp_path):
    engine.check_runs(FakeClient(base_url="https://builder:2376"), "linux/arm64", binfmt=tmp_path)


def test_build_arm64_without_qemu_stops_before_any_download(capsys, monkeypatch, tmp_path):
    """The command a user types: exit 2 and the fix, and no source fetched or image built."""
    monkeypatch.setattr(engine, "BINFMT_MISC", tmp_path)
    monkeypatch.setattr(engine, "connect", lambda: FakeClient())

    def no_work(*args, **kwargs):
        raise AssertionError("the build started")

    monkeypatch.setattr(builder, "fetch_source", no_work)
    monkeypatch.setattr(job, "prepare_base", no_work)
    status = build.main(["--r", "4.5.0", "--family", "debian", "--arch", "arm64"])
    out = capsys.readouterr().err
    assert status == 2 and "cannot run linux/arm64 containers" in out
    assert "Traceback" not in out


def test_running_an_arm64_image_without_qemu_is_refused_by_name(monkeypatch, tmp_path):
    """`build.py test` and `serve` start containers through DockerRuntime: an arm64 image is
    refused when its config is read, before any container exists."""

    class Image:
        def __init__(self) -> None:
            self.attrs = {"Os": "linux", "Architecture": "arm64", "Config": {}}

    class Images:
        def get(self, ref):
            return Image()

    client = FakeClient()
    client.images = Images()
    monkeypatch.setattr(engine, "BINFMT_MISC", tmp_path)
    with pytest.raises(UsageError, match="cannot run linux/arm64 containers"):
        DockerRuntime("r-lambda:arm", client=client).image_config()
