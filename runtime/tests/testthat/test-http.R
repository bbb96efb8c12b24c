# The HTTP client's reading side, fed from in-memory connections; the socket itself is
# exercised end to end by tests/test_runtime_r.py.

test_that("a Content-Length response is read whole and the connection kept alive", {
  con <- response_connection(paste0(
    "HTTP/1.1 200 OK\r\nLambda-Runtime-Aws-Request-Id: abc\r\nContent-Length: 8\r\n",
    "Set-Thing: 1\r\nset-thing: 2\r\n\r\n{\"x\": 1}TRAILING"))
  on.exit(close(con))
  resp <- rt$http_read_response(con)
  expect_equal(resp$status, 200L)
  expect_equal(rawToChar(resp$body), "{\"x\": 1}")
  expect_equal(resp$headers[["lambda-runtime-aws-request-id"]], "abc")
  expect_equal(resp$headers[["set-thing"]], "1, 2")
  expect_true(resp$keep_alive)
})

test_that("header values lose the white space around them; a line without a colon is skipped", {
  con <- response_connection(paste0(
    "HTTP/1.1 200 OK\r\nX-Spaces:   padded \t\r\nX-Tight:tight\r\nnot a header\r\n",
    "X-Inner: a  b\r\nX-Empty:\r\nContent-Length: 0\r\n\r\n"))
  on.exit(close(con))
  headers <- rt$http_read_response(con)$headers
  expect_identical(headers, list("x-spaces" = "padded", "x-tight" = "tight", "x-inner" = "a  b",
                                 "x-empty" = "", "content-length" = "0"))
})

test_that("a chunked response is reassembled, trailers skipped", {
  con <- response_connection(paste0(
    "HTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\n\r\n",
    "5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\n"))
  on.exit(close(con))
  resp <- rt$http_read_response(con)
  expect_equal(resp$status, 202L)
  expect_equal(rawToChar(resp$body), "hello, world")
  expect_true(resp$keep_alive)
})

test_that("Connection: close, HTTP/1.0 and bodies without a length end keep-alive", {
  read <- function(text) {
    con <- response_connection(text)
    on.exit(close(con))
    rt$http_read_response(con)
  }
  expect_false(read("HTTP/1.1 202 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")$keep_alive)
  expect_false(read("HTTP/1.0 202 OK\r\nContent-Length: 0\r\n\r\n")$keep_alive)
  expect_true(read("HTTP/1.0 202 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n")$keep_alive)
  until_eof <- read("HTTP/1.0 200 OK\r\n\r\nall of it")
  expect_false(until_eof$keep_alive)
  expect_equal(rawToChar(until_eof$body), "all of it")
})

test_that("binary bodies survive byte for byte", {
  bytes <- as.raw(c(0:255, 13, 10, 13, 10))
  message <- c(charToRaw("HTTP/1.1 200 OK\r\nContent-Length: 260\r\n\r\n"), bytes)
  con <- rawConnection(message, "rb")
  on.exit(close(con))
  expect_equal(rt$http_read_response(con)$body, bytes)
})

test_that("a closed connection before the status line is NULL; a short body is an error", {
  con <- response_connection("")
  expect_null(rt$http_read_response(con))
  close(con)
  con <- response_connection("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort")
  expect_error(rt$http_read_response(con), "connection closed after 5 of 10")
  close(con)
  con <- response_connection("SMTP ready\r\n")
  expect_error(rt$http_read_response(con), "malformed HTTP status line")
  close(con)
})

test_that("the status line gives the version and the code; anything else is malformed", {
  read <- function(text) {
    con <- response_connection(paste0(text, "\r\nContent-Length: 0\r\n\r\n"))
    on.exit(close(con))
    rt$http_read_response(con)
  }
  expect_equal(read("HTTP/1.1 200")$status, 200L)  # the reason phrase is optional
  not_found <- read("HTTP/1.0 404 Not Found")
  expect_equal(not_found$status, 404L)
  expect_false(not_found$keep_alive)
  for (line in c("HTTP/2 200 OK", "HTTP/1.2 200 OK", "HTTP/1.1 20x OK", "HTTP/1.1 2000 OK",
                 "HTTP/1.1 099 Low", "HTTP/1.1 600 High", "http/1.1 200 OK", "HTTP/1.1  200 OK")) {
    expect_error(read(line), "malformed HTTP status line", info = line)
  }
})

test_that("requests carry Host and the header lines; the address is parsed", {
  client <- rt$http_client("127.0.0.1:9001")
  expect_equal(client$host, "127.0.0.1")
  expect_equal(client$port, 9001L)
  head <- rawToChar(rt$http_request_head(client, "POST", "/p", c("Content-Length" = "3")))
  expect_equal(head, "POST /p HTTP/1.1\r\nHost: 127.0.0.1:9001\r\nContent-Length: 3\r\n\r\n")
  expect_equal(rt$http_client("[::1]:80")$host, "::1")
  expect_error(rt$http_client("no-port"), "host:port")
})

test_that("the long poll's read timeout is effectively unbounded", {
  # socketConnection's timeout bounds every blocking read; /next may wait for hours.
  expect_gte(rt$http_read_timeout_s, 365 * 24 * 3600)
})

test_that("the connection is opened with that timeout, without Nagle's delay where R can", {
  # A guard against a refactoring that drops either argument: R would then use its default
  # 60 s timeout, and the long poll would fail after a minute without invokes.
  text <- paste(deparse(body(rt$http_connection)), collapse = " ")
  expect_match(text, "timeout = http_read_timeout_s", fixed = TRUE)
  expect_match(text, "args$options <- \"no-delay\"", fixed = TRUE)
  expect_match(text, "blocking = TRUE", fixed = TRUE)
  # socketConnection(options =) exists since R 4.2.0; older R must not be passed it.
  expect_identical(rt$socket_no_delay, getRversion() >= "4.2.0")
})

# A listening socket on 127.0.0.1 (serverSocket() exists since R 4.0.0). The kernel completes
# a client's handshake before socketAccept(), so one R process can play both ends.
local_server <- function() {
  for (attempt in 1:20) {
    port <- sample(40000:60000, 1L)
    srv <- tryCatch(serverSocket(port), error = function(e) NULL)
    if (!is.null(srv)) return(list(socket = srv, port = port))
  }
  stop("no free port for a test server")
}

next_event <- paste0("HTTP/1.1 200 OK\r\nLambda-Runtime-Aws-Request-Id: id2\r\n",
                     "Content-Length: 2\r\n\r\n{}")
# What the server reads: invoke id1's response, `body`, then the GET for the next event.
posted_then_next <- function(body) {
  paste0("^POST /2018-06-01/runtime/invocation/id1/response HTTP/1.1\r\n.*\r\n\r\n", body,
         "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: [^\r]*\r\n\r\n$")
}

test_that("GET /next goes in the same write as the answer, and api_next() reads its reply", {
  srv <- local_server()
  on.exit(close(srv$socket))
  client <- rt$http_client(paste0("127.0.0.1:", srv$port))
  on.exit(rt$http_close(client), add = TRUE)
  rt$http_connection(client)
  peer <- socketAccept(srv$socket, blocking = TRUE, open = "r+b", timeout = 5)
  on.exit(close(peer), add = TRUE)
  # Both replies are waiting before the requests go: one R process plays both ends.
  writeBin(charToRaw(paste0("HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n", next_event)),
           peer)
  expect_equal(rt$api_post_response(client, "id1", charToRaw("1"), next_too = TRUE)$status, 202L)
  expect_equal(rt$api_next(client)$headers[["lambda-runtime-aws-request-id"]], "id2")
  # Everything the server read: the POST and one GET, nothing sent again.
  expect_match(rawToChar(readBin(peer, "raw", 4096L)), posted_then_next("1"))
})

test_that("a response refused with 413 is logged, and no error post follows the GET sent ahead", {
  srv <- local_server()
  on.exit(close(srv$socket))
  client <- rt$http_client(paste0("127.0.0.1:", srv$port))
  on.exit(rt$http_close(client), add = TRUE)
  rt$http_connection(client)
  peer <- socketAccept(srv$socket, blocking = TRUE, open = "r+b", timeout = 5)
  on.exit(close(peer), add = TRUE)
  writeBin(charToRaw("HTTP/1.1 413 Request Entity Too Large\r\nContent-Length: 0\r\n\r\n"), peer)
  logged <- capture.output(rt$send_result(client, "id1", "1", NULL, next_too = TRUE))
  expect_match(paste(logged, collapse = "\n"),
               "refused the 3-byte response as too large (413)", fixed = TRUE)
  # The server read the POST and the GET that went with it, and nothing else (no /error).
  expect_match(rawToChar(readBin(peer, "raw", 4096L)), posted_then_next("\"1\""))
})

test_that("a GET sent ahead on a connection the server then closed is sent again", {
  skip_on_os("windows")  # the server is a forked R (parallel::mcparallel)
  srv <- local_server()
  on.exit(close(srv$socket))
  server <- parallel::mcparallel({
    first <- socketAccept(srv$socket, blocking = TRUE, open = "r+b", timeout = 10)
    writeBin(charToRaw("HTTP/1.1 202 Accepted\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"),
             first)
    got <- rawToChar(readBin(first, "raw", 4096L))
    close(first)
    second <- socketAccept(srv$socket, blocking = TRUE, open = "r+b", timeout = 10)
    again <- readLines(second, n = 2L)
    writeBin(charToRaw(next_event), second)
    Sys.sleep(0.2)  # until the client has read it
    close(second)
    list(first = got, second = again)
  })
  client <- rt$http_client(paste0("127.0.0.1:", srv$port))
  on.exit(rt$http_close(client), add = TRUE)
  expect_equal(rt$api_post_response(client, "id1", charToRaw("1"), next_too = TRUE)$status, 202L)
  expect_equal(rt$api_next(client)$headers[["lambda-runtime-aws-request-id"]], "id2")
  read <- parallel::mccollect(server)[[1L]]
  expect_match(read$first, posted_then_next("1"))
  expect_equal(read$second[[1L]], "GET /2018-06-01/runtime/invocation/next HTTP/1.1")
})

test_that("a streamed upload reaches a real socket on this R", {
  srv <- local_server()
  on.exit(close(srv$socket))
  client <- rt$http_client(paste0("127.0.0.1:", srv$port))
  on.exit(rt$http_close(client), add = TRUE)
  up <- rt$http_stream_open(client, "POST", "/up")  # connects (on R < 4.2, afresh)
  peer <- socketAccept(srv$socket, blocking = TRUE, open = "r+b", timeout = 5)
  on.exit(close(peer), add = TRUE)
  rt$http_stream_write(up, charToRaw("hello"))
  rt$http_stream_write(up, charToRaw("last"), send = FALSE)  # kept for the closing write
  writeBin(charToRaw("HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n"), peer)
  resp <- rt$http_stream_close(client, up)
  expect_equal(resp$status, 202L)
  expect_true(resp$keep_alive)
  got <- rawToChar(readBin(peer, "raw", 4096L))
  expect_match(got, "^POST /up HTTP/1.1\r\n")
  expect_match(got, "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n4\r\nlast\r\n0\r\n\r\n$")
})
