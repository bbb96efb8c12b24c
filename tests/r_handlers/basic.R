# Handlers for tests/r/test_runtime_r.py, one per way a handler can take its input.

whole <- function(event) list(got = event, n = length(event))

fields <- function(x, y = 10) list(sum = x + y)

fields_dots <- function(x, ...) list(x = x, extra = sort(names(list(...))))

raw <- function(raw_event) paste0("raw:", raw_event)

with_context <- function(event, context) {
  list(
    request_id = context$request_id,
    function_name = context$function_name,
    memory = context$memory_limit_mb,
    remaining_ok = context$remaining_time_ms() > 0,
    arn = context$invoked_function_arn,
    trace_env = Sys.getenv("_X_AMZN_TRACE_ID"),
    trace_id = context$trace_id,
    log_group = context$log_group_name
  )
}

nothing <- function() NULL

fails <- function(event) {
  inner <- function(v) stop("boom: ", v)
  inner(event$v)
}

custom_error <- function(event) {
  stop(structure(class = c("validationError", "error", "condition"),
                 list(message = "bad input", call = NULL)))
}

warns <- function(event) {
  warning("careful")
  "still fine"
}

quits <- function(event) quit(save = "no", status = 3L)

big <- function(event) strrep("x", 7 * 1024 * 1024)

frame <- function(event) data.frame(a = 1:2, b = c("x", "y"))

http <- function(request) {
  http_response(list(method = request$method, path = request$path, body = request$body),
                status = 201L, headers = list("X-Test" = "yes"), cookies = "a=1")
}

streams <- function(event, stream) {
  stream$write("hello ")
  stream$write("world")
  NULL
}

loaded <- function() paste(sort(loadedNamespaces()), collapse = ",")

uses_stats <- function(event) median(unlist(event$values))

# Whether a full garbage collection ran between two invokes (R/loop.R does one every
# RLAMBDA_GC_EVERY invokes): `arm` leaves an object in R's oldest generation, where only a
# full collection frees it, and its finalizer records when that happens.
gc_probe_state <- new.env()
gc_probe_state$collected <- NA
gc_probe <- function(arm = FALSE) {
  if (isTRUE(arm)) {
    gc_probe_state$collected <- FALSE
    local({
      held <- new.env()
      reg.finalizer(held, function(e) gc_probe_state$collected <- TRUE)
      gc()
      gc()
    })
  }
  list(collected = gc_probe_state$collected)
}

# A caller's bytes in an error message: they need not be UTF-8 (raw_event is then a raw vector).
bad_bytes <- function(raw_event) {
  if (is.raw(raw_event)) raw_event <- rawToChar(raw_event)
  warning("odd input: ", raw_event)
  log_info("got ", raw_event)
  stop("cannot parse: ", raw_event)
}

# Whether the runtime's environment holds `rlambda_marker`, which a test puts in runtime.rds
# only (tests/r/test_runtime_r.py): which of the two ways main.R loaded the runtime.
marker <- function() exists("rlambda_marker", envir = environment(http_response), inherits = FALSE)
