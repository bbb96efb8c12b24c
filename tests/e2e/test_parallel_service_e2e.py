"""lambdaparallel against the local Lambda service (`build.py serve`, issue 10): the worker
recipe's image (R 4.5.0, debian, built on the local stand-ins) served with N=4 environments,
each a Lambda-like container; the service verifies every SigV4 signature with the test's
credentials; S3 staging on moto's server (the containers share the host's network). The R
client runs in the host's R, as a user's session would.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rlambda.local.service import FunctionSpec, Verifier
from tests.conftest import ROOT
from tests.credentials_service import CredentialsService
from tests.e2e.serving import _recipe_image, running
from tests.lambdaparallel import aws_env, last_json, needs_r_packages, run_r, s3_keys
from tests.parallel_service import ACCESS_KEY, BUCKET, SECRET_KEY
from tests.registry.stand_ins import free_port as _free_port

pytestmark = [pytest.mark.docker, pytest.mark.r, needs_r_packages]


@pytest.fixture(scope="module")
def worker_image(local_pins, local_mirror, r_image) -> str:
    return _recipe_image(local_pins, local_mirror, r_image, "worker")


@pytest.fixture(scope="module")
def service_url(worker_image: str, moto_s3: str) -> Iterator[str]:
    # The service gives its environments no credentials (Lambda gives the execution role's):
    # the workers get theirs from a container credentials endpoint, as ECS tasks do.
    with CredentialsService() as credentials:
        env = {
            "AWS_ENDPOINT_URL_S3": moto_s3,
            "AWS_CONTAINER_CREDENTIALS_FULL_URI": f"{credentials.endpoint}/container",
        }
        # Both are on the host's loopback: the workers need the host's network (not the default).
        spec = FunctionSpec("r-worker", worker_image, timeout_s=20, env=env, host_network=True)
        with running([spec], concurrency=4, verifier=Verifier(ACCESS_KEY, SECRET_KEY)) as service:
            yield service.endpoint_url


def r(code: str, url: str, library: Path, moto: str) -> Any:
    return last_json(run_r(code, url, library, moto))


def test_maps_order_combine_globals_packages_and_rng(
    service_url: str,
    r_library: Path,
    moto_s3: str,
) -> None:
    result = r(
        """
        library(foreach)
        scale <- 10
        helper <- function(x) x * scale
        a <- lambda_map(1:12, function(i) helper(i), function_name = "r-worker", concurrency = 4)
        registerDoLambda(function_name = "r-worker", concurrency = 4, chunk_size = 3)
        m <- foreach(i = 1:10, .combine = rbind, .packages = "tools") %dopar%
          c(i, nchar(file_path_sans_ext("ab.txt")))
        future::plan(lambdaparallel::lambda, function_name = "r-worker", concurrency = 4)
        fa <- future.apply::future_sapply(1:8, function(i) helper(i) + 1)
        draws <- function(concurrency, chunk) {
          set.seed(11)
          unlist(lambda_map(1:8, function(i) runif(1), function_name = "r-worker",
                            concurrency = concurrency, chunk_size = chunk))
        }
        d1 <- draws(1, 1); d4 <- draws(4, 1); d4c <- draws(4, 3)
        cat(jsonlite::toJSON(list(a = unlist(a), m = unname(m), fa = fa,
                                  rng = identical(d1, d4) && identical(d1, d4c),
                                  distinct = length(unique(d1)))), "\\n")
        """,
        service_url,
        r_library,
        moto_s3,
    )
    assert result["a"] == [10 * i for i in range(1, 13)]
    assert result["m"] == [[i, 2] for i in range(1, 11)]
    assert result["fa"] == [10 * i + 1 for i in range(1, 9)]
    assert result["rng"] == [True] and result["distinct"] == [8]


def test_furrr_maps_in_order_with_globals_and_carry_remote_errors(
    service_url: str,
    r_library: Path,
    moto_s3: str,
) -> None:
    # furrr's futures call purrr in the worker: the worker recipe locks purrr for them.
    result = r(
        """
        future::plan(lambdaparallel::lambda, function_name = "r-worker", concurrency = 4)
        scale <- 10
        helper <- function(x) x * scale
        fr <- furrr::future_map_dbl(1:8, function(x) helper(x) + 1)
        fc <- furrr::future_map_chr(c("b", "a", "c"), ~ toupper(.x))
        # The first elements sleep longest, so later futures finish first.
        slow <- furrr::future_map_int(4:1, function(s) { Sys.sleep(s / 5); s })
        inner <- function(x) if (x == 5) stop("furrr cannot take ", x) else x
        e <- tryCatch(furrr::future_map(1:6, function(x) inner(x)), error = function(e) e)
        cat(jsonlite::toJSON(list(fr = fr, fc = fc, slow = slow, class = class(e),
                                  message = conditionMessage(e),
                                  remote_class = e$remote_class, calls = e$remote_calls)), "\\n")
        """,
        service_url,
        r_library,
        moto_s3,
    )
    assert result["fr"] == [10 * i + 1 for i in range(1, 9)]
    assert result["fc"] == ["B", "A", "C"]
    assert result["slow"] == [4, 3, 2, 1]
    assert "lambdaparallel_task_error" in result["class"]
    # purrr 1.0 wraps a failing element's error with its index in the future's chunk; the
    # original error comes along as its parent.
    assert result["remote_class"][0] == "purrr_error_indexed"
    assert "furrr cannot take 5" in result["message"][0]
    assert any("inner(x)" in c for c in result["calls"])


def test_errors_with_the_remote_stack_and_errorhandling(
    service_url: str,
    r_library: Path,
    moto_s3: str,
) -> None:
    result = r(
        """
        library(foreach)
        inner <- function(x) if (x == 3) stop("cannot take ", x) else x
        e <- tryCatch(lambda_map(1:5, function(x) inner(x), function_name = "r-worker"),
                      error = function(e) e)
        registerDoLambda(function_name = "r-worker", concurrency = 4)
        removed <- foreach(i = 1:6, .combine = c, .errorhandling = "remove") %dopar% inner(i)
        crash <- tryCatch(lambda_map(1, function(i) quit(status = 4), function_name = "r-worker"),
                          error = conditionMessage)
        missing <- tryCatch(lambda_map(1, identity, function_name = "r-worker",
                                       packages = "notInTheImage"), error = conditionMessage)
        cat(jsonlite::toJSON(list(index = e$index, message = conditionMessage(e),
                                  calls = e$remote_calls, removed = removed, crash = crash,
                                  missing = missing), auto_unbox = TRUE), "\\n")
        """,
        service_url,
        r_library,
        moto_s3,
    )
    assert result["index"] == 3
    assert "task 3 failed: simpleError: cannot take 3" in result["message"]
    assert any("inner(x)" in c for c in result["calls"])
    assert result["removed"] == [1, 2, 4, 5, 6]
    assert "Runtime.ExitError" in result["crash"]
    assert (
        "notInTheImage" in result["missing"] and "recipes/worker/recipe.toml" in result["missing"]
    )


def test_large_payloads_through_s3_and_throttles_retried(
    service_url: str,
    r_library: Path,
    moto_s3: str,
) -> None:
    result = r(
        f"""
        set.seed(5)
        big <- runif(1e6)  # 8 MB: staged in S3
        out <- lambda_map(1:2, function(i) sum(big) + i, function_name = "r-worker",
                          s3_bucket = "{BUCKET}")
        back <- lambda_map(1, function(i) {{ set.seed(5); runif(1e6) }}, seed = FALSE,
                           function_name = "r-worker", s3_bucket = "{BUCKET}")
        # 8 in flight against 4 environments: the service answers 429 for the rest.
        t <- lambda_map(1:16, function(i) {{ Sys.sleep(0.3); i }}, function_name = "r-worker",
                        concurrency = 8)
        cat(jsonlite::toJSON(list(out = unlist(out) - sum(big), back = identical(back[[1]], big),
                                  throttled = unlist(t), retries = last_map_summary()$retries),
                             auto_unbox = TRUE, digits = NA), "\\n")
        """,
        service_url,
        r_library,
        moto_s3,
    )
    assert result["out"] == [1, 2]
    assert result["back"] is True
    assert result["throttled"] == list(range(1, 17))
    assert result["retries"] > 0
    assert s3_keys(moto_s3) == []


def test_the_readme_walkthrough_stages_through_s3(
    worker_image: str, r_library: Path, moto_s3: str, tmp_path: Path
) -> None:
    """README, "Trying it on this machine": `build.py serve` as a user starts it, the caller's
    credentials handed over with --aws-credentials and the local S3 with --env KEY, then a map
    whose shared data (8 MB) goes through S3."""
    port = _free_port()
    caller = {**os.environ, **aws_env(moto_s3)}
    log = tmp_path / "serve.log"
    with log.open("w") as err:
        serve = subprocess.Popen(
            [sys.executable, str(ROOT / "build.py"), "serve", "--image", worker_image,
             "--name", "r-worker", "--port", str(port), "--host-network", "--aws-credentials",
             "--env", "AWS_ENDPOINT_URL_S3"],
            env=caller, stdout=subprocess.PIPE, stderr=err, text=True,
        )  # fmt: skip
        try:
            assert serve.stdout is not None
            assert "Invoke API on" in serve.stdout.readline(), log.read_text()
            result = r(
                f"""
                set.seed(3)
                big <- runif(1e6)  # 8 MB: staged through S3
                out <- lambda_map(1:4, function(i) sum(big) + i, function_name = "r-worker",
                                  s3_bucket = "{BUCKET}")
                cat(jsonlite::toJSON(list(out = unlist(out) - sum(big)), digits = NA), "\\n")
                """,
                f"http://127.0.0.1:{port}",
                r_library,
                moto_s3,
            )
        finally:
            serve.send_signal(signal.SIGINT)
            serve.wait(timeout=60)
    assert result["out"] == [1, 2, 3, 4]
    assert s3_keys(moto_s3) == []
    # The caller's secret reached the functions, never the service's output.
    assert SECRET_KEY not in log.read_text()
