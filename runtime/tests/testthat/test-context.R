headers <- list(
  "lambda-runtime-aws-request-id" = "req-9",
  "lambda-runtime-deadline-ms" = "1700000003000",
  "lambda-runtime-invoked-function-arn" = "arn:aws:lambda:eu-west-1:1:function:f",
  "lambda-runtime-trace-id" = "Root=1-abc",
  "lambda-runtime-client-context" = "{\"custom\": {\"k\": \"v\"}}"
)
env <- c(AWS_LAMBDA_FUNCTION_NAME = "f", AWS_LAMBDA_FUNCTION_VERSION = "$LATEST",
         AWS_LAMBDA_FUNCTION_MEMORY_SIZE = "1024", AWS_LAMBDA_LOG_GROUP_NAME = "/aws/lambda/f",
         AWS_LAMBDA_LOG_STREAM_NAME = "2024/01/01/[$LATEST]abc")

test_that("the context carries the invoke's headers and the function's settings", {
  ctx <- rt$make_context(headers, env, now_ms = function() 1700000000000)
  expect_equal(ctx$request_id, "req-9")
  expect_equal(ctx$invoked_function_arn, "arn:aws:lambda:eu-west-1:1:function:f")
  expect_equal(ctx$deadline_ms, 1700000003000)
  expect_equal(ctx$remaining_time_ms(), 3000)
  expect_equal(ctx$trace_id, "Root=1-abc")
  expect_equal(ctx$function_name, "f")
  expect_equal(ctx$function_version, "$LATEST")
  expect_identical(ctx$memory_limit_mb, 1024L)
  expect_equal(ctx$log_group_name, "/aws/lambda/f")
  expect_equal(ctx$log_stream_name, "2024/01/01/[$LATEST]abc")
  expect_equal(ctx$client_context, list(custom = list(k = "v")))
  expect_null(ctx$identity)
  expect_null(ctx$tenant_id)
  expect_false(inherits(ctx$function_name, "Dlist"))
})

test_that("remaining time counts down and never goes below zero", {
  now <- 1700000000000
  ctx <- rt$make_context(headers, env, now_ms = function() now)
  now <- 1700000002500
  expect_equal(ctx$remaining_time_ms(), 500)
  now <- 1700000009000
  expect_equal(ctx$remaining_time_ms(), 0)
})

test_that("JSON-valued headers are parsed only when read", {
  ctx <- rt$make_context(c(headers, list("lambda-runtime-cognito-identity" = "{broken")), env)
  expect_equal(ctx$request_id, "req-9")  # making the context did not parse the identity
  expect_error(ctx$identity)
})

test_that("contexts and requests print as one line", {
  ctx <- rt$make_context(headers, env, now_ms = function() 1700000000000)
  expect_equal(capture.output(rt$print.lambda_context(ctx)),
               "<lambda_context> request req-9, 3000 ms left")
  req <- rt$as_http_request(rt$from_json(paste(readLines(fixture("alb.json")), collapse = "")))
  expect_equal(capture.output(rt$print.lambda_http_request(req)),
               "<lambda_http_request> GET /lambda (alb, 0 body bytes)")
})
