# S3 event -> {"objects": n, "total_bytes": ..., "buckets": [...], "largest": {...},
#              "by_extension": {"csv": n, ...}}
#
# jsonlite turns `Records` into a data frame whose nested objects are nested data frames, so
# `records$s3$object$key` is the vector of every record's key. Keys arrive URL-encoded, with
# spaces as "+", as S3 sends them.

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
  sizes <- as.numeric(records$s3$object$size)
  buckets <- records$s3$bucket$name
  extension <- tolower(ifelse(grepl(".", basename(keys), fixed = TRUE),
                              sub(".*\\.", "", basename(keys)), ""))
  largest <- which.max(sizes)
  list(
    objects = nrow(records),
    total_bytes = sum(sizes),
    buckets = I(sort(unique(buckets))),
    largest = list(bucket = buckets[[largest]], key = keys[[largest]], size = sizes[[largest]]),
    by_extension = as.list(table(extension))
  )
}
