# lambda_map() and the machinery the foreach and future backends share: the DryRun check,
# answers and results, relay of output and conditions, the summary. The envelopes, and what
# they stage in S3, are made in wire.R.

#' Apply a function to each element on AWS Lambda, results in order
#'
#' @param X a vector or list.
#' @param FUN the function; called as `FUN(X[[i]], ...)` in the worker.
#' @param ... further arguments to `FUN`, sent once per invoke.
#' @param function_name the worker function's name or ARN (built from `recipes/worker`).
#' @param concurrency invokes in flight at once (at most `lambdaparallel.max_concurrency`,
#'   default 1000).
#' @param chunk_size tasks per invoke.
#' @param packages packages to attach in the worker, besides those found in `FUN`'s globals.
#' @param globals `TRUE` to find `FUN`'s globals with the globals package, or a named list.
#' @param seed `TRUE` (one L'Ecuyer-CMRG stream per task, from the caller's RNG state), an
#'   integer seed, or `FALSE` (none).
#' @param s3_bucket,s3_prefix where requests and results over Lambda's 6 MB limit are staged;
#'   staged objects are deleted when the map ends, however it ends.
#' @param retries times a task whose invoke ended in a function error is sent again (tasks
#'   need not be idempotent, so 0 by default). Throttles (429) and 5xx are always retried.
#' @param timeout seconds an invoke may take; default: the function's own timeout when
#'   GetFunctionConfiguration is allowed, else 900 (Lambda's maximum), plus 30.
#' @param region,profile AWS region and shared-config profile (default: found as the AWS CLI
#'   finds them).
#' @param qualifier a version or alias.
#' @param progress `TRUE`, `FALSE`, or `NA`: a bar once the map has run for 3 seconds in an
#'   interactive session (progressr's if installed).
#' @param fanout levels of further fan-out the tasks may do (default 0: a task calling
#'   lambda_map() is an error, so nothing recurses by accident).
#' @param max_tasks the largest map allowed (`lambdaparallel.max_tasks`, default 100000).
#' @param dry_run check the function and the permission with a DryRun invoke first.
#' @param errors `"stop"` (the first failed task stops the map with a
#'   `lambdaparallel_task_error`) or `"value"`: every task runs, and a failed task's element is
#'   its error, a condition whose message is the remote message and whose class starts with the
#'   remote class, then `"lambdaparallel_task_error"`; `e$index`, `e$remote_class` and
#'   `e$remote_calls` (the remote call stack) tell the rest. [lambda_failed()] lists them and
#'   [lambda_retry()] runs them again. Errors of the whole map (no such function, no
#'   permission, credentials) stop it either way.
#' @param .indices internal: the positions of `X` to run (for [lambda_retry()]).
#' @return a list like `lapply(X, FUN, ...)`.
#' @export
lambda_map <- function(X, FUN, ..., function_name, concurrency = 64L, chunk_size = 1L,
                       packages = NULL, globals = TRUE, seed = TRUE, s3_bucket = NULL,
                       s3_prefix = "lambdaparallel/", retries = 0L, timeout = NULL,
                       region = NULL, profile = NULL, qualifier = NULL, progress = NA,
                       fanout = 0L, max_tasks = getOption("lambdaparallel.max_tasks", 1e5),
                       dry_run = TRUE, errors = c("stop", "value"), .indices = NULL) {
  FUN <- match.fun(FUN)
  errors <- match_errors(errors)
  more_args <- list(...)
  # X's positions are kept in the errors and the seeds: task i gets stream i, in a first map
  # and in a lambda_retry() of it alike (when the seed is a number).
  indices <- .indices %||% seq_along(X)
  n <- length(indices)
  spec <- map_spec(function_name, concurrency, retries, timeout, region, profile, qualifier,
                   s3_bucket, s3_prefix, progress, fanout, max_tasks, n, dry_run)
  found <- find_globals(FUN, more_args, globals, environment(FUN) %||% parent.frame())
  common <- list(fun = FUN, more_args = more_args, globals = found$globals,
                 packages = unique(c(packages, found$packages)))
  seeds <- make_seeds(if (n) max(indices) else 0L, seed)
  tasks <- lapply(seq_len(n), function(k) {
    list(index = k, args = list(X[[indices[[k]]]]), seed = seeds[[indices[[k]]]])
  })
  results <- run_tasks(common, tasks, chunk_size, spec, stop_on_error = errors == "stop")
  for (k in seq_along(results)) results[[k]]$index <- indices[[results[[k]]$index]]
  relay(results)
  failed <- Filter(function(r) !r$ok, results)
  if (errors == "stop" && length(failed)) stop(remote_error(failed[[1L]]))
  values <- lapply(results, function(r) if (r$ok) r$value else task_condition(r))
  names(values) <- names(X)[indices]
  values
}

match_errors <- function(errors) {
  if (identical(errors, c("stop", "value"))) errors <- "stop"
  if (!is.character(errors) || length(errors) != 1L || !errors %in% c("stop", "value")) {
    stop(lp_error("lambdaparallel_bad_argument",
                  "errors must be \"stop\" or \"value\" (failed tasks' errors as elements)"))
  }
  errors
}

#' The failed elements of a map run with `errors = "value"`
#'
#' @param results what [lambda_map()] returned.
#' @return the positions of the elements that are task errors.
#' @export
lambda_failed <- function(results) {
  which(vapply(results, inherits, TRUE, "lambdaparallel_task_error"))
}

#' Run the failed tasks of a map again
#'
#' Only the elements of `results` that are task errors are sent again, with the same `X`,
#' `FUN` and options as the first map; the others are kept.
#' @param results what `lambda_map(X, FUN, ..., errors = "value")` returned.
#' @param X,FUN,... as given to that map; `...` also takes its options (`function_name = `,
#'   `concurrency = `, ...). With an integer `seed =` in both, task `i` gets the same random
#'   number stream as in the first map.
#' @param errors as for [lambda_map()]; `"value"` here by default, so tasks failing again stay
#'   errors in the list.
#' @return `results` with the re-run elements replaced.
#' @export
lambda_retry <- function(results, X, FUN, ..., errors = "value") {
  if (length(results) != length(X)) {
    stop(lp_error("lambdaparallel_bad_argument", sprintf(
      "lambda_retry(): results has %d elements and X %d: pass the X the map was given",
      length(results), length(X))))
  }
  failed <- lambda_failed(results)
  if (!length(failed)) {
    return(results)
  }
  again <- lambda_map(X, FUN, ..., errors = errors, .indices = failed)
  results[failed] <- again
  results
}

map_spec <- function(function_name, concurrency, retries, timeout, region, profile, qualifier,
                     s3_bucket, s3_prefix, progress, fanout, max_tasks, n, dry_run) {
  if (missing(function_name) || !is.character(function_name) || length(function_name) != 1L ||
    !nzchar(function_name)) {
    stop(lp_error("lambdaparallel_bad_argument", paste(
      "function_name: give the worker function's name or ARN,",
      "e.g. function_name = \"r-worker\" (see recipes/worker)")))
  }
  max_concurrency <- getOption("lambdaparallel.max_concurrency", 1000L)
  if (!is.numeric(concurrency) || length(concurrency) != 1L || concurrency < 1) {
    stop(lp_error("lambdaparallel_bad_argument", "concurrency must be a whole number >= 1"))
  }
  if (concurrency > max_concurrency) {
    stop(lp_error("lambdaparallel_bound", sprintf(paste(
      "concurrency = %d is over the safety bound of %d invokes at once; raise it with",
      "options(lambdaparallel.max_concurrency = %d) if your account's limit allows"),
      as.integer(concurrency), as.integer(max_concurrency), as.integer(concurrency))))
  }
  if (n > max_tasks) {
    stop(lp_error("lambdaparallel_bound", sprintf(paste(
      "%d tasks is over the safety bound of %d tasks per map; raise it with",
      "max_tasks = or options(lambdaparallel.max_tasks =)"), n, as.integer(max_tasks))))
  }
  check_fanout()
  if (!is.null(s3_bucket) && (!is.character(s3_bucket) || !nzchar(s3_bucket))) {
    stop(lp_error("lambdaparallel_bad_argument", "s3_bucket must be a bucket name"))
  }
  session <- aws_session(region, profile)
  list(session = session, function_name = function_name, qualifier = qualifier,
       concurrency = as.integer(concurrency), retries = as.integer(retries), timeout = timeout,
       s3_bucket = s3_bucket, s3_prefix = sub("/*$", "/", s3_prefix), progress = progress,
       fanout = as.integer(fanout), dry_run = dry_run)
}

# Inside a worker, fan-out is allowed only as many levels deep as the caller said.
check_fanout <- function() {
  allowed <- getOption("lambdaparallel.fanout")
  if (!is.null(allowed) && allowed < 1L) {
    stop(lp_error("lambdaparallel_recursion", paste(
      "this task is running in a lambdaparallel worker and tried to fan out again; the",
      "caller did not allow it: pass fanout = 1 (or more) to the outer map if you mean it")))
  }
  if (!is.null(allowed)) options(lambdaparallel.fanout = allowed - 1L)
}

# The globals of FUN (and of the extra arguments' expressions' values), found as future finds
# them: globals::globalsOf over a call to FUN, recursing into closures, without base and
# package functions, whose packages are listed instead.
find_globals <- function(FUN, more_args, globals, envir) {
  if (isFALSE(globals)) {
    return(list(globals = list(), packages = character()))
  }
  if (is.list(globals)) {
    return(list(globals = globals, packages = globals::packagesOf(globals::as.Globals(globals))))
  }
  probe <- new.env(parent = envir)
  probe$.lp_FUN <- FUN
  found <- globals::globalsOf(quote(.lp_FUN()), envir = probe, recursive = TRUE,
                              mustExist = FALSE)
  # The packages of the package functions among them, before cleanup() drops those.
  packages <- setdiff(globals::packagesOf(found), "base")
  found <- globals::cleanup(found)
  found <- found[setdiff(names(found), ".lp_FUN")]
  found <- found[!vapply(found, is.primitive, TRUE)]
  list(globals = as.list(found), packages = packages)
}

#' L'Ecuyer-CMRG streams, one per task, from the caller's RNG (or a given seed)
#'
#' The caller's stream advances by one draw (when `seed = TRUE`); task `i` always gets stream
#' `i`, so results do not depend on concurrency or chunking.
#' @param n number of tasks.
#' @param seed `TRUE`, `FALSE`/`NULL` or an integer.
#' @return a list of `.Random.seed` values, or `NULL`.
#' @export
make_seeds <- function(n, seed = TRUE) {
  if (is.null(seed) || isFALSE(seed)) {
    return(NULL)
  }
  if (isTRUE(seed)) {
    if (!exists(".Random.seed", envir = globalenv(), inherits = FALSE)) stats::runif(1L)
    start <- sample.int(.Machine$integer.max, 1L)
  } else {
    start <- as.integer(seed)
  }
  had <- exists(".Random.seed", envir = globalenv(), inherits = FALSE)
  saved <- if (had) get(".Random.seed", envir = globalenv()) else NULL
  kind <- RNGkind()
  on.exit({
    RNGkind(kind[[1L]], kind[[2L]], kind[[3L]])
    if (had) assign(".Random.seed", saved, envir = globalenv()) else
      rm(".Random.seed", envir = globalenv())
  })
  set.seed(start, kind = "L'Ecuyer-CMRG")
  stream <- get(".Random.seed", envir = globalenv())
  seeds <- vector("list", n)
  for (i in seq_len(n)) {
    stream <- parallel::nextRNGStream(stream)
    seeds[[i]] <- stream
  }
  seeds
}

# The whole map: envelopes of chunk_size tasks, sized and staged, then invoked. Returns the
# task results in index order (see run_task()). stop_on_error: no invokes after a task error.
run_tasks <- function(common, tasks, chunk_size, spec, stop_on_error) {
  started <- Sys.time()
  n <- length(tasks)
  counters <- new.env(parent = emptyenv())
  counters$invokes <- 0L
  counters$retries <- 0L
  counters$cold <- 0L
  counters$billed_ms <- NA_real_
  if (!n) {
    return(list())
  }
  common_bytes <- serialize_common(common, spec,
                                   "the function, its arguments or its globals")
  chunk_size <- max(1L, as.integer(chunk_size))
  chunks <- split(seq_len(n), ceiling(seq_len(n) / chunk_size))
  task_bytes <- lapply(chunks, function(idx) {
    lp_serialize(tasks[idx], sprintf("the arguments of task%s %s", if (length(idx) > 1L) "s"
                                     else "", format_range(idx)))
  })
  envelopes <- new_envelopes(common_bytes, task_bytes, chunks, spec)
  # Everything staged is deleted when the map ends: success, error or interrupt.
  on.exit(envelopes$cleanup(), add = TRUE)

  if (isTRUE(spec$dry_run)) dry_run_check(spec)
  timeout <- spec$timeout %||% (function_timeout(spec) + 30)

  results <- vector("list", n)
  function_retries <- integer(length(chunks))
  progress <- new_progress(n, spec$progress, started)
  fatal <- NULL

  on_answer <- function(k, answer, attempt) {
    idx <- chunks[[k]]
    decoded <- decode_answer(answer, idx, spec)
    envelopes$answered(k, decoded$inline)
    if (!is.null(decoded$fatal)) {
      fatal <<- decoded$fatal
      return("stop")
    }
    if (!is.null(decoded$function_error) && function_retries[[k]] < spec$retries) {
      function_retries[[k]] <<- function_retries[[k]] + 1L
      counters$retries <- counters$retries + 1L
      return("retry")
    }
    if (isTRUE(decoded$cold)) counters$cold <- counters$cold + 1L
    if (!is.na(decoded$billed_ms)) {
      counters$billed_ms <- sum(counters$billed_ms, decoded$billed_ms, na.rm = TRUE)
    }
    for (r in decoded$results) results[[r$index]] <<- r
    progress$tick(length(idx))
    if (stop_on_error && any(!vapply(decoded$results, `[[`, TRUE, "ok"))) "stop" else "done"
  }
  make_request <- function(k) {
    lambda_request(spec$session, spec$function_name, envelopes$payload(k),
                   qualifier = spec$qualifier)
  }
  run_invokes(length(chunks), make_request, on_answer, spec$concurrency, timeout,
              on_tick = progress$update, counters = counters)
  progress$done()
  if (!is.null(fatal)) stop(fatal)
  summary <- structure(list(
    tasks = n, invokes = counters$invokes, retries = counters$retries,
    cold_starts = counters$cold, billed_ms = counters$billed_ms,
    seconds = as.numeric(Sys.time() - started, units = "secs")
  ), class = "lambdaparallel_summary")
  the$last_summary <- summary
  if (progress$shown || isTRUE(getOption("lambdaparallel.verbose"))) message(format(summary))
  # Tasks never run because an earlier one failed (stop_on_error) stay NULL.
  Filter(Negate(is.null), results)
}

the <- new.env(parent = emptyenv())

#' The summary of the last map: tasks, invokes, retries, cold starts, billed ms, seconds
#' @export
last_map_summary <- function() the$last_summary

#' @export
format.lambdaparallel_summary <- function(x, ...) {
  sprintf("lambdaparallel: %d tasks, %d invokes (%d retried), %d cold starts, %s, %.1f s",
          x$tasks, x$invokes, x$retries, x$cold_starts,
          if (is.na(x$billed_ms)) "billed ms not reported" else
            sprintf("%.0f billed ms", x$billed_ms), x$seconds)
}

#' @export
print.lambdaparallel_summary <- function(x, ...) {
  cat(format(x), "\n")
  invisible(x)
}

# The answer to an invoke -> the tasks' results, or a fatal error for the whole map.
decode_answer <- function(answer, idx, spec) {
  out <- list(results = list(), cold = FALSE, billed_ms = NA_real_)
  fail_all <- function(class, message, calls = character()) {
    lapply(idx, function(i) list(index = i, ok = FALSE, output = character(),
                                 conditions = list(),
                                 error = list(class = class, message = message,
                                              calls = as.character(unlist(calls)))))
  }
  if (!is.null(answer$failed)) {
    out$results <- fail_all("lambdaparallel_http_error", sprintf(
      "the invoke failed after retries: %s", answer$failed))
    return(out)
  }
  log <- answer$headers[["x-amz-log-result"]]
  if (!is.null(log)) {
    text <- tryCatch(rawToChar(openssl::base64_decode(log)), error = function(e) "")
    billed <- regmatches(text, regexpr("(?<=Billed Duration: )[0-9.]+", text, perl = TRUE))
    if (length(billed)) out$billed_ms <- as.numeric(billed)
  }
  status <- answer$status
  body <- rawToChar(answer$body)
  if (status == 200L && is.null(answer$headers[["x-amz-function-error"]])) {
    parsed <- tryCatch(jsonlite::fromJSON(body, simplifyVector = FALSE), error = function(e) NULL)
    if (!is.list(parsed) || !identical(parsed$lambdaparallel, 1L)) {
      out$results <- fail_all("lambdaparallel_bad_answer", paste(
        "the function answered something that is not a lambdaparallel result: is it built",
        "from recipes/worker? It said:", substr(body, 1L, 200L)))
      return(out)
    }
    out$cold <- isTRUE(parsed$cold)
    out$inline <- !is.null(parsed$result$inline)
    out$results <- lp_unserialize(part_bytes(parsed$result, function() spec$session))
    return(out)
  }
  if (status == 200L) {
    parsed <- tryCatch(jsonlite::fromJSON(body, simplifyVector = FALSE),
                       error = function(e) list(errorMessage = body))
    type <- parsed$errorType %||% answer$headers[["x-amz-function-error"]]
    out$function_error <- type
    out$results <- fail_all(type, parsed$errorMessage %||% body, parsed$stackTrace)
    return(out)
  }
  out$fatal <- invoke_error(spec, status, body, answer$headers)
  out
}

invoke_error <- function(spec, status, body, headers) {
  parsed <- tryCatch(jsonlite::fromJSON(body, simplifyVector = FALSE), error = function(e) list())
  type <- headers[["x-amzn-errortype"]] %||% parsed$Type %||% parsed$errorType %||% ""
  type <- sub(":.*$", "", type)
  said <- parsed$Message %||% parsed$message %||% parsed$errorMessage %||% substr(body, 1L, 300L)
  hint <- switch(
    as.character(status),
    "404" = sprintf(paste("no function %s in %s: check function_name and the region",
                          "(AWS_REGION, region =)"), sQuote(spec$function_name),
                    spec$session$region),
    "403" = sprintf(paste("not allowed to invoke %s: the caller needs lambda:InvokeFunction",
                          "on it (see the README's IAM policy)"), sQuote(spec$function_name)),
    "413" = "the request is over Lambda's 6 MB limit: pass s3_bucket = to stage it",
    sprintf("Lambda answered HTTP %d", status)
  )
  lp_error(paste0("lambdaparallel_http_", status),
           sprintf("%s (HTTP %d %s: %s)", hint, status, type, said), status = status)
}

dry_run_check <- function(spec) {
  request <- lambda_request(spec$session, spec$function_name, raw(), type = "DryRun",
                            qualifier = spec$qualifier)
  answer <- tryCatch(fetch_once(request$url, request$headers, request$body),
                     error = function(e) stop(lp_error("lambdaparallel_unreachable", sprintf(
                       "cannot reach Lambda at %s: %s", spec$session$lambda,
                       conditionMessage(e)))))
  if (answer$status != 204L) stop(invoke_error(spec, answer$status, rawToChar(answer$body),
                                               answer$headers))
  invisible(TRUE)
}

# GetFunctionConfiguration's Timeout, when the caller may read it; else Lambda's maximum.
function_timeout <- function(spec) {
  url <- sprintf("%s/2015-03-31/functions/%s/configuration", spec$session$lambda,
                 aws_uri_encode(spec$function_name))
  if (!is.null(spec$qualifier)) url <- paste0(url, "?Qualifier=", aws_uri_encode(spec$qualifier))
  signed <- sigv4_sign("GET", url, service = "lambda", region = spec$session$region,
                       credentials = spec$session$credentials)
  answer <- tryCatch(fetch_once(url, signed$headers, method = "GET", timeout = 10),
                     error = function(e) NULL)
  if (!is.null(answer) && answer$status == 200L) {
    config <- tryCatch(jsonlite::fromJSON(rawToChar(answer$body)), error = function(e) NULL)
    if (is.numeric(config$Timeout)) {
      return(config$Timeout)
    }
  }
  900
}

# The output, messages and warnings of each task, in task order, in the caller.
relay <- function(results) {
  for (r in results) {
    if (length(r$output)) cat(paste0(r$output, "\n"), sep = "")
    for (condition in r$conditions) {
      if (inherits(condition, "warning")) {
        warning(condition)
      } else if (inherits(condition, "message")) {
        message(condition)
      }
    }
  }
}

# A task's remote error as a value (errors = "value", foreach's .errorhandling = "pass"): the
# remote message as it was (as %do% would give it), the remote class first, our details beside.
task_condition <- function(result) {
  e <- result$error
  remote <- setdiff(as.character(e$class), c("lambdaparallel_task_error", "lambdaparallel_error",
                                             "error", "condition"))
  structure(
    class = c(remote, "lambdaparallel_task_error", "lambdaparallel_error", "error", "condition"),
    list(message = e$message, call = NULL, index = result$index, remote_class = e$class,
         remote_message = e$message, remote_calls = e$calls)
  )
}

# A task's remote error as a condition in the caller.
remote_error <- function(result) {
  e <- result$error
  calls <- if (length(e$calls)) paste0("\n  ", e$calls, collapse = "") else " (none)"
  structure(
    class = c("lambdaparallel_task_error", "lambdaparallel_error", "error", "condition"),
    list(message = sprintf("task %d failed: %s: %s\nremote call stack:%s", result$index,
                           e$class[[1L]], e$message, calls),
         call = NULL, index = result$index, remote_class = e$class,
         remote_message = e$message, remote_calls = e$calls)
  )
}

new_progress <- function(n, progress, started) {
  env <- new.env(parent = emptyenv())
  env$done_tasks <- 0L
  env$shown <- FALSE
  env$bar <- NULL
  env$p <- NULL
  wanted <- if (is.na(progress)) interactive() else isTRUE(progress)
  env$tick <- function(k) {
    env$done_tasks <- env$done_tasks + k
    if (!is.null(env$p)) env$p(amount = k)
  }
  env$update <- function() {
    if (!wanted) {
      return()
    }
    if (!env$shown && (isTRUE(progress) ||
      as.numeric(Sys.time() - started, units = "secs") > 3)) {
      env$shown <- TRUE
      if (requireNamespace("progressr", quietly = TRUE)) {
        env$p <- progressr::progressor(steps = n, on_exit = FALSE, envir = env)
        env$p(amount = env$done_tasks)
      } else {
        env$bar <- utils::txtProgressBar(max = n, style = 3)
      }
    }
    if (!is.null(env$bar)) utils::setTxtProgressBar(env$bar, env$done_tasks)
  }
  env$done <- function() {
    env$update()
    if (!is.null(env$bar)) close(env$bar)
    if (!is.null(env$p)) env$p(type = "finish")
  }
  env
}
