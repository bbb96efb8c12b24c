as_text <- function(out) rawToChar(out$body)

test_that("one string is a JSON string; text_response(), raw bytes and json() pass through", {
  expect_equal(as_text(rt$serialise_result("plain text")), "\"plain text\"")
  expect_equal(rt$serialise_result("plain text")$type, "application/json")
  expect_equal(as_text(rt$serialise_result("a \"q\"\n")), "\"a \\\"q\\\"\\n\"")
  expect_equal(as_text(rt$serialise_result(rt$text_response("plain text"))), "plain text")
  expect_equal(rt$serialise_result(rt$text_response("plain text"))$type,
               "text/plain; charset=utf-8")
  expect_equal(rt$serialise_result(rt$text_response("<p/>", "text/html"))$type, "text/html")
  expect_error(rt$text_response(c("a", "b")), "one string")
  expect_equal(rt$serialise_result(as.raw(c(1, 2)))$body, as.raw(c(1, 2)))
  expect_equal(as_text(rt$serialise_result(rt$json("{\"a\":1}"))), "{\"a\":1}")
  expect_equal(as_text(rt$serialise_result(NULL)), "null")
  expect_equal(rt$serialise_result(rt$text_response("\u00e9"))$body, as.raw(c(0xc3, 0xa9)))
  expect_equal(rt$serialise_result("\u00e9")$body, as.raw(c(0x22, 0xc3, 0xa9, 0x22)))
  unmarked <- rawToChar(as.raw(c(0xc3, 0xa9)))  # UTF-8 bytes without a mark, as in a C locale
  expect_equal(rt$utf8_raw(unmarked), as.raw(c(0xc3, 0xa9)))
  expect_equal(rt$serialise_result(unmarked)$body, as.raw(c(0x22, 0xc3, 0xa9, 0x22)))
  expect_equal(rt$json_quote(unmarked), "\"\u00e9\"")
})

test_that("other values become JSON", {
  expect_equal(as_text(rt$serialise_result(list(a = 1, b = NULL, c = NA))),
               "{\"a\":1,\"b\":null,\"c\":null}")
  expect_equal(as_text(rt$serialise_result(c("a", "b"))), "[\"a\",\"b\"]")
  expect_equal(as_text(rt$serialise_result(42L)), "42")
  expect_equal(as_text(rt$serialise_result(TRUE)), "true")
  expect_equal(as_text(rt$serialise_result(data.frame(x = 1:2))), "[{\"x\":1},{\"x\":2}]")
  expect_equal(rt$serialise_result(list())$type, "application/json")
})

test_that("values JSON cannot hold are a marshal error", {
  expect_equal(error_class(rt$serialise_result(list(e = globalenv()))), "Runtime.MarshalError")
  expect_equal(error_class(rt$serialise_result(new.env())), "Runtime.MarshalError")
})

test_that("a result over 6 MB is an error, not a crash; exactly 6 MiB passes", {
  expect_equal(error_class(rt$serialise_result(strrep("x", 6 * 1024 * 1024 + 1))),
               "Function.ResponseSizeTooLarge")
  expect_length(rt$serialise_result(strrep("x", 6 * 1024 * 1024 - 2))$body, 6 * 1024 * 1024)
  expect_equal(error_class(rt$serialise_result(strrep("x", 6 * 1024 * 1024 - 1))),
               "Function.ResponseSizeTooLarge")  # its two quotes take it over
  expect_equal(error_class(rt$serialise_result(raw(7e6))), "Function.ResponseSizeTooLarge")
})

test_that("an http_response is written as the proxy document", {
  out <- rt$serialise_result(rt$http_response("ok"), "rest_v1")
  expect_equal(jsonlite::fromJSON(as_text(out))$statusCode, 200L)
  expect_equal(out$type, "application/json")
})
