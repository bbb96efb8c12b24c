# Lambda SnapStart for container images (AWS: "Implementing SnapStart hooks for container
# images", https://docs.aws.amazon.com/lambda/latest/dg/snapstart-runtime-hooks-custom.html).
#
# When AWS_LAMBDA_INITIALIZATION_TYPE is "snap-start" (init when a version is published), the
# runtime finishes init, primes the handler (RLAMBDA_SNAPSTART_PRIME), runs the before-snapshot
# hooks and calls GET /runtime/restore/next. Lambda snapshots the environment while that call
# waits; in every environment restored from the snapshot the call returns, the runtime runs its
# after-restore steps and hooks, and only then polls /runtime/invocation/next. An after-restore
# hook that fails is reported with POST /runtime/restore/error, and R exits: the environment
# serves no invoke. Without "snap-start" none of this runs, and hooks registered are kept unused.
#
# Order: before-snapshot hooks in the order they were registered; after restore, the built-in
# steps first (RNG, Runtime API connection, tempdir()), so that user hooks find a working
# environment, then the user's after-restore hooks in the order they were registered.

snapstart_enabled <- function() identical(Sys.getenv("AWS_LAMBDA_INITIALIZATION_TYPE"), "snap-start")

#' Register `fn` (a function of no arguments) to run once at the end of init, before Lambda
#' takes the SnapStart snapshot. Call it from the handler file. Runs only under SnapStart.
lambda_before_snapshot <- function(fn) snapstart_register("before_snapshot", fn)

#' Register `fn` (a function of no arguments) to run in every environment restored from the
#' SnapStart snapshot, before its first invoke: reopen connections, refresh credentials, draw
#' unique ids. An error in it fails the restore. Runs only under SnapStart.
lambda_after_restore <- function(fn) snapstart_register("after_restore", fn)

snapstart_register <- function(phase, fn) {
  if (!is.function(fn)) stop("a SnapStart hook must be a function, not ", class(fn)[[1L]])
  key <- paste0("hooks_", phase)
  rt_state[[key]] <- c(rt_state[[key]], list(fn))
  invisible(length(rt_state[[key]]))
}

restore_next_path <- paste0(api_prefix, "/restore/next")

# The SnapStart part of init, after the handler is loaded. Returns TRUE when the runtime may go
# on to serve invokes; on a failure it has been reported, and the caller exits.
snapstart_phase <- function(client, h) {
  write_state("init")
  failure <- tryCatch({
    snapstart_prime(h)
    NULL
  }, error = function(e) e)
  if (is.null(failure)) failure <- run_hooks("before_snapshot")
  if (!is.null(failure)) {
    report_init_error(client, failure)
    write_state("")
    return(FALSE)
  }
  # R's RNG state made at init (set.seed(), or any draw, e.g. by a package's .onLoad) would be
  # the same in every restored environment: it is drawn afresh if it exists now.
  rng_touched <- exists(".Random.seed", envir = globalenv(), inherits = FALSE)
  # No connection should cross the snapshot. A successful init has made no request, so none is
  # open here (bench/criu_snapstart.py checkpoints in the last hook for that reason); the one
  # restore/next uses is replaced after the restore (after_restore_builtin()).
  http_close(client)
  write_state("restore")
  rt_debug("snap-start: init done in ", format(round(proc.time()[["elapsed"]] * 1000)),
           " ms since R started; waiting for the snapshot")
  asked <- Sys.time()
  resp <- http_request(client, "GET", restore_next_path)
  restored <- Sys.time()
  if (resp$status != 200L) {
    stop("GET /runtime/restore/next answered ", resp$status, ": ", rawToChar(resp$body))
  }
  failure <- tryCatch({
    after_restore_builtin(client, rng_touched)
    NULL
  }, error = function(e) e)
  if (is.null(failure)) failure <- run_hooks("after_restore")
  if (!is.null(failure)) {
    report_restore_error(client, failure)
    write_state("")
    return(FALSE)
  }
  write_state("")
  log_info(sprintf(
    "SnapStart restore: after-restore steps took %.1f ms (%.3f s after the snapshot call)",
    as.numeric(Sys.time() - restored, units = "secs") * 1000,
    as.numeric(restored - asked, units = "secs")))
  TRUE
}

# What every restored environment needs, whatever the handler registered.
after_restore_builtin <- function(client, rng_touched) {
  if (rng_touched) reseed_from_os()
  http_close(client)  # the next request opens a fresh connection
  tempdir(check = TRUE)  # recreated if the restored file system lacks it
  invisible()
}

# Four bytes from the kernel's generator: each restored environment draws its own.
reseed_from_os <- function() {
  con <- file("/dev/urandom", "rb")
  on.exit(close(con))
  seed <- readBin(con, "integer", n = 1L, size = 4L)
  if (is.na(seed)) seed <- 0L  # NA_integer_ is one bit pattern of 2^32; any seed will do
  set.seed(seed)
}

# Hooks run like a handler: warnings logged, and the first failure, returned as R's condition
# (its message and class) with the trace from the hook down, stops the rest. NULL: all ran.
run_hooks <- function(phase) {
  for (fn in rt_state[[paste0("hooks_", phase)]]) {
    run <- run_captured(as.call(list(fn)), globalenv(), fn)
    if (!run$ok) {
      cond <- run$error
      attr(cond, "trace") <- run$trace
      return(cond)
    }
  }
  NULL
}

report_restore_error <- function(client, cond) {
  trace <- attr(cond, "trace")
  body <- error_body(cond, if (is.null(trace)) character() else trace)
  log_error_body(body)
  resp <- tryCatch(api_post(client, "/restore/error", error_json(body), error_headers(body)),
                   error = function(e) e)
  if (inherits(resp, "error")) {
    log_error("could not report the restore error: ", conditionMessage(resp))
  }
}

# Priming: RLAMBDA_SNAPSTART_PRIME names an event file (under LAMBDA_TASK_ROOT unless absolute)
# that is run through the handler in-process before the snapshot, so that lazy loading and
# first-call costs are paid once, in the snapshot. Its result is serialised, as a response
# would be, and dropped: nothing is sent. A failure fails init, with R's message.
snapstart_prime <- function(h) {
  spec <- Sys.getenv("RLAMBDA_SNAPSTART_PRIME")
  if (!nzchar(spec)) return(invisible(FALSE))
  path <- if (startsWith(spec, "/")) spec else file.path(Sys.getenv("LAMBDA_TASK_ROOT", getwd()), spec)
  fail <- function(what) {
    stop(runtime_condition("Runtime.PrimingError", sprintf("priming event %s: %s", spec, what)))
  }
  if (!file.exists(path)) fail("no such file")
  if (h$shape$stream) fail("a streaming handler cannot be primed")
  payload <- readBin(path, "raw", file.size(path))
  started <- Sys.time()
  deadline <- format(round(epoch_ms() + 60000), scientific = FALSE)
  context <- if (h$shape$context) {
    make_context(list(`lambda-runtime-aws-request-id` = "snapstart-priming",
                      `lambda-runtime-deadline-ms` = deadline))
  }
  if (isTRUE(rt_state$log_json)) capture_output_start()
  outcome <- tryCatch({
    args <- build_args(h$shape, payload, context)
    call <- handler_call(h$fn, h$name, args)
    run <- run_captured(call$call, call$env, h$fn)
    if (run$ok) serialise_result(run$value, attr(args, "http_kind"))
    run
  }, error = function(e) list(ok = FALSE, error = e))
  capture_output_end()
  if (!outcome$ok) {
    cond <- outcome$error
    fail(paste0(class(cond)[[1L]], ": ", conditionMessage(cond)))
  }
  # A plumber route that fails answers 500 rather than raising: that is a failed priming too.
  status <- if (inherits(outcome$value, "lambda_http_response")) outcome$value$status
  if (is.numeric(status) && length(status) == 1L && status >= 500) {
    fail(paste0("the handler answered HTTP ", status))
  }
  rt_debug("snap-start: primed with ", spec, " in ",
           round(as.numeric(Sys.time() - started, units = "secs") * 1000), " ms")
  invisible(TRUE)
}
