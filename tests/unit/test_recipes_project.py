"""A recipe's packages from the R project itself: renv.lock (exact versions, closure checked)
or DESCRIPTION (Depends + Imports), locked against the small mirror of tests/unit/recipes/mirror.dcf
(tests/unit/recipe_mirror.py), and a plumber file named instead of a handler."""

import json
from pathlib import Path

import pytest

import build
from rlambda.errors import UsageError
from rlambda.recipes.lock import lock_recipe
from rlambda.recipes.lockfile import load_lock
from rlambda.recipes.recipe import load_recipe

from .recipe_mirror import CRAN, url

R = {"Version": "4.5.0", "Repositories": [{"Name": "CRAN", "URL": "https://cloud.r-project.org"}]}


def package(name: str, version: str, source: str = "Repository", **more: str) -> dict:
    record = {"Package": name, "Version": version, "Source": source, **more}
    if source == "Repository":
        record["Repository"] = "CRAN"
    return record


# alpha 1.10.0's closure on the fixture mirror, at the versions renv would have recorded.
CLOSURE = [("alpha", "1.10.0"), ("beta", "0.3-2"), ("gamma", "2.1"), ("delta", "1.0")]


def project(tmp_path: Path, renv: object | str, name: str = "proj") -> Path:
    """A recipe directory whose recipe.toml takes its packages from renv.lock."""
    directory = tmp_path / name
    (directory / "events").mkdir(parents=True, exist_ok=True)
    (directory / "app.R").write_text("handle <- function(event) event\n")
    (directory / "recipe.toml").write_text('handler = "app.handle"\npackages-from = "renv.lock"\n')
    text = renv if isinstance(renv, str) else json.dumps(renv, indent=2)
    (directory / "renv.lock").write_text(text)
    return directory


def renv_lock(packages: list[tuple[str, str]], r: dict = R) -> dict:
    return {"R": r, "Packages": {n: package(n, v) for n, v in packages}}


def locked(directory: Path, mirror: Path, **kwargs: object) -> list[tuple[str, str]]:
    lock_recipe(
        directory,
        r_version="4.5.0",
        cran_mirror=url(mirror),
        default_mirror=CRAN,
        log=lambda s: None,
        **kwargs,
    )
    return [(p.name, p.version) for p in load_lock(directory, load_recipe(directory)).packages]


def test_renv_versions_are_locked_exactly_with_their_hashes(
    tmp_path: Path, mirror: Path, cache: Path
) -> None:
    # beta 0.3-1 is archived (current: 0.3-2) and alpha 1.10.0 takes it: renv's version wins.
    packages = [("alpha", "1.10.0"), ("beta", "0.3-1"), ("gamma", "2.1"), ("delta", "1.0")]
    directory = project(tmp_path, renv_lock(packages))
    got = locked(directory, mirror)
    assert sorted(got) == sorted(packages)
    lock = load_lock(directory, load_recipe(directory))
    assert lock.package("beta").path == "src/contrib/Archive/beta/beta_0.3-1.tar.gz"
    assert all(len(p.sha256) == 64 for p in lock.packages)


def test_a_changed_renv_lock_makes_our_lock_stale(
    tmp_path: Path, mirror: Path, cache: Path
) -> None:
    directory = project(tmp_path, renv_lock(CLOSURE))
    locked(directory, mirror)
    older_beta = [("alpha", "1.10.0"), ("beta", "0.3-1"), ("gamma", "2.1"), ("delta", "1.0")]
    changed = renv_lock(older_beta)
    (directory / "renv.lock").write_text(json.dumps(changed))
    with pytest.raises(UsageError, match="re-lock"):
        load_lock(directory, load_recipe(directory))


def test_a_version_the_mirror_lacks_names_package_version_and_mirror(
    tmp_path: Path, mirror: Path, cache: Path
) -> None:
    directory = project(tmp_path, renv_lock([("gamma", "2.0.2")]))
    with pytest.raises(UsageError) as e:
        locked(directory, mirror)
    message = str(e.value)
    assert "gamma 2.0.2 is not on " + url(mirror) in message
    assert "2.1, 2.0.1 (Archive), 1.0 (Archive)" in message
    assert not (directory / "lock.toml").exists()


def test_an_unclosed_renv_lock_is_refused(tmp_path: Path, mirror: Path, cache: Path) -> None:
    directory = project(tmp_path, renv_lock([("alpha", "1.10.0"), ("beta", "0.3-2")]))
    with pytest.raises(UsageError, match=r"not closed.*delta \(needed by alpha\).*gamma"):
        locked(directory, mirror)
    assert not (directory / "lock.toml").exists()


def test_renv_versions_that_conflict_are_refused(tmp_path: Path, mirror: Path, cache: Path) -> None:
    # beta 0.3-2 needs gamma (>= 2.0), and renv recorded gamma 1.0.
    lock = renv_lock([("beta", "0.3-2"), ("gamma", "1.0")])
    with pytest.raises(UsageError, match=r"no version of gamma satisfies.*renv\.lock"):
        locked(project(tmp_path, lock), mirror)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"R": {"Version": "4.5.0"}, "Packages": {', "not valid JSON (line 1"),
        ("[1, 2]", "not an renv lockfile"),
        ('{"Packages": {}}', 'not an renv lockfile: expected "R"'),
        ('{"R": {"Version": "4.5.0"}, "Packages": []}', "not an renv lockfile"),
        (
            '{"R": {"Version": "4.5.0"}, "Packages": {"alpha": {"Package": "alpha"}}}',
            "Version None is not an R package version",
        ),
        (
            '{"R": {"Version": "4.5.0"}, "Packages": {"alpha": {"Package": "alpha",'
            ' "Version": "1.10.0"}}}',
            "no Source",
        ),
        ('{"R": {"Version": "4.5.0"}, "Packages": {}}', "Packages is empty"),
    ],
)
def test_malformed_or_foreign_renv_lock(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(UsageError, match=r"renv\.lock") as e:
        load_recipe(project(tmp_path, text))
    assert expected in str(e.value)


def test_non_cran_sources_are_refused_by_name(tmp_path: Path) -> None:
    lock = renv_lock([("alpha", "1.10.0")])
    lock["Packages"]["ghpkg"] = package(
        "ghpkg", "0.1", "GitHub", RemoteUsername="someone", RemoteRepo="ghpkg", RemoteRef="main"
    )
    lock["Packages"]["Biobase"] = package("Biobase", "2.60.0", "Bioconductor")
    lock["Packages"]["mine"] = package("mine", "1.0", "Local")
    with pytest.raises(UsageError) as e:
        load_recipe(project(tmp_path, lock))
    message = str(e.value)
    assert "ghpkg 0.1 (Source: GitHub someone/ghpkg@main)" in message
    assert "Biobase 2.60.0 (Source: Bioconductor)" in message
    assert "mine 1.0 (Source: Local)" in message
    assert "CRAN-like repository" in message


def test_another_r_version_warns_or_fails_with_strict(
    tmp_path: Path, mirror: Path, cache: Path
) -> None:
    directory = project(tmp_path, renv_lock(CLOSURE, r={"Version": "4.4.1"}))
    said: list[str] = []
    lock_recipe(
        directory, r_version="4.5.0", cran_mirror=url(mirror), default_mirror=CRAN, log=said.append
    )
    assert any(s.startswith("warning:") and "R 4.4.1" in s for s in said)
    (directory / "lock.toml").unlink()
    with pytest.raises(UsageError, match=r"made with R 4\.4\.1.*--strict"):
        lock_recipe(
            directory, r_version="4.5.0", cran_mirror=url(mirror), default_mirror=CRAN, strict=True
        )
    assert not (directory / "lock.toml").exists()


def test_strict_on_the_command_line(tmp_path: Path, monkeypatch, capsys) -> None:
    directory = project(tmp_path, renv_lock(CLOSURE, r={"Version": "4.4.1"}), name="strict")
    monkeypatch.setattr("rlambda.recipes.recipe.RECIPES_DIR", tmp_path)
    status = build.main(["lock", "strict", "--r", "4.5.0", "--strict"])
    assert status == 2
    assert "made with R 4.4.1" in capsys.readouterr().err
    assert not (directory / "lock.toml").exists()


def test_description_imports_are_the_packages(tmp_path: Path, mirror: Path, cache: Path) -> None:
    directory = tmp_path / "pkgdir"
    (directory / "events").mkdir(parents=True)
    (directory / "app.R").write_text("handle <- function(event) event\n")
    toml = 'handler = "app.handle"\npackages-from = "DESCRIPTION"\n'
    (directory / "recipe.toml").write_text(toml)
    (directory / "DESCRIPTION").write_text(
        "Package: myapi\nVersion: 0.1\nDepends: R (>= 4.1), methods\n"
        "Imports:\n    beta (>= 0.3-1),\n    utils\n"
    )
    recipe = load_recipe(directory)
    assert [(n, [str(c) for c in cs]) for n, cs in recipe.packages.items()] == [
        ("beta", [">= 0.3-1"])
    ]
    assert locked(directory, mirror) == [("gamma", "2.1"), ("beta", "0.3-2")]


def test_packages_from_and_packages_are_exclusive(tmp_path: Path) -> None:
    directory = project(tmp_path, renv_lock(CLOSURE))
    toml = directory / "recipe.toml"
    toml.write_text(toml.read_text() + '[packages]\nalpha = "*"\n')
    with pytest.raises(UsageError, match="either \\[packages\\] or packages-from"):
        load_recipe(directory)
    toml.write_text('handler = "app.handle"\npackages-from = "Rprofile"\n')
    with pytest.raises(UsageError, match="key packages-from"):
        load_recipe(directory)


def test_a_plumber_recipe_names_its_file(tmp_path: Path) -> None:
    directory = project(tmp_path, renv_lock(CLOSURE))
    (directory / "api.R").write_text("#* @get /\nfunction() 1\n")
    (directory / "recipe.toml").write_text('plumber = "api.R"\npackages-from = "renv.lock"\n')
    assert load_recipe(directory).handler == "plumber:api.R"
    (directory / "recipe.toml").write_text('plumber = "missing.R"\n')
    with pytest.raises(UsageError, match=r"missing\.R not found"):
        load_recipe(directory)
    (directory / "recipe.toml").write_text('plumber = "api.R"\nhandler = "app.handle"\n')
    with pytest.raises(UsageError, match="either handler"):
        load_recipe(directory)
    (directory / "recipe.toml").write_text('plumber = "api.R; rm -rf /"\n')
    with pytest.raises(UsageError, match="key plumber"):
        load_recipe(directory)
