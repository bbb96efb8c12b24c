"""The resolver and the lock against a small mirror built from tests/unit/recipes/mirror.dcf
(tarballs holding just a DESCRIPTION, indexed by our PACKAGES writer), served as file://."""

import re
import shutil
from pathlib import Path

import pytest

from rlambda.errors import JobError, UsageError
from rlambda.recipes.lock import lock_recipe
from rlambda.recipes.lockfile import fetch_locked, load_lock, locked_r_version
from rlambda.recipes.recipe import load_recipe
from rlambda.recipes.sysreqs import build_packages
from rlambda.sources.cran import mirror_name

from .recipe_mirror import CRAN, url


def recipe(tmp_path: Path, packages: str, extra: str = "", name: str = "demo") -> Path:
    directory = tmp_path / name
    (directory / "events").mkdir(parents=True, exist_ok=True)
    (directory / "handler.R").write_text("handle <- function(event) event\n")
    (directory / "recipe.toml").write_text(
        f'handler = "handler.handle"\n[packages]\n{packages}\n{extra}'
    )
    return directory


def lock(directory: Path, mirror: Path, r: str = "4.5.0") -> list[tuple[str, str, str]]:
    lock_recipe(
        directory, r_version=r, cran_mirror=url(mirror), default_mirror=CRAN, log=lambda line: None
    )
    loaded = load_lock(directory, load_recipe(directory))
    return [(p.name, p.version, p.path) for p in loaded.packages]


def test_closure_in_install_order(tmp_path: Path, mirror: Path, cache: Path) -> None:
    got = lock(recipe(tmp_path, 'alpha = "*"'), mirror)
    # LinkingTo (delta) counts; base packages (methods, utils) and R do not; each package
    # follows its dependencies, ties alphabetical.
    assert got == [
        ("delta", "1.0", "src/contrib/delta_1.0.tar.gz"),
        ("gamma", "2.1", "src/contrib/gamma_2.1.tar.gz"),
        ("beta", "0.3-2", "src/contrib/beta_0.3-2.tar.gz"),
        ("alpha", "1.10.0", "src/contrib/alpha_1.10.0.tar.gz"),
    ]


def test_the_lock_file_is_complete_and_deterministic(
    tmp_path: Path, mirror: Path, cache: Path
) -> None:
    directory = recipe(tmp_path, 'alpha = "*"')
    lock(directory, mirror)
    first = (directory / "lock.toml").read_text()
    lock(directory, mirror)
    assert (directory / "lock.toml").read_text() == first
    loaded = load_lock(directory, load_recipe(directory))
    alpha = loaded.package("alpha")
    assert alpha.dependencies == ("beta", "delta", "gamma")
    assert [str(c) for c in alpha.requires_r] == [">= 3.5.0"]
    assert loaded.r_version == "4.5.0"
    assert loaded.mirror == url(mirror)  # the mirror it was made against, by name
    # The sha256 is of the bytes, and the tarball sits in the verified cache under it.
    tarball = mirror / alpha.path
    from rlambda.sources.fetch import sha256_file

    assert alpha.sha256 == sha256_file(tarball)
    assert (cache / "sha256" / alpha.sha256).read_bytes() == tarball.read_bytes()
    assert alpha.urls("https://cloud.r-project.org/") == [
        "https://cloud.r-project.org/src/contrib/alpha_1.10.0.tar.gz",
        "https://cloud.r-project.org/src/contrib/Archive/alpha/alpha_1.10.0.tar.gz",
    ]


def test_r_requirement_takes_an_older_version_from_the_archive(
    tmp_path: Path, mirror: Path, cache: Path
) -> None:
    # gamma 2.1 needs R >= 4.3.0; for R 4.0.4 the newest that fits is Archive's 2.0.1.
    got = dict((n, (v, p)) for n, v, p in lock(recipe(tmp_path, 'alpha = "*"'), mirror, "4.0.4"))
    assert got["gamma"] == ("2.0.1", "src/contrib/Archive/gamma/gamma_2.0.1.tar.gz")


def test_a_constraint_excluding_the_current_version_uses_the_archive(
    tmp_path: Path, mirror: Path, cache: Path
) -> None:
    # 0.3-1 == 0.3.1: the constraint is compared the way R compares.
    got = lock(recipe(tmp_path, 'beta = ">= 0.3.1, < 0.3.2"'), mirror)
    assert got == [("beta", "0.3-1", "src/contrib/Archive/beta/beta_0.3-1.tar.gz")]
    got = lock(recipe(tmp_path, 'alpha = "< 1.10"'), mirror)
    assert ("alpha", "1.9.2", "src/contrib/Archive/alpha/alpha_1.9.2.tar.gz") in got


def test_a_later_requirement_moves_a_chosen_package_back(
    tmp_path: Path, mirror: Path, cache: Path
) -> None:
    # gamma is chosen first (2.1), then pinsgamma requires gamma (< 2.1).
    got = lock(recipe(tmp_path, 'gamma = "*"\npinsgamma = "*"'), mirror)
    assert ("gamma", "2.0.1", "src/contrib/Archive/gamma/gamma_2.0.1.tar.gz") in got


def test_unknown_package_suggests_close_names(tmp_path: Path, mirror: Path, cache: Path) -> None:
    with pytest.raises(UsageError) as error:
        lock(recipe(tmp_path, 'jsonlit = "*"'), mirror)
    assert "packages.jsonlit: unknown package 'jsonlit'" in str(error.value)
    assert "Did you mean: jsonlite?" in str(error.value)
    with pytest.raises(UsageError, match="Did you mean: R6"):
        lock(recipe(tmp_path, 'r6 = "*"'), mirror)


def test_unsatisfiable_constraint_says_which_and_what_exists(
    tmp_path: Path, mirror: Path, cache: Path
) -> None:
    with pytest.raises(UsageError) as error:
        lock(recipe(tmp_path, 'alpha = ">= 2.0"'), mirror)
    message = str(error.value)
    assert "no version of alpha satisfies >= 2.0 (required by recipe.toml)" in message
    assert "1.10.0 (current), 1.9.2 (Archive)" in message


def test_unsatisfiable_through_a_dependency_and_r(
    tmp_path: Path, mirror: Path, cache: Path
) -> None:
    # beta 0.3-2 needs gamma >= 2.0; both such gammas need a newer R than 3.6.0.
    with pytest.raises(UsageError) as error:
        lock(recipe(tmp_path, 'beta = "*"'), mirror, "3.6.0")
    message = str(error.value)
    assert "no version of gamma satisfies >= 2.0 (required by beta 0.3-2)" in message
    assert "2.1 needs R >= 4.3.0; 2.0.1 needs R >= 4.0.0" in message
    with pytest.raises(UsageError, match=r"1.0 needs R >= 9.0.0"):
        lock(recipe(tmp_path, 'newR = "*"'), mirror)


def test_dependency_missing_from_the_index(tmp_path: Path, mirror: Path, cache: Path) -> None:
    with pytest.raises(JobError, match=r"ghost, required by needsghost 1.0, is missing from"):
        lock(recipe(tmp_path, 'needsghost = "*"'), mirror)


def test_dependency_cycle(tmp_path: Path, mirror: Path, cache: Path) -> None:
    with pytest.raises(JobError, match=r"dependency cycle: chicken -> egg -> chicken"):
        lock(recipe(tmp_path, 'chicken = "*"'), mirror)


def test_base_packages_are_not_recipe_packages(tmp_path: Path, mirror: Path, cache: Path) -> None:
    with pytest.raises(UsageError, match=r"packages\.methods: methods comes with R"):
        lock(recipe(tmp_path, 'methods = "*"'), mirror)


def test_checksum_mismatch_between_index_and_tarball(
    tmp_path: Path, mirror: Path, cache: Path
) -> None:
    with (mirror / "src/contrib/delta_1.0.tar.gz").open("ab") as f:
        f.write(b"tampered")
    with pytest.raises(JobError) as error:
        lock(recipe(tmp_path, 'delta = "*"'), mirror)
    assert "checksum mismatch" in str(error.value) and "MD5" in str(error.value)


def test_checksum_mismatch_when_building(tmp_path: Path, mirror: Path, cache: Path) -> None:
    directory = recipe(tmp_path, 'delta = "*"')
    lock(directory, mirror)
    loaded = load_lock(directory, load_recipe(directory))
    shutil.rmtree(cache)  # a fresh machine: nothing verified yet
    (mirror / "src/contrib/delta_1.0.tar.gz").write_bytes(b"not the locked bytes")
    with pytest.raises(JobError) as error:
        fetch_locked(loaded, cran_mirror=url(mirror), progress=lambda done, total: None)
    assert "checksum mismatch" in str(error.value)
    assert loaded.package("delta").sha256 in str(error.value)
    assert not (cache / "sha256" / loaded.package("delta").sha256).exists()


def test_fetch_locked_falls_back_to_the_archive(tmp_path: Path, mirror: Path, cache: Path) -> None:
    directory = recipe(tmp_path, 'delta = "*"')
    lock(directory, mirror)
    loaded = load_lock(directory, load_recipe(directory))
    shutil.rmtree(cache)
    # CRAN moves a version to Archive/ once a newer one is out; the lock still builds.
    archive = mirror / "src/contrib/Archive/delta"
    archive.mkdir(parents=True)
    (mirror / "src/contrib/delta_1.0.tar.gz").rename(archive / "delta_1.0.tar.gz")
    [(package, path)] = fetch_locked(loaded, cran_mirror=url(mirror), progress=lambda d, t: None)
    assert package.name == "delta"
    assert path == cache / "sha256" / package.sha256


def test_index_from_plain_packages_when_there_is_no_gz(
    tmp_path: Path, mirror: Path, cache: Path
) -> None:
    (mirror / "src/contrib/PACKAGES.gz").unlink()
    assert lock(recipe(tmp_path, 'delta = "*"'), mirror)[0][:2] == ("delta", "1.0")
    (mirror / "src/contrib/PACKAGES").unlink()
    with pytest.raises(JobError, match="no package index"):
        lock(recipe(tmp_path, 'delta = "*"'), mirror)


def test_a_stale_lock_asks_to_relock(tmp_path: Path, mirror: Path, cache: Path) -> None:
    directory = recipe(tmp_path, 'delta = "*"')
    lock(directory, mirror)
    (directory / "recipe.toml").write_text(
        'handler = "handler.handle"\n[packages]\ndelta = ">= 1.0"\n'
    )
    with pytest.raises(UsageError, match=r"re-lock: python build\.py lock demo"):
        load_lock(directory, load_recipe(directory))
    (directory / "lock.toml").unlink()
    with pytest.raises(UsageError, match="not found; re-lock"):
        load_lock(directory, load_recipe(directory))


def test_relocking_keeps_the_locked_r_and_replaces_a_corrupt_lock(
    tmp_path: Path, mirror: Path, cache: Path
) -> None:
    """`build.py lock` reads the R release of the lock it replaces through the lock's own
    validator; a lock whose error says to re-lock does not stop the re-lock."""
    directory = recipe(tmp_path, 'delta = "*"')
    assert locked_r_version(directory) is None
    lock(directory, mirror, r="4.3.0")
    assert locked_r_version(directory) == "4.3.0"
    said: list[str] = []
    (directory / "lock.toml").write_text("[lock\n")
    assert locked_r_version(directory, say=said.append) is None
    assert "not valid TOML" in said[-1] and "the lock is replaced" in said[-1]
    (directory / "lock.toml").write_text('[lock]\nr_version = "4.3"\n')
    assert locked_r_version(directory, say=said.append) is None
    assert "key lock.r_version" in said[-1]


def test_a_lock_checks_the_build_r_version(tmp_path: Path, mirror: Path, cache: Path) -> None:
    directory = recipe(tmp_path, 'alpha = "*"')
    lock(directory, mirror)
    recipe_ = load_recipe(directory)
    load_lock(directory, recipe_, r_version="4.3.0")
    with pytest.raises(UsageError, match=r"gamma 2.1 needs R >= 4.3.0, not 4.2.2"):
        load_lock(directory, recipe_, r_version="4.2.2")


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ('name = "delta"', 'name = "delta; rm -rf /"', "package[0].name"),
        ('version = "1.0"', 'version = "1.0\\nRUN evil"', "package[0] (delta).version"),
        ("src/contrib/delta_1.0.tar.gz", "../../etc/passwd", "package[0] (delta).path"),
        ('sha256 = "', 'sha256 = "x', "package[0] (delta).sha256"),
        ("format = 2", "format = 3", "lock.format"),
        ("format = 2", "format = 2\nr_versoin = 1", "lock.r_versoin"),
        ('mirror = "file://', 'mirror = "ftp://', "lock.mirror"),
        ('name = "delta"', 'name = "delta"\nsha265 = "x"', "package[0] (delta).sha265"),
        ("[lock]", 'comment = "x"\n[lock]', "comment"),
    ],
)
def test_a_tampered_lock_is_refused(
    tmp_path: Path, mirror: Path, cache: Path, old: str, new: str, key: str
) -> None:
    directory = recipe(tmp_path, 'delta = "*"')
    lock(directory, mirror)
    file = directory / "lock.toml"
    assert old in file.read_text()
    file.write_text(file.read_text().replace(old, new, 1))
    with pytest.raises(UsageError, match=re.escape(f"key {key}:")):
        load_lock(directory, load_recipe(directory))


def test_system_packages_for_a_lock(tmp_path: Path, mirror: Path, cache: Path) -> None:
    directory = recipe(tmp_path, 'alpha = "*"')
    lock(directory, mirror)
    recipe_ = load_recipe(directory)
    loaded = load_lock(directory, recipe_)
    assert build_packages(loaded, recipe_, "debian") == ["libxml2-dev"]
    assert build_packages(loaded, recipe_, "al2023") == ["libxml2-devel"]


def test_unmappable_requirement_and_its_override(tmp_path: Path, mirror: Path, cache: Path) -> None:
    directory = recipe(tmp_path, 'oddreqs = "*"')
    lock(directory, mirror)
    recipe_ = load_recipe(directory)
    with pytest.raises(UsageError, match=r"'libfrobnicate \(>= 2.0\)' of CRAN package oddreqs"):
        build_packages(load_lock(directory, recipe_), recipe_, "debian")
    directory = recipe(
        tmp_path,
        'oddreqs = "*"',
        '[system-requirements.debian]\noddreqs = ["libfrobnicate-dev"]\n',
    )
    lock(directory, mirror)
    recipe_ = load_recipe(directory)
    assert build_packages(load_lock(directory, recipe_), recipe_, "debian") == ["libfrobnicate-dev"]


def test_an_override_for_a_package_not_in_the_lock(
    tmp_path: Path, mirror: Path, cache: Path
) -> None:
    directory = recipe(tmp_path, 'delta = "*"', '[system-requirements.al2]\nxml2 = ["x"]\n')
    with pytest.raises(UsageError, match=r"system-requirements\.al2\.xml2: xml2 is not among"):
        lock(directory, mirror)


def test_a_lock_carrying_a_package_nothing_needs_is_refused(
    tmp_path: Path, mirror: Path, cache: Path
) -> None:
    """A package slipped into the lock (installed, never asked for) is refused: only the
    recipe's packages and what they depend on may be installed."""
    directory = recipe(tmp_path, 'alpha = "*"')
    lock(directory, mirror)
    load_lock(directory, load_recipe(directory))  # as written: alpha and its dependencies
    other = recipe(tmp_path / "other", 'R6 = "*"')
    lock(other, mirror)
    r6 = (other / "lock.toml").read_text().split("[[package]]", 1)[1]
    with (directory / "lock.toml").open("a") as f:
        f.write("\n[[package]]" + r6)
    with pytest.raises(
        UsageError, match=r"package: expected only the recipe's packages .* R6 needed by nothing"
    ):
        load_lock(directory, load_recipe(directory))


def test_a_mirror_is_named_without_credentials_or_a_loopback_port(
    tmp_path: Path, mirror: Path, cache: Path, serve_directory
) -> None:
    secret = "https://user:s3cret@cran.example.org/cran/?token=s3cret#s3cret"
    assert mirror_name(secret) == "https://cran.example.org/cran"
    assert mirror_name("https://cran.example.org:8443/") == "https://cran.example.org:8443"
    # Loopback ports are whatever was free: two local mirrors differ by path.
    assert mirror_name("http://127.0.0.1:8123/") == "http://127.0.0.1"
    assert mirror_name("http://localhost:1/cran-like/") == "http://localhost/cran-like"
    directory = recipe(tmp_path, 'delta = "*"')
    served = serve_directory(mirror)
    lock_recipe(directory, r_version="4.5.0", cran_mirror=served, default_mirror=CRAN, log=print)
    text = (directory / "lock.toml").read_text()
    assert 'mirror = "http://127.0.0.1"\n' in text and served not in text
    # Served on another port, it is the same mirror: the lock builds from it.
    fetch_locked(load_lock(directory, load_recipe(directory)), cran_mirror=serve_directory(mirror))
