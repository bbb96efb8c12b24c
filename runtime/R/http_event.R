# HTTP events: API Gateway REST (payload 1.0), HTTP API (payload 2.0), function URLs (2.0) and
# ALB target groups, recognised by the shape of the parsed event -- never by searching the raw
# payload for a substring, which any event carrying the right text would fool.

# `[[` matches names exactly; `$` on a list would match prefixes ("path" -> "pathParameters").
field <- function(x, ...) {
  for (name in c(...)) {
    if (!is.list(x) || is.null(names(x))) return(NULL)
    x <- x[[name]]
  }
  x
}

is_string <- function(x) is.character(x) && length(x) == 1L && !is.na(x)

# "rest_v1", "http_api_v2", "function_url", "alb" or NULL for anything else.
http_event_kind <- function(event) {
  if (!is.list(event) || is.null(names(event))) return(NULL)
  rc <- field(event, "requestContext")
  if (identical(field(event, "version"), "2.0") && is_string(field(rc, "http", "method")) &&
      is_string(field(event, "rawPath"))) {
    # Function URLs use the 2.0 payload; only their domain tells them from an HTTP API.
    domain <- field(rc, "domainName")
    url <- is_string(domain) && grepl("^[^.]+\\.lambda-url\\.[a-z0-9-]+\\.on\\.aws$", domain)
    return(if (url) "function_url" else "http_api_v2")
  }
  if (is_string(field(event, "httpMethod")) && is_string(field(event, "path")) && is.list(rc)) {
    return(if (is.list(field(rc, "elb"))) "alb" else "rest_v1")
  }
  NULL
}

#' TRUE if `event` (parsed) is an HTTP event of API Gateway, a function URL or an ALB.
is_http_event <- function(event) !is.null(http_event_kind(event))

#' The request carried by an HTTP event, in one shape whatever the source:
#' method, path, query (named list), headers (named list, lower-case names), cookies,
#' path_parameters, source_ip, body (text, or NULL if the bytes are not text), body_raw,
#' json (the body parsed, on first access), kind and the original event.
as_http_request <- function(event) {
  kind <- http_event_kind(event)
  if (is.null(kind)) {
    stop(runtime_condition("Runtime.InvalidEvent",
                           "the event is not an API Gateway, function URL or ALB HTTP event"))
  }
  v2 <- kind %in% c("http_api_v2", "function_url")
  rc <- field(event, "requestContext")
  req <- new.env(parent = emptyenv())
  req$kind <- kind
  req$event <- event
  req$method <- if (v2) field(rc, "http", "method") else field(event, "httpMethod")
  req$path <- if (v2) field(event, "rawPath") else field(event, "path")
  req$headers <- http_headers(event, v2)
  req$query <- as.list(field(event, "queryStringParameters"))
  req$path_parameters <- as.list(field(event, "pathParameters"))
  req$source_ip <- if (v2) field(rc, "http", "sourceIp") else field(rc, "identity", "sourceIp")
  req$cookies <- if (v2) {
    as.character(field(event, "cookies"))
  } else if (!is.null(req$headers[["cookie"]])) {
    strsplit(req$headers[["cookie"]], ";\\s*")[[1L]]
  } else {
    character()
  }
  body <- field(event, "body")
  req$body_raw <- if (is.null(body)) {
    raw()
  } else if (isTRUE(field(event, "isBase64Encoded"))) {
    base64_decode(body)
  } else {
    utf8_raw(body)
  }
  req$body <- raw_to_text(req$body_raw)
  content_type <- req$headers[["content-type"]]
  delayedAssign("json", {
    if (is.null(req$body)) NULL else from_json(req$body)
  }, assign.env = req)
  req$is_json <- !is.null(content_type) && grepl("^application/([a-z.+-]*\\+)?json", content_type,
                                                 ignore.case = TRUE)
  class(req) <- "lambda_http_request"
  req
}

# Headers with lower-case names; multi-value headers (REST, ALB) joined with ", " as HTTP does.
http_headers <- function(event, v2) {
  single <- as.list(field(event, "headers"))
  multi <- if (v2) NULL else as.list(field(event, "multiValueHeaders"))
  out <- list()
  for (name in names(single)) out[[tolower(name)]] <- as.character(single[[name]])
  for (name in names(multi)) {
    out[[tolower(name)]] <- paste(as.character(unlist(multi[[name]])), collapse = ", ")
  }
  out
}

# Bytes as a UTF-8 string, or NULL when they are not text (a NUL byte or invalid UTF-8).
raw_to_text <- function(bytes) {
  if (length(bytes) == 0L) return("")
  if (any(bytes == as.raw(0L))) return(NULL)
  txt <- rawToChar(bytes)
  Encoding(txt) <- "UTF-8"
  if (!validUTF8(txt)) return(NULL)
  txt
}

#' A response for an HTTP event. `body` may be a string or text_response() (sent as is), a raw vector (sent
#' base64-encoded, as API Gateway requires for binary), json() text, or any R value (sent as
#' JSON). Content-Type is set from the body unless `headers` names one.
http_response <- function(body = NULL, status = 200L, headers = list(), cookies = character()) {
  status <- as.integer(status)
  if (length(status) != 1L || is.na(status) || status < 100L || status > 599L) {
    stop("http_response(): status must be one HTTP status code (100-599)")
  }
  if (length(headers) && (is.null(names(headers)) || any(!nzchar(names(headers))))) {
    stop("http_response(): headers must be named")
  }
  structure(list(status = status, headers = as.list(headers), body = body,
                 cookies = as.character(cookies)),
            class = "lambda_http_response")
}

# The proxy-integration response document. Written with the base-R JSON writer, so a handler
# answering HTTP with text or bytes never loads jsonlite.
serialise_http_response <- function(resp, kind = NULL) {
  body <- resp$body
  b64 <- FALSE
  if (is.null(body)) {
    type <- NULL
    text <- ""
  } else if (is.raw(body)) {
    type <- "application/octet-stream"
    text <- base64_encode(body)
    b64 <- TRUE
  } else if (inherits(body, "json")) {
    type <- "application/json"
    text <- unclass(body)
  } else if (inherits(body, "lambda_text")) {
    type <- attr(body, "content_type")
    text <- as.vector(body)
  } else if (is.character(body) && length(body) == 1L && !is.na(body)) {
    type <- "text/plain; charset=utf-8"
    text <- body
  } else {
    type <- "application/json"
    text <- as.character(to_json(body))
  }
  headers <- lapply(resp$headers, function(v) paste(as.character(v), collapse = ", "))
  if (!is.null(type) && !"content-type" %in% tolower(names(headers))) {
    headers[["Content-Type"]] <- type
  }
  doc <- list(statusCode = resp$status)
  if (length(headers)) doc$headers <- headers
  doc$body <- text
  doc$isBase64Encoded <- b64
  if (length(resp$cookies)) {
    # HTTP APIs and function URLs take a cookies array; REST and ALB a multi-value header.
    if (is.null(kind) || kind %in% c("http_api_v2", "function_url")) {
      doc$cookies <- as.list(resp$cookies)
    } else {
      doc$multiValueHeaders <- list("Set-Cookie" = as.list(resp$cookies))
    }
  }
  json_write(doc)
}

print.lambda_http_request <- function(x, ...) {
  cat("<lambda_http_request> ", x$method, " ", x$path, " (", x$kind, ", ",
      length(x$body_raw), " body bytes)\n", sep = "")
  invisible(x)
}
