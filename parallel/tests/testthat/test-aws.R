test_that("credentials come from the environment first", {
  with_aws_env(c(AWS_ACCESS_KEY_ID = "AKIAENV", AWS_SECRET_ACCESS_KEY = "s",
                 AWS_SESSION_TOKEN = "t"), {
    creds <- aws_credentials()
    expect_identical(creds$access_key_id, "AKIAENV")
    expect_identical(creds$session_token, "t")
    expect_identical(creds$source, "environment")
  })
})

test_that("profiles come from the shared credentials and config files", {
  dir <- tempfile("aws")
  dir.create(dir)
  writeLines(c("[default]", "aws_access_key_id = AKIADEFAULT", "aws_secret_access_key = d",
               "", "[work]", "aws_access_key_id=AKIAWORK", "aws_secret_access_key=w",
               "aws_session_token = tok # not a comment in INI values"),
             file.path(dir, "credentials"))
  writeLines(c("[default]", "region = eu-west-1", "[profile work]", "region = ap-south-1",
               "s3 =", "  addressing_style = path", "[profile cfgonly]",
               "aws_access_key_id = AKIACFG", "aws_secret_access_key = c"),
             file.path(dir, "config"))
  with_aws_env(c(AWS_SHARED_CREDENTIALS_FILE = file.path(dir, "credentials"),
                 AWS_CONFIG_FILE = file.path(dir, "config")), {
    expect_identical(aws_credentials()$access_key_id, "AKIADEFAULT")
    expect_identical(aws_region(), "eu-west-1")
    expect_identical(aws_credentials("work")$access_key_id, "AKIAWORK")
    Sys.setenv(AWS_PROFILE = "work")
    expect_identical(aws_credentials()$access_key_id, "AKIAWORK")
    expect_identical(aws_credentials()$source, "profile 'work'")
    expect_identical(aws_region(), "ap-south-1")
    Sys.setenv(AWS_REGION = "us-west-2")
    expect_identical(aws_region(), "us-west-2")
    expect_identical(aws_credentials("cfgonly")$access_key_id, "AKIACFG")
  })
})

test_that("no credentials is an error that says where they were looked for", {
  with_aws_env(character(), {
    expect_error(aws_credentials(), class = "lambdaparallel_no_credentials")
    expect_error(aws_credentials(), "AWS_ACCESS_KEY_ID")
    expect_error(aws_region(), "AWS_REGION")
  })
})

test_that("endpoints: per service, then global, then AWS's", {
  with_aws_env(c(AWS_ACCESS_KEY_ID = "a", AWS_SECRET_ACCESS_KEY = "b", AWS_REGION = "eu-north-1"), {
    s <- aws_session()
    expect_identical(s$lambda, "https://lambda.eu-north-1.amazonaws.com")
    expect_identical(lambdaparallel:::s3_url(s, "bkt", "a b/c.csv"),
                     "https://bkt.s3.eu-north-1.amazonaws.com/a%20b/c.csv")
    Sys.setenv(AWS_ENDPOINT_URL = "http://127.0.0.1:4566/")
    expect_identical(aws_session()$lambda, "http://127.0.0.1:4566")
    Sys.setenv(AWS_ENDPOINT_URL_S3 = "http://127.0.0.1:5000")
    s <- aws_session()
    expect_identical(s$lambda, "http://127.0.0.1:4566")
    expect_identical(lambdaparallel:::s3_url(s, "bkt", "k"), "http://127.0.0.1:5000/bkt/k")
    Sys.setenv(AWS_ENDPOINT_URL_LAMBDA = "http://127.0.0.1:9001")
    expect_identical(aws_session()$lambda, "http://127.0.0.1:9001")
    expect_identical(lambdaparallel:::invoke_url(aws_session(), "arn:aws:lambda:x:1:function:f"),
                     "http://127.0.0.1:9001/2015-03-31/functions/arn%3Aaws%3Alambda%3Ax%3A1%3Afunction%3Af/invocations")
  })
})

test_that("temporary credentials are refreshed before they expire, once if that fails", {
  calls <- 0L
  provider <- function() {
    calls <<- calls + 1L
    if (calls > 2L) stop("the source went away")
    list(access_key_id = paste0("ASIA", calls), secret_access_key = "s", session_token = "t",
         expiration = Sys.time() + 300, source = "a test source")
  }
  creds <- lambdaparallel:::new_credentials(provider(), provider)
  sign <- function() sigv4_sign("GET", "https://lambda.us-east-1.amazonaws.com/", service = "lambda",
                                region = "us-east-1", credentials = creds)
  # 300 s left is inside the 600 s window: refreshed (from the same source) before signing.
  expect_match(sign()$headers[["Authorization"]], "Credential=ASIA2/")
  # The new ones are inside the window too: not asked again for a minute.
  expect_match(sign()$headers[["Authorization"]], "Credential=ASIA2/")
  creds$not_before <- NULL
  expect_error(sign(), "from a test source expire at .* refreshing them failed: the source went away",
               class = "lambdaparallel_credentials_refresh")
  # The failed refresh is not tried again: the old credentials sign (a stopped map's clean-up).
  expect_match(sign()$headers[["Authorization"]], "Credential=ASIA2/")
  expect_false(grepl("\"s\"", format(creds)))
  expect_match(format(creds), "^<AWS credentials ASIA2 from a test source, expiring ")
})

test_that("keys without an expiry are never refreshed", {
  with_aws_env(c(AWS_ACCESS_KEY_ID = "AKIAENV", AWS_SECRET_ACCESS_KEY = "s"), {
    expect_null(aws_credentials()$refresh)
  })
})
