test_that("RLAMBDA_GC_EVERY sets the full-collection interval; bad values fall back", {
  expect_identical(rt$gc_interval(""), 1000L)
  expect_identical(rt$gc_interval("0"), 0L)
  expect_identical(rt$gc_interval("25"), 25L)
  out <- capture.output(n <- rt$gc_interval("often"))
  expect_identical(n, 1000L)
  expect_match(paste(out, collapse = "\n"), "RLAMBDA_GC_EVERY must be a whole number")
  out <- capture.output(n <- rt$gc_interval("-1"))
  expect_identical(n, 1000L)
})

test_that("a full collection runs after every n-th invoke and never with 0", {
  expect_false(rt$collect_between_invokes(999, 1000L))
  expect_true(rt$collect_between_invokes(1000, 1000L))
  expect_true(rt$collect_between_invokes(3, 1L))
  expect_false(rt$collect_between_invokes(1000, 0L))
})

test_that("the collection is a full one: it frees garbage in R's oldest generation", {
  # An object that lived through two full collections sits in the oldest generation, where
  # only a full collection frees it; its finalizer says when that happened.
  flag <- new.env()
  flag$collected <- FALSE
  local({
    held <- new.env()
    reg.finalizer(held, function(e) flag$collected <- TRUE)
    gc()
    gc()
  })
  expect_false(rt$collect_between_invokes(1, 1000L))
  expect_false(flag$collected)
  expect_true(rt$collect_between_invokes(1000, 1000L))
  expect_true(flag$collected)
})
