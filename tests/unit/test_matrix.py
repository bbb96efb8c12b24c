"""build.py matrix: the build matrix derived from VERSIONS.toml and recipes/, its filters, the
--changed-since mapping, and the job summary."""

import json
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from rlambda.ci import matrix, summary
from rlambda.pins import versions
from rlambda.pins.platforms import ARCHITECTURES, FAMILIES
from rlambda.recipes import RECIPES_DIR

ROOT = Path(__file__).resolve().parents[2]
PINS = versions.load()
# Read independently of rlambda.recipes: each lock's [lock] r_version.
LOCKED = {
    p.parent.name: tomllib.loads(p.read_text())["lock"]["r_version"]
    for p in sorted(RECIPES_DIR.glob("*/lock.toml"))
}
# A deprecated family (al2) is in the matrix only when named.
BUILT = [name for name, fam in FAMILIES.items() if not fam.deprecated]
COMBOS = len(BUILT) * len(ARCHITECTURES)
# Read independently too: each recipe.toml's [not-built-on] families.
NOT_BUILT_ON = {
    p.parent.name: set(tomllib.loads(p.read_text()).get("not-built-on", {}))
    for p in sorted(RECIPES_DIR.glob("*/recipe.toml"))
}


def recipe_combos(name: str) -> int:
    return len([f for f in BUILT if f not in NOT_BUILT_ON.get(name, set())]) * len(ARCHITECTURES)


def run(capsys, *argv: str) -> tuple[int, list[dict], str]:
    code = matrix.main(list(argv))
    out, err = capsys.readouterr()
    include = json.loads(out)["include"] if out.strip() else []
    return code, include, err


def test_full_matrix_counts_and_covers_every_pin(capsys) -> None:
    code, include, err = run(capsys)
    assert code == 0
    assert len(include) == len(PINS.r) * COMBOS + sum(recipe_combos(n) for n in LOCKED)
    assert len(include) <= matrix.MAX_JOBS
    base = [e for e in include if e["recipe"] is None]
    for version in PINS.r:
        combos = {(e["family"], e["arch"]) for e in base if e["r"] == version}
        assert combos == {(f, a) for f in BUILT for a in ARCHITECTURES}, version
    for name, r in LOCKED.items():
        mine = [e for e in include if e["recipe"] == name]
        assert len(mine) == recipe_combos(name) and {e["r"] for e in mine} == {r}
    assert len({e["tag"] for e in include}) == len(include)  # one job per image
    assert f"{len(include)} of " in err and "deprecated al2 left out" in err


def test_entry_fields(capsys) -> None:
    _, include, _ = run(capsys, "--recipe", "hello", "--family", "debian", "--arch", "arm64")
    assert include == [
        {
            "r": LOCKED["hello"],
            "family": "debian",
            "arch": "arm64",
            "recipe": "hello",
            "runner": "ubuntu-24.04-arm",
            "tag": f"r-{LOCKED['hello']}-hello-debian-arm64",
            "relock": False,  # base R only: nothing comes from a mirror
        }
    ]


def test_recipes_locked_against_another_mirror_are_relocked_in_the_job(capsys) -> None:
    """The committed locks name the local mirror: each job building one from CRAN locks it
    against CRAN first (rebuild.yml), rather than stop at the mirror check."""
    _, include, _ = run(capsys, "--family", "debian", "--arch", "x86_64")
    relock = {e["recipe"]: e["relock"] for e in include if e["recipe"]}
    assert relock == {name: name != "hello" for name in LOCKED}
    assert not any(e["relock"] for e in include if e["recipe"] is None)


def test_runner_is_native_per_arch(capsys) -> None:
    _, include, _ = run(capsys)
    assert {(e["arch"], e["runner"]) for e in include} == {
        ("x86_64", "ubuntu-24.04"),
        ("arm64", "ubuntu-24.04-arm"),
    }


def test_r_prefix_resolves_like_build_py(capsys) -> None:
    newest_45 = PINS.resolve_r("4.5").version
    _, include, _ = run(capsys, "--r", "4.5", "--no-recipes")
    assert {e["r"] for e in include} == {newest_45}
    assert len(include) == COMBOS


def test_exact_r_includes_recipes_locked_on_it(capsys) -> None:
    r = LOCKED["hello"]
    _, include, _ = run(capsys, "--r", r)
    assert {e["recipe"] for e in include} == {None, *(n for n, v in LOCKED.items() if v == r)}


def test_deprecated_al2_is_built_only_when_named(capsys) -> None:
    _, include, _ = run(capsys, "--no-recipes")
    assert "al2" not in {e["family"] for e in include}
    assert {e["family"] for e in include} == {"al2023", "debian"}
    _, named, _ = run(capsys, "--family", "al2", "--no-recipes")
    assert {e["family"] for e in named} == {"al2"} and len(named) == len(PINS.r) * 2


def test_filters_combine_and_accept_comma_lists(capsys) -> None:
    _, include, _ = run(capsys, "--family", "debian,al2", "--arch", "x86_64", "--no-recipes")
    assert len(include) == len(PINS.r) * 2
    assert {e["family"] for e in include} == {"debian", "al2"}
    _, again, _ = run(
        capsys, "--family", "debian", "--family", "al2", "--arch", "x86_64", "--no-recipes"
    )
    assert again == include


@pytest.mark.parametrize(
    "argv",
    [["--family", "alpine"], ["--arch", "armv7"], ["--recipe", "no-such"], ["--r", "3.6"]],
)
def test_bad_filter_is_usage_error(capsys, argv) -> None:
    code, include, err = run(capsys, *argv)
    assert code == 2 and include == [] and err.startswith("error:")


def test_empty_selection_exits_2_unless_allowed(capsys) -> None:
    oldest = min(PINS.r, key=versions.Version)
    assert oldest not in LOCKED.values()
    code, include, err = run(capsys, "--r", oldest, "--recipe", "hello")
    assert code == 2 and include == []
    assert "nothing selected" in err
    code = matrix.main(["--r", oldest, "--recipe", "hello", "--allow-empty"])
    out, err = capsys.readouterr()
    assert code == 0 and json.loads(out) == {"include": []} and "nothing selected" in err


# ---- --changed-since ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "effect"),
    [
        ("VERSIONS.toml", ("pins", None)),
        ("recipes/hello/hello.R", ("recipe", "hello")),
        ("recipes/json-api/events/01.json", ("recipe", "json-api")),
        ("Dockerfile.base", ("everything", None)),
        ("docker/runtime-libs.sh", ("everything", None)),
        ("runtime/R/loop.R", ("everything", None)),
        ("rlambda/build/render.py", ("everything", None)),
        ("rlambda/recipes/sysreqs.py", ("everything", None)),
        ("build.py", ("everything", None)),
        ("rlambda/ci/matrix.py", ("nothing", None)),
        ("rlambda/update/cli.py", ("nothing", None)),
        ("rlambda/ci/summary.py", ("nothing", None)),
        ("images/r-4.5.0-debian-x86_64/Dockerfile", ("nothing", None)),
        ("README.md", ("nothing", None)),
        ("tests/test_matrix.py", ("nothing", None)),
        (".github/workflows/rebuild.yml", ("nothing", None)),
    ],
)
def test_path_effect(path: str, effect: tuple[str, str | None]) -> None:
    assert matrix.path_effect(path) == effect


def _pins() -> dict:
    return tomllib.loads((ROOT / "VERSIONS.toml").read_text())


def test_pin_changes_r_release_added_and_changed() -> None:
    old, new = _pins(), _pins()
    new["r"]["9.9.9"] = {"url": "x", "sha256": "0" * 64}
    new["r"]["4.0.2"] = {**new["r"]["4.0.2"], "sha256": "1" * 64}
    del new["r"]["4.1.3"]  # removed: nothing left to build
    assert matrix.pin_changes(old, new) == matrix.Scope(r_versions=frozenset({"9.9.9", "4.0.2"}))


def test_pin_changes_base_digest_touches_that_family_and_arch() -> None:
    old, new = _pins(), _pins()
    new["bases"]["debian"]["arm64"] = "sha256:" + "2" * 64
    assert matrix.pin_changes(old, new) == matrix.Scope(bases=frozenset({("debian", "arm64")}))


def test_pin_changes_base_tag_touches_every_arch() -> None:
    old, new = _pins(), _pins()
    new["bases"]["al2"]["tag"] = "al2.2027"
    assert matrix.pin_changes(old, new).bases == {("al2", a) for a in ARCHITECTURES}


@pytest.mark.parametrize("key", ["cran", "packages", "something-new"])
def test_pin_changes_to_shared_pins_touch_everything(key: str) -> None:
    old, new = _pins(), _pins()
    new[key] = {"changed": True}
    assert matrix.pin_changes(old, new).everything
    assert matrix.pin_changes(None, new).everything


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository holding a copy of VERSIONS.toml and recipes/, one commit."""
    shutil.copy(ROOT / "VERSIONS.toml", tmp_path / "VERSIONS.toml")
    shutil.copytree(RECIPES_DIR, tmp_path / "recipes")
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "pins"], check=True)
    return tmp_path


def changed(capsys, repo: Path, *extra: str) -> tuple[int, list[dict], str]:
    return run(
        capsys,
        "--changed-since",
        "HEAD",
        "--versions-file",
        str(repo / "VERSIONS.toml"),
        "--recipes-dir",
        str(repo / "recipes"),
        *extra,
    )


def test_changed_since_base_digest(capsys, repo: Path) -> None:
    pins = repo / "VERSIONS.toml"
    old = PINS.bases["debian"].digests["x86_64"]
    pins.write_text(pins.read_text().replace(old, "sha256:" + "3" * 64, 1))
    code, include, _ = changed(capsys, repo)
    assert code == 0
    assert {(e["family"], e["arch"]) for e in include} == {("debian", "x86_64")}
    assert len(include) == len(PINS.r) + len(LOCKED)  # every version, every recipe


def test_changed_since_recipe_and_comment(capsys, repo: Path) -> None:
    (repo / "recipes" / "hello" / "hello.R").write_text("# changed\n")
    pins = repo / "VERSIONS.toml"
    pins.write_text("# a comment changes no pin\n" + pins.read_text())
    code, include, _ = changed(capsys, repo)
    assert code == 0 and {e["recipe"] for e in include} == {"hello"} and len(include) == COMBOS


def test_changed_since_nothing_relevant(capsys, repo: Path) -> None:
    (repo / "README.md").write_text("docs\n")
    code, include, err = changed(capsys, repo)
    assert code == 2 and "nothing selected" in err
    code, include, err = changed(capsys, repo, "--allow-empty")
    assert code == 0 and include == []


def test_changed_since_unknown_ref(capsys, repo: Path) -> None:
    code = matrix.main(
        ["--changed-since", "no-such-ref", "--versions-file", str(repo / "VERSIONS.toml")]
    )
    assert code == 2
    assert "--changed-since 'no-such-ref'" in capsys.readouterr().err


def test_changed_since_is_never_an_option_to_git(capsys, repo: Path) -> None:
    """A ref that reads like an option of git's (`--output=FILE` would have git write FILE)."""
    written = repo / "written-by-git"
    code = matrix.main(
        [f"--changed-since=--output={written}", "--versions-file", str(repo / "VERSIONS.toml")]
    )
    assert code == 2
    assert f"--changed-since '--output={written}'" in capsys.readouterr().err
    assert not written.exists()


# ---- job summary --------------------------------------------------------------------------


def test_summary_markdown(tmp_path: Path, capsys) -> None:
    uri = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/r-lambda@sha256:" + "a" * 64
    result = {
        "r_version": "4.5.0",
        "family": "debian",
        "arch": "arm64",
        "recipe": "hello",
        "built": True,
        "size_bytes": 123_400_000,
        "test": {
            "passed": True,
            "events": [
                {"name": "01.json", "passed": True, "init_ms": 61.4, "duration_ms": 3.2},
                {"name": "02.json", "passed": True, "init_ms": None, "duration_ms": 1.0},
            ],
        },
        "push": {"image_uri": uri, "pushed": True, "push": {"bytes_pushed": 45_000_000}},
    }
    path = tmp_path / "result.json"
    path.write_text(json.dumps(result))
    assert summary.main([str(path)]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if "r-4.5.0-hello-debian-arm64" in line)
    for cell in ("built", "123.4 MB", "PASS (2/2 events)", "61 ms", "3 ms", "45.0 MB sent", uri):
        assert cell in row, cell


def test_summary_of_a_missing_result_fails(tmp_path: Path, capsys) -> None:
    assert summary.main([str(tmp_path / "absent.json")]) == 1
    out = capsys.readouterr().out
    assert "no result" in out and "Failed or missing" in out


def test_summary_reports_failed_tests(tmp_path: Path, capsys) -> None:
    path = tmp_path / "r.json"
    path.write_text(
        json.dumps(
            {
                "r_version": "4.5.0",
                "family": "al2023",
                "arch": "x86_64",
                "test": {"passed": False, "events": [{"passed": False}]},
            }
        )
    )
    assert summary.main([str(path)]) == 0
    out = capsys.readouterr().out
    assert "FAIL (0/1 events)" in out and "**Failed or missing:** r-4.5.0-al2023-x86_64" in out
