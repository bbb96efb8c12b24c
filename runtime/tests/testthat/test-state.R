# The state file tells the bootstrap which invoke was in flight if R dies.

test_that("the state file always holds exactly the last state written", {
  path <- tempfile("state")
  old <- Sys.getenv("RLAMBDA_STATE_FILE", unset = NA)
  on.exit(if (is.na(old)) Sys.unsetenv("RLAMBDA_STATE_FILE") else
    Sys.setenv(RLAMBDA_STATE_FILE = old), add = TRUE)
  Sys.setenv(RLAMBDA_STATE_FILE = path)
  expect_true(rt$write_state("8f1c2d9e-7a6b-4c5d-9e8f-1a2b3c4d5e6f"))
  expect_identical(readLines(path, warn = FALSE), "8f1c2d9e-7a6b-4c5d-9e8f-1a2b3c4d5e6f")
  expect_true(rt$write_state("init"))  # shorter: nothing of the longer value is left
  expect_identical(readLines(path, warn = FALSE), "init")
  expect_true(rt$write_state(""))
  expect_identical(file.size(path), 0)
  # A handler that closes every connection does not stop the next write.
  closeAllConnections()
  expect_true(rt$write_state("after"))
  expect_identical(readLines(path, warn = FALSE), "after")
  # Another path (a forked worker's) gets a file of its own; the first keeps its content.
  other <- tempfile("state")
  Sys.setenv(RLAMBDA_STATE_FILE = other)
  expect_true(rt$write_state("worker"))
  expect_identical(readLines(other, warn = FALSE), "worker")
  expect_identical(readLines(path, warn = FALSE), "after")
})

test_that("no state file, or one that cannot be written, is never an error", {
  old <- Sys.getenv("RLAMBDA_STATE_FILE", unset = NA)
  on.exit(if (is.na(old)) Sys.unsetenv("RLAMBDA_STATE_FILE") else
    Sys.setenv(RLAMBDA_STATE_FILE = old), add = TRUE)
  Sys.setenv(RLAMBDA_STATE_FILE = "")
  expect_false(rt$write_state("x"))
  Sys.setenv(RLAMBDA_STATE_FILE = file.path(tempfile("missing-dir"), "state"))
  expect_silent(expect_false(rt$write_state("x")))
})
