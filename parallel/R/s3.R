# The few S3 calls staging needs (PutObject, GetObject, DeleteObject), signed with sigv4_sign().
# A custom endpoint (AWS_ENDPOINT_URL_S3, e.g. moto's server) is addressed path-style, AWS's own
# virtual-hosted style (https://docs.aws.amazon.com/AmazonS3/latest/userguide/VirtualHosting.html).

s3_url <- function(session, bucket, key) {
  path <- aws_uri_encode(key, keep_slash = TRUE)
  if (startsWith(session$s3, sprintf("https://s3.%s.amazonaws.com", session$region))) {
    sprintf("https://%s.s3.%s.amazonaws.com/%s", bucket, session$region, path)
  } else {
    sprintf("%s/%s/%s", session$s3, bucket, path)
  }
}

s3_request <- function(session, method, bucket, key, body = NULL) {
  url <- s3_url(session, bucket, key)
  signed <- sigv4_sign(method, url, body = body, service = "s3", region = session$region,
                       credentials = session$credentials)
  handle <- curl::new_handle(customrequest = method, connecttimeout = 10, timeout = 300)
  if (!is.null(body)) {
    # The size before the body (else curl takes strlen() of binary data).
    curl::handle_setopt(handle, post = TRUE, postfieldsize = length(body), postfields = body)
  }
  headers <- c(as.list(signed$headers), Expect = "")
  if (!is.null(body)) headers[["Content-Type"]] <- "application/octet-stream"
  curl::handle_setheaders(handle, .list = headers)
  response <- curl::curl_fetch_memory(url, handle)
  if (response$status_code >= 300L) {
    text <- rawToChar(response$content)
    code <- regmatches(text, regexpr("(?<=<Code>)[^<]+", text, perl = TRUE))
    stop(lp_error(
      "lambdaparallel_s3_error",
      sprintf("S3 %s s3://%s/%s failed: HTTP %d %s", method, bucket, key,
              response$status_code, if (length(code)) code else ""),
      status = response$status_code
    ))
  }
  response
}

#' Read, write and delete S3 objects with the package's signed client
#'
#' @param bucket,key the object.
#' @param body a raw vector or a string (PutObject).
#' @param session from `aws_session()`: region, credentials and endpoints (default: found from
#'   the environment and shared config, as for the AWS CLI).
#' @return `s3_get_object`: the object's bytes (raw). The others: invisibly `TRUE`.
#' @export
s3_get_object <- function(bucket, key, session = aws_session()) {
  s3_request(session, "GET", bucket, key)$content
}

#' @rdname s3_get_object
#' @export
s3_put_object <- function(bucket, key, body, session = aws_session()) {
  if (is.character(body)) body <- utf8_raw(paste(body, collapse = "\n"))
  s3_request(session, "PUT", bucket, key, body)
  invisible(TRUE)
}

#' @rdname s3_get_object
#' @export
s3_delete_object <- function(bucket, key, session = aws_session()) {
  s3_request(session, "DELETE", bucket, key)
  invisible(TRUE)
}
