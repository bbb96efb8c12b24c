"""The al2023-shaped stand-in for public.ecr.aws/lambda/provided:al2023, which cannot be pulled
here: the debootstrapped Debian base reshaped where the al2023-rendered Dockerfiles can tell
(docker/al2023-standin/Dockerfile says how and why).

It proves the Dockerfiles' logic, paths, entry point and environment on an AWS-like layout. It
cannot prove Amazon Linux's package names, versions or glibc 2.34: its `microdnf` resolves
al2023 names through our own family table (rlambda/pins/platforms.py) to Debian packages, so a name
that is wrong for Amazon Linux but in the table still installs here.

Usage: python -m rlambda.local.standin [DEBIAN_BASE]   (prints the stand-in's tag)
"""

import sys
import tempfile
from pathlib import Path

from rlambda.build import engine
from rlambda.build.context import ROOT, make_context
from rlambda.local.aws_rie.binary import rie_binary
from rlambda.pins.platforms import BUILD_PACKAGES, RUNTIME_PACKAGES
from rlambda.sources.fetch import cache_dir

STANDIN_DIR = ROOT / "docker" / "al2023-standin"
DEBIAN_BASE = "rlambda-local/debian:bookworm"
REPOSITORY = "rlambda-local/al2023-standin"
FILES = ("microdnf", "rpm", "lambda-entrypoint.sh", "libraries.tsv")


def package_table() -> str:
    """al2023 name <TAB> Debian package(s), one line per name: the family table's builder and
    runtime rows, then the stand-in's own names for the libraries ldd finds."""
    rows: dict[str, set[str]] = {}
    for table in (BUILD_PACKAGES, RUNTIME_PACKAGES):
        for names in table.values():
            rows.setdefault(names["al2023"], set()).add(names["debian"])
    for line in (STANDIN_DIR / "libraries.tsv").read_text().splitlines():
        al2023, debian = line.split("\t")
        rows.setdefault(al2023, set()).add(debian)
    return "".join(f"{name}\t{' '.join(sorted(debs))}\n" for name, debs in sorted(rows.items()))


def build_standin(debian_base: str = DEBIAN_BASE) -> str:
    """Build the stand-in on `debian_base` and return its tag (content-addressed: a rebuild
    with the same inputs reuses every layer, so images built on it stay cached)."""
    client = engine.connect()
    with tempfile.TemporaryDirectory() as tmp:
        table = Path(tmp) / "packages.tsv"
        table.write_text(package_table())
        files = {name: STANDIN_DIR / name for name in FILES}
        files |= {"packages.tsv": table, "aws-lambda-rie": rie_binary("x86_64")}
        base_id = engine.base_identity(client, debian_base, "linux/amd64")
        context = make_context(
            (STANDIN_DIR / "Dockerfile").read_text(), files, base_identity=base_id
        )
        tag = f"content-{context.content_hash[:16]}"
        if engine.find_image(client, f"{REPOSITORY}:{tag}") is None:
            print(f"==> building the al2023 stand-in {REPOSITORY}:{tag}", file=sys.stderr)
            image_id = engine.build(
                client,
                context.tar,
                buildargs={"DEBIAN_BASE": debian_base},
                labels={"io.rlambda.standin": "al2023"},
                platform="linux/amd64",
                log_path=cache_dir() / "logs" / f"al2023-standin-{tag}.log",
            )
            engine.tag(client, image_id, REPOSITORY, [tag, "latest"])
    return f"{REPOSITORY}:{tag}"


if __name__ == "__main__":
    print(build_standin(*sys.argv[1:2]))
