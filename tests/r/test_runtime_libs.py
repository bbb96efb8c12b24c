"""docker/runtime-libs.sh, the builder's map from what ldd finds to the packages owning it, run
on this Debian host against R's own library (r-base-core, installed by scripts/setup.sh)."""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "docker" / "runtime-libs.sh"
LIBR = Path("/usr/lib/R/lib/libR.so")

pytestmark = pytest.mark.r


def test_a_library_under_update_alternatives_is_owned_by_its_package(tmp_path: Path) -> None:
    """Debian's libblas.so.3 is a link through /etc/alternatives that dpkg does not own (a
    45-package recipe with libgdal stopped the build on it): the file it resolves to is."""
    linked = subprocess.run(["ldd", str(LIBR)], capture_output=True, text=True, check=True)
    blas = next(line.split()[2] for line in linked.stdout.splitlines() if "libblas.so.3" in line)
    assert Path(blas).resolve() != Path(blas)  # the path ldd prints is a link ...
    unowned = subprocess.run(["dpkg-query", "--search", blas], capture_output=True, text=True)
    assert unowned.returncode != 0  # ... that no package owns
    shutil.copy(LIBR, tmp_path)

    done = subprocess.run(
        ["sh", str(SCRIPT), "dpkg", str(tmp_path)], capture_output=True, text=True
    )

    assert done.returncode == 0, done.stderr
    owners = done.stdout.split()
    assert "libblas3" in owners and "libc6" in owners, owners
