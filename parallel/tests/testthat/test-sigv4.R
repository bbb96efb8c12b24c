# AWS's Signature Version 4 test suite (see sigv4-testsuite/PROVENANCE): every case's canonical
# request, string to sign and Authorization header must come out byte for byte.

suite_dir <- test_path("sigv4-testsuite")
suite_credentials <- list(
  access_key_id = "AKIDEXAMPLE",
  secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
)
suite_time <- as.POSIXct("2015-08-30 12:36:00", tz = "UTC")
read_text <- function(path) {
  bytes <- readBin(path, "raw", file.size(path))
  rawToChar(bytes)
}

# A .req file: request line, headers (continuation lines start with white space), blank line,
# body.
parse_req <- function(path) {
  text <- read_text(path)
  split <- regexpr("\n\n", text, fixed = TRUE)
  head <- if (split > 0) substr(text, 1L, split - 1L) else text
  body <- if (split > 0) substr(text, split + 2L, nchar(text)) else ""
  lines <- strsplit(head, "\n", fixed = TRUE)[[1L]]
  request_line <- lines[[1L]]
  method <- sub(" .*$", "", request_line)
  target <- sub("^[A-Z]+ (.*) HTTP/1\\.1$", "\\1", request_line)
  headers <- character()
  for (line in lines[-1L]) {
    if (grepl("^[[:space:]]", line)) {
      headers[[length(headers)]] <- paste(headers[[length(headers)]], line, sep = "\n")
    } else {
      colon <- regexpr(":", line, fixed = TRUE)
      headers <- c(headers, stats::setNames(substr(line, colon + 1L, nchar(line)),
                                            substr(line, 1L, colon - 1L)))
    }
  }
  list(method = method, target = target, headers = headers, body = body)
}

cases <- unique(dirname(list.files(suite_dir, pattern = "\\.req$", recursive = TRUE)))

test_that("the suite is all there", {
  expect_gte(length(cases), 30L)
})

for (case in cases) {
  name <- basename(case)
  test_that(paste("SigV4 test suite:", case), {
    base <- file.path(suite_dir, case, name)
    req <- parse_req(paste0(base, ".req"))
    # As botocore's test does: the session token is the one the canonical request signs (the
    # "post-sts-header-after" case adds its token after signing, so signs none).
    creq <- read_text(paste0(base, ".creq"))
    credentials <- suite_credentials
    token <- regmatches(creq, regexpr("(?m)^x-amz-security-token:.*$", creq, perl = TRUE))
    if (length(token)) credentials$session_token <- sub("^[^:]*:", "", token)
    headers <- req$headers[tolower(names(req$headers)) != "x-amz-security-token"]
    host <- req$headers[tolower(names(req$headers)) == "host"][[1L]]
    signed <- sigv4_sign(
      req$method, paste0("https://", host, req$target), headers,
      body = req$body, service = "service", region = "us-east-1",
      credentials = credentials, time = suite_time
    )
    expect_identical(signed$canonical_request, creq)
    expect_identical(signed$string_to_sign, read_text(paste0(base, ".sts")))
    expect_identical(unname(signed$headers[["Authorization"]]), read_text(paste0(base, ".authz")))
  })
}
