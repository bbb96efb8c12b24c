# run_captured() is how every handler runs: whatever it signals must come back as data.

captured <- function(fn, ...) {
  hc <- rt$handler_call(fn, "handler", list(...))
  rt$run_captured(hc$call, hc$env, fn)
}

test_that("an error comes back with its class, real message and the handler's calls", {
  local_src <- function(lines) {
    file <- tempfile(fileext = ".R")
    writeLines(lines, file)
    env <- new.env()
    sys.source(file, envir = env, keep.source = TRUE)
    env
  }
  env <- local_src(c("handler <- function(event) {", "  check(event$v)", "}",
                     "check <- function(v) stop('bad value: ', v)"))
  out <- captured(env$handler, event = list(v = 7))
  expect_false(out$ok)
  expect_s3_class(out$error, "simpleError")
  body <- rt$error_body(out$error, out$trace)
  expect_equal(body$errorType, "simpleError")
  expect_equal(body$errorMessage, "bad value: 7")
  expect_equal(unlist(body$stackTrace), out$trace)
  expect_length(out$trace, 3L)
  expect_equal(out$trace[[1L]], "handler(event = event)")
  expect_match(out$trace[[2L]], "^check\\(event\\$v\\) at file.*\\.R#2$")
  expect_match(out$trace[[3L]], "^stop\\(\"bad value: \", v\\) at file.*\\.R#4$")
})

test_that("errors raised in C code and custom condition classes are reported as such", {
  out <- captured(function(event) log(-1:0, base = "e"), event = 1)
  expect_false(out$ok)
  expect_equal(rt$error_body(out$error)$errorMessage,
               "non-numeric argument to mathematical function")
  expect_equal(out$trace[[1L]], "handler(event = event)")
  expect_false(any(grepl("handleSimpleError|^h\\(", out$trace)))
  out <- captured(function() stop(structure(class = c("quotaError", "error", "condition"),
                                            list(message = "over quota", call = NULL))))
  expect_equal(rt$error_body(out$error)$errorType, "quotaError")
  expect_equal(rt$error_body(out$error)$errorMessage, "over quota")
})

test_that("stop() on a condition that is not an error is still caught", {
  out <- captured(function() stop(structure(class = c("custom", "condition"),
                                            list(message = "odd", call = NULL))))
  expect_false(out$ok)
  expect_equal(class(out$error)[[1L]], "custom")
  # ...but signalling one is not fatal.
  out <- captured(function() {
    signalCondition(structure(class = c("custom", "condition"), list(message = "x", call = NULL)))
    "fine"
  })
  expect_true(out$ok)
  expect_equal(out$value, "fine")
})

test_that("errors a handler catches itself stay its business", {
  out <- captured(function() tryCatch(stop("inner"), error = function(e) "recovered"))
  expect_true(out$ok)
  expect_equal(out$value, "recovered")
})

test_that("warnings are logged and do not stop the handler", {
  lines <- capture.output(out <- captured(function() {
    warning("watch out")
    "done"
  }))
  expect_true(out$ok)
  expect_equal(out$value, "done")
  expect_length(lines, 1L)
  expect_match(lines, "\tWARN\tWarning in handler\\(\\): watch out$")
})

test_that("an error without a message still reports", {
  out <- captured(function() stop())
  expect_false(out$ok)
  expect_equal(rt$error_body(out$error)$errorMessage, "")
})

test_that("error bodies and headers: Runtime.* types go in the header, R classes as Unhandled", {
  body <- rt$error_body(simpleError("m"), c("f()", "g()"))
  expect_equal(rt$json_write(body),
               "{\"errorMessage\":\"m\",\"errorType\":\"simpleError\",\"stackTrace\":[\"f()\",\"g()\"]}")
  expect_equal(rt$json_write(rt$error_body(simpleError("m"))),
               "{\"errorMessage\":\"m\",\"errorType\":\"simpleError\",\"stackTrace\":[]}")
  expect_equal(rt$error_headers(body)[["Lambda-Runtime-Function-Error-Type"]], "Unhandled")
  own <- rt$error_body(rt$runtime_condition("Runtime.HandlerNotFound", "x"))
  expect_equal(rt$error_headers(own)[["Lambda-Runtime-Function-Error-Type"]],
               "Runtime.HandlerNotFound")
})

test_that("the trace keeps user frames named like R's machinery (h, abort) and do.call()s", {
  h <- function(x) abort(x)
  abort <- function(x) stop("deep ", x)
  out <- captured(function(event) do.call(h, list(event)), event = 1)
  expect_equal(out$trace[[1L]], "handler(event = event)")
  expect_equal(length(out$trace), 5L)
  expect_match(out$trace[[2L]], "^do.call\\(h, list\\(event\\)\\)")
  expect_equal(out$trace[[3L]], "`<function>`(1)")
  expect_match(out$trace[[4L]], "^abort\\(x\\)")
  expect_match(out$trace[[5L]], "^stop\\(\"deep \", x\\)")
  custom <- captured(function() stop(structure(class = c("custom", "condition"),
                                               list(message = "odd", call = NULL))))
  expect_match(custom$trace[[length(custom$trace)]], "^stop\\(")
  c_level <- captured(function() sqrt("a"))
  expect_equal(c_level$trace, "handler()")
})
