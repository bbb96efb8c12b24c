# Region, endpoints, the shared config and credentials files, and the session the Lambda and S3
# calls share. The credentials themselves are found in credentials.R.

# A minimal INI reader: sections, key = value, comments (# and ;), indented continuation lines
# ignored (they only appear under nested settings such as s3 = ..., which we do not use).
read_ini <- function(path) {
  if (!file.exists(path)) {
    return(list())
  }
  lines <- readLines(path, warn = FALSE)
  out <- list()
  section <- NULL
  for (line in lines) {
    if (grepl("^[[:space:]]*([#;]|$)", line) || grepl("^[[:space:]]+", line)) next
    if (grepl("^\\[.*\\][[:space:]]*$", line)) {
      section <- trimws(sub("^\\[(.*)\\].*$", "\\1", line))
      if (is.null(out[[section]])) out[[section]] <- list()
      next
    }
    if (is.null(section) || !grepl("=", line, fixed = TRUE)) next
    key <- trimws(sub("=.*$", "", line))
    out[[section]][[key]] <- trimws(sub("^[^=]*=", "", line))
  }
  out
}

aws_profile <- function(profile = NULL) {
  profile %||% nonempty_env("AWS_PROFILE") %||% nonempty_env("AWS_DEFAULT_PROFILE") %||% "default"
}

nonempty_env <- function(name) {
  value <- Sys.getenv(name, "")
  if (nzchar(value)) value else NULL
}

shared_file <- function(variable, default) {
  path.expand(nonempty_env(variable) %||% file.path("~", ".aws", default))
}

# The settings of `profile` in the config file, then the credentials file over them.
profile_settings <- function(profile) {
  config <- read_ini(shared_file("AWS_CONFIG_FILE", "config"))
  section <- if (profile == "default") "default" else paste("profile", profile)
  settings <- config[[section]] %||% list()
  credentials <- read_ini(shared_file("AWS_SHARED_CREDENTIALS_FILE", "credentials"))
  utils::modifyList(settings, credentials[[profile]] %||% list())
}

#' The AWS region: AWS_REGION, AWS_DEFAULT_REGION, else the profile's `region`
#' @param profile a profile name (default: `AWS_PROFILE` or "default").
#' @export
aws_region <- function(profile = NULL) {
  region <- nonempty_env("AWS_REGION") %||% nonempty_env("AWS_DEFAULT_REGION") %||%
    profile_settings(aws_profile(profile))$region
  if (is.null(region)) {
    stop(lp_error("lambdaparallel_no_region", paste(
      "no AWS region: set AWS_REGION, or `region` in the profile in ~/.aws/config,",
      "or pass region =")))
  }
  region
}

# The service endpoint: AWS_ENDPOINT_URL_<SERVICE>, then AWS_ENDPOINT_URL, then AWS's.
# https://docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html
aws_endpoint <- function(service, region) {
  variable <- paste0("AWS_ENDPOINT_URL_", toupper(service))
  url <- nonempty_env(variable) %||% nonempty_env("AWS_ENDPOINT_URL")
  if (!is.null(url)) {
    return(sub("/+$", "", url))
  }
  sprintf("https://%s.%s.amazonaws.com", service, region)
}

#' Region, credentials and endpoints for the Lambda and S3 calls
#'
#' Found once (see [aws_credentials()], [aws_region()]; endpoints from
#' `AWS_ENDPOINT_URL_LAMBDA`, `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`, else AWS's).
#' @param region,profile as for [aws_region()] and [aws_credentials()].
#' @param credentials a list as [aws_credentials()] returns, to use instead.
#' @return a list: `region`, `credentials`, `lambda` and `s3` (endpoint URLs).
#' @export
aws_session <- function(region = NULL, profile = NULL, credentials = NULL) {
  region <- region %||% aws_region(profile)
  list(
    region = region,
    credentials = credentials %||% aws_credentials(profile),
    lambda = aws_endpoint("lambda", region),
    s3 = aws_endpoint("s3", region)
  )
}

lp_error <- function(class, message, ...) {
  structure(class = c(class, "lambdaparallel_error", "error", "condition"),
            list(message = message, call = NULL, ...))
}
