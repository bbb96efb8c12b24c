# The Lambda Runtime API, version 2018-06-01.

api_prefix <- "/2018-06-01/runtime"

# Lambda's response payload limit (6 MB). RIE allows 6 MiB + 100 bytes; staying at 6 MiB means a
# result either fits both or fails the same way in both.
max_response_bytes <- 6L * 1024L * 1024L

api_client <- function(address = Sys.getenv("AWS_LAMBDA_RUNTIME_API")) {
  if (!nzchar(address)) stop("AWS_LAMBDA_RUNTIME_API is not set: not running inside Lambda?")
  http_client(address)
}

api_next_path <- paste0(api_prefix, "/invocation/next")

# Blocks until the next invoke. Returns the event body (raw) and the Lambda-Runtime-* headers.
# The GET may have gone ahead with the last invoke's response (`next_too` below); if its
# connection was lost meanwhile, it is sent again.
api_next <- function(client) {
  resp <- http_receive(client)
  if (is.null(resp)) resp <- http_request(client, "GET", api_next_path)
  if (resp$status != 200L) {
    stop("GET /runtime/invocation/next answered ", resp$status, ": ", rawToChar(resp$body))
  }
  resp
}

# `next_too`: the loop's GET /next goes in the same write, ahead of its turn, and api_next()
# reads its answer. The post-invoke work (reading this POST's answer, the state file) then
# overlaps the wait for the next event instead of delaying it: under AWS's RIE an echo
# invoke's warm p50 went from 1.02 / 1.15 to 0.83 / 1.01 ms (bench/rie_runtime.py, two runs).
api_post <- function(client, path, body, headers = character(), next_too = FALSE) {
  ahead <- if (next_too) http_request_head(client, "GET", api_next_path, character())
  resp <- http_request(client, "POST", paste0(api_prefix, path), body = body, headers = headers,
                       ahead = ahead)
  rt_debug("POST ", path, " -> ", resp$status)
  resp
}

api_post_response <- function(client, request_id, body, content_type = "application/json",
                              next_too = FALSE) {
  api_post(client, paste0("/invocation/", request_id, "/response"), body,
           c("Content-Type" = content_type), next_too)
}

# `error` is a list(errorType, errorMessage, stackTrace) as made by error_body().
api_post_error <- function(client, request_id, error, next_too = FALSE) {
  api_post(client, paste0("/invocation/", request_id, "/error"), error_json(error),
           error_headers(error), next_too)
}

api_post_init_error <- function(client, error) {
  api_post(client, "/init/error", error_json(error), error_headers(error))
}

error_json <- function(error) utf8_raw(json_write(error))

# Lambda-Runtime-Function-Error-Type: the runtime's own failures carry their Runtime.* type
# (as AWS's clients do); a handler's error is "Unhandled", the value in AWS's examples, since an
# R class such as simpleError is no Lambda error type (RIE would rewrite it to Runtime.Unknown).
error_headers <- function(error) {
  type <- error$errorType
  header <- if (grepl("^(Runtime|Function)\\.[A-Z][a-zA-Z]+$", type)) type else "Unhandled"
  c("Content-Type" = "application/json", "Lambda-Runtime-Function-Error-Type" = header)
}
