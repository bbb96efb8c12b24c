# {"name": "..."} -> {"message": "Hello, ...!"}, in base R alone.
#
# `raw_event` asks the runtime for the payload unparsed, so jsonlite is never loaded. The name
# is taken with a regular expression that accepts only a plain JSON string (no quotes or
# backslashes inside), and anything else falls back to "world".
handle <- function(raw_event) {
  found <- regmatches(raw_event, regexec('"name"[[:space:]]*:[[:space:]]*"([^"\\\\]*)"', raw_event))
  name <- if (length(found[[1L]]) == 2L) found[[1L]][[2L]] else "world"
  json(sprintf('{"message":"Hello, %s!"}', name))
}
