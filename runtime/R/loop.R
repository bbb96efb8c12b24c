# The runtime loop: init once, then GET /next -> handler -> POST /response or /error, forever.

#' Run the Lambda runtime loop. `handler` defaults to the first command-line argument, then
#' _HANDLER. Called by the bootstrap; a script may also call it itself after defining its
#' handler function (the handler may then be a bare function name).
start_lambda <- function(handler = NULL, max_invokes = Inf) {
  log_configure()
  jit_init()
  if (is.null(handler)) handler <- handler_from_environment()
  client <- api_client()
  write_state("init")
  rt_debug("init: handler '", handler, "'")
  if (isTRUE(rt_state$log_json)) capture_output_start()  # what the handler file prints
  h <- tryCatch(init_handler(handler), error = function(e) e)
  capture_output_end()
  if (inherits(h, "error")) {
    report_init_error(client, h)
    write_state("")
    quit(save = "no", status = 1L, runLast = FALSE)
  }
  write_state("")
  rt_debug("init done in ", format(round(proc.time()[["elapsed"]] * 1000)), " ms since R started")
  if (snapstart_enabled() && !snapstart_phase(client, h)) {  # snapstart.R
    quit(save = "no", status = 1L, runLast = FALSE)
  }
  workers <- max_concurrency()
  if (workers > 1L) return(run_workers(client, h, workers))
  n <- serve_invokes(client, h, max_invokes)
  http_close(client)
  invisible(n)
}

# Invokes one after another, `max_invokes` of them (by default forever: a forked worker's loop).
# Each one's GET /next goes with its answer, but for the last and for one a full collection
# follows (see collect_between_invokes()). Returns how many were served.
serve_invokes <- function(client, h, max_invokes = Inf) {
  collect_every <- gc_interval()
  n <- 0
  while (n < max_invokes) {
    last <- n + 1 >= max_invokes
    invoke_once(client, h, next_too = !last && !collection_due(n + 1, collect_every))
    n <- n + 1
    collect_between_invokes(n, collect_every)
  }
  n
}

# R's collector is generational. A minor collection promotes whatever is in use at that moment
# -- mostly the frames of the invoke in flight -- and that garbage then waits for a full
# collection, which R runs only every ~100 minor ones (~3,000 small invokes). Nothing stays
# live, but the process's resident size follows the high-water mark of that old garbage: it
# climbed ~4 MB between invoke 100 and 10,000 of a hello-world handler. A full collection
# between invokes, when the runtime holds nothing of the last one, caps it. It is done after the
# response has gone and before GET /next (that invoke's GET does not go ahead with its answer:
# Lambda may freeze the sandbox once /next is asked, and a collection cut short there would end
# on the next invoke), so it lands on no invoke's latency, only on one billed duration in
# RLAMBDA_GC_EVERY (default 1000): ~2 ms with base R's heap, ~20 ms once jsonlite and methods
# are loaded (each full collection marks every namespace; the runtime's own JSON is base R, so
# that happens only when the handler, a large event or an unusual result loads them). 0 leaves
# it all to R.
gc_every_default <- 1000L

gc_interval <- function(value = Sys.getenv("RLAMBDA_GC_EVERY")) {
  if (!nzchar(value)) return(gc_every_default)
  n <- suppressWarnings(as.integer(value))
  if (is.na(n) || n < 0L) {
    log_warn("RLAMBDA_GC_EVERY must be a whole number of invokes (0: never); using ",
             gc_every_default)
    return(gc_every_default)
  }
  n
}

collect_between_invokes <- function(n, every) {
  if (!collection_due(n, every)) return(invisible(FALSE))
  gc(full = TRUE)
  invisible(TRUE)
}

collection_due <- function(n, every) every > 0L && n %% every == 0

handler_from_environment <- function() {
  args <- commandArgs(trailingOnly = TRUE)
  if (length(args) && nzchar(args[[1L]])) args[[1L]] else Sys.getenv("_HANDLER")
}

init_handler <- function(spec) {
  h <- resolve_handler(spec)
  h$shape <- handler_shape(h$fn)
  # Init time is spent once, with a full CPU: a first parse and write here (base R, no
  # jsonlite) keeps their first-call costs (~7 ms on the host: base R functions the JSON layer
  # uses come out of base's lazy-load database) off the first invoke, for handlers that take
  # JSON.
  if (h$shape$needs_json) to_json(from_json("{\"a\":[1.5,\"x\"],\"b\":[{\"c\":1}]}"))
  h
}

report_init_error <- function(client, cond) {
  trace <- attr(cond, "trace")
  body <- error_body(cond, if (is.null(trace)) character() else trace)
  log_error_body(body)
  resp <- tryCatch(api_post_init_error(client, body), error = function(e) e)
  if (inherits(resp, "error")) log_error("could not report the init error: ", conditionMessage(resp))
}

# `next_too`: the GET /next for the invoke after this one goes with this one's answer (see
# api_post()); FALSE for the last one a caller wants, and before a collection.
invoke_once <- function(client, h, next_too = FALSE) {
  next_resp <- api_next(client)
  headers <- next_resp$headers
  request_id <- headers[["lambda-runtime-aws-request-id"]]
  if (is.null(request_id)) stop("GET /next answered without Lambda-Runtime-Aws-Request-Id")
  rt_state$request_id <- request_id
  write_state(request_id)
  on.exit({
    rt_state$request_id <- NULL
    write_state("")
  })
  trace_id <- headers[["lambda-runtime-trace-id"]]
  if (is.null(trace_id)) Sys.unsetenv("_X_AMZN_TRACE_ID") else Sys.setenv(`_X_AMZN_TRACE_ID` = trace_id)
  rt_debug("invoke ", request_id, ": ", length(next_resp$body), " bytes")

  shape <- h$shape
  context <- if (shape$context) make_context(headers) else NULL
  stream <- if (shape$stream) make_stream(client, request_id) else NULL
  http_kind <- NULL
  if (isTRUE(rt_state$log_json)) capture_output_start()
  outcome <- tryCatch({
    args <- build_args(shape, next_resp$body, context)
    http_kind <- attr(args, "http_kind")
    if (shape$stream) args["stream"] <- list(stream)
    call <- handler_call(h$fn, h$name, args)
    run_captured(call$call, call$env, h$fn)
  }, error = function(e) list(ok = FALSE, error = e, trace = character()))
  capture_output_end()
  if (stream_started(stream)) {
    finish_stream(client, stream, outcome, http_kind)
  } else if (outcome$ok) {
    send_result(client, request_id, outcome$value, http_kind, next_too)
  } else {
    send_error(client, request_id, outcome$error, outcome$trace, next_too)
  }
  invisible()
}

send_result <- function(client, request_id, value, http_kind, next_too = FALSE) {
  out <- tryCatch(serialise_result(value, http_kind), error = function(e) e)
  if (inherits(out, "error")) return(send_error(client, request_id, out, next_too = next_too))
  resp <- api_post_response(client, request_id, out$body, out$type, next_too)
  if (resp$status == 413L) {
    # A server whose limit is lower than ours (serialise_result() checks Lambda's): Lambda
    # and AWS's RIE then fail the invoke as Function.ResponseSizeTooLarge themselves, and so
    # does our emulator, so there is nothing left to report to them.
    log_error("the Runtime API refused the ", length(out$body), "-byte response as too large ",
              "(413): the invoke fails with Function.ResponseSizeTooLarge")
  } else if (resp$status != 202L) {
    log_error("POST response answered ", resp$status, ": ", rawToChar(resp$body))
  }
}

send_error <- function(client, request_id, cond, trace = character(), next_too = FALSE) {
  body <- error_body(cond, trace)
  log_error_body(body)
  resp <- api_post_error(client, request_id, body, next_too)
  if (resp$status != 202L) {
    log_error("POST error answered ", resp$status, ": ", rawToChar(resp$body))
  }
}

finish_stream <- function(client, stream, outcome, http_kind) {
  error <- NULL
  if (outcome$ok && !is.null(outcome$value)) {
    # A value returned after streaming is the stream's last chunk.
    out <- tryCatch(serialise_result(outcome$value, http_kind), error = function(e) e)
    if (inherits(out, "error")) error <- error_body(out) else stream_write(stream, out$body, send = FALSE)
  } else if (!outcome$ok) {
    error <- error_body(outcome$error, outcome$trace)
  }
  if (!is.null(error)) log_error_body(error)
  resp <- stream_finish(client, stream, error)
  if (!resp$status %in% c(200L, 202L)) {
    log_error("POST streamed response answered ", resp$status, ": ", rawToChar(resp$body))
  }
}

# The bootstrap watches R from a shell: if R dies (quit() in a handler, a crash in C code) it
# reads this file to learn whether an invoke, or init, was in flight and reports it. A file
# rather than a pipe keeps the shell trivial; writing ~40 bytes per invoke costs microseconds.
# The state file is rewritten twice per invoke, through one connection kept open: opening it
# for each write (cat(file = path)) cost ~200 us a write on the host, seek, write and truncate
# on an open connection ~20 us (with the header parsing of http.R, an echo invoke went from
# 1.22 to 0.92 ms: bench/runtime_loop.py, BENCHMARKS.md). The bytes reach
# the kernel at flush(), so they outlive an R that dies. A forked worker has a file (path) of
# its own, and so a connection of its own.
write_state <- function(what) {
  path <- Sys.getenv("RLAMBDA_STATE_FILE")
  if (!nzchar(path)) return(invisible(FALSE))
  # Best effort: a state file that cannot be written must not take the loop down with it. A
  # connection the handler closed (closeAllConnections()) is opened again once.
  for (attempt in 1:2) {
    done <- tryCatch({
      con <- state_connection(path)
      seek(con, 0, rw = "write")
      writeBin(charToRaw(what), con)
      truncate(con)
      flush(con)
      TRUE
    }, warning = function(w) FALSE, error = function(e) FALSE)
    if (done) return(invisible(TRUE))
    close_state()
  }
  invisible(FALSE)
}

state_connection <- function(path) {
  if (!identical(rt_state$state_path, path)) close_state()  # a forked worker's own file
  if (is.null(rt_state$state_con)) {
    rt_state$state_con <- file(path, "w+b")
    rt_state$state_path <- path
  }
  rt_state$state_con
}

# Closed, not dropped: R closes a connection nobody holds with a warning in the log.
close_state <- function() {
  if (!is.null(rt_state$state_con)) try(close(rt_state$state_con), silent = TRUE)
  rt_state$state_con <- NULL
  rt_state$state_path <- NULL
}

# Run by the bootstrap in a fresh R after the runtime's R exited with `status`.
report_exit <- function(status, path = Sys.getenv("RLAMBDA_STATE_FILE")) {
  what <- if (file.exists(path)) readLines(path, warn = FALSE) else character()
  if (!length(what) || !nzchar(what[[1L]])) return(invisible(FALSE))
  log_configure()
  client <- api_client()
  if (what[[1L]] == "init") {
    cond <- runtime_condition("Runtime.ExitError", sprintf(
      "R exited with status %s during init", status))
    report_init_error(client, cond)
  } else if (what[[1L]] == "restore") {
    report_restore_error(client, runtime_condition("Runtime.ExitError", sprintf(
      "R exited with status %s during the SnapStart restore", status)))
  } else {
    rt_state$request_id <- what[[1L]]
    cond <- runtime_condition("Runtime.ExitError", sprintf(
      "R exited with status %s while handling the invoke (quit() in the handler, or a crash)",
      status))
    send_error(client, what[[1L]], cond)
  }
  cat("", file = path)
  invisible(TRUE)
}
