"""Helpers for the tests of lambdaparallel (parallel/), the R client, run in the host's R: the R
packages it needs, S3 and AWS settings for moto, running an R script as a user would. Its
fixtures (r_library, cran_future_library, moto_s3) are in tests/conftest.py."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.parallel_service import ACCESS_KEY, BUCKET, REGION, SECRET_KEY, InvokeService

R_PACKAGES = ("foreach", "future", "future.apply", "furrr", "globals", "curl", "openssl")


def _r_has(packages: tuple[str, ...]) -> bool:
    if not shutil.which("Rscript"):
        return False
    names = ", ".join(repr(p) for p in packages)
    code = f"quit(status = !all(vapply(c({names}), requireNamespace, TRUE, quietly = TRUE)))"
    return subprocess.run(["Rscript", "-e", code], capture_output=True).returncode == 0


# The skip of every test that runs the client in the host's R (they are marked `r` too).
needs_r_packages = pytest.mark.skipif(
    not _r_has(R_PACKAGES), reason="needs R with " + ", ".join(R_PACKAGES) + " (scripts/setup.sh)"
)


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


def run_r(
    code: str, service: InvokeService | str, r_library: Path, moto: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Rscript `code` as a user runs it, the Lambda endpoint being `service` (or its URL), with
    lambdaparallel from `r_library` (before the host's libraries)."""
    endpoint = service if isinstance(service, str) else service.endpoint
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/tmp"),
        "R_LIBS": str(r_library),
        "AWS_ENDPOINT_URL_LAMBDA": endpoint,
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
