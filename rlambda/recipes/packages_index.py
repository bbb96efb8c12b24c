"""Write a CRAN-like `src/contrib/PACKAGES` (and `PACKAGES.gz`), as `tools::write_PACKAGES` does.

One record per `<pkg>_<version>.tar.gz` in the directory (not `Archive/`, as on CRAN), the fields
R's repository tools keep for source packages, in their order, plus the tarball's MD5sum. Values
have their white space collapsed and are wrapped like `write.dcf` wraps them, continuation lines
indented by 8 spaces. Usage: python -m rlambda.recipes.packages_index SRC_CONTRIB_DIR
"""

import gzip
import hashlib
import re
import sys
import textwrap
from pathlib import Path

from rlambda.sources.dcf import PACKAGE_NAME, DcfError, read_description
from rlambda.sources.rversion import VERSION

# tools:::.get_standard_repository_db_fields("source") and "MD5sum", in write_PACKAGES's order.
FIELDS = (
    "Package",
    "Version",
    "Priority",
    "Depends",
    "Imports",
    "LinkingTo",
    "Suggests",
    "Enhances",
    "License",
    "License_is_FOSS",
    "License_restricts_use",
    "OS_type",
    "Archs",
    "MD5sum",
    "NeedsCompilation",
)
TARBALL = re.compile(rf"({PACKAGE_NAME.pattern})_({VERSION.pattern})\.tar\.gz")
# write.dcf's default width is 0.9 * getOption("width"): 72 columns in an 80-column session.
_WIDTH = 72


def record(tarball: Path) -> dict[str, str]:
    """The PACKAGES record of one tarball, checked against its file name."""
    m = TARBALL.fullmatch(tarball.name)
    if not m:
        raise DcfError(f"{tarball.name}: not a <package>_<version>.tar.gz name")
    description = read_description(tarball)
    for field, expected in (("Package", m.group(1)), ("Version", m.group(2))):
        if description.get(field) != expected:
            raise DcfError(
                f"{tarball.name}: DESCRIPTION says {field}: {description.get(field)!r},"
                f" the file name says {expected!r}"
            )
    description["MD5sum"] = hashlib.md5(tarball.read_bytes()).hexdigest()
    return {f: " ".join(description[f].split()) for f in FIELDS if f in description}


def format_record(fields: dict[str, str]) -> str:
    lines = []
    for name, value in fields.items():
        lines += textwrap.wrap(
            f"{name}: {value}",
            width=_WIDTH,
            subsequent_indent=" " * 8,
            break_long_words=False,
            break_on_hyphens=False,
        )
    return "\n".join(lines) + "\n"


def write_packages(contrib: Path) -> list[Path]:
    """Index every tarball directly in `contrib`; returns the two files written."""
    tarballs = sorted(p for p in contrib.glob("*.tar.gz") if p.is_file())
    text = "\n".join(format_record(record(t)) for t in tarballs)
    plain = contrib / "PACKAGES"
    packed = contrib / "PACKAGES.gz"
    _replace(plain, text.encode())
    # mtime=0 and no file name: the same index gives the same bytes on every run.
    _replace(packed, gzip.compress(text.encode(), compresslevel=9, mtime=0))
    return [plain, packed]


def _replace(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(data)
    tmp.replace(path)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m rlambda.recipes.packages_index SRC_CONTRIB_DIR", file=sys.stderr)
        return 2
    contrib = Path(argv[0])
    if not contrib.is_dir():
        print(f"{contrib}: not a directory", file=sys.stderr)
        return 2
    try:
        written = write_packages(contrib)
    except DcfError as e:
        print(f"{contrib}: {e}", file=sys.stderr)
        return 1
    print(f"wrote {', '.join(str(p) for p in written)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
