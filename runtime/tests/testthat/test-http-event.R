read_event <- function(name) rt$from_json(paste(readLines(fixture(name), warn = FALSE), collapse = "\n"))

test_that("HTTP events are recognised by their structure", {
  expect_equal(rt$http_event_kind(read_event("apigw-rest-v1.json")), "rest_v1")
  expect_equal(rt$http_event_kind(read_event("apigw-http-v2.json")), "http_api_v2")
  expect_equal(rt$http_event_kind(read_event("function-url.json")), "function_url")
  expect_equal(rt$http_event_kind(read_event("alb.json")), "alb")
  # Right words in the wrong places: a substring search would call this HTTP.
  expect_null(rt$http_event_kind(read_event("not-http.json")))
  expect_null(rt$http_event_kind(list(httpMethod = "GET")))
  expect_null(rt$http_event_kind(list(pathParameters = list(), httpMethod = "GET",
                                      requestContext = list())))  # no exact `path`
  expect_null(rt$http_event_kind("GET /"))
  expect_null(rt$http_event_kind(NULL))
  expect_false(rt$is_http_event(list(a = 1)))
})

test_that("a REST (v1) request is normalised: headers, multi-value headers, cookies, JSON body", {
  req <- rt$as_http_request(read_event("apigw-rest-v1.json"))
  expect_equal(req$method, "POST")
  expect_equal(req$path, "/items/42")
  expect_equal(req$headers[["content-type"]], "application/json")
  expect_equal(req$headers[["x-multi"]], "one, two")
  expect_equal(req$cookies, c("a=1", "b=2"))
  expect_equal(req$query, list(q = "r"))
  expect_equal(req$path_parameters, list(id = "42"))
  expect_equal(req$source_ip, "203.0.113.7")
  expect_true(req$is_json)
  expect_equal(req$json, list(name = "widget", qty = 3L))
  expect_equal(req$body, "{\"name\": \"widget\", \"qty\": 3}")
})

test_that("base64 bodies are decoded; binary bodies are raw only", {
  req <- rt$as_http_request(read_event("apigw-http-v2.json"))
  expect_equal(req$kind, "http_api_v2")
  expect_equal(req$body_raw, as.raw(c(0, 1, 2, 255)))
  expect_null(req$body)
  expect_equal(req$cookies, c("session=xyz", "theme=dark"))
  expect_equal(req$source_ip, "198.51.100.2")
  expect_false(req$is_json)
  url <- rt$as_http_request(read_event("function-url.json"))
  expect_equal(url$method, "GET")
  expect_equal(url$body, "h\u00e9llo")
  expect_equal(url$body_raw, charToRaw(enc2utf8("h\u00e9llo")))
  expect_equal(rt$as_http_request(read_event("alb.json"))$body, "")
  expect_equal(error_class(rt$as_http_request(list(a = 1))), "Runtime.InvalidEvent")
})

test_that("a JSON body that does not parse fails when read, not before", {
  event <- read_event("apigw-rest-v1.json")
  event$body <- "{not json"
  req <- rt$as_http_request(event)
  expect_equal(req$body, "{not json")
  expect_error(req$json)
})

test_that("http_response() becomes the proxy-integration document", {
  doc <- function(resp, kind = NULL) jsonlite::fromJSON(rt$serialise_http_response(resp, kind),
                                                        simplifyVector = FALSE)
  text <- doc(rt$http_response("hi", status = 404, headers = list("X-A" = "1")))
  expect_equal(text, list(statusCode = 404L,
                          headers = list("X-A" = "1", "Content-Type" = "text/plain; charset=utf-8"),
                          body = "hi", isBase64Encoded = FALSE))
  bin <- doc(rt$http_response(as.raw(c(0, 255))))
  expect_true(bin$isBase64Encoded)
  expect_equal(bin$body, "AP8=")
  expect_equal(bin$headers[["Content-Type"]], "application/octet-stream")
  obj <- doc(rt$http_response(list(a = 1, b = NULL), headers = list("content-type" = "application/x")))
  expect_equal(obj$body, "{\"a\":1,\"b\":null}")
  expect_equal(obj$headers, list("content-type" = "application/x"))
  expect_equal(doc(rt$http_response(rt$json("[1]")))$body, "[1]")
  empty <- doc(rt$http_response(status = 204))
  expect_equal(empty, list(statusCode = 204L, body = "", isBase64Encoded = FALSE))
  v2 <- doc(rt$http_response("x", cookies = c("a=1", "b=2")), "http_api_v2")
  expect_equal(v2$cookies, list("a=1", "b=2"))
  v1 <- doc(rt$http_response("x", cookies = c("a=1", "b=2")), "rest_v1")
  expect_equal(v1$multiValueHeaders, list("Set-Cookie" = list("a=1", "b=2")))
  expect_null(v1$cookies)
  expect_error(rt$http_response("x", status = 42), "status")
  expect_error(rt$http_response("x", headers = list("no name")), "named")
})
