# Conditions raised by a handler become Lambda error bodies:
#   {"errorMessage": <conditionMessage>, "errorType": <first R class>, "stackTrace": [calls]}
# The calls come from sys.calls() taken in a *calling* handler, i.e. while the failing frames
# still exist; an exiting handler (tryCatch) would only see the frames that are left.

# A condition raised by the runtime itself; its class is the Lambda-style error type.
runtime_condition <- function(type, message, call = NULL) {
  structure(class = c(type, "lambda_runtime_error", "error", "condition"),
            list(message = message, call = call))
}

error_body <- function(cond, trace = character()) {
  message <- tryCatch(conditionMessage(cond), error = function(e) "<no message>")
  list(errorMessage = as_utf8(paste(message, collapse = "\n")),
       errorType = as_utf8(class(cond)[[1L]]),
       stackTrace = as.list(as_utf8(trace)))
}

# Evaluate `call` in `env` and report what happened, never letting a condition escape:
#   list(ok = TRUE, value = ...) or list(ok = FALSE, error = <condition>, trace = <character>).
# `fn` is the handler function: the trace starts at its frame (plus `skip` frames).
# Warnings are logged and muffled (left alone, R would hoard them for a top-level prompt that
# never comes); in JSON log mode message() output becomes an INFO line, so that every line of
# the log is JSON.
run_captured <- function(call, env, fn = NULL, skip = 0L) {
  calls <- NULL
  abort <- function(cond) {
    n <- sys.nframe()  # abort's own frame
    calls <<- sys.calls()
    # Where the handler's frames begin: the handler itself, else the frame that `call` opened
    # (three below withCallingHandlers: with_user_jit() and eval() are in between).
    start <- NA_integer_
    for (i in seq_len(n)) {
      f <- sys.function(i)
      if (!is.null(fn) && identical(f, fn)) {
        start <- i
        break
      }
      if (is.na(start) && identical(f, withCallingHandlers)) start <- i + 3L
    }
    # Where they end: below abort's frame, and below the frame that called abort when that
    # is R's .handleSimpleError() (errors raised in C) or our handler for other conditions.
    caller <- if (n > 1L) sys.function(n - 1L) else NULL
    end <- if (identical(caller, .handleSimpleError) || identical(caller, on_condition)) n - 2L
           else n - 1L
    attr(calls, "span") <<- c(start + skip, end)
    invokeRestart("rlambda_abort", cond)
  }
  on_condition <- function(cond) {
    # stop() on a condition that is not an error would end R at top level (it skips the
    # error handlers): catch it while stop()'s frame is the one that signalled.
    if (!inherits(cond, c("error", "warning", "message")) && signalled_by_stop()) abort(cond)
  }
  withRestarts(
    withCallingHandlers(
      list(ok = TRUE, value = with_user_jit(eval(call, env))),
      error = abort,
      warning = function(w) {
        log_warn("Warning", format_condition_call(w), ": ", conditionMessage(w))
        invokeRestart("muffleWarning")
      },
      message = function(m) {
        if (isTRUE(rt_state$log_json)) {
          log_info(sub("\n$", "", conditionMessage(m)))
          invokeRestart("muffleMessage")
        }
      },
      condition = on_condition
    ),
    rlambda_abort = function(cond) list(ok = FALSE, error = cond, trace = trim_trace(calls))
  )
}

signalled_by_stop <- function() {
  # Frames: ..., stop(cond), on_condition(cond), signalled_by_stop(). stop() signals from its
  # own frame (a .Internal), so the frame two below this one is stop's.
  n <- sys.nframe()
  n > 2L && identical(sys.function(n - 2L), stop)
}

format_condition_call <- function(cond) {
  call <- conditionCall(cond)
  if (is.null(call)) "" else paste0(" in ", format_call(call, srcref = FALSE))
}

# The handler's part of the stack, innermost call last, each as "call at file#line".
trim_trace <- function(calls) {
  span <- attr(calls, "span")
  if (is.null(span) || anyNA(span) || span[[1L]] > span[[2L]]) return(character())
  vapply(calls[seq.int(span[[1L]], span[[2L]])], format_call, "")
}

format_call <- function(call, srcref = TRUE, width = 200L) {
  sr <- if (srcref) attr(call, "srcref") else NULL
  # do.call(f, ...) puts the function itself in the call: show it as <function>(...).
  if (is.call(call) && is.function(call[[1L]])) call[[1L]] <- as.name("<function>")
  txt <- paste(deparse(call, width.cutoff = 200L, nlines = 1L), collapse = " ")
  if (nchar(txt) > width) txt <- paste0(substr(txt, 1L, width - 3L), "...")
  if (!is.null(sr)) {
    file <- attr(sr, "srcfile")$filename
    if (!is.null(file) && nzchar(file)) txt <- paste0(txt, " at ", basename(file), "#", sr[[1L]])
  }
  txt
}
