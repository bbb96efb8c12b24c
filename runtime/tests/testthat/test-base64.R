test_that("base64 round-trips every byte and matches jsonlite", {
  reference <- function(b) gsub("\n", "", jsonlite::base64_enc(b))  # it wraps at 72 columns
  set.seed(1)
  for (n in c(0, 1, 2, 3, 4, 5, 255, 1000)) {
    bytes <- as.raw(sample(0:255, n, replace = TRUE))
    enc <- rt$base64_encode(bytes)
    expect_equal(enc, if (n) reference(bytes) else "")
    expect_equal(rt$base64_decode(enc), bytes)
  }
  expect_equal(rt$base64_encode(as.raw(0:255)), reference(as.raw(0:255)))
})

test_that("base64_decode takes the URL-safe alphabet, missing padding and line breaks", {
  expect_equal(rawToChar(rt$base64_decode("aGVsbG8")), "hello")
  expect_equal(rawToChar(rt$base64_decode("aGVs\nbG8=")), "hello")
  expect_equal(rt$base64_decode("-_8"), as.raw(c(0xfb, 0xff)))
  expect_error(rt$base64_decode("a"), "invalid base64")
})
