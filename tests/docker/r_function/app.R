# Handlers for the end-to-end tests of the runtime client baked into a base R image.

constant <- function() list(answer = 42L, ok = TRUE)

greeting <- function() "hi"  # one string: a JSON string

text <- function() text_response("plain text")

echo_raw <- function(raw_event) json(raw_event)

describe <- function(context) {
  list(
    function_name = context$function_name,
    memory = context$memory_limit_mb,
    remaining_positive = context$remaining_time_ms() > 0,
    trace = Sys.getenv("_X_AMZN_TRACE_ID")
  )
}

fail <- function() stop("boom from R")

custom_condition <- function() {
  stop(structure(class = c("validationError", "error", "condition"),
                 list(message = "amount must be positive", call = sys.call())))
}

leave <- function() quit(save = "no", status = 3)

allocate <- function(raw_event) {
  x <- numeric(as.integer(raw_event) * 131072)  # raw_event MB of doubles
  length(x)
}

pid <- function() Sys.getpid()

naps <- function(raw_event) {
  Sys.sleep(as.numeric(raw_event))  # raw_event seconds
  list(pid = Sys.getpid())
}

# The event back, with what R loaded to read and write it (the runtime's base-R JSON layer
# loads neither jsonlite nor methods).
namespaces <- function(event) {
  list(event = event, classes = lapply(event, function(v) class(v)[[1L]]),
       loaded = sort(loadedNamespaces()))
}
