# Finding the handler named by _HANDLER (or the bootstrap's first argument).
#
#   "file.function"   file.R (or file.r) under LAMBDA_TASK_ROOT, sourced once into its own
#                     environment (a child of the global environment), then `function` in it.
#                     The file may sit in a subdirectory ("src/app.handler"), and since R
#                     names may contain dots the first split whose file exists wins
#                     ("app.handle.event" -> app.R, handle.event).
#   "pkg::function"   an exported function of an installed package.
#   "plumber:api.R"   a plumber API file, served in-process (see plumber.R).
#   "function"        a function visible from the global environment (defined by a script that
#                     called start_lambda(), or by an attached package).
#
# Failures are conditions whose class is the error type AWS's own runtime clients use, so the
# init error reads the same as in the other languages.

resolve_handler <- function(spec, task_root = Sys.getenv("LAMBDA_TASK_ROOT", getwd())) {
  if (is.null(spec) || is.na(spec) || !nzchar(trimws(spec))) {
    stop(runtime_condition("Runtime.MalformedHandlerName",
                           "no handler given: set _HANDLER or pass it to the bootstrap"))
  }
  spec <- trimws(spec)
  if (is_plumber_spec(spec)) return(resolve_plumber_handler(spec, task_root))  # plumber.R
  if (grepl("::", spec, fixed = TRUE)) return(resolve_package_handler(spec))
  # A file handler lives under the task root: no absolute path, no ".." component.
  if (startsWith(spec, "/") || grepl("(^|/)\\.\\.(/|$)", spec)) {
    stop(runtime_condition("Runtime.MalformedHandlerName", sprintf(
      "handler '%s' names a file outside the task root %s", spec, task_root)))
  }
  parts <- strsplit(spec, ".", fixed = TRUE)[[1L]]
  for (k in seq_len(length(parts) - 1L)) {
    stem <- paste(parts[seq_len(k)], collapse = ".")
    name <- paste(parts[-seq_len(k)], collapse = ".")
    file <- handler_file(task_root, stem)
    if (!is.null(file)) return(resolve_file_handler(file, name, spec))
  }
  fn <- get0(spec, envir = globalenv(), mode = "function")
  if (!is.null(fn)) return(list(fn = fn, name = spec, env = globalenv(), file = NULL))
  if (length(parts) > 1L) {
    stem <- paste(parts[-length(parts)], collapse = ".")
    stop(runtime_condition("Runtime.ImportModuleError", sprintf(
      "cannot load handler '%s': no file %s.R or %s.r under %s", spec, stem, stem, task_root)))
  }
  stop(runtime_condition("Runtime.HandlerNotFound", sprintf(
    "handler '%s' is not a function visible from the global environment", spec)))
}

handler_file <- function(task_root, stem) {
  for (ext in c(".R", ".r")) {
    path <- file.path(task_root, paste0(stem, ext))
    if (file.exists(path) && !dir.exists(path)) return(path)
  }
  NULL
}

resolve_package_handler <- function(spec) {
  parts <- strsplit(spec, ":::?")[[1L]]
  fn <- tryCatch(getExportedValue(parts[[1L]], parts[[2L]]), error = function(e) {
    stop(runtime_condition("Runtime.HandlerNotFound",
                           sprintf("cannot load handler '%s': %s", spec, conditionMessage(e))))
  })
  if (!is.function(fn)) {
    stop(runtime_condition("Runtime.HandlerNotFound", sprintf("'%s' is not a function", spec)))
  }
  list(fn = fn, name = parts[[2L]], env = environment(fn), file = NULL)
}

# Parse first, so a syntax error is told apart from an error raised while running the file's
# top-level code. Sources are kept (keep.source) so stack traces can name file and line.
resolve_file_handler <- function(file, name, spec) {
  exprs <- tryCatch(parse(file = file, keep.source = TRUE, encoding = "UTF-8"),
                    error = function(e) {
                      stop(runtime_condition("Runtime.UserCodeSyntaxError",
                                             conditionMessage(e)))
                    })
  env <- new.env(parent = globalenv())
  # The trace starts below eval_exprs() and the two frames of its eval().
  run <- run_captured(as.call(list(eval_exprs, exprs, env)), baseenv(), eval_exprs, skip = 3L)
  if (!run$ok) {
    cond <- runtime_condition("Runtime.ImportModuleError", sprintf(
      "error while sourcing %s: %s", basename(file), conditionMessage(run$error)))
    attr(cond, "trace") <- run$trace
    attr(cond, "original_class") <- class(run$error)[[1L]]
    stop(cond)
  }
  fn <- get0(name, envir = env, mode = "function")
  if (is.null(fn)) {
    stop(runtime_condition("Runtime.HandlerNotFound", sprintf(
      "handler '%s': %s defines no function '%s'", spec, basename(file), name)))
  }
  list(fn = fn, name = name, env = env, file = file)
}

# eval() of the whole expression vector, not one call at a time: R then sets the source
# reference of each top-level call, and stack traces can name their lines.
eval_exprs <- function(exprs, env) {
  eval(exprs, env)
  invisible()
}

# How a handler wants its input, read from its formal arguments:
#   event      the whole event, parsed from JSON
#   raw_event  the payload as a string, unparsed
#   request    the normalised HTTP request of an API Gateway / function URL / ALB event
#   context    the invocation context (request id, deadline, remaining_time_ms(), ...)
#   stream     a response stream: the handler writes to it instead of returning a value
#   any other name, or `...`: the event must be a JSON object, whose fields are passed as
#              named arguments; a field with no matching formal is an error unless `...`.
reserved_formals <- c("event", "raw_event", "request", "context", "stream")

handler_shape <- function(fn) {
  f <- names(if (is.primitive(fn)) formals(args(fn)) else formals(fn))
  if (is.null(f)) f <- character()
  fields <- setdiff(f, c(reserved_formals, "..."))
  dots <- "..." %in% f
  shape <- list(
    formals = f,
    event = "event" %in% f,
    raw_event = "raw_event" %in% f,
    request = "request" %in% f,
    context = "context" %in% f,
    stream = "stream" %in% f,
    fields = fields,
    dots = dots,
    unwrap = length(fields) > 0L || dots
  )
  shape$needs_json <- shape$event || shape$request || shape$unwrap
  shape
}
