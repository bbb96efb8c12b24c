"""The python-ric image (tests/docker/images/python-ric: Debian's python3 + AWS's awslambdaric on
the local Debian base): a real Python function image, built by tests and bench/local_lambda.py."""

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import docker
from rlambda.sources.fetch import cache_dir

ROOT = Path(__file__).resolve().parents[2]
RIC_CONTEXT = ROOT / "tests" / "docker" / "images" / "python-ric"
RIC_REPOSITORY = "rlambda-test/python-ric"
# awslambdaric and its runtime dependencies, as wheels for bookworm's python3 (3.11, x86_64).
RIC_WHEELS = ("awslambdaric==3.1.1", "simplejson==4.3.0", "snapshot-restore-py==1.0.0")


def _ric_wheels() -> list[Path]:
    """The wheels, downloaded once into the cache (builds here cannot reach PyPI)."""
    target = cache_dir() / "python-ric-wheels"
    wheels = sorted(target.glob("*.whl"))
    if len(wheels) == len(RIC_WHEELS):
        return wheels
    target.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            *(sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"),
            *("--only-binary=:all:", "--python-version", "3.11", "--implementation", "cp"),
            *("--platform", "manylinux2014_x86_64", "-d", str(target), *RIC_WHEELS),
        ],
        check=True,
    )
    return sorted(target.glob("*.whl"))


def build_python_ric_image(client: docker.DockerClient, work_dir: Path) -> str:
    """Build tests/docker/images/python-ric (plus the wheels) and return its tag.

    The tag is a hash of the context, so a changed handler rebuilds; unchanged layers come
    from the engine's cache.
    """
    context = work_dir / "python-ric"
    shutil.copytree(RIC_CONTEXT, context, dirs_exist_ok=True)
    (context / "wheels").mkdir(exist_ok=True)
    for wheel in _ric_wheels():
        shutil.copy2(wheel, context / "wheels" / wheel.name)
    digest = hashlib.sha256()
    for path in sorted(p for p in context.rglob("*") if p.is_file()):
        digest.update(path.relative_to(context).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
    tag = f"{RIC_REPOSITORY}:{digest.hexdigest()[:16]}"
    try:
        client.images.get(tag)
    except docker.errors.ImageNotFound:
        client.images.build(path=str(context), tag=tag, rm=True, pull=False)
    return tag
