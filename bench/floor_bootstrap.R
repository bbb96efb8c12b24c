# The R floor for bench/rie_runtime.py: the barest Lambda runtime base R can make.
#
# GET /next, send the event's bytes back untouched, repeat: no JSON at all (the Python floor at
# least parses and writes it), no error handling, no context, no logs. Run as the runtime runs
# R (Rscript --default-packages=base), so what it costs per invoke is what base R's interpreter
# and its socket connection cost at the least: a lower bound for any runtime written in R.

api <- strsplit(Sys.getenv("AWS_LAMBDA_RUNTIME_API"), ":", fixed = TRUE)[[1L]]
con <- socketConnection(api[[1L]], as.integer(api[[2L]]), blocking = TRUE, open = "r+b",
                        timeout = 31536000L)
prefix <- "/2018-06-01/runtime/invocation/"
host <- paste0("Host: ", api[[1L]], ":", api[[2L]], "\r\n")

# The status line and headers, one readLines() each (base R has no other way to read a line
# from a socket); the two headers the loop needs, found without regular expressions.
read_response <- function() {
  readLines(con, n = 1L)
  id <- ""
  size <- 0
  repeat {
    line <- readLines(con, n = 1L)
    if (!nzchar(line)) break
    name <- tolower(substr(line, 1L, 15L))
    if (name == "content-length:") size <- as.numeric(substr(line, 16L, 100L))
    if (name == "lambda-runtime-") {
      if (startsWith(tolower(line), "lambda-runtime-aws-request-id:")) {
        id <- trimws(substr(line, 31L, 1000L))
      }
    }
  }
  list(id = id, body = if (size > 0) readBin(con, "raw", size) else raw())
}

repeat {
  writeBin(charToRaw(paste0("GET ", prefix, "next HTTP/1.1\r\n", host, "\r\n")), con)
  flush(con)
  event <- read_response()
  writeBin(c(charToRaw(paste0("POST ", prefix, event$id, "/response HTTP/1.1\r\n", host,
                              "Content-Length: ", length(event$body), "\r\n\r\n")),
             event$body), con)
  flush(con)
  read_response()
}
