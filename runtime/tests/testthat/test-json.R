test_that("json_quote escapes what JSON requires and keeps UTF-8 as is", {
  expect_equal(rt$json_quote("a\"b\\c"), "\"a\\\"b\\\\c\"")
  expect_equal(rt$json_quote("l1\nl2\r\t"), "\"l1\\nl2\\r\\t\"")
  expect_equal(rt$json_quote(rawToChar(as.raw(c(0x61, 0x01, 0x1f)))), "\"a\\u0001\\u001f\"")
  expect_equal(rt$json_quote(c("x", NA)), c("\"x\"", "null"))
  expect_equal(rt$json_quote("\u00e9\u4e2d"), "\"\u00e9\u4e2d\"")
})

test_that("json_write writes the runtime's own documents and jsonlite reads them back", {
  doc <- list(errorMessage = "bad \"thing\"\nhere", errorType = "simpleError",
              stackTrace = list("f()", "g(x) at a.R#3"), n = 1.5, ok = TRUE, none = NULL,
              empty = list(), obj = structure(list(), names = character()))
  txt <- rt$json_write(doc)
  back <- jsonlite::fromJSON(txt, simplifyVector = FALSE)
  expect_equal(back$errorMessage, "bad \"thing\"\nhere")
  expect_equal(back$stackTrace, list("f()", "g(x) at a.R#3"))
  expect_equal(back$n, 1.5)
  expect_true(back$ok)
  expect_null(back$none)
  expect_match(txt, "\"empty\":\\[\\]")
  expect_match(txt, "\"obj\":\\{\\}")
  expect_equal(rt$json_write(c(1, NA, Inf)), "[1,null,null]")
  expect_equal(rt$json_write(list()), "[]")
  expect_equal(rt$json_write(list("only")), "[\"only\"]")
})

test_that("to_json unboxes scalars, writes NULL and NA as null and data frames as records", {
  expect_equal(as.character(rt$to_json(list(a = 1L, b = "x", c = NULL, d = NA, e = c(1, 2)))),
               "{\"a\":1,\"b\":\"x\",\"c\":null,\"d\":null,\"e\":[1,2]}")
  expect_equal(as.character(rt$to_json(data.frame(a = 1:2, b = c("x", "y")))),
               "[{\"a\":1,\"b\":\"x\"},{\"a\":2,\"b\":\"y\"}]")
  expect_equal(as.character(rt$to_json(list(keep = I(1)))), "{\"keep\":[1]}")
  expect_equal(as.character(rt$to_json(list(pi = pi))), "{\"pi\":3.14159265358979}")
})

test_that("from_json follows jsonlite's defaults and reads an empty payload as NULL", {
  expect_null(rt$from_json(""))
  expect_equal(rt$from_json("[1,2,3]"), c(1L, 2L, 3L))
  expect_equal(rt$from_json("{\"a\":{\"b\":null}}"), list(a = list(b = NULL)))
})

test_that("json() marks serialised JSON and refuses anything else", {
  expect_s3_class(rt$json("{\"a\":1}"), "json")
  expect_s3_class(rt$json(charToRaw("[]")), "json")
  expect_error(rt$json(c("a", "b")), "one string")
  expect_error(rt$json(1), "one string")
})

test_that("bytes that are not UTF-8 become <xx> escapes, never an error", {
  bad <- rawToChar(as.raw(c(0x61, 0xff, 0xfe, 0x62)))
  expect_equal(rt$as_utf8(bad), "a<ff><fe>b")
  expect_true(validUTF8(rt$as_utf8(bad)))
  expect_equal(rt$json_quote(bad), "\"a<ff><fe>b\"")
  marked <- bad
  Encoding(marked) <- "bytes"
  expect_equal(rt$as_utf8(marked), "a<ff><fe>b")
  expect_equal(rt$as_utf8(c("\u00e9", NA)), c("\u00e9", NA))
})
