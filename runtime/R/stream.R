# Response streaming. A handler with a `stream` formal gets a stream object and may write to it
# as it goes: stream$write("text") / stream$write(raw bytes). The first write opens a POST to
# /response with `Lambda-Runtime-Function-Response-Mode: streaming` and a chunked body; each
# write is one chunk, sent at once. stream$set_content_type() may be called before that, or
# stream$start_http(status, headers, cookies) for a function URL's streamed HTTP response.
#
# If nothing was written, whatever the handler returns is sent as an ordinary response. If it
# wrote and then returned a value, the value is written as a last chunk. An error after the
# first write can no longer go to /error: it goes into the trailers Lambda reads,
# Lambda-Runtime-Function-Error-Type and Lambda-Runtime-Function-Error-Body (base64 JSON).

make_stream <- function(client, request_id) {
  s <- new.env(parent = emptyenv())
  s$client <- client
  s$request_id <- request_id
  s$upload <- NULL   # the open chunked POST, from the first write on
  s$prelude <- NULL  # start_http()'s prelude, sent with the first write (one write, no stall)
  s$bytes <- 0
  s$content_type <- "application/octet-stream"
  s$set_content_type <- function(type) {
    if (stream_started(s)) stop("the stream has started: set its content type before writing")
    s$content_type <- type
    invisible(s)
  }
  s$write <- function(x) stream_write(s, x)
  # Function URLs stream HTTP responses as: a JSON prelude with status, headers and cookies,
  # eight NUL bytes, then the body, under this content type.
  s$start_http <- function(status = 200L, headers = list(), cookies = character()) {
    if (stream_started(s)) stop("the stream has started: start_http() must come first")
    s$content_type <- "application/vnd.awslambda.http-integration-response"
    prelude <- list(statusCode = as.integer(status))
    if (length(headers)) prelude$headers <- lapply(headers, function(v) paste(v, collapse = ", "))
    if (length(cookies)) prelude$cookies <- as.list(as.character(cookies))
    s$prelude <- c(utf8_raw(json_write(prelude)), as.raw(rep(0L, 8L)))
    invisible(s)
  }
  class(s) <- "lambda_response_stream"
  s
}

# `send = FALSE` keeps the chunk for the write that ends the body: a value returned after
# streaming and the end of the body then go out together (one write, no Nagle stall).
stream_write <- function(s, x, send = TRUE) {
  data <- if (is.raw(x)) x else utf8_raw(x)
  if (is.null(s$upload)) {
    s$upload <- http_stream_open(s$client, "POST",
      paste0(api_prefix, "/invocation/", s$request_id, "/response"),
      c("Content-Type" = s$content_type,
        "Lambda-Runtime-Function-Response-Mode" = "streaming",
        "Trailer" = "Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body"))
  }
  if (!is.null(s$prelude)) {
    data <- c(s$prelude, data)
    s$prelude <- NULL
  }
  http_stream_write(s$upload, data, send)
  s$bytes <- s$bytes + length(data)
  invisible(s)
}

stream_started <- function(s) !is.null(s) && (!is.null(s$upload) || !is.null(s$prelude))

# Ends a started stream, with the error (a body from error_body()) in the trailers if any.
stream_finish <- function(client, s, error = NULL) {
  trailers <- character()
  if (!is.null(error)) {
    trailers <- c("Lambda-Runtime-Function-Error-Type" = error_headers(error)[[2L]],
                  "Lambda-Runtime-Function-Error-Body" = base64_encode(error_json(error)))
  }
  if (!is.null(s$prelude)) stream_write(s, raw(), send = FALSE)  # start_http(), then nothing
  http_stream_close(client, s$upload, trailers)
}
