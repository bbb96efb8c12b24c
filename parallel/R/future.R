# The future backend: plan(lambdaparallel::lambda, function_name = "r-worker").
#
# Written against the Future class API that future 1.31 (Debian bookworm) documents for
# backends -- a constructor built on future::Future(), and run(), resolved() and result()
# methods returning a FutureResult -- the API external backends such as future.callr use.
# Each future is one invoke; the invokes of all futures of a plan share one curl pool, at most
# `concurrency` in flight (run() waits for a free slot, as future's cluster backend does).

#' A future backend that evaluates each future in one Lambda invoke
#'
#' @param expr,envir,substitute,lazy,seed,globals,packages,label,... as for other future
#'   backends (`future::future()` passes them).
#' @param function_name,concurrency,s3_bucket,s3_prefix,retries,timeout,region,profile,qualifier,fanout,dry_run
#'   as for [lambda_map()]; set them with `plan(lambda, function_name = "r-worker", ...)`.
#' @export
lambda <- function(expr, envir = parent.frame(), substitute = TRUE, lazy = FALSE, seed = FALSE,
                   globals = TRUE, packages = NULL, label = NULL, function_name = NULL,
                   concurrency = 64L, s3_bucket = NULL, s3_prefix = "lambdaparallel/",
                   retries = 0L, timeout = NULL, region = NULL, profile = NULL,
                   qualifier = NULL, fanout = 0L, dry_run = TRUE, ...) {
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

future_task <- function(.lp_expr) eval(.lp_expr, envir = new.env(parent = globalenv()))


#' @export
run.LambdaFuture <- function(future, ...) {
  if (future$state != "created") {
    stop(future::FutureError(sprintf("A future ('%s') can only be launched once.",
                                     future$label %||% "<none>"), future = future))
  }
  pool <- backend_pool(future$lambda)
  spec <- pool_spec(pool)
  # No more than `concurrency` invokes in flight: wait for a slot.
  while (pool$in_flight >= spec$concurrency) {
    curl::multi_run(timeout = 1, poll = TRUE, pool = pool$curl)
  }
  seed <- future$seed
  common <- list(fun = future_task, more_args = list(.lp_expr = future$expr),
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

submit_future <- function(future, pool) {
  spec <- pool$spec
  future$lambda_attempts <- future$lambda_attempts + 1L
  future$lambda_answer <- NULL
  future$lambda_due <- NULL
  request <- lambda_request(spec$session, spec$function_name, future$lambda_payload,
                            qualifier = spec$qualifier)
  handle <- curl_handle(request, pool$timeout)
  future$lambda_handle <- handle
  pool$in_flight <- pool$in_flight + 1L
  arrive <- function(answer) {
    pool$in_flight <- pool$in_flight - 1L
    future$lambda_handle <- NULL
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
  transient <- !is.null(answer$failed) || retryable_status(answer$status)
  if (transient && future$lambda_attempts < 8L) {
    future$lambda_answer <- NULL
    future$lambda_due <- as.numeric(Sys.time()) +
      backoff_seconds(future$lambda_attempts, retry_after = answer$headers[["retry-after"]])
    return(FALSE)
  }
  decoded <- decode_answer(answer, 1L, pool$spec)
  if (is.null(decoded$fatal) && !is.null(decoded$function_error) &&
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
  future$state <- "finished"
  TRUE
}

future_result <- function(future, decoded) {
  if (!is.null(decoded$fatal)) {
    conditions <- list(list(condition = decoded$fatal, signaled = 0L))
    return(future::FutureResult(conditions = conditions, started = future$started))
  }
  r <- decoded$results[[1L]]
  conditions <- lapply(r$conditions, function(c) list(condition = c, signaled = 0L))
  if (!r$ok) {
    conditions[[length(conditions) + 1L]] <- list(condition = remote_error(r), signaled = 0L)
  }
  future::FutureResult(
    value = r$value, visible = r$visible %||% TRUE,
    stdout = if (length(r$output)) paste0(r$output, "\n", collapse = "") else NULL,
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
  future$result
}
