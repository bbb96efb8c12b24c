"""What a build prints while it runs: a line per Dockerfile step, and a line per R package a
step installs, from the engine's stream as engine.build reads it (a fake engine here)."""

import io
from pathlib import Path

import pytest

from rlambda.build import engine
from rlambda.errors import JobError


class FakeApi:
    def __init__(self, items: list[dict]) -> None:
        self.items = items

    def build(self, **options):
        return iter(self.items)


class FakeClient:
    def __init__(self, items: list[dict]) -> None:
        self.api = FakeApi(items)


def stream(*texts: str) -> list[dict]:
    return [{"stream": text} for text in texts]


def test_each_installed_package_gets_a_line_with_n_of_n(tmp_path: Path, capsys) -> None:
    items = [
        *stream(
            "Step 1/3 : FROM base\n",
            "Step 2/3 : RUN R CMD INSTALL ...\n",
            "* installing *source* package 'data.table' ...\n** libs\n",
            "* DONE (data.",  # the engine may cut a line anywhere
            "table)\n* installing *source* package 'sf' ...\n",
            "\x1b[0m\x1b[91m* DONE (sf)\n",  # stderr, as the classic builder colours it
            "Step 3/3 : LABEL x=y\n",
        ),
        {"aux": {"ID": "sha256:abc"}},
    ]
    log = tmp_path / "build.log"

    image = engine.build(
        FakeClient(items), b"", buildargs={}, labels={}, platform="linux/amd64",
        log_path=log, packages=2,
    )  # fmt: skip

    assert image == "sha256:abc"
    lines = capsys.readouterr().err.splitlines()
    assert [line.split("]")[-1].strip() for line in lines if "[step" in line] == [
        "FROM base",
        "RUN R CMD INSTALL ...",
        "LABEL x=y",
    ]
    packages = [line.split()[:3] for line in lines if line.strip().startswith("package")]
    assert packages == [["package", "1/2", "data.table"], ["package", "2/2", "sf"]]
    assert "* DONE (sf)" in log.read_text()  # the log keeps everything


def test_an_error_names_the_log(tmp_path: Path) -> None:
    items = [*stream("Step 1/1 : RUN false\n"), {"error": "returned a non-zero code: 1"}]
    with pytest.raises(JobError, match=r"full log: .*build\.log"):
        engine.build(
            FakeClient(items), b"", buildargs={}, labels={}, platform="linux/amd64",
            log_path=tmp_path / "build.log",
        )  # fmt: skip


def test_progress_without_a_known_count_says_only_n() -> None:
    out = io.StringIO()
    progress = engine.Progress(started=0.0, out=out)
    progress.line("* DONE (jsonlite)")
    assert out.getvalue().split()[:3] == ["package", "1", "jsonlite"]
