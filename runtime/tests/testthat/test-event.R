payload <- function(txt) charToRaw(enc2utf8(txt))
shape <- function(f) rt$handler_shape(f)

test_that("an `event` formal gets the whole parsed event, NULL included", {
  args <- rt$build_args(shape(function(event) NULL), payload("{\"a\": [1, 2]}"))
  expect_equal(args$event, list(a = c(1L, 2L)))
  args <- rt$build_args(shape(function(event) NULL), payload("null"))
  expect_true("event" %in% names(args))
  expect_null(args$event)
})

test_that("`raw_event` gets the payload as text, unparsed", {
  args <- rt$build_args(shape(function(raw_event) NULL), payload("{not json at all"))
  expect_equal(args, structure(list(raw_event = "{not json at all"), http_kind = NULL))
})

test_that("other formals get the event's fields; unknown fields need `...`", {
  s <- shape(function(x, y = 2) NULL)
  expect_equal(unclass(rt$build_args(s, payload("{\"x\": 1}")))[c("x")], list(x = 1L))
  expect_equal(error_class(rt$build_args(s, payload("{\"x\": 1, \"z\": 3}"))),
               "Runtime.InvalidEvent")
  expect_match(tryCatch(rt$build_args(s, payload("{\"z\": 3}")), error = conditionMessage),
               "'z' match no argument")
  dots <- rt$build_args(shape(function(x, ...) NULL), payload("{\"x\": 1, \"z\": 3}"))
  expect_equal(dots$z, 3L)
  expect_equal(error_class(rt$build_args(s, payload("[1, 2]"))), "Runtime.InvalidEvent")
  expect_equal(error_class(rt$build_args(s, payload("\"text\""))), "Runtime.InvalidEvent")
  expect_equal(length(rt$build_args(s, payload("{}"))), 0L)
  # A field named like a runtime argument the handler also takes is ambiguous.
  expect_equal(error_class(rt$build_args(shape(function(x, context) NULL),
                                         payload("{\"x\": 1, \"context\": 2}"), context = 1)),
               "Runtime.InvalidEvent")
})

test_that("an event that is not JSON is an unmarshal error", {
  expect_equal(error_class(rt$build_args(shape(function(event) NULL), payload("{nope"))),
               "Runtime.UnmarshalError")
  expect_equal(error_class(rt$build_args(shape(function(event) NULL), as.raw(c(0x7b, 0xff)))),
               "Runtime.UnmarshalError")
})

test_that("`request` gets the normalised HTTP request, and the kind is remembered", {
  txt <- paste(readLines(fixture("function-url.json")), collapse = "\n")
  args <- rt$build_args(shape(function(request, context) NULL), payload(txt), context = "ctx")
  expect_s3_class(args$request, "lambda_http_request")
  expect_equal(args$context, "ctx")
  expect_equal(attr(args, "http_kind"), "function_url")
})

test_that("handler_call names the arguments in the call, not their values", {
  fn <- function(event, context) list(event, context)
  hc <- rt$handler_call(fn, "main", list(event = list(big = 1:1000), context = NULL))
  expect_equal(deparse(hc$call), "main(event = event, context = context)")
  expect_equal(eval(hc$call, hc$env), list(list(big = 1:1000), NULL))
  clash <- rt$handler_call(function(main) main, "main", list(main = 5))
  expect_equal(eval(clash$call, clash$env), 5)
})

test_that("event fields R cannot bind as arguments are an invalid event", {
  for (f in list(function(x, ...) NULL, function(x) NULL)) {
    for (name in c("", "...", "..1")) {
      body <- sprintf("{\"x\": 1, \"%s\": 2}", name)
      err <- tryCatch(rt$build_args(shape(f), payload(body)), error = function(e) e)
      expect_s3_class(err, "Runtime.InvalidEvent")
      expect_match(conditionMessage(err), "cannot be passed as R arguments", fixed = TRUE)
    }
  }
})
