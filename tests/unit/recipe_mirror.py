"""The small CRAN-like mirror built from tests/unit/recipes/mirror.dcf (tarballs holding just a
DESCRIPTION, indexed by our PACKAGES writer), served as file://; its fixture, `mirror`, is in
tests/unit/conftest.py."""

import io
import tarfile
from pathlib import Path

from rlambda.pins import versions
from rlambda.recipes import packages_index
from rlambda.sources import dcf

CRAN = versions.load().cran_mirror  # what a lock records as where builds download from

FIXTURES = Path(__file__).resolve().parent / "recipes"


def make_mirror(root: Path) -> Path:
    """A CRAN-like tree: current versions in src/contrib (indexed), others in Archive/."""
    contrib = root / "src" / "contrib"
    contrib.mkdir(parents=True)
    for record in dcf.parse((FIXTURES / "mirror.dcf").read_text()):
        place = record.pop("X-Place", "current")
        name, version = record["Package"], record["Version"]
        folder = contrib if place == "current" else contrib / "Archive" / name
        folder.mkdir(parents=True, exist_ok=True)
        text = "".join(f"{k}: {v}\n" for k, v in record.items()).encode()
        with tarfile.open(folder / f"{name}_{version}.tar.gz", "w:gz") as tar:
            info = tarfile.TarInfo(f"{name}/DESCRIPTION")
            info.size = len(text)
            tar.addfile(info, io.BytesIO(text))
    packages_index.write_packages(contrib)
    return root


def url(mirror: Path) -> str:
    return mirror.as_uri()
