test_that("file.function handlers are sourced once into their own environment", {
  root <- task_root_with(list(
    "app.R" = c("counter <- 0", "main <- function(event) event", "helper <- function() 1"),
    "lower.r" = "f <- function() 'lower'",
    "src/deep.R" = "g <- function() 'deep'",
    "my.app.R" = "handle.event <- function(event) 'dotted'"
  ))
  h <- rt$resolve_handler("app.main", root)
  expect_equal(h$name, "main")
  expect_true(is.function(h$fn))
  expect_identical(environment(h$fn), h$env)
  expect_identical(parent.env(h$env), globalenv())
  expect_false(exists("counter", envir = globalenv(), inherits = FALSE))
  expect_equal(rt$resolve_handler("lower.f", root)$fn(), "lower")
  expect_equal(rt$resolve_handler("src/deep.g", root)$fn(), "deep")
  expect_equal(rt$resolve_handler("my.app.handle.event", root)$fn(NULL), "dotted")
})

test_that("init failures carry the error types of AWS's runtime clients and R's message", {
  root <- task_root_with(list(
    "app.R" = "main <- function(event) event",
    "broken.R" = c("f <- function(x) {", "  x +", "}"),
    "fails.R" = c("cfg <- function() stop('config missing')", "cfg()", "f <- function() 1"),
    "notfn.R" = "value <- 42"
  ))
  expect_equal(error_class(rt$resolve_handler("", root)), "Runtime.MalformedHandlerName")
  expect_equal(error_class(rt$resolve_handler("nofile.main", root)), "Runtime.ImportModuleError")
  expect_equal(error_class(rt$resolve_handler("app.absent", root)), "Runtime.HandlerNotFound")
  expect_equal(error_class(rt$resolve_handler("notfn.value", root)), "Runtime.HandlerNotFound")
  expect_equal(error_class(rt$resolve_handler("no_such_function_anywhere", root)),
               "Runtime.HandlerNotFound")
  syntax <- tryCatch(rt$resolve_handler("broken.f", root), error = identity)
  expect_s3_class(syntax, "Runtime.UserCodeSyntaxError")
  expect_match(conditionMessage(syntax), "unexpected '}'")
  top <- tryCatch(rt$resolve_handler("fails.f", root), error = identity)
  expect_s3_class(top, "Runtime.ImportModuleError")
  expect_match(conditionMessage(top), "config missing")
  expect_equal(attr(top, "trace"), c("cfg() at fails.R#2", "stop(\"config missing\") at fails.R#1"))
})

test_that("bare names and pkg::fn resolve to visible functions", {
  assign("rlambda_test_bare", function(event) "bare", envir = globalenv())
  on.exit(rm("rlambda_test_bare", envir = globalenv()))
  expect_equal(rt$resolve_handler("rlambda_test_bare", tempdir())$fn(NULL), "bare")
  expect_identical(rt$resolve_handler("base::identity", tempdir())$fn, identity)
  expect_equal(error_class(rt$resolve_handler("base::no_such_thing", tempdir())),
               "Runtime.HandlerNotFound")
})

test_that("a handler's formals choose how it receives the event", {
  shape <- function(f) rt$handler_shape(f)
  s <- shape(function(event) NULL)
  expect_true(s$event)
  expect_false(s$unwrap)
  expect_true(s$needs_json)
  s <- shape(function(raw_event, context) NULL)
  expect_true(s$raw_event && s$context)
  expect_false(s$needs_json)
  s <- shape(function(x, y = 2, context) NULL)
  expect_true(s$unwrap)
  expect_equal(s$fields, c("x", "y"))
  expect_false(s$dots)
  s <- shape(function(...) NULL)
  expect_true(s$unwrap && s$dots)
  s <- shape(function() NULL)
  expect_false(s$needs_json || s$unwrap)
  expect_equal(shape(identity)$fields, "x")
  expect_true(shape(function(request) NULL)$needs_json)
  expect_true(shape(function(event, stream) NULL)$stream)
})

test_that("a handler path cannot leave the task root", {
  outer <- tempfile("outside")
  dir.create(outer)
  root <- file.path(outer, "task")
  dir.create(root)
  writeLines("f <- function() 'escaped'", file.path(outer, "x.R"))
  for (spec in c("../x.f", "src/../../x.f", "/etc/x.f")) {
    err <- tryCatch(rt$resolve_handler(spec, root), error = function(e) e)
    expect_s3_class(err, "Runtime.MalformedHandlerName")
    expect_match(conditionMessage(err), "outside the task root", fixed = TRUE)
  }
})

test_that("SnapStart hooks are registered in order and must be functions", {
  old <- list(rt$rt_state$hooks_before_snapshot, rt$rt_state$hooks_after_restore)
  on.exit({
    rt$rt_state$hooks_before_snapshot <- old[[1L]]
    rt$rt_state$hooks_after_restore <- old[[2L]]
  })
  rt$rt_state$hooks_after_restore <- NULL
  seen <- character()
  rt$lambda_after_restore(function() seen <<- c(seen, "a"))
  expect_equal(rt$lambda_after_restore(function() seen <<- c(seen, "b")), 2L)
  expect_null(rt$run_hooks("after_restore"))
  expect_equal(seen, c("a", "b"))
  expect_error(rt$lambda_before_snapshot("not a function"), "must be a function")
  rt$lambda_after_restore(function() stop(structure(
    class = c("poolClosed", "error", "condition"), list(message = "gone", call = NULL))))
  failure <- rt$run_hooks("after_restore")
  expect_s3_class(failure, "poolClosed")
  expect_equal(rt$error_body(failure)$errorType, "poolClosed")
})
