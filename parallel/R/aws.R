# Credentials, region and endpoints, found the way the AWS CLI and SDKs find them:
# https://docs.aws.amazon.com/sdkref/latest/guide/standardized-credentials.html
# 1. AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (/ AWS_SESSION_TOKEN);
# 2. the shared credentials file, then the config file, for the profile (AWS_PROFILE or
#    "default"; in the config file a profile is "[profile NAME]", the default "[default]");
# 3. the container credentials endpoint (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI on
#    169.254.170.2, or AWS_CONTAINER_CREDENTIALS_FULL_URI, with AWS_CONTAINER_AUTHORIZATION_TOKEN
#    or _TOKEN_FILE).

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

#' AWS credentials from the environment, the shared files or the container endpoint
#'
#' @param profile a profile name; default `AWS_PROFILE`, else "default".
#' @return a list with `access_key_id`, `secret_access_key`, `session_token` (or `NULL`) and
#'   `expiration` (or `NULL`), and where they came from (`source`).
#' @export
aws_credentials <- function(profile = NULL) {
  key <- nonempty_env("AWS_ACCESS_KEY_ID")
  secret <- nonempty_env("AWS_SECRET_ACCESS_KEY")
  if (!is.null(key) && !is.null(secret) && is.null(profile)) {
    return(list(access_key_id = key, secret_access_key = secret,
                session_token = nonempty_env("AWS_SESSION_TOKEN"), source = "environment"))
  }
  name <- aws_profile(profile)
  settings <- profile_settings(name)
  if (!is.null(settings$aws_access_key_id) && !is.null(settings$aws_secret_access_key)) {
    return(list(access_key_id = settings$aws_access_key_id,
                secret_access_key = settings$aws_secret_access_key,
                session_token = settings$aws_session_token,
                source = paste0("profile ", name)))
  }
  container <- container_credentials()
  if (!is.null(container)) {
    return(container)
  }
  stop(lp_error(
    "lambdaparallel_no_credentials",
    sprintf(paste(
      "no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or put",
      "profile %s in %s or %s (AWS_PROFILE picks another), or run where the container",
      "credentials endpoint is set (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI)"),
      sQuote(name), shared_file("AWS_SHARED_CREDENTIALS_FILE", "credentials"),
      shared_file("AWS_CONFIG_FILE", "config"))
  ))
}

container_credentials <- function() {
  relative <- nonempty_env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
  full <- nonempty_env("AWS_CONTAINER_CREDENTIALS_FULL_URI")
  url <- if (!is.null(relative)) paste0("http://169.254.170.2", relative) else full
  if (is.null(url)) {
    return(NULL)
  }
  token <- nonempty_env("AWS_CONTAINER_AUTHORIZATION_TOKEN")
  token_file <- nonempty_env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
  if (!is.null(token_file)) token <- trimws(readLines(token_file, warn = FALSE)[[1L]])
  handle <- curl::new_handle(timeout = 5, connecttimeout = 2)
  if (!is.null(token)) curl::handle_setheaders(handle, Authorization = token)
  response <- tryCatch(curl::curl_fetch_memory(url, handle), error = function(e) e)
  if (inherits(response, "error") || response$status_code != 200L) {
    why <- if (inherits(response, "error")) conditionMessage(response) else
      paste("HTTP", response$status_code)
    stop(lp_error("lambdaparallel_no_credentials",
                  sprintf("the container credentials endpoint %s failed: %s", url, why)))
  }
  body <- jsonlite::fromJSON(rawToChar(response$content))
  list(access_key_id = body$AccessKeyId, secret_access_key = body$SecretAccessKey,
       session_token = body$Token, expiration = body$Expiration,
       source = "container credentials endpoint")
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
