# The foreach backend: registerDoLambda() makes %dopar% send its iterations to Lambda.

#' Register Lambda as the foreach \%dopar\% backend
#'
#' @param function_name the worker function's name or ARN.
#' @param ... other options of [lambda_map()]: `concurrency`, `chunk_size`, `s3_bucket`,
#'   `s3_prefix`, `retries`, `timeout`, `region`, `profile`, `qualifier`, `progress`,
#'   `fanout`, `max_tasks`, `dry_run`, `seed`.
#' @details `.export`, `.noexport`, `.packages`, `.combine`, `.errorhandling`
#'   ("stop", "remove", "pass": the remote condition, its message as it was, with `e$index`,
#'   `e$remote_class` and `e$remote_calls`) and `.inorder` work as with other backends. Globals of the loop
#'   body are found with the globals package. Every iteration gets its own L'Ecuyer-CMRG
#'   stream from the caller's RNG state, so results do not depend on concurrency or
#'   `chunk_size`.
#' @export
registerDoLambda <- function(function_name, ...) {
  if (!requireNamespace("foreach", quietly = TRUE)) {
    stop(lp_error("lambdaparallel_missing_packages",
                  "registerDoLambda() needs the foreach package: install.packages(\"foreach\")"))
  }
  options <- list(function_name = function_name, ...)
  known <- setdiff(names(formals(lambda_map)),
                   c("X", "FUN", "...", "packages", "globals", "errors", ".indices"))
  unknown <- setdiff(names(options), known)
  if (length(unknown)) {
    stop(lp_error("lambdaparallel_bad_argument", sprintf(
      "registerDoLambda(): unknown option%s %s (known: %s)", if (length(unknown) > 1L) "s" else "",
      paste(unknown, collapse = ", "), paste(known, collapse = ", "))))
  }
  foreach::setDoPar(do_lambda, data = options, info = function(data, item) {
    switch(item, name = "doLambda", version = as.character(utils::packageVersion("lambdaparallel")),
           workers = data$concurrency %||% 64L, NULL)
  })
  invisible(TRUE)
}

# The worker-side function of every foreach iteration.
foreach_task <- function(.lp_args, .lp_expr) {
  eval(.lp_expr, envir = list2env(.lp_args, parent = globalenv()))
}

do_lambda <- function(obj, expr, envir, data) {
  if (!inherits(obj, "foreach")) stop("obj must be a foreach object")
  it <- iterators::iter(obj)
  accumulator <- foreach::makeAccum(it)
  args <- as.list(it)
  n <- length(args)
  o <- utils::modifyList(list(concurrency = 64L, chunk_size = 1L, s3_bucket = NULL,
                              s3_prefix = "lambdaparallel/", retries = 0L, timeout = NULL,
                              region = NULL, profile = NULL, qualifier = NULL, progress = NA,
                              fanout = 0L, max_tasks = getOption("lambdaparallel.max_tasks", 1e5),
                              dry_run = TRUE, seed = TRUE), data)
  spec <- map_spec(o$function_name, o$concurrency, o$retries, o$timeout, o$region, o$profile,
                   o$qualifier, o$s3_bucket, o$s3_prefix, o$progress, o$fanout, o$max_tasks, n,
                   o$dry_run)
  found <- globals::globalsOf(expr, envir = envir, recursive = TRUE, mustExist = FALSE)
  packages <- setdiff(globals::packagesOf(found), "base")
  found <- globals::cleanup(found)
  drop <- union(obj$noexport, obj$argnames)
  found <- as.list(found)[setdiff(names(found), drop)]
  for (name in unique(obj$export)) {
    if (!exists(name, envir = envir, inherits = TRUE)) {
      stop(lp_error("lambdaparallel_bad_argument", sprintf(
        ".export: unable to find variable %s", sQuote(name))))
    }
    found[[name]] <- get(name, envir = envir, inherits = TRUE)
  }
  common <- list(fun = foreach_task, more_args = list(.lp_expr = expr), globals = found,
                 packages = unique(c(obj$packages, packages)))
  seeds <- make_seeds(n, o$seed)
  tasks <- lapply(seq_len(n), function(i) {
    list(index = i, args = list(args[[i]]), seed = seeds[[i]])
  })
  stop_on_error <- identical(obj$errorHandling, "stop")
  results <- run_tasks(common, tasks, o$chunk_size, spec, stop_on_error = stop_on_error)
  relay(results)
  failed <- Filter(function(r) !r$ok, results)
  if (stop_on_error && length(failed)) stop(remote_error(failed[[1L]]))
  # "pass": the remote condition's own message, as %do% gives it; index, class, calls beside it.
  values <- lapply(results, function(r) if (r$ok) r$value else task_condition(r))
  tryCatch(accumulator(values, vapply(results, `[[`, 0L, "index")), error = function(e) {
    stop(lp_error("lambdaparallel_combine", paste("error calling the .combine function:",
                                                  conditionMessage(e))))
  })
  foreach::getResult(it)
}
