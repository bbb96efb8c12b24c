# The future backend: plan(lambdaparallel::lambda, function_name = "r-worker").
#
# Two paths behind the one `lambda`, because Debian bookworm ships future 1.31 and CRAN has
# moved on:
# - future >= 1.40 (the FutureBackend API,
#   https://future.futureverse.org/reference/FutureBackend-class.html): `lambda` carries a
#   "factory" attribute, LambdaFutureBackend(), which future calls once per plan(); future then
#   calls launchFuture(), listFutures(), interruptFuture() (from cancel()), stopWorkers() (when
#   the plan changes), nbrOfWorkers() and nbrOfFreeWorkers() on it (methods registered in
#   zzz.R when such a future is loaded), and resolved() and result() on each LambdaFuture.
# - future < 1.40, kept for Debian's 1.31: `lambda` itself is the evaluator that future()
#   calls, a Future subclass run with run(), the API 1.31 documents for backends.
# Both send a future the same way: one invoke each, the invokes of all futures of a plan
# sharing one curl pool with at most `concurrency` in flight (a launch waits for a free slot,
# as future's cluster backend does). Nested futures in a task use the rest of the plan stack
# (plan(list(lambda, sequential)) and so on), as future's own backends do; a `lambda` there is
# one more level of fan-out and needs `fanout = 1`.

#' A future backend that evaluates each future in one Lambda invoke
#'
#' @param expr,envir,substitute,lazy,seed,globals,packages,label,... as for other future
#'   backends (`future::future()` passes them, with future < 1.40).
#' @param function_name,concurrency,s3_bucket,s3_prefix,retries,timeout,region,profile,qualifier,fanout,dry_run
#'   as for [lambda_map()]; set them with `plan(lambda, function_name = "r-worker", ...)`.
#' @export
lambda <- function(expr = NULL, envir = parent.frame(), substitute = TRUE, lazy = FALSE,
                   seed = FALSE, globals = TRUE, packages = NULL, label = NULL,
                   function_name = NULL, concurrency = 64L, s3_bucket = NULL,
                   s3_prefix = "lambdaparallel/", retries = 0L, timeout = NULL, region = NULL,
                   profile = NULL, qualifier = NULL, fanout = 0L, dry_run = TRUE, ...) {
  if (substitute) expr <- substitute(expr)
  options <- list(function_name = function_name, concurrency = concurrency,
                  s3_bucket = s3_bucket, s3_prefix = s3_prefix, retries = retries,
                  timeout = timeout, region = region, profile = profile, qualifier = qualifier,
                  fanout = fanout, dry_run = dry_run)
  future <- LambdaFuture(expr = expr, envir = envir, substitute = FALSE, lazy = lazy,
                         seed = seed, globals = globals, packages = packages, label = label,
                         options = options, ...)
  if (!future$lazy) future <- future::run(future)
  invisible(future)
}
class(lambda) <- c("lambda", "multiprocess", "future", "function")
attr(lambda, "init") <- TRUE
BACKEND_OPTIONS <- c("function_name", "concurrency", "s3_bucket", "s3_prefix", "retries",
                     "timeout", "region", "profile", "qualifier", "fanout", "dry_run")
attr(lambda, "factory") <- function(...) LambdaFutureBackend(...)
attr(lambda, "tweakable") <- c(BACKEND_OPTIONS, "earlySignal", "gc", "maxSizeOfObjects",
                               "interrupts")

#' @rdname lambda
#' @param options the backend's options (see `lambda`).
#' @export
LambdaFuture <- function(expr = NULL, envir = parent.frame(), substitute = TRUE, globals = TRUE,
                         packages = NULL, lazy = FALSE, seed = FALSE, label = NULL,
                         options = list(), ...) {
  if (substitute) expr <- substitute(expr)
  gp <- future::getGlobalsAndPackages(expr, envir = envir, globals = globals)
  dots <- list(...)
  dots <- dots[intersect(names(dots), c("stdout", "conditions", "calls", "gc", "earlySignal"))]
  future <- do.call(future::Future, c(list(
    expr = gp$expr, envir = envir, substitute = FALSE, globals = gp$globals,
    packages = unique(c(packages, gp$packages)), lazy = TRUE, seed = seed, label = label
  ), dots), quote = TRUE)
  future$lazy <- lazy
  future$lambda <- options
  structure(future, class = c("LambdaFuture", "MultiprocessFuture", class(future)))
}

#' The FutureBackend of `plan(lambda, ...)` (future >= 1.40)
#'
#' future calls this once per `plan()`, with the options given there; users call `plan()`.
#' @param function_name,concurrency,s3_bucket,s3_prefix,retries,timeout,region,profile,qualifier,fanout,dry_run
#'   as for [lambda()].
#' @param ... `earlySignal`, `gc`, `maxSizeOfObjects`, `interrupts` (future's FutureBackend
#'   settings); the evaluator's other arguments, which future passes too, are ignored.
#' @export
LambdaFutureBackend <- function(function_name = NULL, concurrency = 64L, s3_bucket = NULL,
                                s3_prefix = "lambdaparallel/", retries = 0L, timeout = NULL,
                                region = NULL, profile = NULL, qualifier = NULL, fanout = 0L,
                                dry_run = TRUE, ...) {
  dots <- list(...)
  settings <- dots[intersect(names(dots), c("earlySignal", "gc", "maxSizeOfObjects",
                                            "interrupts", "hooks"))]
  options <- list(function_name = function_name, concurrency = concurrency,
                  s3_bucket = s3_bucket, s3_prefix = s3_prefix, retries = retries,
                  timeout = timeout, region = region, profile = profile, qualifier = qualifier,
                  fanout = fanout, dry_run = dry_run)
  # Looked up, not future::FutureBackend: R CMD check runs against Debian's future 1.31 too.
  core <- do.call(future_api("FutureBackend"), c(settings, list(options = options)))
  core[["active"]] <- new.env(parent = emptyenv())
  core[["futureClasses"]] <- c("LambdaFuture", "MultiprocessFuture", "Future")
  structure(core, class = c("LambdaFutureBackend", class(core)))
}

future_api <- function(name) getExportedValue("future", name)

launchFuture.LambdaFutureBackend <- function(backend, future, ...) {
  future$lambda <- backend[["options"]]
  future$backend <- backend
  earlySignal <- backend[["earlySignal"]]
  if (!is.null(earlySignal)) future$earlySignal <- earlySignal
  start_future(future)
  key <- paste(future$uuid, collapse = "-")
  assign(key, future, envir = backend[["active"]])
  future$lambda_key <- key
  counters <- backend[["counters"]]
  counters[["launched"]] <- counters[["launched"]] + 1L
  backend[["counters"]] <- counters
  future
}

listFutures.LambdaFutureBackend <- function(backend, ...) {
  futures <- mget(ls(backend[["active"]]), envir = backend[["active"]])
  data.frame(
    counter = seq_along(futures),
    start = vapply(futures, function(f) f$start %||% NA_real_, 0),
    label = vapply(futures, function(f) f$label %||% NA_character_, ""),
    resolved = vapply(futures, function(f) !is.null(f$result), TRUE),
    future = I(unname(futures)),
    stringsAsFactors = FALSE
  )
}

# cancel(): the invoke in flight is abandoned (its HTTP request closed; Lambda may still run it
# to its end, billed, but its answer is dropped), what it staged is deleted, and it is never
# sent again: the future's result is a FutureInterruptError.
interruptFuture.LambdaFutureBackend <- function(backend, future, ...) {
  if (!backend[["interrupts"]] || !is.null(future$result)) {
    return(future)
  }
  abandon_future(future)
  future$result <- future_api("FutureInterruptError")(sprintf(
    "future (%s) was interrupted: its Lambda invoke was abandoned and is not sent again",
    future$label %||% "<none>"), future = future)
  future$state <- "interrupted"
  forget_future(future)
  future
}

stopWorkers.LambdaFutureBackend <- function(backend, interrupt = TRUE, ...) {
  for (key in ls(backend[["active"]])) {
    future <- get(key, envir = backend[["active"]])
    if (interrupt) interruptFuture.LambdaFutureBackend(backend, future)
  }
  TRUE
}

nbrOfWorkers.LambdaFutureBackend <- function(evaluator) {
  as.integer(evaluator[["options"]]$concurrency %||% 64L)
}

nbrOfFreeWorkers.LambdaFutureBackend <- function(evaluator, background = FALSE, ...) {
  pool <- backend_pool(evaluator[["options"]])
  max(0L, nbrOfWorkers.LambdaFutureBackend(evaluator) - pool$in_flight)
}

#' @export
nbrOfWorkers.lambda <- function(evaluator) {
  as.integer(formals(evaluator)$concurrency %||% 64L)
}

#' @export
nbrOfFreeWorkers.lambda <- function(evaluator, background = FALSE, ...) {
  pool <- backend_pool(list(concurrency = nbrOfWorkers.lambda(evaluator)))
  max(0L, nbrOfWorkers.lambda(evaluator) - pool$in_flight)
}

# One pool per set of options: a spec (session, credentials), a curl pool, the DryRun done.
backend_pool <- function(options) {
  key <- paste(deparse(options[sort(names(options))]), collapse = "")
  pool <- the$pools[[key]]
  if (is.null(pool)) {
    pool <- new.env(parent = emptyenv())
    pool$options <- options
    pool$curl <- curl::new_pool(total_con = options$concurrency %||% 64L,
                                host_con = options$concurrency %||% 64L, multiplex = FALSE)
    pool$in_flight <- 0L
    pool$handles <- list()
    pool$checked <- FALSE
    if (is.null(the$pools)) the$pools <- list()
    the$pools[[key]] <- pool
  }
  pool
}

pool_spec <- function(pool) {
  o <- pool$options
  if (is.null(pool$spec)) {
    pool$spec <- map_spec(o$function_name, o$concurrency %||% 64L, o$retries %||% 0L, o$timeout,
                          o$region, o$profile, o$qualifier, o$s3_bucket,
                          o$s3_prefix %||% "lambdaparallel/", FALSE, o$fanout %||% 0L, Inf, 1L,
                          o$dry_run %||% TRUE)
    pool$timeout <- pool$spec$timeout %||% (function_timeout(pool$spec) + 30)
  }
  if (!pool$checked && isTRUE(pool$spec$dry_run)) {
    dry_run_check(pool$spec)
    pool$checked <- TRUE
  }
  pool$spec
}

future_task <- function(.lp_expr, .lp_plan = NULL) {
  if (length(.lp_plan)) {
    old <- future::plan(make_plan(.lp_plan))
    on.exit(future::plan(old), add = TRUE)
  }
  eval(.lp_expr, envir = new.env(parent = globalenv()))
}


#' @export
run.LambdaFuture <- function(future, ...) {
  if (future$state != "created") {
    stop(future::FutureError(sprintf("A future ('%s') can only be launched once.",
                                     future$label %||% "<none>"), future = future))
  }
  start_future(future)
  invisible(future)
}

# Send a future: wait for a free slot in its plan's pool, stage what is too big, invoke.
start_future <- function(future) {
  pool <- backend_pool(future$lambda)
  spec <- pool_spec(pool)
  # No more than `concurrency` invokes in flight: wait for a slot.
  while (pool$in_flight >= spec$concurrency) {
    curl::multi_run(timeout = 1, poll = TRUE, pool = pool$curl)
  }
  seed <- future$seed
  common <- list(fun = future_task,
                 more_args = list(.lp_expr = future$expr, .lp_plan = nested_plan()),
                 globals = as.list(future$globals), packages = future$packages)
  tasks <- list(list(index = 1L, args = list(),
                     seed = if (is.numeric(seed)) as.integer(seed) else NULL))
  common_bytes <- serialize_common(common, spec, "the future's expression or globals")
  task_bytes <- list(lp_serialize(tasks, "the future's task"))
  future$lambda_envelopes <- new_envelopes(common_bytes, task_bytes, list(1L), spec)
  future$lambda_payload <- future$lambda_envelopes$payload(1L)
  future$lambda_attempts <- 0L
  future$lambda_function_retries <- 0L
  future$started <- Sys.time()
  future$state <- "running"
  submit_future(future, pool)
  invisible(future)
}

# The plan stack below this level, for futures created inside the task, as (package, name,
# tweaks) rather than the strategy functions themselves: those are bodies of the caller's
# future version, and the worker's may differ (future 1.68's sequential() cannot be called by
# 1.31's plan()). NULL when the rest is sequential or empty: that is the worker's default.
nested_plan <- function() {
  stack <- future::plan("list")
  if (length(stack) < 2L) {
    return(NULL)
  }
  specs <- lapply(stack[-1L], function(strategy) {
    name <- setdiff(class(strategy), "tweaked")[[1L]]
    package <- environmentName(topenv(environment(strategy)))
    list(package = if (nzchar(package)) package else "future", name = name,
         tweaks = attr(strategy, "tweaks"))
  })
  if (all(vapply(specs, function(x) x$name == "sequential" && !length(x$tweaks), TRUE))) {
    return(NULL)
  }
  specs
}

# In the worker: the strategies nested_plan() described.
make_plan <- function(specs) {
  lapply(specs, function(x) {
    strategy <- getExportedValue(x$package, x$name)
    if (length(x$tweaks)) strategy <- do.call(future::tweak, c(list(strategy), x$tweaks))
    strategy
  })
}

# The invoke in flight, if any, closed; a due retry dropped; the staged objects deleted.
abandon_future <- function(future) {
  pool <- backend_pool(future$lambda)
  handle <- if (!is.null(future$lambda_id)) pool$handles[[future$lambda_id]]
  if (!is.null(handle)) {
    try(curl::multi_cancel(handle), silent = TRUE)
    pool$handles[[future$lambda_id]] <- NULL
    pool$in_flight <- pool$in_flight - 1L
  }
  future$lambda_due <- NULL
  future$lambda_answer <- NULL
  if (!is.null(future$lambda_envelopes)) future$lambda_envelopes$cleanup()
}

# A finished future leaves its backend's list of active futures (future >= 1.40).
forget_future <- function(future) {
  backend <- future$backend
  key <- future$lambda_key
  if (inherits(backend, "LambdaFutureBackend") && !is.null(key) &&
    exists(key, envir = backend[["active"]], inherits = FALSE)) {
    rm(list = key, envir = backend[["active"]])
    counters <- backend[["counters"]]
    counters[["finished"]] <- counters[["finished"]] + 1L
    backend[["counters"]] <- counters
  }
}

submit_future <- function(future, pool) {
  spec <- pool$spec
  future$lambda_attempts <- future$lambda_attempts + 1L
  future$lambda_answer <- NULL
  future$lambda_due <- NULL
  request <- lambda_request(spec$session, spec$function_name, future$lambda_payload,
                            qualifier = spec$qualifier)
  handle <- curl_handle(request, pool$timeout)
  # The handle (an external pointer) stays in the pool, not in the future: a future can be
  # a global of another future (future.tests does that), and must then serialize.
  id <- future$lambda_id %||% (future$lambda_id <- new_map_id())
  pool$handles[[id]] <- handle
  pool$in_flight <- pool$in_flight + 1L
  arrive <- function(answer) {
    pool$in_flight <- pool$in_flight - 1L
    pool$handles[[id]] <- NULL
    future$lambda_answer <- answer
  }
  curl::multi_add(handle, done = function(response) arrive(answer_of(response)),
                  fail = function(message) arrive(list(failed = message)), pool = pool$curl)
}

# Move the future on: send a due retry, let curl work for up to `wait` seconds, take an answer.
# TRUE once its result is known.
poll_future <- function(future, wait) {
  if (!is.null(future$result)) {
    return(TRUE)
  }
  pool <- backend_pool(future$lambda)
  if (!is.null(future$lambda_due) && future$state %in% c("canceled", "interrupted")) {
    # Canceled while waiting to be sent again: it is not.
    abandon_future(future)
    future$result <- future::FutureError(sprintf(
      "future (%s) was canceled before its retry; it was not sent again",
      future$label %||% "<none>"), future = future)
    forget_future(future)
    return(TRUE)
  }
  if (!is.null(future$lambda_due)) {
    if (as.numeric(Sys.time()) < future$lambda_due) {
      Sys.sleep(min(wait, max(0, future$lambda_due - as.numeric(Sys.time()))))
      return(FALSE)
    }
    submit_future(future, pool)
  }
  if (is.null(future$lambda_answer)) {
    curl::multi_run(timeout = wait, poll = TRUE, pool = pool$curl)
  }
  answer <- future$lambda_answer
  if (is.null(answer)) {
    return(FALSE)
  }
  # A canceled future is never sent again.
  again <- !future$state %in% c("canceled", "interrupted")
  transient <- !is.null(answer$failed) || retryable_status(answer$status)
  if (again && transient && future$lambda_attempts < 8L) {
    future$lambda_answer <- NULL
    future$lambda_due <- as.numeric(Sys.time()) +
      backoff_seconds(future$lambda_attempts, retry_after = answer$headers[["retry-after"]])
    return(FALSE)
  }
  decoded <- decode_answer(answer, 1L, pool$spec)
  if (again && is.null(decoded$fatal) && !is.null(decoded$function_error) &&
    future$lambda_function_retries < pool$spec$retries) {
    future$lambda_function_retries <- future$lambda_function_retries + 1L
    future$lambda_answer <- NULL
    future$lambda_due <- as.numeric(Sys.time()) + backoff_seconds(future$lambda_attempts)
    return(FALSE)
  }
  # The result key is deleted even when the answer came inline (no answered()): one DELETE
  # per future, and no leftover from an attempt that a retry abandoned after it staged.
  on.exit(future$lambda_envelopes$cleanup(), add = TRUE)
  future$result <- future_result(future, decoded)
  if (again) future$state <- "finished"
  forget_future(future)
  TRUE
}

future_result <- function(future, decoded) {
  if (!is.null(decoded$fatal)) {
    conditions <- list(list(condition = decoded$fatal, signaled = 0L))
    return(future::FutureResult(conditions = conditions, started = future$started))
  }
  r <- decoded$results[[1L]]
  # Only the condition classes the future asked to capture (`conditions =`; character(0):
  # none, they stay in the worker's log), as future's own backends do.
  wanted <- future$conditions %||% "condition"
  kept <- Filter(function(c) length(wanted) && inherits(c, wanted), r$conditions)
  conditions <- lapply(kept, function(c) list(condition = c, signaled = 0L))
  if (!r$ok) {
    conditions[[length(conditions) + 1L]] <- list(condition = remote_error(r), signaled = 0L)
  }
  future::FutureResult(
    value = r$value, visible = r$visible %||% TRUE,
    # stdout = FALSE or NA: not captured (future's contract), so none is relayed.
    stdout = if (isTRUE(future$stdout %||% TRUE)) paste0(r$output, "\n", collapse = ""),
    conditions = conditions, started = future$started
  )
}


#' @export
resolved.LambdaFuture <- function(x, ...) {
  if (x$state == "created") x <- future::run(x)
  poll_future(x, wait = 0)
}


#' @export
result.LambdaFuture <- function(future, ...) {
  if (future$state == "created") future <- future::run(future)
  while (!poll_future(future, wait = 1)) NULL
  if (inherits(future$result, "FutureError")) stop(future$result)
  future$result
}
