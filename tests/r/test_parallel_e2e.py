"""lambdaparallel end to end: the R client (parallel/) in a host R session fanning work out to
N=4 real R runtimes running the worker recipe (recipes/worker), through a stand-in for Lambda's
Invoke API that checks every signature with botocore (tests/parallel_service.py), with S3
staging on moto's server. Each test runs one Rscript as an R user would, and reads what it
printed as JSON on its last line.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.credentials_service import CredentialsService
from tests.lambdaparallel import BUCKET, aws_env, last_json, needs_r_packages, run_r, s3_keys
from tests.parallel_service import InvokeService

pytestmark = [pytest.mark.r, needs_r_packages]


@pytest.fixture(scope="module")
def service(r_library: Path, moto_s3: str) -> Iterator[InvokeService]:
    env = {"R_LIBS": str(r_library), "R_LIBS_USER": str(r_library), **aws_env(moto_s3)}
    with InvokeService("r-worker", 4, env, timeout_s=20) as running:
        yield running


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


def test_foreach_combines_in_order_with_chunks(r) -> None:
    done = r(
        """
        library(foreach)
        registerDoLambda(function_name = "r-worker", concurrency = 4, chunk_size = 3)
        m <- foreach(i = 1:10, .combine = rbind) %dopar% { Sys.sleep(0.05 * (10 - i)); c(i, i^2) }
        s <- foreach(i = 1:5, j = 6:10, .combine = `+`) %dopar% (i * j)
        l <- foreach(i = 1:6, .inorder = FALSE) %dopar% i
        cat(jsonlite::toJSON(list(m = unname(m), s = s, l = sort(unlist(l)))), "\\n")
        """
    )
    result = last_json(done)
    assert result["m"] == [[i, i * i] for i in range(1, 11)]
    assert result["s"] == [sum(i * j for i, j in zip(range(1, 6), range(6, 11), strict=True))]
    assert result["l"] == list(range(1, 7))


def test_remote_error_names_task_class_message_and_stack(r) -> None:
    done = r(
        """
        inner <- function(x) if (x == 3) stop(structure(class = c("badInput", "error", "condition"),
          list(message = paste("cannot take", x), call = sys.call()))) else x
        outer <- function(x) inner(x)
        e <- tryCatch(lambda_map(1:5, outer, function_name = "r-worker", concurrency = 2),
                      error = function(e) e)
        cat(jsonlite::toJSON(list(class = class(e), index = e$index, remote = e$remote_class,
                                  message = conditionMessage(e), calls = e$remote_calls),
                             auto_unbox = TRUE), "\\n")
        """
    )
    result = last_json(done)
    assert "lambdaparallel_task_error" in result["class"]
    assert result["index"] == 3
    assert result["remote"][0] == "badInput"
    assert "task 3 failed: badInput: cannot take 3" in result["message"]
    calls = "\n".join(result["calls"])
    assert calls.startswith("fun(args[[1L]])") and "inner(x)" in calls


def test_foreach_errorhandling_stop_remove_pass(r) -> None:
    done = r(
        """
        library(foreach)
        registerDoLambda(function_name = "r-worker", concurrency = 4)
        f <- function(i) if (i %% 2 == 0) stop("even ", i) else i
        removed <- foreach(i = 1:6, .combine = c, .errorhandling = "remove") %dopar% f(i)
        passed <- foreach(i = 1:4, .errorhandling = "pass") %dopar% f(i)
        stopped <- tryCatch(foreach(i = 1:4) %dopar% f(i), error = conditionMessage)
        cat(jsonlite::toJSON(list(removed = removed,
          passed = vapply(passed, function(x) if (inherits(x, "error")) conditionMessage(x)
                          else as.character(x), ""),
          stopped = stopped), auto_unbox = TRUE), "\\n")
        """
    )
    result = last_json(done)
    assert result["removed"] == [1, 3, 5]
    assert result["passed"] == ["1", "even 2", "3", "even 4"]
    assert result["stopped"].startswith("task 2 failed: simpleError: even 2")


def test_foreach_pass_gives_the_condition_percent_do_gives_with_details_beside(r) -> None:
    done = r(
        """
        library(foreach)
        registerDoLambda(function_name = "r-worker", concurrency = 4)
        f <- function(i) if (i == 2) stop(structure(class = c("badInput", "error", "condition"),
          list(message = "no 2", call = NULL))) else i
        remote <- foreach(i = 1:3, .errorhandling = "pass") %dopar% f(i)
        local <- foreach(i = 1:3, .errorhandling = "pass") %do% f(i)
        e <- remote[[2]]
        cat(jsonlite::toJSON(list(same = identical(conditionMessage(e),
                                                   conditionMessage(local[[2]])),
          message = conditionMessage(e), class = class(e), index = e$index,
          badInput = inherits(e, "badInput"), calls = e$remote_calls), auto_unbox = TRUE), "\\n")
        """
    )
    result = last_json(done)
    assert result["same"] is True and result["message"] == "no 2"
    assert result["class"][:2] == ["badInput", "lambdaparallel_task_error"]
    assert result["index"] == 2 and result["badInput"] is True
    assert any("f(i)" in call for call in result["calls"])


def test_errors_as_values_then_retry_only_the_failed(r) -> None:
    done = r(
        """
        bad <- c(2L, 5L)
        f <- function(x) if (x %in% bad) stop("bad ", x) else x * 10
        X <- setNames(1:6, letters[1:6])
        res <- lambda_map(X, f, function_name = "r-worker", concurrency = 3, errors = "value",
                          seed = 7L)
        failed <- lambda_failed(res)
        e <- res[[5]]
        first <- last_map_summary()$tasks
        bad <- 5L   # the retry sees the fixed global: only tasks 2 and 5 are sent again
        again <- lambda_retry(res, X, f, function_name = "r-worker", seed = 7L)
        retried <- last_map_summary()$tasks
        e2 <- again[[5]]
        stopped <- tryCatch(lambda_map(X, f, function_name = "r-worker", errors = "value2"),
                            error = conditionMessage)
        cat(jsonlite::toJSON(list(
          failed = failed, message = conditionMessage(e), index = e$index,
          class = class(e), remote = e$remote_class, calls = e$remote_calls,
          first = first, retried = retried, names = names(again),
          ok = unlist(again[-5]), still = lambda_failed(again), index2 = e2$index,
          stopped = stopped), auto_unbox = TRUE), "\\n")
        """
    )
    result = last_json(done)
    assert result["failed"] == [2, 5]
    assert result["message"] == "bad 5" and result["index"] == 5
    assert result["class"][:2] == ["simpleError", "lambdaparallel_task_error"]
    assert result["remote"][0] == "simpleError"
    assert result["calls"][0].startswith("fun(args[[1L]])")
    assert result["first"] == 6 and result["retried"] == 2
    assert result["names"] == list("abcdef")
    assert result["ok"] == [10, 20, 30, 40, 60]
    assert result["still"] == 5 and result["index2"] == 5
    assert 'errors must be "stop" or "value"' in result["stopped"]


def test_globals_from_closures_nested_functions_and_packages(r) -> None:
    done = r(
        """
        library(foreach)
        scale <- 10
        helper <- function(x) x * scale
        twice <- function(x) helper(x) * 2
        make_adder <- function(k) function(x) x + k
        add5 <- make_adder(5)
        a <- lambda_map(1:3, function(i) twice(i) + add5(i), function_name = "r-worker")
        registerDoLambda(function_name = "r-worker")
        b <- foreach(i = 1:2, .combine = c, .packages = "tools") %dopar%
          file_path_sans_ext(paste0(letters[i], ".txt"))
        offset <- 100
        c <- foreach(i = 1:2, .combine = c, .export = "offset") %dopar% {
          get("offset") + i
        }
        cat(jsonlite::toJSON(list(a = unlist(a), b = b, c = c)), "\\n")
        """
    )
    result = last_json(done)
    assert result["a"] == [i * 10 * 2 + i + 5 for i in (1, 2, 3)]
    assert result["b"] == ["a", "b"]
    assert result["c"] == [101, 102]


def test_random_numbers_do_not_depend_on_concurrency_or_chunks(r) -> None:
    done = r(
        """
        library(foreach)
        draw <- function(i) runif(2)
        one <- function(concurrency, chunk) {
          set.seed(42)
          unlist(lambda_map(1:8, draw, function_name = "r-worker", concurrency = concurrency,
                            chunk_size = chunk))
        }
        fe <- function(concurrency, chunk) {
          registerDoLambda(function_name = "r-worker", concurrency = concurrency,
                           chunk_size = chunk)
          set.seed(7)
          foreach(i = 1:6, .combine = c) %dopar% rnorm(1)
        }
        cat(jsonlite::toJSON(list(a = one(1, 1), b = one(4, 1), c = one(4, 3),
                                  d = fe(1, 1), e = fe(4, 4), other = one(4, 1)[1]),
                             digits = NA), "\\n")
        """
    )
    result = last_json(done)
    assert result["a"] == result["b"] == result["c"]
    assert len(set(result["a"])) == 16
    assert result["d"] == result["e"]


@pytest.fixture(params=["debian", "cran"])
def future_r(
    request: pytest.FixtureRequest, service: InvokeService, r_library: Path, moto_s3: str
) -> Callable[..., Any]:
    """Runs R code with Debian's future 1.31 (the legacy backend path) or with today's CRAN
    future (the FutureBackend path), and checks which path ran; the worker side is the same."""
    cran = request.param == "cran"
    library = request.getfixturevalue("cran_future_library") if cran else r_library
    path = "FutureBackend" if cran else "legacy"

    def run(code: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        check_path = f"""
        ran <- if (utils::packageVersion("future") >= "1.40.0") "FutureBackend" else "legacy"
        if (ran != "{path}") stop("expected the {path} path, got ", ran)
        """
        return run_r(check_path + code, service, library, moto_s3, check)

    return run


def test_future_apply_and_furrr_run_on_the_backend(future_r) -> None:
    r = future_r
    done = r(
        """
        library(future)
        plan(lambdaparallel::lambda, function_name = "r-worker", concurrency = 4)
        k <- 3
        a <- future.apply::future_lapply(1:8, function(i) i * k)
        draw <- function(i) runif(1)
        set.seed(1); s1 <- future.apply::future_sapply(1:6, draw, future.seed = TRUE)
        set.seed(1); s2 <- future.apply::future_sapply(1:6, draw, future.seed = TRUE,
                                                        future.chunk.size = 1)
        b <- furrr::future_map_dbl(1:5, ~ .x^2)
        f <- future({ message("note"); warning("careful"); cat("printed\\n"); 42 })
        v <- withCallingHandlers(value(f),
          message = function(m) {
            cat("got message:", conditionMessage(m)); invokeRestart("muffleMessage")
          },
          warning = function(w) {
            cat("got warning:", conditionMessage(w), "\\n"); invokeRestart("muffleWarning")
          })
        e <- tryCatch(value(future(stop("from a future"))), error = conditionMessage)
        cat(jsonlite::toJSON(list(a = unlist(a), same = identical(s1, s2), b = b, v = v, e = e),
                             auto_unbox = TRUE), "\\n")
        """
    )
    result = last_json(done)
    assert result["a"] == [i * 3 for i in range(1, 9)]
    assert result["same"] is True
    assert result["b"] == [i * i for i in range(1, 6)]
    assert result["v"] == 42
    assert "from a future" in result["e"]
    assert "printed" in done.stdout and "got message: note" in done.stdout
    assert "got warning: careful" in done.stdout


def test_output_messages_and_warnings_are_relayed(r) -> None:
    done = r(
        """
        x <- withCallingHandlers(
          lambda_map(1:2, function(i) {
            cat("out", i, "\\n"); message("msg ", i); warning("warn ", i); i
          }, function_name = "r-worker"),
          warning = function(w) {
            cat("W:", conditionMessage(w), "\\n"); invokeRestart("muffleWarning")
          })
        cat(jsonlite::toJSON(unlist(x)), "\\n")
        """
    )
    assert "out 1" in done.stdout and "out 2" in done.stdout
    assert "W: warn 1" in done.stdout and "W: warn 2" in done.stdout
    assert "msg 1" in done.stderr and "msg 2" in done.stderr
    assert last_json(done) == [1, 2]


def test_large_payloads_go_through_s3_and_are_deleted(r, moto_s3: str, service) -> None:
    done = r(
        f"""
        set.seed(3)
        big <- runif(1e6)   # 8 MB of doubles: over the 6 MB limit inline
        out <- lambda_map(1:3, function(i) sum(big) + i, function_name = "r-worker",
                          s3_bucket = "{BUCKET}")
        back <- lambda_map(1, function(i) {{ set.seed(3); runif(1e6) }},
                           function_name = "r-worker", s3_bucket = "{BUCKET}", seed = FALSE)
        cat(jsonlite::toJSON(list(out = unlist(out) - sum(big), same = identical(back[[1]], big)),
                             auto_unbox = TRUE, digits = NA), "\\n")
        """
    )
    result = last_json(done)
    assert result["out"] == [1, 2, 3]
    assert result["same"] is True
    assert s3_keys(moto_s3) == []


def test_too_large_without_a_bucket_fails_before_any_invoke(r, service) -> None:
    before = service.invokes
    done = r(
        """
        big <- runif(1e6)
        e <- tryCatch(lambda_map(1:2, function(i) sum(big), function_name = "r-worker"),
                      error = conditionMessage)
        cat(jsonlite::toJSON(e, auto_unbox = TRUE), "\\n")
        """
    )
    message = last_json(done)
    assert "over Lambda's 6 MB" in message and "s3_bucket" in message and "MB" in message
    assert service.invokes == before


def test_throttles_are_retried(r, service) -> None:
    service.throttle(5)
    done = r(
        """
        out <- lambda_map(1:6, function(i) i, function_name = "r-worker", concurrency = 4)
        s <- last_map_summary()
        cat(jsonlite::toJSON(list(out = unlist(out), retries = s$retries), auto_unbox = TRUE),
            "\\n")
        """
    )
    result = last_json(done)
    assert result["out"] == list(range(1, 7))
    assert result["retries"] == 5
    assert service.throttled >= 5


def test_missing_function_and_denied_caller(r, service) -> None:
    done = r(
        """
        e <- tryCatch(lambda_map(1:2, identity, function_name = "no-such-function"),
                      error = function(e) c(class(e)[1], conditionMessage(e)))
        cat(jsonlite::toJSON(e), "\\n")
        """
    )
    cls, message = last_json(done)
    assert cls == "lambdaparallel_http_404"
    assert "no function" in message and "ResourceNotFoundException" in message
    service.denied = True
    try:
        done = r(
            """
            e <- tryCatch(lambda_map(1:2, identity, function_name = "r-worker"),
                          error = function(e) c(class(e)[1], conditionMessage(e)))
            cat(jsonlite::toJSON(e), "\\n")
            """
        )
    finally:
        service.denied = False
    cls, message = last_json(done)
    assert cls == "lambdaparallel_http_403"
    assert "lambda:InvokeFunction" in message


def test_missing_package_in_the_worker_names_the_recipe(r) -> None:
    done = r(
        """
        e <- tryCatch(lambda_map(1, function(i) i, function_name = "r-worker",
                                 packages = "notInstalledAnywhere"), error = conditionMessage)
        cat(jsonlite::toJSON(e, auto_unbox = TRUE), "\\n")
        """
    )
    message = last_json(done)
    assert "lambdaparallel_missing_packages" in message
    assert "notInstalledAnywhere" in message and "recipes/worker/recipe.toml" in message


def test_a_crash_mid_task_names_the_crash(r) -> None:
    done = r(
        """
        e <- tryCatch(lambda_map(1:2, function(i) if (i == 2) quit(status = 3) else i,
                                 function_name = "r-worker"), error = conditionMessage)
        cat(jsonlite::toJSON(e, auto_unbox = TRUE), "\\n")
        """
    )
    message = last_json(done)
    assert "task 2 failed: Runtime.ExitError" in message and "status 3" in message


def test_external_pointers_are_refused(r) -> None:
    done = r(
        """
        ptr <- curl::new_handle()
        a <- tryCatch(lambda_map(1, function(i) ptr, function_name = "r-worker"),
                      error = conditionMessage)
        b <- tryCatch(lambda_map(1, function(i) curl::new_handle(),
                                 function_name = "r-worker"), error = conditionMessage)
        cat(jsonlite::toJSON(list(a = a, b = b), auto_unbox = TRUE), "\\n")
        """
    )
    result = last_json(done)
    assert "external pointer" in result["a"] and "globals" in result["a"]
    assert "task 1 failed" in result["b"] and "external pointer" in result["b"]


def test_a_task_fanning_out_again_is_refused(r) -> None:
    done = r(
        """
        e <- tryCatch(lambda_map(1, function(i) lambdaparallel::lambda_map(1:2, identity,
                                   function_name = "r-worker"), function_name = "r-worker"),
                      error = conditionMessage)
        cat(jsonlite::toJSON(e, auto_unbox = TRUE), "\\n")
        """
    )
    message = last_json(done)
    assert "lambdaparallel_recursion" in message and "fanout = 1" in message


def test_safety_bounds(r, service) -> None:
    before = service.invokes
    done = r(
        """
        a <- tryCatch(lambda_map(1:3, identity, function_name = "r-worker", concurrency = 5000),
                      error = conditionMessage)
        b <- tryCatch(lambda_map(1:11, identity, function_name = "r-worker", max_tasks = 10),
                      error = conditionMessage)
        cat(jsonlite::toJSON(list(a = a, b = b), auto_unbox = TRUE), "\\n")
        """
    )
    result = last_json(done)
    assert "safety bound of 1000" in result["a"] and "lambdaparallel.max_concurrency" in result["a"]
    assert "safety bound of 10 tasks" in result["b"]
    assert service.invokes == before


def test_a_task_that_times_out_says_so(r_library: Path, moto_s3: str) -> None:
    env = {"R_LIBS": str(r_library), **aws_env(moto_s3)}
    with InvokeService("r-worker", 1, env, timeout_s=2) as short:
        done = run_r(
            """
            e <- tryCatch(lambda_map(1:2, function(i) { if (i == 2) Sys.sleep(10); i },
                                     function_name = "r-worker"), error = conditionMessage)
            cat(jsonlite::toJSON(e, auto_unbox = TRUE), "\\n")
            """,
            short,
            r_library,
            moto_s3,
        )
    message = last_json(done)
    assert message.startswith("task 2 failed: Sandbox.Timedout")
    assert "timed out after 2" in message


def test_an_interrupt_abandons_the_map_and_deletes_what_was_staged(
    service: InvokeService, r_library: Path, moto_s3: str
) -> None:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/tmp"),
        "R_LIBS": str(r_library),
        "AWS_ENDPOINT_URL_LAMBDA": service.endpoint,
        **aws_env(moto_s3),
    }
    script = f"""
    library(lambdaparallel)
    big <- runif(1e6)  # staged in S3
    lambda_map(1:40, function(i) {{ Sys.sleep(3); sum(big) }}, function_name = "r-worker",
               concurrency = 4, s3_bucket = "{BUCKET}")
    """
    before = service.invokes
    process = subprocess.Popen(["Rscript", "-e", script], env=env, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while service.invokes - before < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert service.invokes - before == 4, "the map never got going"
    assert s3_keys(moto_s3), "nothing was staged"
    started = time.monotonic()
    process.send_signal(signal.SIGINT)
    process.wait(timeout=30)
    # Abandoned: R returned before the 3 s tasks in flight could have answered.
    assert time.monotonic() - started < 2.5
    invokes_after = service.invokes
    assert s3_keys(moto_s3) == []
    time.sleep(4)  # the tasks that were in flight end; nothing new is sent
    assert service.invokes == invokes_after == before + 4


def _with_container_credentials(
    service: InvokeService, r_library: Path, moto_s3: str, credentials: CredentialsService
) -> dict[str, str]:
    return {
        "PATH": os.environ["PATH"],
        "HOME": "/nonexistent",
        "R_LIBS": str(r_library),
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_LAMBDA": service.endpoint,
        "AWS_ENDPOINT_URL_S3": moto_s3,
        "AWS_CONTAINER_CREDENTIALS_FULL_URI": credentials.endpoint + "/container",
    }


def test_credentials_expiring_mid_map_are_refreshed(
    service: InvokeService, r_library: Path, moto_s3: str
) -> None:
    # 603 s to live: 3 s outside the 600 s refresh window, so the map outlives them.
    with CredentialsService(lifetime_s=603) as credentials:
        env = _with_container_credentials(service, r_library, moto_s3, credentials)
        seen = len(service.session_tokens)
        done = subprocess.run(
            [
                "Rscript",
                "-e",
                """library(lambdaparallel)
            r <- lambda_map(1:8, function(i) { Sys.sleep(1); i }, function_name = "r-worker",
                            concurrency = 2)
            cat(sum(unlist(r)))""",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "36"
    tokens = service.session_tokens[seen:]
    assert tokens[0] == "token-1" and len(set(tokens)) >= 2, tokens
    assert service.bad_signatures == 0


def test_a_failed_refresh_stops_the_map_and_deletes_what_was_staged(
    service: InvokeService, r_library: Path, moto_s3: str
) -> None:
    with CredentialsService(lifetime_s=603, fail_after=1) as credentials:
        env = _with_container_credentials(service, r_library, moto_s3, credentials)
        before = service.invokes
        done = subprocess.run(
            [
                "Rscript",
                "-e",
                f"""library(lambdaparallel)
            big <- runif(1e6)  # staged in S3
            lambda_map(1:8, function(i) {{ Sys.sleep(1); sum(big) }}, function_name = "r-worker",
                       concurrency = 2, s3_bucket = "{BUCKET}")""",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode != 0
    assert "the AWS credentials from container credentials endpoint expire at" in done.stderr
    assert "refreshing them failed: the container credentials endpoint" in done.stderr
    assert "HTTP 500" in done.stderr
    assert service.invokes - before < 8
    assert s3_keys(moto_s3) == []


def test_progress_ends_with_a_summary(r) -> None:
    done = r(
        """
        x <- lambda_map(1:4, function(i) i, function_name = "r-worker", progress = TRUE)
        s <- last_map_summary()
        cat(jsonlite::toJSON(list(tasks = s$tasks, invokes = s$invokes, cold = s$cold_starts),
                             auto_unbox = TRUE), "\\n")
        """
    )
    assert "lambdaparallel: 4 tasks, 4 invokes (0 retried)" in done.stderr
    result = last_json(done)
    assert result["tasks"] == 4 and result["invokes"] == 4
    assert 0 <= result["cold"] <= 4


def test_nested_futures_use_the_rest_of_the_plan(future_r) -> None:
    done = future_r(
        """
        library(future)
        plan(list(tweak(lambdaparallel::lambda, function_name = "r-worker", concurrency = 3),
                  tweak(multisession, workers = 2)))
        outer <- c(nbrOfWorkers(), nbrOfFreeWorkers())
        # future:: inside the tasks: a bare `plan` is sent as a global, a copy of the caller's
        kind <- function() {
          setdiff(class(future::plan("next")), c("FutureStrategy", "tweaked"))[[1L]]
        }
        inner <- value(future(c(kind(), future::nbrOfWorkers(),
                                value(future(Sys.getpid())) != Sys.getpid())))
        plan(lambdaparallel::lambda, function_name = "r-worker")
        alone <- value(future(kind()))
        cat(jsonlite::toJSON(list(outer = outer, inner = inner, alone = alone),
                             auto_unbox = TRUE), "\\n")
        """
    )
    result = last_json(done)
    assert result["outer"] == [3, 3]
    assert result["inner"] == ["multisession", "2", "TRUE"]
    assert result["alone"] == "sequential"


def test_cancel_abandons_the_invoke_never_resends_and_deletes_what_was_staged(
    r_library: Path, service: InvokeService, moto_s3: str, cran_future_library: Path
) -> None:
    before = service.invokes
    done = run_r(
        f"""
        library(future)
        plan(lambdaparallel::lambda, function_name = "r-worker", s3_bucket = "{BUCKET}",
             retries = 3)
        big <- runif(1e6)  # staged in S3
        f <- future({{ Sys.sleep(4); sum(big) }})
        for (i in 1:20) {{ resolved(f); Sys.sleep(0.05) }}  # curl sends while polled
        staged <- length(listFutures(plan("backend"))$future)
        cancel(f)
        e <- tryCatch(value(f), error = function(e) class(e)[[1L]])
        Sys.sleep(5)  # the invoke ends in the worker; nothing is sent again
        cat(jsonlite::toJSON(list(e = e, state = f$state, staged = staged,
          active = nrow(listFutures(plan("backend"))), free = nbrOfFreeWorkers()),
          auto_unbox = TRUE), "\\n")
        """,
        service,
        cran_future_library,
        moto_s3,
    )
    result = last_json(done)
    assert result == {
        "e": "FutureInterruptError",
        "state": "canceled",
        "staged": 1,
        "active": 0,
        "free": 64,
    }
    assert service.invokes == before + 1
    assert s3_keys(moto_s3) == []


def test_future_backend_conformance_suite(
    service: InvokeService, moto_s3: str, cran_future_library: Path
) -> None:
    """future.tests (future's backend conformance suite, which needs future >= 1.40) against
    plan(lambda). Its skips: data.table and ff are not installed, and the `workers =` tests
    are for backends that take a `workers` argument."""
    done = run_r(
        """
        setwd(tempdir())  # its mandelbrot test draws to Rplots.pdf
        res <- future.tests::check(
          plan = 'lambdaparallel::lambda, function_name = "r-worker", concurrency = 4',
          timeout = 60, exit_value = FALSE, session_info = FALSE, settings = FALSE)
        """,
        service,
        cran_future_library,
        moto_s3,
    )
    summary = [line for line in done.stdout.splitlines() if line.startswith("Results:")]
    assert summary and "0 errors" in summary[-1] and "0 timeouts" in summary[-1], done.stdout
    skipped = [line for line in done.stdout.splitlines() if line.startswith("* ")]
    assert len(skipped) == 7 and all(
        "'data.table'" in s or "'ff'" in s or "(ff)" in s or "workers=" in s for s in skipped
    ), skipped
