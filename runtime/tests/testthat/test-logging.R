with_log_env <- function(env, code) {
  old <- as.list(rt$rt_state)
  on.exit({
    rm(list = ls(rt$rt_state), envir = rt$rt_state)
    list2env(old, envir = rt$rt_state)
  })
  rt$log_configure(env)
  force(code)
}

test_that("text lines carry time, request id, level and message on one line", {
  time <- as.POSIXct("2024-05-06 07:08:09.5", tz = "UTC")
  line <- rt$format_log_line("INFO", "two\nlines", request_id = "req-1", json = FALSE, time = time)
  expect_equal(line, "2024-05-06T07:08:09.500Z\treq-1\tINFO\ttwo\rlines")
  expect_match(rt$format_log_line("WARN", "x", request_id = NULL, json = FALSE), "\t-\tWARN\tx$")
})

test_that("JSON lines have timestamp, level, message and requestId", {
  time <- as.POSIXct("2024-05-06 07:08:09", tz = "UTC")
  line <- rt$format_log_line("ERROR", "m \"q\"", request_id = "req-2", json = TRUE, time = time)
  expect_equal(jsonlite::fromJSON(line), list(timestamp = "2024-05-06T07:08:09.000Z",
                                              level = "ERROR", message = "m \"q\"",
                                              requestId = "req-2"))
  expect_null(jsonlite::fromJSON(rt$format_log_line("INFO", "x", request_id = NULL,
                                                    json = TRUE))$requestId)
})

test_that("AWS_LAMBDA_LOG_FORMAT and AWS_LAMBDA_LOG_LEVEL are honoured", {
  with_log_env(c(AWS_LAMBDA_LOG_FORMAT = "JSON", AWS_LAMBDA_LOG_LEVEL = "WARN"), {
    expect_length(capture.output(rt$log_info("hidden")), 0L)
    out <- capture.output(rt$log_warn("shown ", 1))
    expect_equal(jsonlite::fromJSON(out)$message, "shown 1")
    expect_equal(jsonlite::fromJSON(out)$level, "WARN")
    expect_error(rt$lambda_log("LOUD", "x"), "unknown log level")
  })
  with_log_env(c(AWS_LAMBDA_LOG_FORMAT = "text"), {
    expect_match(capture.output(rt$log_info("plain")), "\tINFO\tplain$")
    expect_length(capture.output(rt$log_debug("not at INFO")), 0L)
  })
})

test_that("in JSON mode message() output becomes log lines; error reports carry their fields", {
  with_log_env(c(AWS_LAMBDA_LOG_FORMAT = "JSON"), {
    hc <- rt$handler_call(function() {
      message("note this")
      1
    }, "h", list())
    out <- capture.output(res <- rt$run_captured(hc$call, hc$env))
    expect_true(res$ok)
    expect_equal(jsonlite::fromJSON(out)$message, "note this")
    err <- capture.output(rt$log_error_body(rt$error_body(simpleError("bad"), "f()")))
    parsed <- jsonlite::fromJSON(err)
    expect_equal(parsed$errorType, "simpleError")
    expect_equal(parsed$stackTrace, "f()")
    expect_equal(parsed$level, "ERROR")
  })
})

test_that("LOGLEVEL switches the runtime's own debug lines, on stderr", {
  with_log_env(c(LOGLEVEL = "debug"), {
    err <- capture.output(rt$rt_debug("hello"), type = "message")
    expect_match(err, "\tDEBUG\t\\[rlambda\\] hello$")
    expect_true(rt$rt_state$debug)
  })
  with_log_env(character(), expect_false(rt$rt_state$debug))
})

test_that("a log line or error body with bytes that are not UTF-8 is still written", {
  bad <- rawToChar(as.raw(c(0x61, 0xff, 0x0a, 0x62)))
  text <- rt$format_log_line("INFO", bad, request_id = "r", json = FALSE)
  expect_match(text, "\tINFO\ta<ff>\rb$")
  line <- rt$format_log_line("INFO", bad, request_id = "r", json = TRUE)
  expect_match(line, "\"message\":\"a<ff>\\nb\"", fixed = TRUE)
  body <- rt$error_body(simpleError(paste("bad:", bad)))
  expect_equal(body$errorMessage, "bad: a<ff>\nb")
})

test_that("in JSON mode what a handler prints becomes INFO lines, in order with log lines", {
  out <- run_base_r(c(
    "rt$log_configure(c(AWS_LAMBDA_LOG_FORMAT = 'JSON'))",
    "rt$rt_state$request_id <- 'req-1'",
    "rt$capture_output_start()",
    "print(1:2); rt$log_info('between'); cat('partial')",
    "rt$capture_output_end()",
    "cat('after\\n')"))
  expect_equal(out[[4L]], "after")
  lines <- lapply(out[1:3], jsonlite::fromJSON)
  expect_equal(vapply(lines, `[[`, "", "message"), c("[1] 1 2", "between", "partial"))
  expect_equal(unique(vapply(lines, `[[`, "", "requestId")), "req-1")
  expect_equal(unique(vapply(lines, `[[`, "", "level")), "INFO")
})
