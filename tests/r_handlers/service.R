# Handlers for tests/e2e/test_service.py and bench/service.py, in base R (no jsonlite loaded).

# Warm state: the count lives as long as the environment; `env` tells environments apart (the
# emulator gives every runtime its own random log stream name).
state <- new.env()
state$count <- 0L
count <- function(raw_event) {
  state$count <- state$count + 1L
  json(sprintf('{"count":%d,"env":"%s"}', state$count, Sys.getenv("AWS_LAMBDA_LOG_STREAM_NAME")))
}

# Half a second of work, for the concurrency tests and the pool benchmark.
sleep <- function(raw_event) {
  Sys.sleep(0.5)
  json(sprintf('{"env":"%s"}', Sys.getenv("AWS_LAMBDA_LOG_STREAM_NAME")))
}

# Longer than the test's function timeout.
hang <- function(raw_event) {
  Sys.sleep(60)
  json("null")
}

# The runtime process dies in the middle of an invoke.
crash <- function(raw_event) quit(save = "no", status = 3L)

fail <- function(raw_event) stop("boom")

# Output for Tail, and what the caller passed.
talk <- function(raw_event, context) {
  cat("said on stdout\n")
  message("said on stderr")
  list(client_context = context$client_context)
}

echo <- function(raw_event) json(raw_event)
