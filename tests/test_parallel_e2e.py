"""lambdaparallel end to end: the R client (parallel/) in a host R session fanning work out to
N=4 real R runtimes running the worker recipe (recipes/worker), through a stand-in for Lambda's
Invoke API that checks every signature with botocore (tests/parallel_service.py), with S3
staging on moto's server. Each test runs one Rscript as an R user would, and reads what it
printed as JSON on its last line.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.parallel_service import ACCESS_KEY, REGION, ROOT, SECRET_KEY, InvokeService

R_PACKAGES = ("foreach", "future", "future.apply", "furrr", "globals", "curl", "openssl")
BUCKET = "lambdaparallel-test"


def _r_has(packages: tuple[str, ...]) -> bool:
    if not shutil.which("Rscript"):
        return False
    names = ", ".join(repr(p) for p in packages)
    code = f"quit(status = !all(vapply(c({names}), requireNamespace, TRUE, quietly = TRUE)))"
    return subprocess.run(["Rscript", "-e", code], capture_output=True).returncode == 0


pytestmark = pytest.mark.skipif(
    not _r_has(R_PACKAGES), reason="needs R with " + ", ".join(R_PACKAGES) + " (scripts/setup.sh)"
)


@pytest.fixture(scope="module")
def r_library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    library = tmp_path_factory.mktemp("r-lib")
    subprocess.run(
        [
            "R",
            "CMD",
            "INSTALL",
            "--no-docs",
            "--no-html",
            f"--library={library}",
            str(ROOT / "parallel"),
        ],
        check=True,
        capture_output=True,
    )
    return library


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def moto_s3() -> Iterator[str]:
    port = _free_port()
    server = Path(sys.executable).parent / "moto_server"
    process = subprocess.Popen(
        [str(server), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        s3 = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
        )
        for _ in range(100):
            try:
                s3.create_bucket(Bucket=BUCKET)
                break
            except Exception:
                time.sleep(0.1)
        yield endpoint
    finally:
        process.terminate()
        process.wait(timeout=10)


def s3_keys(endpoint: str) -> list[str]:
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
    )
    return [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]


def aws_env(moto: str) -> dict[str, str]:
    return {
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_REGION": REGION,
        "AWS_ENDPOINT_URL_S3": moto,
    }


@pytest.fixture(scope="module")
def service(r_library: Path, moto_s3: str) -> Iterator[InvokeService]:
    env = {"R_LIBS": str(r_library), "R_LIBS_USER": str(r_library), **aws_env(moto_s3)}
    with InvokeService("r-worker", 4, env, timeout_s=20) as running:
        yield running


def run_r(
    code: str, service: InvokeService, r_library: Path, moto: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/tmp"),
        "R_LIBS": str(r_library),
        "AWS_ENDPOINT_URL_LAMBDA": service.endpoint,
        **aws_env(moto),
    }
    script = "suppressPackageStartupMessages(library(lambdaparallel))\n" + textwrap.dedent(code)
    done = subprocess.run(
        ["Rscript", "-e", script], env=env, capture_output=True, text=True, timeout=300
    )
    if check and done.returncode != 0:
        raise AssertionError(f"R failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done


def last_json(done: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture
def r(service: InvokeService, r_library: Path, moto_s3: str) -> Callable[..., Any]:
    def run(code: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run_r(code, service, r_library, moto_s3, check)

    return run


def test_lambda_map_returns_results_in_order_over_four_environments(
    r, service: InvokeService
) -> None:
    before = service.invokes
    done = r(
        """
        out <- lambda_map(1:12, function(i) { Sys.sleep(0.2); c(i = i, pid = Sys.getpid()) },
                          function_name = "r-worker", concurrency = 4)
        cat(jsonlite::toJSON(list(i = sapply(out, `[[`, "i"),
                                  pids = length(unique(sapply(out, `[[`, "pid"))))), "\\n")
        """
    )
    result = last_json(done)
    assert result["i"] == list(range(1, 13))
    assert result["pids"][0] == 4  # all four environments took work
    assert service.invokes - before == 12
    assert service.max_in_flight == 4
    assert service.bad_signatures == 0
