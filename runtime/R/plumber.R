# Plumber APIs served in-process: _HANDLER "plumber:<file>" (a recipe's `plumber = "<file>"`).
#
# The file is plumb()ed once at init. Each HTTP event (API Gateway REST v1 or HTTP API v2,
# function URL, ALB) becomes the request environment httpuv would have built -- REQUEST_METHOD,
# PATH_INFO, QUERY_STRING, HTTP_* headers, rook.input -- and goes to the router's call(), the
# very method httpuv calls under pr_run(); there is no HTTP server and no port. Routing, path
# parameters, parsers, serializers, filters, hooks and the error handler are plumber's own.
# plumber's answer (status, headers, body) becomes an http_response(): Set-Cookie headers go
# out as the event source wants cookies, a raw body base64-encoded.
#
# As under pr_run(): errors are reported by plumber's error handler (500; the R message is
# printed to the log, and sent to the caller only with debugging on: pr_set_debug() in the
# file, or RLAMBDA_PLUMBER_DEBUG=true); the file's directory is the working directory. Not
# done: the docs UI (/__docs__/), which pr_run() mounts for a browser.

plumber_prefix <- "plumber:"

is_plumber_spec <- function(spec) {
  startsWith(spec, plumber_prefix) && !startsWith(spec, paste0(plumber_prefix, ":"))
}

resolve_plumber_handler <- function(spec, task_root) {
  name <- substring(spec, nchar(plumber_prefix) + 1L)
  file <- file.path(task_root, name)
  if (!nzchar(name) || !file.exists(file) || dir.exists(file)) {
    stop(runtime_condition("Runtime.ImportModuleError", sprintf(
      "cannot load handler '%s': no plumber file %s under %s", spec, name, task_root)))
  }
  if (!requireNamespace("plumber", quietly = TRUE)) {
    stop(runtime_condition("Runtime.ImportModuleError", sprintf(
      "handler '%s' needs the plumber package, which is not installed (add it to the recipe)",
      spec)))
  }
  # Parsed first, so a syntax error is told apart from an error in the file's code.
  tryCatch(parse(file = file, keep.source = FALSE, encoding = "UTF-8"), error = function(e) {
    stop(runtime_condition("Runtime.UserCodeSyntaxError", conditionMessage(e)))
  })
  file <- normalizePath(file)
  # pr_run() serves from the file's directory, so relative paths in it resolve the same.
  setwd(dirname(file))
  run <- run_captured(call("plumb_file", file), environment())
  if (!run$ok) {
    cond <- runtime_condition("Runtime.ImportModuleError", sprintf(
      "error while plumbing %s: %s", basename(file), conditionMessage(run$error)))
    attr(cond, "trace") <- run$trace
    attr(cond, "original_class") <- class(run$error)[[1L]]
    stop(cond)
  }
  pr <- run$value
  debug <- tolower(Sys.getenv("RLAMBDA_PLUMBER_DEBUG"))
  if (debug %in% c("true", "1", "yes")) pr$setDebug(TRUE)
  fn <- function(request) plumber_serve(pr, request)
  list(fn = fn, name = "plumber", env = environment(), file = file, router = pr)
}

plumb_file <- function(file) plumber::plumb(file)

# One request through the router: what httpuv would do with a request it had read.
plumber_serve <- function(pr, request) {
  out <- pr$call(plumber_rook_request(request))
  # An async endpoint answers with a promise: run later's event loop until it settles.
  if (inherits(out, "promise")) out <- plumber_await(out)
  plumber_response(out)
}

plumber_await <- function(promise) {
  state <- new.env(parent = emptyenv())
  state$done <- FALSE
  promises::then(promise,
                 onFulfilled = function(value) {
                   state$value <- value
                   state$done <- TRUE
                 },
                 onRejected = function(error) {
                   state$error <- error
                   state$done <- TRUE
                 })
  while (!state$done) later::run_now(timeoutSecs = 0.05)
  if (!is.null(state$error)) stop(state$error)
  state$value
}

# The request environment httpuv gives an app (the Rook specification's names): plumber reads
# REQUEST_METHOD, PATH_INFO, QUERY_STRING (with its "?"), HTTP_<HEADER>, rook.input. Built in
# one list2env() call, the header names renamed all at once: 87 -> 47 us a request on the host
# (one assign() per header before).
plumber_rook_request <- function(request) {
  headers <- request$headers
  if (length(request$cookies) && is.null(headers[["cookie"]])) {
    headers[["cookie"]] <- paste(request$cookies, collapse = "; ")
  }
  host <- headers[["host"]]
  port <- headers[["x-forwarded-port"]]
  scheme <- headers[["x-forwarded-proto"]]
  qs <- plumber_query_string(request)
  rook <- list(
    REQUEST_METHOD = toupper(request$method),
    SCRIPT_NAME = "",
    PATH_INFO = request$path,
    QUERY_STRING = if (nzchar(qs)) paste0("?", qs) else "",
    HEADERS = unlist(headers),
    SERVER_NAME = if (is.null(host)) "localhost" else sub(":[0-9]+$", "", host),
    SERVER_PORT = if (is.null(port)) "443" else port,
    rook.url_scheme = if (is.null(scheme)) "https" else scheme,
    REMOTE_ADDR = if (is.null(request$source_ip)) "" else request$source_ip,
    REMOTE_PORT = "",
    rook.input = plumber_input(request$body_raw),
    rook.version = "1.1-0",
    rook.errors = stderr()
  )
  if (length(headers)) {
    names(headers) <- paste0("HTTP_", toupper(gsub("-", "_", names(headers), fixed = TRUE)))
  }
  list2env(c(headers, rook), envir = new.env())
}

# API Gateway v2 and function URLs keep the query string as sent. REST v1 has only the
# parameters, decoded: encode them again. ALB passes them as sent, still encoded.
plumber_query_string <- function(request) {
  event <- request$event
  if (request$kind %in% c("http_api_v2", "function_url")) {
    qs <- field(event, "rawQueryString")
    return(if (is_string(qs)) qs else "")
  }
  params <- field(event, "multiValueQueryStringParameters")
  if (!length(params)) params <- field(event, "queryStringParameters")
  if (!length(params)) return("")
  encode <- if (request$kind == "alb") identity else function(x) {
    utils::URLencode(x, reserved = TRUE)
  }
  pairs <- character()
  for (name in names(params)) {
    values <- as.character(unlist(params[[name]]))
    pairs <- c(pairs, paste0(encode(name), "=", vapply(values, encode, "")))
  }
  paste(pairs, collapse = "&")
}

# The body as a Rook input stream: read(), read_lines(), rewind().
plumber_input <- function(bytes) {
  input <- new.env(parent = emptyenv())
  pos <- 0L
  rest <- function() bytes[seq.int(pos + 1L, length.out = length(bytes) - pos)]
  input$read <- function(l = -1L) {
    out <- rest()
    if (l >= 0L && l < length(out)) out <- out[seq_len(l)]
    pos <<- pos + length(out)
    out
  }
  input$read_lines <- function() {
    con <- rawConnection(rest())
    on.exit(close(con))
    pos <<- length(bytes)
    readLines(con, warn = FALSE)
  }
  input$rewind <- function() {
    pos <<- 0L
    invisible()
  }
  input
}

# plumber's list(status, headers, body) as an http_response(): its Set-Cookie headers become
# the response's cookies, repeated headers one header with the values joined.
plumber_response <- function(out) {
  headers <- out$headers
  if (is.null(names(headers))) headers <- list()
  cookie <- tolower(names(headers)) == "set-cookie"
  kept <- headers[!cookie]
  merged <- lapply(kept, as.character)
  if (anyDuplicated(names(kept))) {
    merged <- lapply(split(merged, factor(names(kept), unique(names(kept)))), unlist,
                     use.names = FALSE)
  }
  body <- out$body
  if (is.character(body)) body <- paste(body, collapse = "")
  http_response(body = body, status = out$status, headers = merged,
                cookies = as.character(unlist(headers[cookie])))
}
