# AWS Signature Version 4, header form.
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html
# Written here because no R package in Debian signs an arbitrary request (httr2 0.2.2 predates
# req_auth_aws_v4; paws is not packaged). Checked against AWS's test suite (tests/testthat/
# sigv4-testsuite, with its provenance) and against botocore's signatures for our own requests.

# A string's UTF-8 bytes. A string already valid as UTF-8 is taken as is: in a C locale R
# would otherwise "convert" it from ASCII, escaping every byte over 127 as <xx>.
utf8_raw <- function(x) {
  if (!validUTF8(x)) x <- enc2utf8(x)
  charToRaw(x)
}

# RFC 3986 percent-encoding: unreserved characters kept, everything else as UTF-8 %XX.
aws_uri_encode <- function(x, keep_slash = FALSE) {
  vapply(x, function(s) {
    bytes <- utf8_raw(s)
    if (!length(bytes)) {
      return("")
    }
    ch <- rawToChar(bytes, multiple = TRUE)
    keep <- grepl("^[A-Za-z0-9_.~-]$", ch, useBytes = TRUE)
    if (keep_slash) keep <- keep | ch == "/"
    out <- ifelse(keep, ch, paste0("%", toupper(as.character(bytes))))
    paste(out, collapse = "")
  }, "", USE.NAMES = FALSE)
}

# Decode %XX escapes (and nothing else: "+" stays a plus, as AWS reads query strings).
percent_decode <- function(x) {
  vapply(x, function(s) utils::URLdecode(s), "", USE.NAMES = FALSE)
}

# Remove "." and ".." segments and empty segments, keeping a trailing slash (RFC 3986 5.2.4,
# as botocore's normalisation does for every service but S3).
normalize_path <- function(path) {
  trailing <- grepl("/$", path) && path != "/"
  segments <- strsplit(path, "/", fixed = TRUE)[[1L]]
  out <- character()
  for (s in segments) {
    if (s == "" || s == ".") next
    if (s == "..") {
      out <- out[-length(out)]
    } else {
      out <- c(out, s)
    }
  }
  res <- paste0("/", paste(out, collapse = "/"))
  if (trailing && res != "/") res <- paste0(res, "/")
  res
}

# The canonical URI of a path as sent on the wire (already percent-encoded). S3 signs the path
# as sent; every other service normalises it and encodes it once more (AWS's "double encoding").
canonical_uri <- function(path, s3 = FALSE) {
  if (!nzchar(path)) path <- "/"
  if (s3) {
    return(path)
  }
  aws_uri_encode(normalize_path(path), keep_slash = TRUE)
}

canonical_query <- function(query) {
  if (is.null(query) || !nzchar(query)) {
    return("")
  }
  pairs <- strsplit(query, "&", fixed = TRUE)[[1L]]
  pairs <- pairs[nzchar(pairs)]
  key <- sub("=.*$", "", pairs)
  value <- ifelse(grepl("=", pairs, fixed = TRUE), sub("^[^=]*=", "", pairs), "")
  key <- aws_uri_encode(percent_decode(key))
  value <- aws_uri_encode(percent_decode(value))
  # Sort by key, then value, by code point (the C locale's byte order).
  o <- order(key, value, method = "radix")
  paste0(key[o], "=", value[o], collapse = "&")
}

# Lower-case names, values trimmed with inner runs of white space made one space; repeated
# names joined with commas in the order given.
canonical_headers <- function(headers) {
  name <- tolower(names(headers))
  value <- gsub("[[:space:]]+", " ", trimws(unname(headers)))
  joined <- vapply(split(value, factor(name, levels = unique(name))), paste, "",
                   collapse = ",")
  o <- order(names(joined), method = "radix")
  joined[o]
}

hex_sha256 <- function(x) {
  if (is.character(x)) x <- utf8_raw(x)
  paste(openssl::sha256(x), collapse = "")
}

hmac_raw <- function(key, data) {
  as.raw(openssl::sha256(utf8_raw(data), key = key))
}

amz_date <- function(time) format(as.POSIXct(time), "%Y%m%dT%H%M%SZ", tz = "UTC")

#' Sign a request with AWS Signature Version 4
#'
#' @param method HTTP method.
#' @param url the full URL, its path and query already percent-encoded as they will be sent.
#' @param headers named character vector of the headers to sign (Host is added from `url`).
#' @param body the payload (raw or character); `NULL` is empty.
#' @param service,region the signing scope, e.g. "lambda", "us-east-1".
#' @param credentials a list with `access_key_id`, `secret_access_key` and optionally
#'   `session_token`, or what [aws_credentials()] returns: temporary credentials from it are
#'   refreshed here, in place, when they are about to expire.
#' @param time the signing time.
#' @param sign_token whether X-Amz-Security-Token is part of the signature (AWS services do).
#' @return a list: `headers` (all headers to send, named character), and the intermediate
#'   `canonical_request`, `string_to_sign` and `signature`.
#' @export
sigv4_sign <- function(method, url, headers = character(), body = NULL, service, region,
                       credentials, time = Sys.time(), sign_token = TRUE) {
  credentials <- current_credentials(credentials)
  s3 <- identical(service, "s3")
  names(headers) <- names(headers) %||% character()
  if (!"host" %in% tolower(names(headers))) {
    # scheme://host[:port]: the Host header as curl sends it (no default port).
    host <- sub("^[a-zA-Z][a-zA-Z0-9+.-]*://([^/?#]*).*$", "\\1", url)
    host <- sub(":(80|443)$", "", host)
    headers <- c(headers, Host = host)
  }
  date <- amz_date(time)
  headers <- headers[tolower(names(headers)) != "x-amz-date"]
  headers <- c(headers, "X-Amz-Date" = date)
  payload_hash <- hex_sha256(if (is.null(body)) raw() else body)
  if (s3) {
    headers <- headers[tolower(names(headers)) != "x-amz-content-sha256"]
    headers <- c(headers, "X-Amz-Content-Sha256" = payload_hash)
  }
  token <- credentials$session_token
  has_token <- !is.null(token) && nzchar(token)
  if (has_token && sign_token) headers <- c(headers, "X-Amz-Security-Token" = token)

  canon <- canonical_headers(headers)
  signed <- paste(names(canon), collapse = ";")
  # The path and query as written in the URL (not decoded).
  path <- sub("^[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#]*", "", url)
  query <- if (grepl("?", path, fixed = TRUE)) sub("^[^?]*\\?", "", path) else ""
  path <- sub("[?#].*$", "", path)
  creq <- paste(
    toupper(method), canonical_uri(path, s3), canonical_query(query),
    paste0(names(canon), ":", canon, "\n", collapse = ""), signed, payload_hash,
    sep = "\n"
  )
  day <- substr(date, 1L, 8L)
  scope <- paste(day, region, service, "aws4_request", sep = "/")
  sts <- paste("AWS4-HMAC-SHA256", date, scope, hex_sha256(creq), sep = "\n")
  key <- hmac_raw(charToRaw(paste0("AWS4", credentials$secret_access_key)), day)
  key <- hmac_raw(key, region)
  key <- hmac_raw(key, service)
  key <- hmac_raw(key, "aws4_request")
  signature <- paste(hmac_raw(key, sts), collapse = "")
  auth <- sprintf(
    "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s",
    credentials$access_key_id, scope, signed, signature
  )
  if (has_token && !sign_token) headers <- c(headers, "X-Amz-Security-Token" = token)
  list(
    headers = c(headers, Authorization = auth), canonical_request = creq,
    string_to_sign = sts, signature = signature
  )
}

`%||%` <- function(x, y) if (is.null(x)) y else x
