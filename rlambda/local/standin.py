"""The al2023-shaped stand-in for public.ecr.aws/lambda/provided:al2023, which cannot be pulled
here: the debootstrapped Debian base reshaped where the al2023-rendered Dockerfiles can tell
(docker/al2023-standin/Dockerfile says how and why).

It proves the Dockerfiles' logic, paths, entry point and environment on an AWS-like layout. It
cannot prove Amazon Linux's versions or glibc 2.34. Its `microdnf` accepts exactly the names the
package database (reference/amazon-linux/, read from AWS's lists, never from our tables) has in
AL2023's core repositories, and SPAL's once a SPAL .repo file is in /etc/yum.repos.d; only then
does it look up which Debian package stands in for the name (the family table's debian column
and libraries.tsv). A name our table has but AWS's lists do not is refused, as microdnf would.

It is built per architecture, from the debootstrapped base of that architecture
(scripts/make-debian-base.sh; arm64 under QEMU, scripts/setup-arm64.sh), with AWS's RIE for it.

Usage: python -m rlambda.local.standin [--arch x86_64|arm64] [DEBIAN_BASE]   (prints its tag)
"""

import argparse
import sys
import tempfile
from pathlib import Path

from rlambda.build import engine
from rlambda.build.context import ROOT, make_context
from rlambda.local.aws_rie.binary import rie_binary
from rlambda.pins import package_db
from rlambda.pins.platforms import ARCHITECTURES, BUILD_PACKAGES, RUNTIME_PACKAGES, check_arch
from rlambda.recipes import sysreqs
from rlambda.recipes.data_files import data_rules
from rlambda.sources.fetch import cache_dir

STANDIN_DIR = ROOT / "docker" / "al2023-standin"
DEBIAN_BASE = "rlambda-local/debian:bookworm"
# The debootstrapped base per architecture (scripts/setup.sh makes both).
DEBIAN_BASES = {"x86_64": DEBIAN_BASE, "arm64": "rlambda-local/debian:bookworm-arm64"}
REPOSITORY = "rlambda-local/al2023-standin"
FILES = ("microdnf", "rpm", "lambda-entrypoint.sh", "libraries.tsv")


def _pair(rows: dict[str, set[str]], al2023: list[str], debian: list[str]) -> None:
    """One rule's al2023 names beside its debian ones: name by name when the lists match in
    length (gdal-devel, gdal / libgdal-dev, gdal-bin), else each al2023 name stands for them all."""
    if len(al2023) == len(debian):
        for name, deb in zip(al2023, debian, strict=True):
            rows.setdefault(name, set()).add(deb)
    else:
        for name in al2023:
            rows.setdefault(name, set()).update(debian)


def debian_stand_ins() -> dict[str, set[str]]:
    """al2023 name -> the Debian package(s) standing in for it: the family table's debian column
    beside its al2023 one, the system-requirements table's and the data rules' likewise, and
    libraries.tsv. Says nothing about whether the name exists."""
    rows: dict[str, set[str]] = {}
    for table in (BUILD_PACKAGES, RUNTIME_PACKAGES):
        for names in table.values():
            rows.setdefault(names["al2023"], set()).add(names["debian"])
    for rule in sysreqs.rules():
        al2023, debian = rule.families["al2023"], rule.families["debian"]
        if "packages" in al2023 and "packages" in debian:
            _pair(rows, al2023["packages"], debian["packages"])
    for data_rule in data_rules().values():
        if "al2023" in data_rule.packages and "debian" in data_rule.packages:
            _pair(rows, list(data_rule.packages["al2023"]), list(data_rule.packages["debian"]))
    for line in (STANDIN_DIR / "libraries.tsv").read_text().splitlines():
        al2023, debian = line.split("\t")
        rows.setdefault(al2023, set()).add(debian)
    return rows


def package_table(db: package_db.PackageDb | None = None) -> str:
    """al2023 name <TAB> repository (core or spal) <TAB> Debian package(s) or "-", one line per
    name the package database has in core or SPAL: the names that exist come from the database
    alone; a name with no Debian stand-in is listed with "-" (the stand-in says so when asked)."""
    db = db or package_db.load()
    debs = debian_stand_ins()
    rows = []
    for repo in ("core", "spal"):
        for name in db.names("al2023", (repo,)):
            rows.append(f"{name}\t{repo}\t{' '.join(sorted(debs.get(name, ()))) or '-'}\n")
    return "".join(sorted(rows))


def build_standin(debian_base: str | None = None, arch: str = "x86_64") -> str:
    """Build the stand-in for `arch` on `debian_base` (that architecture's debootstrapped base
    by default) and return its tag (content-addressed: a rebuild with the same inputs reuses
    every layer, so images built on it stay cached)."""
    check_arch(arch)
    debian_base = debian_base or DEBIAN_BASES[arch]
    platform = ARCHITECTURES[arch]
    client = engine.connect()
    engine.check_runs(client, platform)  # arm64: QEMU registered, before anything is built
    with tempfile.TemporaryDirectory() as tmp:
        table = Path(tmp) / "packages.tsv"
        table.write_text(package_table())
        files = {name: STANDIN_DIR / name for name in FILES}
        files |= {"packages.tsv": table, "aws-lambda-rie": rie_binary(arch)}
        base_id = engine.base_identity(client, debian_base, platform)
        context = make_context(
            (STANDIN_DIR / "Dockerfile").read_text(), files, base_identity=base_id
        )
        tag = f"content-{context.content_hash[:16]}"
        if engine.find_image(client, f"{REPOSITORY}:{tag}") is None:
            print(f"==> building the al2023 stand-in {REPOSITORY}:{tag} ({arch})", file=sys.stderr)
            image_id = engine.build(
                client,
                context.tar,
                buildargs={"DEBIAN_BASE": debian_base},
                labels={"io.rlambda.standin": "al2023"},
                platform=platform,
                log_path=cache_dir() / "logs" / f"al2023-standin-{tag}.log",
            )
            engine.tag(client, image_id, REPOSITORY, [tag, "latest" if arch == "x86_64" else arch])
    return f"{REPOSITORY}:{tag}"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m rlambda.local.standin")
    parser.add_argument("--arch", default="x86_64", choices=list(ARCHITECTURES))
    parser.add_argument("debian_base", nargs="?", help="default: the architecture's debootstrap")
    options = parser.parse_args()
    print(build_standin(options.debian_base, options.arch))
