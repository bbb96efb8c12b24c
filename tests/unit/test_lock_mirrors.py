"""A lock names the mirror it was made against; a build from another mirror stops before any
download, saying what to run; and the scheduled rebuild's way out (lock against CRAN in the job,
then build) gives every committed recipe a lock that builds from CRAN's bytes.

CRAN is out of reach here, so a second local mirror plays it, with bytes that differ from the
local mirror's the way CRAN's do: its jsonlite 1.9.1 is another tarball of the same version
(Debian repacked CRAN's as +dfsg; here the package is re-packed the other way round), and it has
no lambdaparallel, which CRAN does not carry either (it comes from this repository's parallel/).
"""

import functools
import gzip
import hashlib
import http.server
import io
import shutil
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from rlambda import cli
from rlambda.ci.matrix import entry
from rlambda.errors import UsageError
from rlambda.pins import versions
from rlambda.recipes import (
    RECIPES_DIR,
    fetch_locked,
    load_lock,
    load_recipe,
    lock_recipe,
    packages_index,
)
from rlambda.sources import repository
from rlambda.sources.cran import Mirror
from rlambda.sources.fetch import sha256_file
from rlambda.target import resolve
from rlambda.target.resolve import recipe_target, variant

from ..helpers import LOCAL_MIRROR_RECIPES

CRAN = "https://cloud.r-project.org"
COMMITTED = [*LOCAL_MIRROR_RECIPES, "plumber-api"]


def md5_file(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


class _Counting(http.server.SimpleHTTPRequestHandler):
    requests: list[str]

    def do_GET(self) -> None:
        self.requests.append(self.path)
        super().do_GET()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def cran_like(cran_packages_dir: Path, tmp_path_factory) -> Iterator[tuple[str, list[str]]]:
    """The second mirror, served at http://127.0.0.1:PORT/cran-like, and the paths asked of it."""
    root = tmp_path_factory.mktemp("mirrors")
    contrib = root / "cran-like" / "src" / "contrib"
    contrib.mkdir(parents=True)
    for tarball in (cran_packages_dir / "src" / "contrib").glob("*.tar.gz"):
        if tarball.name.startswith("lambdaparallel_"):
            continue  # not on CRAN
        if tarball.name == "jsonlite_1.9.1.tar.gz":
            # The same files, packed again: another sha256 for the same name and version.
            with tarfile.open(tarball) as tar:
                members = [(m, tar.extractfile(m)) for m in tar.getmembers()]
                repacked = contrib / tarball.name
                with tarfile.open(repacked, "w:gz", compresslevel=6) as out:
                    for member, data in members:
                        member.mtime += 1
                        out.addfile(member, data)
            continue
        (contrib / tarball.name).symlink_to(tarball)
    packages_index.write_packages(contrib)
    requests: list[str] = []
    handler = type("Handler", (_Counting,), {"requests": requests})
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(root))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/cran-like", requests
    server.shutdown()
    server.server_close()


def test_the_two_mirrors_differ_the_way_cran_and_debian_do(
    cran_packages_dir: Path, cran_like
) -> None:
    url, _ = cran_like
    ours = cran_packages_dir / "src" / "contrib" / "jsonlite_1.9.1.tar.gz"
    committed = load_lock(RECIPES_DIR / "json-api", load_recipe(RECIPES_DIR / "json-api"))
    assert committed.package("jsonlite").sha256 == sha256_file(ours)
    index = Mirror(url).index()
    assert "lambdaparallel" in index  # from this repository, whatever the mirror has
    assert index["lambdaparallel"][0].path == "parallel"
    [jsonlite] = index["jsonlite"]
    assert str(jsonlite.version) == "1.9.1" and jsonlite.record["MD5sum"] != md5_file(ours)


@pytest.mark.parametrize("name", [n for n in COMMITTED if n != "hello"])
def test_a_build_from_another_mirror_stops_before_any_download(
    name: str, cran_like, capsys, monkeypatch, tmp_path
) -> None:
    url, requests = cran_like
    requests.clear()
    with pytest.raises(UsageError) as error:
        resolve(versions.load(), r_version="4.5.0", family_name="debian", arch="x86_64",
                cran_mirror=url, recipe=name)  # fmt: skip
    message = str(error.value)
    assert f"recipes/{name}/lock.toml was made against http://127.0.0.1," in message
    assert "this build downloads from http://127.0.0.1/cran-like" in message
    assert f"python build.py lock {name} --cran-mirror {url}" in message
    # The CLI: exit 2, one line, before the base image is looked for or anything fetched.
    monkeypatch.setenv("RLAMBDA_CACHE", str(tmp_path / "cache"))
    status = cli.main(
        ["--r", "4.5.0", "--family", "debian", "--recipe", name, "--cran-mirror", url]
    )
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1 and "lock.toml was made against" in err
    assert requests == [] and not (tmp_path / "cache").exists()


@pytest.mark.parametrize("name", COMMITTED)
def test_the_rebuild_locks_against_its_mirror_and_builds_from_it(
    name: str, cran_like, cache: Path, tmp_path: Path
) -> None:
    """What rebuild.yml does with a committed recipe, with the second mirror as CRAN: the
    matrix says whether to re-lock, `build.py lock NAME --r R` locks against the pins' mirror,
    and the build's inputs resolve and verify, every tarball from that mirror."""
    url, requests = cran_like
    pins_file = tmp_path / "VERSIONS.toml"
    # The pins of the rebuild, with the second mirror where CRAN is.
    pins_file.write_text(versions.VERSIONS_FILE.read_text().replace(CRAN, url))
    pins = versions.load(pins_file)
    assert pins.cran_mirror == url
    copy = tmp_path / name
    shutil.copytree(RECIPES_DIR / name, copy)
    committed = load_lock(copy, load_recipe(copy, project=True))
    r = pins.r[committed.r_version]
    job = entry(variant(pins, r, "debian", "x86_64", recipe_target(str(copy), r)))
    assert job.relock == committed.downloads  # hello has nothing from a mirror
    requests.clear()
    if job.relock:
        lock_recipe(copy, r_version=r.version, cran_mirror=None, default_mirror=pins.cran_mirror,
                    log=lambda line: None, project=True)  # fmt: skip
    target = resolve(pins, r_version=r.version, family_name="debian", arch="x86_64",
                     recipe=str(copy))  # fmt: skip
    lock = target.recipe.lock
    assert lock.mirror == ("http://127.0.0.1/cran-like" if job.relock else committed.mirror)
    fetched = fetch_locked(lock, cran_mirror=target.mirror, progress=lambda done, total: None)
    assert [p.name for p, _ in fetched] == [p.name for p in lock.packages]
    for package, path in fetched:
        if package.from_repository:
            # lambdaparallel: from parallel/, the bytes the committed lock recorded.
            assert package.sha256 == committed.package(package.name).sha256
            assert package.sha256 == repository.sha256(package.name)
            assert gzip.decompress(path.read_bytes()) == repository.tar_bytes(package.name)
        else:
            assert sha256_file(path) == package.sha256
            assert f"/cran-like/{package.path}" in requests  # its bytes are the mirror's
    if "jsonlite" in {p.name for p in lock.packages}:
        assert lock.package("jsonlite").sha256 != committed.package("jsonlite").sha256


def test_lambdaparallel_comes_from_this_repository_and_a_change_makes_the_lock_stale(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    worker = load_lock(RECIPES_DIR / "worker", load_recipe(RECIPES_DIR / "worker"))
    locked = worker.package("lambdaparallel")
    assert (locked.path, locked.from_repository) == ("parallel", True)
    assert locked.sha256 == repository.sha256("lambdaparallel")  # the checkout's bytes
    with tarfile.open(fileobj=io.BytesIO(repository.tar_bytes("lambdaparallel"))) as tar:
        names = tar.getnames()
    assert "lambdaparallel/DESCRIPTION" in names and "lambdaparallel/R/map.R" in names
    left_out = ("lambdaparallel/tests", "lambdaparallel/README")
    assert not [n for n in names if n.startswith(left_out)]
    # A changed file in parallel/: the build stops before anything is looked up or downloaded.
    copy = tmp_path / "checkout"
    shutil.copytree(repository.ROOT / "parallel", copy / "parallel")
    with (copy / "parallel" / "R" / "map.R").open("a") as f:
        f.write("# changed\n")
    monkeypatch.setattr(repository, "ROOT", copy)
    status = cli.main(["--r", "4.5.0", "--family", "debian", "--recipe", "worker",
                       "--cran-mirror", "http://127.0.0.1:9"])  # fmt: skip
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1
    assert "lambdaparallel is made from this repository's parallel/, whose files changed" in err
    assert err.rstrip().endswith("re-lock: python build.py lock worker")
