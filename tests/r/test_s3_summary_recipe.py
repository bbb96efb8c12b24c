"""The s3-summary recipe against moto's S3 server: an S3 event names an object, the handler
reads it with the lambdaparallel client and writes <key>.summary.json next to it. Run by the
project's R runtime as a local process, with the client installed from parallel/."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import boto3
import pytest

from rlambda.local.events.files import load_fixture
from rlambda.local.runtime_api import ProcessRuntime, RuntimeApiServer
from tests.lambdaparallel import aws_env, needs_r_packages
from tests.parallel_service import ACCESS_KEY, REGION, ROOT, SECRET_KEY

pytestmark = [pytest.mark.r, needs_r_packages]

RECIPE = ROOT / "recipes" / "s3-summary"


def test_an_object_is_read_and_its_summary_written_next_to_it(
    r_library: Path,
    moto_s3: str,
) -> None:
    s3 = boto3.client(
        "s3",
        endpoint_url=moto_s3,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
    )
    s3.create_bucket(Bucket="example-input-bucket")
    body = b"region,units\nnorth,3\nsouth,5\n"
    key = "incoming/2024 03/sales.csv"
    s3.put_object(Bucket="example-input-bucket", Key=key, Body=body)
    event = load_fixture("s3-put")
    event["Records"][0]["s3"]["object"]["key"] = "incoming/2024+03/sales.csv"  # as S3 sends it
    env = {"LAMBDA_TASK_ROOT": str(RECIPE), "R_LIBS": str(r_library), **aws_env(moto_s3)}
    runtime = ProcessRuntime(
        argv=[str(ROOT / "runtime" / "bootstrap"), "summary.handle"],
        env=env,
        cwd=str(RECIPE),
        stdout=subprocess.DEVNULL,
    )
    with RuntimeApiServer(runtime, timeout_s=30, quiet=True) as server:
        result = server.invoke(json.dumps(event).encode())
    assert result.function_error is None, result.body
    answer = result.json()
    assert answer["skipped"] == []
    [written] = answer["written"]
    assert written["summary_key"] == key + ".summary.json"
    stored = json.loads(
        s3.get_object(Bucket="example-input-bucket", Key=key + ".summary.json")["Body"].read()
    )
    assert stored == {
        "bucket": "example-input-bucket",
        "key": key,
        "bytes": len(body),
        "lines": 3,
        "sha256": hashlib.sha256(body).hexdigest(),
        "columns": ["region", "units"],
    }
