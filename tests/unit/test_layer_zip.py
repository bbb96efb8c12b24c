"""Layer zips without Docker: the same tree gives the same bytes whatever its timestamps, and
unpacking keeps the modes Lambda needs (an executable /opt/bootstrap)."""

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from rlambda.build import layer, layer_zip

MANIFEST = {"kind": "r", "arch": "x86_64", "family": "debian", "r_version": "4.5.0"}


def tree(root: Path, mtime: int) -> list[Path]:
    (root / "lang" / "bin").mkdir(parents=True)
    files = {"bootstrap": (layer.BOOTSTRAP, 0o755), "lang/bin/R": ("#!/bin/sh\n", 0o700),
             "lang/README": ("R\n", 0o600)}  # fmt: skip
    paths = []
    for name, (text, mode) in files.items():
        path = root / name
        path.write_text(text)
        path.chmod(mode)
        os.utime(path, (mtime, mtime))
        paths.append(path)
    return paths


def test_same_tree_same_bytes_whatever_the_timestamps(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    a = layer_zip.write(one, tree(one, 1_000_000), tmp_path / "a.zip", MANIFEST)
    b = layer_zip.write(two, list(reversed(tree(two, 2_000_000))), tmp_path / "b.zip", MANIFEST)
    assert a == b == layer_zip.sha256(tmp_path / "a.zip")
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()
    with zipfile.ZipFile(tmp_path / "a.zip") as zf:
        names = zf.namelist()
    assert names == sorted(names) and "rlambda-layer-r.json" in names
    assert layer_zip.manifest(tmp_path / "a.zip") == MANIFEST


def test_extract_keeps_modes_and_refuses_paths_outside(tmp_path):
    src = tmp_path / "src"
    layer_zip.write(src, tree(src, 0), tmp_path / "l.zip", MANIFEST)
    dest = tmp_path / "opt"
    layer_zip.extract(tmp_path / "l.zip", dest)
    assert (dest / "bootstrap").stat().st_mode & 0o777 == 0o755
    assert (dest / "lang" / "bin" / "R").stat().st_mode & 0o777 == 0o755  # readable by any uid
    assert (dest / "lang" / "README").stat().st_mode & 0o777 == 0o644
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("../outside", "x")
    with pytest.raises(ValueError, match="leaves the layer"):
        layer_zip.extract(evil, dest)
    assert not (tmp_path / "outside").exists()


def test_the_layers_shell_scripts_pass_shellcheck(tmp_path):
    shellcheck = shutil.which("shellcheck") or str(Path(sys.executable).parent / "shellcheck")
    scripts = {"bootstrap": layer.BOOTSTRAP, "needed": "#!/bin/sh\n" + layer._NEEDED_SCRIPT,
               "check": "#!/bin/sh\n" + layer._CHECK_SCRIPT}  # fmt: skip
    for name, text in scripts.items():
        (tmp_path / name).write_text(text)
    result = subprocess.run([shellcheck, *(str(tmp_path / n) for n in scripts)],
                            capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 0, result.stdout
