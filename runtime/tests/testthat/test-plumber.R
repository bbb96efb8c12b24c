# plumber APIs served in-process (R/plumber.R): each HTTP event through plumber's own router.
skip_if_not_installed("plumber")

api <- c(
  "#* @filter tag",
  "function(req, res) { res$setHeader('X-Tag', 'yes'); plumber::forward() }",
  "#* @get /echo",
  "function(req, q = '', n = '0') list(q = q, n = n, cookie = req$cookies$session %||% '')",
  "#* @get /items/<id:int>",
  "function(id) list(id = id)",
  "#* @post /sum",
  "function(values) sum(unlist(values))",
  "#* @get /boom",
  "function() stop('secret detail')",
  "#* @serializer octet",
  "#* @get /bytes",
  "function() as.raw(c(0, 1, 254, 255))",
  "#* @get /two-cookies",
  "function(res) { res$setCookie('a', '1'); res$setCookie('b', '2'); 'ok' }",
  "#* @serializer text",
  "#* @get /later",
  "function() promises::promise(function(resolve, reject) later::later(function() resolve('late'), 0.01))",
  "`%||%` <- function(x, y) if (is.null(x)) y else x"
)

serve_with <- function(lines = api, env = character()) {
  root <- task_root_with(list(plumber.R = lines))
  old <- setwd(root)
  on.exit(setwd(old))
  if (length(env)) {
    # Read once, at init: set for the call only.
    do.call(Sys.setenv, as.list(env))
    on.exit(Sys.unsetenv(names(env)), add = TRUE)
  }
  rt$resolve_handler("plumber:plumber.R", root)
}

v2 <- function(method, path, qs = "", body = NULL, headers = list(), cookies = NULL,
               domain = "abc.lambda-url.us-east-1.on.aws") {
  list(version = "2.0", rawPath = path, rawQueryString = qs, cookies = cookies,
       headers = c(list(host = domain), headers),
       requestContext = list(domainName = domain,
                             http = list(method = method, path = path, sourceIp = "192.0.2.1")),
       body = body, isBase64Encoded = FALSE)
}

call_api <- function(h, event) {
  req <- rt$as_http_request(event)
  jsonlite::fromJSON(rt$serialise_http_response(h$fn(req), req$kind), simplifyVector = FALSE)
}

test_that("routes, path parameters, query strings and filters behave as under pr_run()", {
  h <- serve_with()
  out <- call_api(h, v2("GET", "/echo", "q=a%20b&n=3", cookies = list("session=s1")))
  expect_equal(out$statusCode, 200L)
  expect_equal(out$headers[["X-Tag"]], "yes")
  expect_equal(jsonlite::fromJSON(out$body), list(q = "a b", n = "3", cookie = "s1"))
  out <- call_api(h, v2("GET", "/items/7"))
  expect_equal(jsonlite::fromJSON(out$body), list(id = 7L))
  expect_equal(call_api(h, v2("GET", "/items/x"))$statusCode, 404L)  # <id:int> does not match
})

test_that("a JSON body's fields become arguments", {
  h <- serve_with()
  out <- call_api(h, v2("POST", "/sum", body = "{\"values\": [1, 2, 4]}",
                        headers = list(`content-type` = "application/json")))
  expect_equal(out$body, "[7]")
})

test_that("REST v1 parameters are encoded again; ALB ones are passed as sent", {
  h <- serve_with()
  rest <- list(httpMethod = "GET", path = "/echo", headers = list(Host = "x"),
               multiValueQueryStringParameters = list(q = list("a&b c")),
               requestContext = list(identity = list(sourceIp = "192.0.2.9")))
  expect_equal(jsonlite::fromJSON(call_api(h, rest)$body)$q, "a&b c")
  alb <- list(httpMethod = "GET", path = "/echo", headers = list(host = "x"),
              queryStringParameters = list(q = "x%2By"),
              requestContext = list(elb = list(targetGroupArn = "arn")))
  expect_equal(jsonlite::fromJSON(call_api(h, alb)$body)$q, "x+y")
})

test_that("a route's R error is a 500 whose message is logged, not sent, unless debugging", {
  h <- serve_with()
  log <- capture.output(out <- call_api(h, v2("GET", "/boom")))
  expect_equal(out$statusCode, 500L)
  expect_false(grepl("secret detail", out$body))
  expect_match(paste(log, collapse = "\n"), "secret detail")
  debug <- serve_with(env = c(RLAMBDA_PLUMBER_DEBUG = "true"))
  capture.output(out <- call_api(debug, v2("GET", "/boom")))
  expect_match(out$body, "secret detail")
})

test_that("404 for an unknown route", {
  out <- call_api(serve_with(), v2("GET", "/nowhere"))
  expect_equal(out$statusCode, 404L)
  expect_match(out$body, "404")
})

test_that("a binary body goes out base64-encoded; Set-Cookie headers become cookies", {
  h <- serve_with()
  out <- call_api(h, v2("GET", "/bytes"))
  expect_true(out$isBase64Encoded)
  expect_equal(rt$base64_decode(out$body), as.raw(c(0, 1, 254, 255)))
  expect_equal(out$headers[["Content-Type"]], "application/octet-stream")
  out <- call_api(h, v2("GET", "/two-cookies"))
  expect_equal(unlist(out$cookies), c("a=1", "b=2"))
  # REST v1 and ALB take cookies as a multi-value Set-Cookie header.
  rest <- list(httpMethod = "GET", path = "/two-cookies", headers = list(Host = "x"),
               requestContext = list(identity = list(sourceIp = "192.0.2.9")))
  expect_equal(unlist(call_api(h, rest)$multiValueHeaders[["Set-Cookie"]]), c("a=1", "b=2"))
})

test_that("an async endpoint's promise is awaited", {
  out <- call_api(serve_with(), v2("GET", "/later"))
  expect_equal(out$body, "late")
})

test_that("a plumber file with a syntax error is an init error with R's message", {
  root <- task_root_with(list(plumber.R = c("#* @get /x", "function( {")))
  err <- tryCatch(rt$resolve_handler("plumber:plumber.R", root), error = function(e) e)
  expect_s3_class(err, "Runtime.UserCodeSyntaxError")
  expect_match(conditionMessage(err), "unexpected")
  expect_match(conditionMessage(err), "plumber.R:2")
})

test_that("an error while plumbing, or a missing file, is an import error", {
  root <- task_root_with(list(plumber.R = c("stop('no config')", "#* @get /x", "function() 1")))
  old <- setwd(root)
  on.exit(setwd(old))
  err <- tryCatch(rt$resolve_handler("plumber:plumber.R", root), error = function(e) e)
  expect_s3_class(err, "Runtime.ImportModuleError")
  expect_match(conditionMessage(err), "no config")
  err <- tryCatch(rt$resolve_handler("plumber:absent.R", root), error = function(e) e)
  expect_s3_class(err, "Runtime.ImportModuleError")
  # "plumber::fn" is still a package handler, not a file.
  expect_false(rt$is_plumber_spec("plumber::plumb"))
})

test_that("the body stream reads, re-reads and reads lines as Rook's does", {
  input <- rt$plumber_input(charToRaw("a\nb"))
  expect_equal(input$read(1L), charToRaw("a"))
  expect_equal(input$read(), charToRaw("\nb"))
  expect_equal(input$read(), raw())
  input$rewind()
  expect_equal(input$read_lines(), c("a", "b"))
})

test_that("the Rook request carries every header as HTTP_*, and cookies as one Cookie header", {
  request <- rt$as_http_request(v2("GET", "/echo", qs = "q=1",
                                   headers = list("X-Multi-Part" = "a", "Host" = "h.example:8443"),
                                   cookies = c("s=1", "t=2")))
  req <- rt$plumber_rook_request(request)
  expect_equal(req$HTTP_X_MULTI_PART, "a")
  expect_equal(req$HTTP_COOKIE, "s=1; t=2")
  expect_equal(req$SERVER_NAME, "h.example")
  expect_equal(req$QUERY_STRING, "?q=1")
  expect_equal(req$REQUEST_METHOD, "GET")
  expect_equal(req$HEADERS[["x-multi-part"]], "a")
  expect_equal(rawToChar(req$rook.input$read()), "")
})

test_that("repeated response headers become one header; Set-Cookie ones cookies", {
  out <- list(status = 201L, body = c("a", "b"),
              headers = list("X-A" = "1", "Set-Cookie" = "c=1", "X-A" = "2", "X-B" = 3,
                             "set-cookie" = "d=2"))
  resp <- rt$plumber_response(out)
  expect_equal(resp$status, 201L)
  expect_equal(resp$body, "ab")
  expect_equal(resp$headers, list("X-A" = c("1", "2"), "X-B" = "3"))
  expect_equal(resp$cookies, c("c=1", "d=2"))
})
