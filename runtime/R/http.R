# A minimal HTTP/1.1 client over base R's socketConnection, enough for the Runtime API:
# keep-alive, Content-Length and chunked bodies, chunked uploads for response streaming.
# Base R's url() cannot POST and the curl package would cost load time; this costs nothing.

# socketConnection's `timeout` (default getOption("timeout"), 60 s) bounds every blocking read.
# The long poll on /next must never time out: a function can sit idle for hours. R keeps the
# value as an integer number of seconds, so use a year rather than Inf.
http_read_timeout_s <- 31536000L

http_client <- function(address) {
  parts <- regmatches(address, regexec("^\\[?([^]]*?)\\]?:([0-9]+)$", address))[[1L]]
  if (length(parts) != 3L) stop("expected host:port in AWS_LAMBDA_RUNTIME_API, got '", address, "'")
  client <- new.env(parent = emptyenv())
  client$host <- parts[[2L]]
  client$port <- as.integer(parts[[3L]])
  client$hostport <- address
  client$con <- NULL
  client
}

http_close <- function(client) {
  if (!is.null(client$con)) try(close(client$con), silent = TRUE)
  client$con <- NULL
  client$ahead <- FALSE  # a request sent ahead is lost with its connection
  invisible()
}

# TCP_NODELAY: a streamed response is many small writes, and with Nagle's algorithm each one
# waits for the previous one's delayed ACK (~40 ms). socketConnection() takes `options` only
# since R 4.2.0; on older R a streamed response takes a fresh connection instead (see
# http_stream_open()). A request that is not streamed is always one write.
socket_no_delay <- "options" %in% names(formals(socketConnection))

http_connection <- function(client) {
  if (is.null(client$con)) {
    args <- list(client$host, client$port, blocking = TRUE, open = "r+b",
                 timeout = http_read_timeout_s)
    if (socket_no_delay) args$options <- "no-delay"
    client$con <- do.call(socketConnection, args)
    client$reused <- FALSE
  } else {
    client$reused <- TRUE
  }
  client$con
}

http_request_head <- function(client, method, path, headers) {
  lines <- c(paste(method, path, "HTTP/1.1"), paste0("Host: ", client$hostport),
             if (length(headers)) paste0(names(headers), ": ", headers))
  charToRaw(paste0(paste(lines, collapse = "\r\n"), "\r\n\r\n"))
}

# One request and its response. `body` is a raw vector (or NULL). A kept-alive connection the
# server has closed meanwhile fails on first use; such a request is retried once on a fresh
# connection (the server cannot have acted on a request it never read).
#
# `ahead`: a second request (its bytes, from http_request_head()) written in the same write,
# whose response is left unread for http_receive(): HTTP/1.1 pipelining, which the Runtime API
# servers (AWS's Go server, ours) answer in order.
http_request <- function(client, method, path, body = NULL, headers = character(),
                         ahead = NULL) {
  if (!is.null(body)) headers <- c(headers, "Content-Length" = length(body))
  payload <- c(http_request_head(client, method, path, headers), body, ahead)
  for (attempt in 1:2) {
    resp <- tryCatch({
      con <- http_connection(client)
      writeBin(payload, con)
      flush(con)
      http_read_response(con)
    }, error = function(e) e)
    if (!inherits(resp, "error") && !is.null(resp)) break
    reused <- isTRUE(client$reused)
    http_close(client)
    if (!reused || attempt == 2L) {
      stop("Runtime API request ", method, " ", path, " failed: ",
           if (inherits(resp, "error")) conditionMessage(resp) else "connection closed")
    }
  }
  if (!isTRUE(resp$keep_alive)) http_close(client) else client$ahead <- !is.null(ahead)
  resp
}

# The response to the request sent `ahead` by http_request(); NULL, the connection closed, if
# none was sent or none came (the server closed the connection, or it failed).
http_receive <- function(client) {
  if (!isTRUE(client$ahead)) return(NULL)
  client$ahead <- FALSE
  resp <- tryCatch(http_read_response(client$con), error = function(e) NULL)
  if (is.null(resp) || !isTRUE(resp$keep_alive)) http_close(client)
  resp
}

# Reads a response; NULL if the server closed the connection before sending a status line.
http_read_response <- function(con) {
  status_line <- readLines(con, n = 1L, warn = FALSE)
  if (length(status_line) == 0L) return(NULL)
  # "HTTP/1.x NNN ...", taken apart by position: regmatches(regexec()) cost ~10% of an echo
  # invoke (Rprof, under AWS's RIE).
  version <- substr(status_line, 6L, 8L)
  status <- match(substr(status_line, 10L, 12L), http_status_codes) + 99L
  if (!startsWith(status_line, "HTTP/") || !(version %in% c("1.0", "1.1")) || is.na(status) ||
      !(nchar(status_line) == 12L || substr(status_line, 13L, 13L) == " ")) {
    stop("malformed HTTP status line: ", status_line)
  }
  headers <- http_read_headers(con)
  te <- headers[["transfer-encoding"]]
  cl <- headers[["content-length"]]
  body <- if (!is.null(te) && grepl("chunked", te, ignore.case = TRUE)) {
    http_read_chunked(con)
  } else if (!is.null(cl)) {
    http_read_exactly(con, as.numeric(cl))
  } else {
    http_read_to_eof(con)
  }
  conn <- tolower(if (is.null(headers[["connection"]])) "" else headers[["connection"]])
  keep_alive <- if (version == "1.1") conn != "close" else conn == "keep-alive"
  if (is.null(cl) && is.null(te)) keep_alive <- FALSE
  list(status = status, headers = headers, body = body, keep_alive = keep_alive)
}

http_status_codes <- as.character(100:599)

# Header names are case-insensitive: they are returned lower-cased, as a named list; a repeated
# header's values joined with ", ". The lines are parsed together once they are all read: per
# line, trimws() alone compiled two regular expressions (see write_state() for the figures).
http_read_headers <- function(con) {
  lines <- character()
  repeat {
    line <- readLines(con, n = 1L, warn = FALSE)
    if (length(line) == 0L) stop("connection closed inside the HTTP headers")
    if (!nzchar(line)) break
    lines[[length(lines) + 1L]] <- line
  }
  http_parse_headers(lines)
}

http_parse_headers <- function(lines) {
  colon <- regexpr(":", lines, fixed = TRUE)
  lines <- lines[colon > 0L]
  colon <- colon[colon > 0L]
  if (!length(lines)) return(list())
  names <- tolower(substr(lines, 1L, colon - 1L))
  # Optional white space around a value (RFC 9110, 5.6.3): spaces and tabs. Servers write one
  # space after the colon and none at the end; only other lines pay for regular expressions.
  values <- substr(lines, colon + 2L, nchar(lines))
  odd <- substr(lines, colon + 1L, colon + 1L) != " " | startsWith(values, " ") |
    startsWith(values, "\t") | endsWith(values, " ") | endsWith(values, "\t")
  if (any(odd)) {
    values[odd] <- sub("[ \t]+$", "", sub("^[ \t]+", "", substr(lines[odd], colon[odd] + 1L,
                                                                nchar(lines[odd]))))
  }
  if (anyDuplicated(names)) {
    values <- vapply(split(values, factor(names, unique(names))), paste, "", collapse = ", ")
    names <- names(values)
  }
  structure(as.list(unname(values)), names = names)
}

http_read_exactly <- function(con, n) {
  if (n == 0) return(raw())
  body <- readBin(con, "raw", n)
  if (length(body) < n) stop("connection closed after ", length(body), " of ", n, " body bytes")
  body
}

http_read_chunked <- function(con) {
  chunks <- list()
  repeat {
    size_line <- readLines(con, n = 1L, warn = FALSE)
    if (length(size_line) == 0L) stop("connection closed inside a chunked body")
    size <- strtoi(sub(";.*$", "", trimws(size_line)), 16L)
    if (is.na(size)) stop("malformed chunk size: ", size_line)
    if (size == 0L) break
    chunks[[length(chunks) + 1L]] <- http_read_exactly(con, size)
    readLines(con, n = 1L, warn = FALSE)  # the CRLF closing the chunk
  }
  http_read_headers(con)  # trailers, if any; ignored
  unlist(chunks, use.names = FALSE) %||% raw()
}

http_read_to_eof <- function(con) {
  chunks <- list()
  repeat {
    chunk <- readBin(con, "raw", 65536L)
    if (length(chunk) == 0L) break
    chunks[[length(chunks) + 1L]] <- chunk
  }
  unlist(chunks, use.names = FALSE) %||% raw()
}

`%||%` <- function(x, y) if (is.null(x)) y else x

# --- chunked upload, for response streaming -------------------------------------------------

# Without TCP_NODELAY (R < 4.2) a small write made while the previous one is unacknowledged
# waits for the server's delayed ACK (~40 ms), and a server reading a streamed body answers
# nothing until it ends: the end of the body, right after the last chunk, would wait. On such
# R a streamed response therefore goes on a fresh connection, whose first segments the server
# acknowledges at once (TCP quick-ACK mode); it then stays open for the next GET /next.
# Measured on the host (R 4.2 with no-delay forced off, our emulator, warm round trips, p50):
# one chunk then NULL 44 -> 5.5 ms (no-delay: 6.3), ten chunks back to back 48 -> 11 ms (3.7).
# The request head also goes out with the first chunk, and a value returned after streaming
# with the end of the body: fewer writes, fewer chances to wait.
http_stream_open <- function(client, method, path, headers = character()) {
  headers <- c(headers, "Transfer-Encoding" = "chunked")
  stream <- new.env(parent = emptyenv())
  if (!socket_no_delay) http_close(client)
  stream$con <- http_connection(client)
  stream$pending <- http_request_head(client, method, path, headers)
  stream
}

http_stream_send <- function(stream, bytes) {
  writeBin(c(stream$pending, bytes), stream$con)
  stream$pending <- raw()
  flush(stream$con)
  invisible()
}

http_stream_write <- function(stream, data, send = TRUE) {
  if (length(data) == 0L) return(invisible())  # a zero-length chunk would end the body
  chunk <- c(charToRaw(sprintf("%x\r\n", length(data))), data, charToRaw("\r\n"))
  if (send) http_stream_send(stream, chunk) else stream$pending <- c(stream$pending, chunk)
  invisible()
}

http_stream_close <- function(client, stream, trailers = character()) {
  tail <- paste0("0\r\n", if (length(trailers)) paste0(names(trailers), ": ", trailers, "\r\n",
                                                         collapse = ""), "\r\n")
  http_stream_send(stream, charToRaw(tail))
  resp <- http_read_response(stream$con)
  if (is.null(resp)) {
    http_close(client)
    stop("Runtime API closed the connection after a streamed response")
  }
  if (!isTRUE(resp$keep_alive)) http_close(client)
  resp
}
