# Logging for handlers (log_info() and friends) and for the runtime itself.
#
# AWS_LAMBDA_LOG_FORMAT=JSON gives one JSON object per line with timestamp, level, message and
# requestId (Lambda reads `level` to filter and `timestamp` as RFC 3339); otherwise text lines
# "timestamp<TAB>requestId<TAB>LEVEL<TAB>message". AWS_LAMBDA_LOG_LEVEL drops application lines
# below it. The runtime's own debug lines appear only when LOGLEVEL is DEBUG or TRACE.

log_levels <- c(TRACE = 1L, DEBUG = 2L, INFO = 3L, WARN = 4L, ERROR = 5L, FATAL = 6L)

# Mutable state of the runtime (current request, log settings, connection). One per process.
rt_state <- new.env(parent = emptyenv())

log_configure <- function(env = Sys.getenv()) {
  get1 <- function(name, default) {
    v <- toupper(as.vector(env[name]))  # as.vector: drop the "Dlist" class of Sys.getenv()
    if (is.na(v) || !nzchar(v)) default else v
  }
  # Managed Instances (AWS_LAMBDA_MAX_CONCURRENCY set) require JSON logs: lines from
  # concurrent invokes interleave, and only the requestId field tells them apart.
  rt_state$log_json <- identical(get1("AWS_LAMBDA_LOG_FORMAT", "TEXT"), "JSON") ||
    !is.na(get1("AWS_LAMBDA_MAX_CONCURRENCY", NA))
  level <- get1("AWS_LAMBDA_LOG_LEVEL", "INFO")
  rt_state$log_min <- if (level %in% names(log_levels)) log_levels[[level]] else log_levels[["INFO"]]
  # LOGLEVEL is the runtime's own switch, independent of the application level.
  rt_state$debug <- get1("LOGLEVEL", "INFO") %in% c("DEBUG", "TRACE")
  invisible(NULL)
}

log_timestamp <- function(time = Sys.time()) {
  format(time, "%Y-%m-%dT%H:%M:%OS3Z", tz = "UTC")
}

format_log_line <- function(level, message, request_id = rt_state$request_id,
                            json = isTRUE(rt_state$log_json), time = Sys.time(), extra = NULL) {
  message <- as_utf8(paste(message, collapse = "\n"))
  if (json) {
    fields <- list(timestamp = log_timestamp(time), level = level, message = message)
    if (!is.null(request_id)) fields$requestId <- request_id
    return(json_write(c(fields, extra)))
  }
  # In text mode each line would become its own CloudWatch event; a carriage return keeps a
  # multi-line message in one event (the convention of AWS's own runtime clients).
  message <- gsub("\n", "\r", message, fixed = TRUE)
  paste(log_timestamp(time), if (is.null(request_id)) "-" else request_id, level, message,
        sep = "\t")
}

emit_log_line <- function(line) {
  # stdout, like print() output from the handler, so the two keep their order. A log line
  # that cannot be written (stdout closed by the handler, say) must not end the runtime.
  # One string, so one write(): cat() writes each argument apart, and with workers
  # (AWS_LAMBDA_MAX_CONCURRENCY) another process's line could land between a line and its
  # newline (seen in tests/test_runtime_workers.py). A pipe keeps a write of up to 4096
  # bytes whole (PIPE_BUF).
  try({
    capture_output_flush(suspend = TRUE)
    cat(paste0(line, "\n"), file = stdout())
    flush(stdout())
  }, silent = TRUE)
  capture_output_resume()
}

# In JSON mode every line of the log must be JSON, so what a handler prints (print(), cat())
# is caught with sink() into a text connection during the invoke and written as INFO lines
# with its requestId. A log line written meanwhile first flushes what was printed before it,
# so the order is kept. Costs ~0.1 ms per invoke; text mode leaves stdout alone.
capture_output_start <- function() {
  con <- textConnection(NULL, "w")
  sink(con)
  rt_state$capture <- list(con = con, sinks = sink.number(), emitted = 0L, suspended = FALSE)
}

# Writes the lines printed since the last flush; with `suspend`, leaves the sink off so that
# the caller can write to the real stdout (capture_output_resume() puts it back).
capture_output_flush <- function(suspend = FALSE) {
  cap <- rt_state$capture
  if (is.null(cap) || cap$suspended || sink.number() != cap$sinks) return(invisible())
  sink()
  rt_state$capture$suspended <- TRUE
  capture_output_emit()
  if (!suspend) capture_output_resume()
  invisible()
}

capture_output_emit <- function(complete = FALSE) {
  cap <- rt_state$capture
  if (complete && isIncomplete(cap$con)) cat("\n", file = cap$con)
  lines <- textConnectionValue(cap$con)
  if (length(lines) <= cap$emitted) return(invisible())
  new <- lines[seq.int(cap$emitted + 1L, length(lines))]
  rt_state$capture$emitted <- length(lines)
  cat(paste0(vapply(new, function(l) format_log_line("INFO", l), "", USE.NAMES = FALSE), "\n"),
      sep = "", file = stdout())
  invisible()
}

capture_output_resume <- function() {
  cap <- rt_state$capture
  if (is.null(cap) || !cap$suspended) return(invisible())
  sink(cap$con)
  rt_state$capture$suspended <- FALSE
  rt_state$capture$sinks <- sink.number()
  invisible()
}

capture_output_end <- function() {
  cap <- rt_state$capture
  if (is.null(cap)) return(invisible())
  # Ours and any sinks the handler left open on top of it.
  if (!cap$suspended) while (sink.number() >= cap$sinks && sink.number() > 0L) sink()
  try(capture_output_emit(complete = TRUE), silent = TRUE)
  rt_state$capture <- NULL
  try(close(cap$con), silent = TRUE)
  flush(stdout())
  invisible()
}

#' Write an application log line at `level` (TRACE, DEBUG, INFO, WARN, ERROR, FATAL).
lambda_log <- function(level, ...) {
  level <- toupper(level)
  if (!level %in% names(log_levels)) stop("unknown log level: ", level)
  min <- if (is.null(rt_state$log_min)) log_levels[["INFO"]] else rt_state$log_min
  if (log_levels[[level]] < min) return(invisible(FALSE))
  emit_log_line(format_log_line(level, paste0(..., collapse = "")))
  invisible(TRUE)
}

log_trace <- function(...) lambda_log("TRACE", ...)
log_debug <- function(...) lambda_log("DEBUG", ...)
log_info <- function(...) lambda_log("INFO", ...)
log_warn <- function(...) lambda_log("WARN", ...)
log_error <- function(...) lambda_log("ERROR", ...)
log_fatal <- function(...) lambda_log("FATAL", ...)

# An error report in the function's log: in JSON mode with errorType, errorMessage and
# stackTrace as fields of their own, as AWS's runtimes write them.
log_error_body <- function(body) {
  message <- paste0(body$errorType, ": ", body$errorMessage)
  if (isTRUE(rt_state$log_json)) {
    emit_log_line(format_log_line("ERROR", message, extra = body))
  } else {
    trace <- unlist(body$stackTrace)
    if (length(trace)) message <- paste0(message, "\nStack trace:\n  ", paste(trace, collapse = "\n  "))
    emit_log_line(format_log_line("ERROR", message))
  }
}

# The runtime's own diagnostics, to stderr so they never mix into a handler's stdout protocol.
rt_debug <- function(...) {
  if (!isTRUE(rt_state$debug)) return(invisible())
  line <- format_log_line("DEBUG", paste0("[rlambda] ", ...))
  cat(paste0(line, "\n"), file = stderr())  # one write(), as in emit_log_line()
}
