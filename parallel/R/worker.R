# The worker's side: one invoke = one envelope of tasks (see wire.R). The worker recipe's
# handler calls worker_handler(); it runs on the rlambda R runtime, which turns an error here
# into the invoke's function error (errorType = the condition's class).

worker_state <- new.env(parent = emptyenv())
worker_state$invokes <- 0L

#' Run one envelope of tasks sent by lambda_map(), the foreach or the future backend
#'
#' The handler of the worker recipe (`recipes/worker`). It checks the caller's R version and
#' that every requested package is installed, attaches the packages, evaluates the tasks with
#' their own random-number streams and returns their values, output, conditions and errors.
#'
#' @param raw_event the invoke's payload (JSON text).
#' @param context the runtime's invocation context (unused but for its presence).
#' @param recipe the recipe name shown in the error when packages are missing.
#' @return the answer's JSON text.
#' @export
worker_handler <- function(raw_event, context = NULL, recipe = "recipes/worker") {
  worker_state$invokes <- worker_state$invokes + 1L
  cold <- worker_state$invokes == 1L
  request <- jsonlite::fromJSON(raw_event, simplifyVector = FALSE)
  if (!identical(request$lambdaparallel, 1L)) {
    stop(lp_error("lambdaparallel_bad_envelope", paste(
      "this function runs tasks sent by the lambdaparallel R package (lambda_map(),",
      "registerDoLambda(), plan(lambda)); the event is not one of its envelopes")))
  }
  # A readiness check, no tasks: {"lambdaparallel": 1, "check": {"r_version": "4.5.0",
  # "packages": [...]}} answers {"lambdaparallel": 1, "ready": true} or the error it finds.
  if (!is.null(request$check)) {
    check_r_version(request$check$r_version)
    check_packages(as.character(unlist(request$check$packages)), recipe)
    return('{"lambdaparallel":1,"ready":true}')
  }
  session <- local({
    cached <- NULL
    function() {
      if (is.null(cached)) cached <<- aws_session()
      cached
    }
  })
  common <- lp_unserialize(part_bytes(request$common, session))
  tasks <- lp_unserialize(part_bytes(request$tasks, session))
  check_r_version(common$r_version)
  check_packages(common$packages, recipe)
  for (p in common$packages) {
    suppressPackageStartupMessages(library(p, character.only = TRUE))
  }
  # Globals live in the global environment, as future's cluster workers put them, so that
  # functions defined at the caller's top level find each other and their data.
  globals <- common$globals
  if (length(globals)) {
    list2env(globals, envir = globalenv())
    on.exit(rm(list = names(globals), envir = globalenv()), add = TRUE)
  }
  # Each envelope leaves the worker's RNG as it found it: the next caller's tasks that set no
  # stream get R's default kind, not the last caller's L'Ecuyer-CMRG.
  kind <- RNGkind()
  on.exit(RNGkind(kind[[1L]], kind[[2L]], kind[[3L]]), add = TRUE)
  old <- options(lambdaparallel.fanout = common$fanout %||% 0L)
  on.exit(options(old), add = TRUE)
  results <- lapply(tasks, run_task, fun = common$fun, more_args = common$more_args)
  bytes <- serialize_results(results)
  part <- if (b64_size(length(bytes)) + payload_margin <= max_payload_bytes) {
    part_inline(bytes)
  } else if (!is.null(request$result$bucket)) {
    s3_put_object(request$result$bucket, request$result$key, bytes, session = session())
    part_s3(request$result$bucket, request$result$key)
  } else {
    stop(lp_error("lambdaparallel_result_too_large", sprintf(paste(
      "the results of this invoke are %.1f MB serialised, over Lambda's 6 MB response limit,",
      "and the caller named no bucket: pass s3_bucket = to stage them in S3, or return less"),
      length(bytes) / 1e6)))
  }
  sprintf('{"lambdaparallel":1,"cold":%s,"result":%s}', if (cold) "true" else "false", part)
}

check_r_version <- function(caller) {
  if (is.null(caller)) {
    return(invisible())
  }
  here <- getRversion()
  caller <- package_version(caller)
  if (caller$major != here$major || (caller$major == 3 && caller$minor < 5)) {
    stop(lp_error("lambdaparallel_r_version", sprintf(paste(
      "the caller runs R %s and this worker R %s: objects serialised by one major version",
      "may not load in another; build the worker image for R %s.x"),
      caller, here, caller$major)))
  }
}

check_packages <- function(packages, recipe) {
  installed <- vapply(packages, function(p) nzchar(system.file(package = p)), TRUE)
  missing <- packages[!installed]
  if (length(missing)) {
    stop(lp_error("lambdaparallel_missing_packages", sprintf(paste(
      "package%s not installed in the worker: %s. Add %s to [packages] in your copy of",
      "%s/recipe.toml, lock it (python build.py lock worker) and rebuild the image"),
      if (length(missing) > 1L) "s" else "", paste(missing, collapse = ", "),
      if (length(missing) > 1L) "them" else "it", recipe), missing = missing))
  }
}

# One task: its own RNG stream, output captured, messages and warnings kept (and muffled),
# an error turned into its class, message and call stack.
run_task <- function(task, fun, more_args) {
  if (!is.null(task$seed)) {
    RNGkind("L'Ecuyer-CMRG")
    assign(".Random.seed", task$seed, envir = globalenv())
  }
  conditions <- list()
  error <- NULL
  output <- character()
  started <- Sys.time()
  sink_to <- textConnection("output", "w", local = TRUE)
  sink(sink_to)
  depth <- sys.nframe()
  call <- as.call(c(list(quote(fun)), lapply(seq_along(task$args), function(i) {
    call("[[", quote(args), i)
  })))
  names(call) <- c("", names(task$args) %||% rep("", length(task$args)))
  args <- task$args
  call <- as.call(c(as.list(call), lapply(seq_along(more_args), function(i) {
    call("[[", quote(more_args), i)
  })))
  if (length(more_args)) {
    names(call)[length(call) - seq_along(more_args) + 1L] <- rev(names(more_args) %||%
      rep("", length(more_args)))
  }
  value <- tryCatch(
    withCallingHandlers(
      withVisible(eval(call)),
      message = function(m) {
        conditions[[length(conditions) + 1L]] <<- m
        invokeRestart("muffleMessage")
      },
      warning = function(w) {
        conditions[[length(conditions) + 1L]] <<- w
        invokeRestart("muffleWarning")
      },
      error = function(e) {
        calls <- sys.calls()
        # Frames of the task only: from the call of the task's function to the frame that
        # signalled (without this handler's own frame).
        is_task <- vapply(calls, function(x) identical(x[[1L]], quote(fun)), TRUE)
        first <- if (any(is_task)) which(is_task)[[1L]] else depth + 1L
        calls <- calls[seq_len(length(calls) - 1L) >= first]
        error <<- list(
          class = class(e), message = conditionMessage(e),
          calls = vapply(calls, function(x) paste(deparse(x, nlines = 1L)[[1L]]), "")
        )
      }
    ),
    error = function(e) NULL
  )
  sink()
  close(sink_to)
  result <- list(index = task$index, ok = is.null(error), output = output,
                 conditions = conditions, error = error,
                 seconds = as.numeric(Sys.time() - started, units = "secs"))
  if (is.null(error)) {
    result$value <- value$value
    result$visible <- value$visible
  }
  result
}

# A value that cannot travel becomes that task's error, not the whole invoke's.
serialize_results <- function(results) {
  bytes <- tryCatch(lp_serialize(results, "the results"),
                    lambdaparallel_unserializable = function(e) NULL)
  if (!is.null(bytes)) {
    return(bytes)
  }
  for (i in seq_along(results)) {
    r <- results[[i]]
    if (!r$ok) next
    ok <- tryCatch({
      lp_serialize(r$value, sprintf("the value of task %d", r$index))
      TRUE
    }, lambdaparallel_unserializable = function(e) e)
    if (!isTRUE(ok)) {
      results[[i]]$ok <- FALSE
      results[[i]]$value <- NULL
      results[[i]]$error <- list(class = class(ok), message = conditionMessage(ok),
                                 calls = character())
    }
  }
  serialize(results, NULL, version = 3L)
}
