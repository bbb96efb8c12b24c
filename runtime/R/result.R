# A handler's value as the bytes of the invoke's response.
#
#   lambda_http_response  the proxy-integration document (see http_response())
#   json("...")           already-serialised JSON, sent as is
#   text_response("...")  text, sent as is under its content type
#   raw vector            sent as is
#   one string            a JSON string ("hi"), as AWS's runtime clients send it: callers
#                         that parse the response as JSON (Step Functions, the SDKs, API
#                         Gateway non-proxy integrations) need that
#   NULL                  null
#   anything else         JSON as jsonlite writes it (to_json(): base R, jsonlite only for
#                         classes the base writer does not know): length-one vectors unboxed,
#                         NA and NULL as null, data frames as arrays of records

serialise_result <- function(value, http_kind = NULL) {
  out <- if (inherits(value, "lambda_http_response")) {
    list(body = serialise_http_response(value, http_kind), type = "application/json")
  } else if (inherits(value, "json")) {
    list(body = unclass(value), type = "application/json")
  } else if (inherits(value, "lambda_text")) {
    list(body = unclass(value), type = attr(value, "content_type"))
  } else if (is.raw(value)) {
    list(body = value, type = "application/octet-stream")
  } else if (is.character(value) && length(value) == 1L && !is.na(value) &&
             is.null(attributes(value))) {
    list(body = json_quote(value), type = "application/json")
  } else if (is.null(value)) {
    list(body = "null", type = "application/json")
  } else {
    text <- tryCatch(as.character(to_json(value)), error = function(e) {
      if (inherits(e, "lambda_runtime_error")) stop(e)
      stop(runtime_condition("Runtime.MarshalError", paste(
        "could not serialise the handler's value of class", class(value)[[1L]], "to JSON:",
        conditionMessage(e))))
    })
    list(body = text, type = "application/json")
  }
  if (is.character(out$body)) out$body <- utf8_raw(out$body)
  check_response_size(length(out$body))
  out
}

#' Text the runtime sends as it is, not as a JSON string: `text_response("plain")` answers
#' `plain` with Content-Type `content_type`.
text_response <- function(text, content_type = "text/plain; charset=utf-8") {
  if (!is.character(text) || length(text) != 1L || is.na(text)) {
    stop("text_response() takes one string")
  }
  if (!is.character(content_type) || length(content_type) != 1L || !nzchar(content_type)) {
    stop("text_response(): content_type must be one non-empty string")
  }
  structure(text, class = "lambda_text", content_type = content_type)
}

check_response_size <- function(n) {
  if (n > max_response_bytes) {
    stop(runtime_condition("Function.ResponseSizeTooLarge", sprintf(
      "the response is %.0f bytes, over Lambda's limit of %d bytes (6 MB); stream it instead",
      n, max_response_bytes)))
  }
  invisible(n)
}
