# S3 event -> for each object created, read it with the lambdaparallel client (SigV4-signed
# GetObject), summarise it and write the summary next to it as <key>.summary.json:
#   {"bucket", "key", "bytes", "lines", "sha256", "columns" (CSV: the header's names)}
# The answer lists what was written and what was skipped.
#
# Writing next to the object fires the bucket's notification again: the function skips keys
# ending in .summary.json, so it never feeds on its own output (also filter the trigger with
# a suffix rule, e.g. .csv, so Lambda is not invoked for them at all).
#
# jsonlite turns `Records` into a data frame whose nested objects are nested data frames, so
# `records$s3$object$key` is the vector of every record's key. Keys arrive URL-encoded, with
# spaces as "+", as S3 sends them.

summary_suffix <- ".summary.json"

handle <- function(event) {
  records <- event$Records
  if (!is.data.frame(records) || !identical(unique(records$eventSource), "aws:s3")) {
    stop(structure(
      class = c("NotAnS3Event", "error", "condition"),
      list(message = "expected an S3 event notification (Records from aws:s3)", call = NULL)
    ))
  }
  keys <- vapply(gsub("+", " ", records$s3$object$key, fixed = TRUE), utils::URLdecode, "",
                 USE.NAMES = FALSE)
  buckets <- records$s3$bucket$name
  own <- endsWith(keys, summary_suffix)
  session <- if (any(!own)) lambdaparallel::aws_session() else NULL
  written <- lapply(which(!own), function(i) {
    summarise_object(buckets[[i]], keys[[i]], session)
  })
  list(
    written = I(written),
    skipped = I(keys[own])
  )
}

summarise_object <- function(bucket, key, session) {
  bytes <- lambdaparallel::s3_get_object(bucket, key, session = session)
  text <- rawToChar(bytes[bytes != as.raw(0L)])
  summary <- list(
    bucket = bucket,
    key = key,
    bytes = length(bytes),
    lines = lengths(regmatches(text, gregexpr("\n", text, fixed = TRUE))),
    sha256 = paste(openssl::sha256(bytes), collapse = "")
  )
  if (grepl("\\.csv$", key, ignore.case = TRUE) && nzchar(text)) {
    header <- strsplit(text, "\n", fixed = TRUE)[[1L]][[1L]]
    summary$columns <- I(names(utils::read.csv(text = header, check.names = FALSE)))
  }
  summary_key <- paste0(key, summary_suffix)
  lambdaparallel::s3_put_object(
    bucket, summary_key, as.character(jsonlite::toJSON(summary, auto_unbox = TRUE)),
    session = session
  )
  c(summary, summary_key = summary_key)
}
