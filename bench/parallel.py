"""lambdaparallel: a map's wall time against the ideal, the client's overhead per task, and
doParallel on this machine's cores for comparison.

The Lambda side is tests/parallel_service.py: the Invoke API stand-in (every request re-signed
with botocore) in front of N local R runtimes running recipes/worker, the client installed
from parallel/ into a temporary library. Measured, in one run:
- map: `lambda_map()` of TASKS tasks of a SLEEP s sleep at concurrency N (N environments);
  ideal = TASKS * SLEEP / N. Also the same with foreach (registerDoLambda) and future.apply.
- overhead: per small task, the client's side of one invoke (serialise the envelope, base64,
  sign, send, receive, decode) = its round trip measured in R minus the invoke's time inside the
  stand-in's runtime; p50 and p90 of ROUNDS sequential invokes. Also the R-only part (no I/O).
- doParallel: the same TASKS x SLEEP with foreach over makeCluster(CORES).
With --service IMAGE (the worker recipe's image), the maps run against the local Lambda
service (`build.py serve`, N containers) instead, and only their wall times are measured.

    .venv/bin/python bench/parallel.py [--tasks 200] [--sleep 0.2] [--n 8] [--rounds 300]
    .venv/bin/python bench/parallel.py --service r-lambda:r-4.5.0-worker-debian-x86_64
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.parallel_service import ACCESS_KEY, REGION, ROOT, SECRET_KEY, InvokeService

MAP = """
library(lambdaparallel); library(foreach)
tasks <- {tasks}; pause <- {sleep}; n <- {n}
time_of <- function(expr) unname(system.time(expr)[["elapsed"]])
invisible(lambda_map(1:n, function(i) i, function_name = "r-worker", concurrency = n))  # warm
map <- time_of(lambda_map(1:tasks, function(i) Sys.sleep(pause), function_name = "r-worker",
                          concurrency = n))
registerDoLambda(function_name = "r-worker", concurrency = n)
fe <- time_of(foreach(i = 1:tasks) %dopar% Sys.sleep(pause))
future::plan(lambdaparallel::lambda, function_name = "r-worker", concurrency = n)
fa <- time_of(future.apply::future_lapply(1:tasks, function(i) Sys.sleep(pause),
                                          future.scheduling = Inf))
cat(jsonlite::toJSON(list(lambda_map = map, foreach = fe, future_apply = fa), auto_unbox = TRUE))
"""

OVERHEAD = """
library(lambdaparallel)
rounds <- {rounds}
session <- aws_session()
common <- list(fun = function(x) x + 1, more_args = list(), globals = list(),
               packages = character(), r_version = as.character(getRversion()), fanout = 0L)
common_part <- lambdaparallel:::part_inline(serialize(common, NULL, version = 3L))
one <- function(i) {{
  tasks <- list(list(index = 1L, args = list(i), seed = NULL))
  payload <- sprintf('{{"lambdaparallel":1,"common":%s,"tasks":%s,"result":null}}', common_part,
                     lambdaparallel:::part_inline(serialize(tasks, NULL, version = 3L)))
  lambdaparallel:::lambda_request(session, "r-worker", payload)
}}
local_only <- vapply(seq_len(rounds), function(i) {{
  t0 <- Sys.time(); one(i); as.numeric(Sys.time() - t0, units = "secs") }}, 0)
handle_pool <- curl::new_pool()
trip <- vapply(seq_len(rounds), function(i) {{
  t0 <- Sys.time()
  request <- one(i)
  h <- lambdaparallel:::curl_handle(request, 60)
  answer <- lambdaparallel:::answer_of(curl::curl_fetch_memory(request$url, h))
  decoded <- lambdaparallel:::decode_answer(answer, 1L, list(session = session))
  stopifnot(identical(decoded$results[[1]]$value, i + 1))
  as.numeric(Sys.time() - t0, units = "secs")
}}, 0)
cat(jsonlite::toJSON(list(trip = trip, local = local_only), digits = NA))
"""

DOPARALLEL = """
library(foreach); library(doParallel)
cl <- parallel::makeCluster({cores}); registerDoParallel(cl)
invisible(foreach(i = 1:{cores}) %dopar% i)
t <- system.time(foreach(i = 1:{tasks}) %dopar% Sys.sleep({sleep}))[["elapsed"]]
parallel::stopCluster(cl)
cat(t)
"""


def rscript(code: str, env: dict[str, str]) -> str:
    done = subprocess.run(["Rscript", "-e", code], env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(done.stdout + done.stderr)
    return done.stdout.strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--sleep", type=float, default=0.2)
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--service", metavar="IMAGE", help="run the maps on build.py serve")
    args = parser.parse_args()
    if args.service:
        service_walls(args)
        return
    cores = os.cpu_count() or 2
    with tempfile.TemporaryDirectory() as library:
        install_client(library)
        aws = AWS_ENV
        env = {"PATH": os.environ["PATH"], "HOME": "/tmp", "R_LIBS": library, **aws}
        with InvokeService("r-worker", args.n, {"R_LIBS": library, **aws}) as service:
            env["AWS_ENDPOINT_URL_LAMBDA"] = service.endpoint
            walls = json.loads(
                rscript(MAP.format(tasks=args.tasks, sleep=args.sleep, n=args.n), env)
            )
            service.invoke_seconds.clear()
            timing = json.loads(rscript(OVERHEAD.format(rounds=args.rounds), env))
            inside = service.invoke_seconds[-args.rounds :]
        overhead = [t - s for t, s in zip(timing["trip"], inside, strict=True)]
        doparallel = float(
            rscript(DOPARALLEL.format(cores=cores, tasks=args.tasks, sleep=args.sleep), env)
        )
    ideal = args.tasks * args.sleep / args.n

    def ms(values: list[float], q: float) -> float:
        return round(1000 * statistics.quantiles(values, n=100)[int(q) - 1], 2)

    print(
        json.dumps(
            {
                "tasks": args.tasks,
                "sleep_s": args.sleep,
                "n": args.n,
                "ideal_s": ideal,
                "wall_s": walls,
                "ratio_to_ideal": {k: round(v / ideal, 3) for k, v in walls.items()},
                "client_overhead_ms": {"p50": ms(overhead, 50), "p90": ms(overhead, 90)},
                "client_r_only_ms": {
                    "p50": ms(timing["local"], 50),
                    "p90": ms(timing["local"], 90),
                },
                "round_trip_ms_p50": ms(timing["trip"], 50),
                "runtime_invoke_ms_p50": ms(inside, 50),
                "doparallel": {
                    "cores": cores,
                    "wall_s": doparallel,
                    "ideal_s": args.tasks * args.sleep / cores,
                },
            },
            indent=2,
        )
    )


# The stand-in credentials and region the maps sign with.
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": ACCESS_KEY,
    "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
    "AWS_REGION": REGION,
}


def install_client(library: str) -> None:
    """lambdaparallel from this checkout, into a private library."""
    subprocess.run(
        ["R", "CMD", "INSTALL", "--no-docs", "--no-html", f"--library={library}",
         str(ROOT / "parallel")],
        check=True, capture_output=True,
    )  # fmt: skip


def service_walls(args: argparse.Namespace) -> None:
    import io

    from rlambda.local.service import FunctionSpec, Service

    with tempfile.TemporaryDirectory() as library:
        install_client(library)
        aws = AWS_ENV
        env = {"PATH": os.environ["PATH"], "HOME": "/tmp", "R_LIBS": library, **aws}
        spec = FunctionSpec("r-worker", args.service, timeout_s=60)
        with Service([spec], concurrency=args.n, log=io.StringIO()) as service:
            env["AWS_ENDPOINT_URL_LAMBDA"] = service.endpoint_url
            code = MAP.format(tasks=args.tasks, sleep=args.sleep, n=args.n)
            walls = json.loads(rscript(code, env))
    ideal = args.tasks * args.sleep / args.n
    print(json.dumps({"service": args.service, "tasks": args.tasks, "n": args.n,
                      "ideal_s": ideal, "wall_s": walls,
                      "ratio_to_ideal": {k: round(v / ideal, 3) for k, v in walls.items()}},
                     indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
