test_that("each task gets its own L'Ecuyer-CMRG stream, from the caller's seed", {
  set.seed(1)
  a <- make_seeds(5)
  set.seed(1)
  b <- make_seeds(5)
  expect_identical(a, b)
  expect_length(unique(a), 5L)
  expect_identical(a[[2]], parallel::nextRNGStream(a[[1]]))
  expect_identical(make_seeds(3, 42L), make_seeds(3, 42L))
  expect_null(make_seeds(3, FALSE))
  # The caller's RNG kind is left as it was.
  expect_identical(RNGkind()[[1]], "Mersenne-Twister")
})

test_that("external pointers are refused before they travel", {
  expect_error(lambdaparallel:::lp_serialize(list(h = curl::new_handle()), "the globals"),
               class = "lambdaparallel_unserializable")
  expect_error(lambdaparallel:::lp_serialize(curl::new_handle(), "the globals"), "curl_handle")
  expect_type(lambdaparallel:::lp_serialize(list(1, "a", new.env()), "x"), "raw")
})

test_that("staging: all inline when it fits, else the common part and big task parts", {
  spec <- list(s3_bucket = "b")
  small <- raw(10)
  big <- raw(5e6)
  plan <- lambdaparallel:::plan_staging(small, list(small, small), list(1L, 2L), spec)
  expect_false(plan$common)
  expect_false(any(plan$tasks))
  plan <- lambdaparallel:::plan_staging(big, list(small, big), list(1L, 2L), spec)
  expect_true(plan$common)
  expect_identical(plan$tasks, c(FALSE, TRUE))
  expect_error(lambdaparallel:::plan_staging(small, list(small, big), list(1:2, 3:4),
                                             list(s3_bucket = NULL)),
               "tasks 3-4 is 6.7 MB.*s3_bucket")
})

test_that("globals are found in nested functions and package functions become packages", {
  scale <- 3
  helper <- function(x) median(x) * scale
  f <- function(x) helper(x) + 1
  found <- lambdaparallel:::find_globals(f, list(), TRUE, environment())
  expect_setequal(names(found$globals), c("helper", "scale"))
  expect_true("stats" %in% found$packages)
})

test_that("a worker refuses to fan out unless allowed", {
  old <- options(lambdaparallel.fanout = 0L)
  on.exit(options(old))
  expect_error(lambdaparallel:::check_fanout(), class = "lambdaparallel_recursion")
  options(lambdaparallel.fanout = 1L)
  expect_silent(lambdaparallel:::check_fanout())
  expect_error(lambdaparallel:::check_fanout(), class = "lambdaparallel_recursion")
})

test_that("bad arguments are caught before anything is sent", {
  with_aws_env(c(AWS_ACCESS_KEY_ID = "a", AWS_SECRET_ACCESS_KEY = "b", AWS_REGION = "us-east-1",
                 AWS_ENDPOINT_URL_LAMBDA = "http://127.0.0.1:9"), {
    expect_error(lambda_map(1:3, identity), "function_name")
    expect_error(lambda_map(1:3, identity, function_name = "f", concurrency = 0), "concurrency")
    expect_error(lambda_map(1:3, identity, function_name = "f", concurrency = 2000),
                 "safety bound of 1000")
    expect_error(lambda_map(1:3, identity, function_name = "f", max_tasks = 2),
                 class = "lambdaparallel_bound")
    expect_error(registerDoLambda("f", concurency = 3), "unknown option concurency")
    # Port 9 (discard) refuses: the DryRun check stops the map before any task is sent.
    expect_error(lambda_map(1:3, identity, function_name = "f"), class = "lambdaparallel_unreachable")
  })
})

test_that("the worker runs tasks: values, output, conditions, errors with their stack", {
  common <- list(fun = function(x) {
    cat("x is", x, "\n")
    message("m", x)
    if (x == 2) warning("w2")
    if (x == 3) stop("three")
    x * 10
  }, more_args = list(), globals = list(), packages = character(), r_version = "4.0.0")
  tasks <- list(list(index = 1L, args = list(1)), list(index = 2L, args = list(2)),
                list(index = 3L, args = list(3)))
  event <- sprintf('{"lambdaparallel":1,"common":%s,"tasks":%s,"result":null}',
                   lambdaparallel:::part_inline(serialize(common, NULL)),
                   lambdaparallel:::part_inline(serialize(tasks, NULL)))
  answer <- jsonlite::fromJSON(worker_handler(event), simplifyVector = FALSE)
  results <- unserialize(openssl::base64_decode(answer$result$inline))
  expect_identical(results[[1]]$value, 10)
  expect_identical(results[[1]]$output, "x is 1 ")
  expect_s3_class(results[[2]]$conditions[[2]], "warning")
  expect_false(results[[3]]$ok)
  expect_identical(results[[3]]$error$message, "three")
  expect_match(results[[3]]$error$calls[[1]], "^fun\\(")
})

test_that("envelopes: made once each, read by the worker, result keys named for cleanup", {
  spec <- list(s3_bucket = NULL, s3_prefix = "lp/", fanout = 0L)
  common <- lambdaparallel:::serialize_common(list(fun = function(x) x + 1, more_args = list(),
                                                   globals = list(), packages = character()),
                                              spec, "the function")
  chunks <- list(1L, 2:3)
  task_bytes <- lapply(chunks, function(idx) {
    serialize(lapply(idx, function(i) list(index = i, args = list(i * 10))), NULL)
  })
  envelopes <- lambdaparallel:::new_envelopes(common, task_bytes, chunks, spec)
  second <- envelopes$payload(2L)
  expect_identical(envelopes$payload(2L), second)
  event <- jsonlite::fromJSON(rawToChar(second), simplifyVector = FALSE)
  expect_identical(event$lambdaparallel, 1L)
  expect_null(event$result)
  expect_identical(envelopes$staged, character())
  answer <- jsonlite::fromJSON(worker_handler(rawToChar(second)), simplifyVector = FALSE)
  results <- unserialize(openssl::base64_decode(answer$result$inline))
  expect_identical(vapply(results, `[[`, 0, "value"), c(21, 31))

  # With a bucket, each invoke names where the worker may stage its results; an answer that
  # came inline takes its key off the list to delete.
  spec$s3_bucket <- "b"
  envelopes <- lambdaparallel:::new_envelopes(common, task_bytes, chunks, spec)
  for (k in 1:2) envelopes$payload(k)
  expect_length(envelopes$staged, 2L)
  expect_match(envelopes$staged, "^lp/[0-9T]+-[0-9a-f]+/result-[12]$")
  event <- jsonlite::fromJSON(rawToChar(envelopes$payload(1L)), simplifyVector = FALSE)
  expect_identical(event$result, list(bucket = "b", key = envelopes$staged[[1]]))
  envelopes$answered(1L, inline = TRUE)
  expect_match(envelopes$staged, "result-2$")
})

test_that("staging ids come from the OS, not the caller's RNG, which they leave untouched", {
  new_map_id <- lambdaparallel:::new_map_id
  set.seed(42)
  before <- .Random.seed
  a <- new_map_id()
  expect_identical(.Random.seed, before)
  set.seed(42)
  b <- new_map_id()
  expect_false(identical(a, b))
  expect_match(a, "^[0-9]{8}T[0-9]{6}-[0-9a-f]{16}$")
})
