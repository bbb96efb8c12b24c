"""The Amazon Linux package database (reference/amazon-linux/): loading, the checks it drives at
render and lock time, and the al2023 stand-in's microdnf answering from it."""

import os
import re
import subprocess
from pathlib import Path

import pytest

from rlambda.build import render
from rlambda.errors import UsageError
from rlambda.local import standin
from rlambda.pins import package_db
from rlambda.pins.platforms import runtime_packages, toolchain_packages
from rlambda.recipes import sysreqs

MICRODNF = standin.STANDIN_DIR / "microdnf"

GOOD = """
[meta]
checked = "2026-12-07"
release = "2023.12"
[sources.aws]
url = "https://docs.aws.amazon.com/x"
what = "a list"
kind = "aws-list"
[al2023.gcc]
repo = "core"
sources = ["aws"]
[al2023.gdal-devel]
repo = "spal"
sources = ["aws"]
[al2023.libsodium-devel]
repo = "absent"
sources = ["aws"]
"""


def write_db(tmp_path: Path, text: str) -> package_db.PackageDb:
    path = tmp_path / "packages.toml"
    path.write_text(text)
    return package_db.load.__wrapped__(path)


def test_the_committed_database_loads_with_sources_for_every_verified_name():
    db = package_db.load()
    assert db.release.startswith("2023.")
    for entry in db.packages["al2023"].values():
        assert entry.verified == bool(entry.sources) or not entry.verified
        assert entry.verified or entry.reason


def test_every_family_table_name_exists_on_al2023():
    db = package_db.load()
    for name in [*toolchain_packages("al2023"), *runtime_packages("al2023")]:
        assert db.repo("al2023", name) == "core", name


def test_libsodium_is_not_in_al2023_core():
    db = package_db.load()
    assert db.repo("al2023", "libsodium-devel") == "absent"
    assert "not in AL2023's core" in db.unavailable("al2023", "libsodium-devel")


def _installed_names(dockerfile: str) -> list[str]:
    """Every package name a rendered Dockerfile's `microdnf install` lines name (flags and the
    ldd list read at build time, `$(cat ...)`, left out)."""
    joined = dockerfile.replace("\\\n", " ")
    names = []
    for command in re.findall(r"microdnf install ([^&\n]*)", joined):
        words = re.sub(r"\$\([^)]*\)", " ", command).split()
        names += [w for w in words if not w.startswith("-")]
    return names


def test_every_al2023_name_in_images_is_in_the_database():
    """What every committed al2023 render installs, read back from images/, is a name the
    database has in AL2023's core or in SPAL (issue 29's check on the renders, not our tables)."""
    db = package_db.load()
    renders = sorted(render.IMAGES_DIR.glob("*-al2023-*/**/Dockerfile"))
    assert len(renders) >= 10
    for path in renders:
        names = _installed_names(path.read_text())
        # A base render installs the toolchain; a recipe without packages installs nothing.
        assert names or path.parent.parent != render.IMAGES_DIR, path
        unknown = [n for n in names if db.repo("al2023", n) not in ("core", "spal")]
        assert not unknown, (path, unknown)


def test_lookup_answers_core_spal_or_neither(tmp_path):
    db = write_db(tmp_path, GOOD)
    assert db.repo("al2023", "gcc") == "core"
    assert db.repo("al2023", "gdal-devel") == "spal"
    assert db.repo("al2023", "nope") is None
    assert db.needs_spal("al2023", ["gcc", "gdal-devel"])
    assert not db.needs_spal("al2023", ["gcc"])
    assert db.unavailable("al2023", "gdal-devel") is None
    assert db.unavailable("al2023", "nope") is None and db.unchecked("al2023", "nope")
    assert "not in packages.toml" in db.unavailable("al2023", "nope", strict=True)
    assert db.unavailable("al2", "anything") is None  # al2 is not checked (README)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('repo = "spal"', 'repo = "epel"'), "al2023.gdal-devel.repo: expected one of"),
        (('sources = ["aws"]\n[al2023.gdal', 'sources = ["web"]\n[al2023.gdal'), "sources"),
        (('repo = "core"', 'repo = "core"\nverison = "1"'), "unknown key"),
        (('sources = ["aws"]\n[al2023.gdal', "sources = []\n[al2023.gdal"), "at least one"),
        (('url = "https', 'url = "http'), "sources.aws.url"),
    ],
)
def test_a_bad_database_is_refused_on_load(tmp_path, change, message):
    with pytest.raises(UsageError, match=message.replace(".", r"\.")):
        write_db(tmp_path, GOOD.replace(*change, 1))


def test_a_mapped_requirement_al2023_lacks_fails_naming_everything():
    with pytest.raises(UsageError) as e:
        sysreqs.requirements_for("sodium", "libsodium (>= 1.0.3)", "al2023")
    text = str(e.value)
    for part in (
        "sodium",
        "libsodium (>= 1.0.3)",
        "libsodium-devel",
        "[system-requirements.al2023]",
    ):
        assert part in text
    # Debian has it, and al2 is not checked.
    assert sysreqs.requirements_for("sodium", "libsodium (>= 1.0.3)", "debian")


def test_a_mapped_name_the_database_does_not_know_is_kept_and_marked_unchecked():
    """The committed list is partial: a name it lacks (cmake, for nloptr, which lme4 needs) is
    not refused, but the recipe's Dockerfile says it was not checked."""
    found = sysreqs.requirements_for("nloptr", "cmake", "al2023")
    assert [r.os_package for r in found] == ["cmake"]
    assert found[0].unchecked and "unchecked" in found[0].why


def test_the_family_tables_own_names_must_all_be_known():
    with pytest.raises(UsageError, match="no AWS source seen says it exists"):
        package_db.check_names("al2023", ["no-such-package"], "the family table")


def test_a_recipe_override_naming_a_missing_package_fails():
    overrides = {"sodium": ("libsodium-devel",)}
    with pytest.raises(UsageError, match=r"recipe.toml's \[system-requirements.al2023\] sodium"):
        sysreqs.requirements_for("sodium", "libsodium", "al2023", overrides)
    ok = sysreqs.requirements_for("xml2", "libxml2", "al2023", {"xml2": ("libxml2-devel",)})
    assert [r.os_package for r in ok] == ["libxml2-devel"]


# ---- the stand-in's table and microdnf -------------------------------------------------


def test_standin_names_come_from_the_database_only(tmp_path):
    db = write_db(tmp_path, GOOD)
    table = standin.package_table(db)
    # gdal-devel's Debian stand-in comes from the system-requirements table's gdal rule.
    assert table == "gcc\tcore\tgcc\ngdal-devel\tspal\tlibgdal-dev\n"
    # The family table's `which` is not in this database, so the stand-in refuses it.
    assert "which" not in table


def test_every_hand_written_stand_in_is_for_a_name_the_database_has():
    """libraries.tsv (the stand-in's own table) names only packages AL2023 has; the names the
    system-requirements table pairs with Debian's may be anything, as only the database's
    names reach the stand-in's table."""
    db = package_db.load()
    for line in (standin.STANDIN_DIR / "libraries.tsv").read_text().splitlines():
        name = line.split("\t")[0]
        assert db.repo("al2023", name) in ("core", "spal"), name
    table = standin.package_table()
    assert all(db.repo("al2023", row.split("\t")[0]) for row in table.splitlines())


@pytest.fixture
def fake_root(tmp_path):
    """A root for microdnf: its table, the hidden list, and an apt-get that logs its
    arguments."""
    (tmp_path / "usr/share/al2023-standin").mkdir(parents=True)
    (tmp_path / "usr/share/al2023-standin/packages.tsv").write_text(
        "gcc\tcore\tgcc\ngdal-devel\tspal\tlibgdal-dev\nrpm\tcore\t-\n"
    )
    (tmp_path / "var/lib/al2023-standin").mkdir(parents=True)
    (tmp_path / "var/lib/al2023-standin/hidden").write_text("")
    bin_dir = tmp_path / "usr/lib/al2023-standin/bin"
    bin_dir.mkdir(parents=True)
    apt = bin_dir / "apt-get"
    apt.write_text(f'#!/bin/sh\necho "$*" >> {tmp_path}/apt.log\n')
    apt.chmod(0o755)
    (tmp_path / "etc/yum.repos.d").mkdir(parents=True)
    return tmp_path


def microdnf(root: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "AL2023_STANDIN_ROOT": str(root)}
    return subprocess.run(
        ["sh", str(MICRODNF), *args], env=env, capture_output=True, text=True, check=False
    )


def test_microdnf_installs_a_core_name_through_its_debian_stand_in(fake_root):
    out = microdnf(fake_root, "install", "-y", "--nodocs", "gcc")
    assert out.returncode == 0, out.stderr
    assert "install -y -qq --no-install-recommends" in (fake_root / "apt.log").read_text()
    assert (fake_root / "apt.log").read_text().rstrip().endswith(" gcc")


def test_microdnf_refuses_a_name_al2023_does_not_have(fake_root):
    out = microdnf(fake_root, "install", "-y", "gcc", "libsodium-devel")
    assert out.returncode == 1
    assert "No package matches 'libsodium-devel'" in out.stderr
    assert not (fake_root / "apt.log").exists()


def test_microdnf_takes_spal_names_only_once_spal_is_enabled(fake_root):
    out = microdnf(fake_root, "install", "-y", "gdal-devel")
    assert out.returncode == 1
    assert "No package matches 'gdal-devel'" in out.stderr
    (fake_root / "etc/yum.repos.d/amazonlinux-spal.repo").write_text("[spal]\n")
    out = microdnf(fake_root, "install", "-y", "gdal-devel")
    assert out.returncode == 0, out.stderr
    assert "libgdal-dev" in (fake_root / "apt.log").read_text()


def test_microdnf_says_when_a_real_name_has_no_debian_stand_in(fake_root):
    out = microdnf(fake_root, "install", "-y", "rpm")
    assert out.returncode == 1
    assert "exists on AL2023 but has no Debian stand-in" in out.stderr
