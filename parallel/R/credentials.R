# AWS credentials, found as the AWS SDKs find them, in their documented order
# (https://docs.aws.amazon.com/sdkref/latest/guide/standardized-credentials.html; the order as
# https://docs.aws.amazon.com/sdk-for-php/v3/developer-guide/guide_credentials_default_chain.html
# lists it):
#  1. the environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (, AWS_SESSION_TOKEN);
#  2. web identity: AWS_ROLE_ARN with AWS_WEB_IDENTITY_TOKEN_FILE, STS AssumeRoleWithWebIdentity
#     (https://docs.aws.amazon.com/sdkref/latest/guide/feature-assume-role-credentials.html);
#  3. the profile (`profile =`, AWS_PROFILE, else "default") in the shared config and
#     credentials files: IAM Identity Center (SSO) from the token cache `aws sso login` writes
#     (https://docs.aws.amazon.com/sdkref/latest/guide/feature-sso-credentials.html), then
#     `credential_process` (feature-process-credentials.html), then `role_arn` with
#     `source_profile` or `credential_source` (STS AssumeRole), then `web_identity_token_file`,
#     then keys;
#  4. the container endpoint (feature-container-credentials.html);
#  5. EC2 instance metadata, IMDSv2 (feature-imds-credentials.html).
# A source that is configured but fails stops the search with one line naming it and what to
# do, as the SDKs do: falling through to another identity would be a surprise. A `profile =`
# given in code skips the environment (1, 2), as it does in the SDKs.
#
# Temporary credentials are an environment that sigv4_sign() refreshes, from the same source,
# once less than `lambdaparallel.credentials_refresh` seconds (default 600, the SDKs' mandatory
# refresh window) are left, so a long map goes on with new ones.

#' AWS credentials, found as the AWS CLI and SDKs find them
#'
#' The environment, web identity, the profile's IAM Identity Center (SSO) login,
#' `credential_process`, `role_arn` (AssumeRole) or keys, the container endpoint, EC2 instance
#' metadata (IMDSv2) -- the SDKs' order. Temporary credentials refresh themselves before they
#' expire (see [sigv4_sign()]).
#' @param profile a profile name; default `AWS_PROFILE`, else "default". Given here, the
#'   environment's keys are not used.
#' @return an environment with `access_key_id`, `secret_access_key`, `session_token` (or
#'   `NULL`), `expiration` (POSIXct, or `NULL`) and `source` (where they came from); its print
#'   method never shows the secret.
#' @export
aws_credentials <- function(profile = NULL) {
  explicit <- !is.null(profile)
  name <- aws_profile(profile)
  tried <- character()
  providers <- list(
    environment = if (!explicit) env_credentials,
    "web identity" = if (!explicit) function() env_web_identity_credentials(name),
    profile = function() profile_credentials(name),
    "container endpoint" = container_credentials,
    "EC2 instance metadata" = imds_credentials
  )
  for (source in names(providers)) {
    provider <- providers[[source]]
    if (is.null(provider)) next
    found <- provider()
    if (is.character(found)) {
      tried <- c(tried, found)
      next
    }
    return(new_credentials(found, provider))
  }
  stop(lp_error("lambdaparallel_no_credentials", sprintf(paste(
    "no AWS credentials found (tried: %s): set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY,",
    "or run `aws sso login --profile %s` or `aws configure --profile %s` (AWS_PROFILE picks",
    "another profile)"), paste(tried, collapse = "; "), name, name)))
}

new_credentials <- function(found, provider) {
  creds <- new.env(parent = emptyenv())
  set_credentials(creds, found)
  creds$refresh <- if (!is.null(creds$expiration)) provider
  class(creds) <- "lambdaparallel_credentials"
  creds
}

set_credentials <- function(creds, found) {
  creds$access_key_id <- found$access_key_id
  creds$secret_access_key <- found$secret_access_key
  creds$session_token <- found$session_token
  creds$expiration <- parse_expiration(found$expiration)
  creds$source <- found$source
  invisible(creds)
}

#' @export
format.lambdaparallel_credentials <- function(x, ...) {
  sprintf("<AWS credentials %s from %s%s>", x$access_key_id, x$source,
          if (is.null(x$expiration)) "" else
            format(x$expiration, ", expiring %Y-%m-%d %H:%M:%S UTC", tz = "UTC"))
}

#' @export
print.lambdaparallel_credentials <- function(x, ...) {
  cat(format(x), "\n")
  invisible(x)
}

# Expiration as the sources write it: ISO 8601 ("2026-12-01T23:00:00Z", with fractions or an
# offset) or, from the SSO portal, milliseconds since the epoch.
parse_expiration <- function(x) {
  if (is.null(x) || inherits(x, "POSIXct")) {
    return(x)
  }
  if (is.numeric(x)) {
    return(as.POSIXct(x / 1000, origin = "1970-01-01", tz = "UTC"))
  }
  text <- sub("(Z|[+-]00:?00)$", "", as.character(x))
  out <- as.POSIXct(text, format = "%Y-%m-%dT%H:%M:%OS", tz = "UTC")
  if (is.na(out)) NULL else out
}

# The credentials to sign with now: refreshed in place when they are about to expire. A failed
# refresh is an error once; the old credentials, while still valid, then sign what follows
# (the deletion of a stopped map's staged objects).
current_credentials <- function(creds) {
  if (!is.environment(creds) || is.null(creds$refresh) || !is.null(creds$refresh_error)) {
    return(creds)
  }
  now <- Sys.time()
  margin <- getOption("lambdaparallel.credentials_refresh", 600)
  left <- as.numeric(difftime(creds$expiration, now, units = "secs"))
  if (left > margin || (!is.null(creds$not_before) && now < creds$not_before)) {
    return(creds)
  }
  found <- tryCatch(creds$refresh(), error = function(e) e)
  if (inherits(found, "error") || is.character(found)) {
    why <- if (is.character(found)) paste(found, collapse = "; ") else conditionMessage(found)
    creds$refresh_error <- why
    stop(lp_error("lambdaparallel_credentials_refresh", sprintf(
      "the AWS credentials from %s expire at %s and refreshing them failed: %s", creds$source,
      format(creds$expiration, "%H:%M:%S UTC", tz = "UTC"), why)))
  }
  set_credentials(creds, found)
  # A source that hands out credentials already inside the window is asked again in a minute,
  # not before every request.
  left <- as.numeric(difftime(creds$expiration, now, units = "secs"))
  creds$not_before <- if (!is.null(creds$expiration) && left <= margin) now + 60
  creds
}

# Each provider returns credentials (a list), or a string saying why it does not apply (for the
# final error), or stops when it applies and fails.

env_credentials <- function() {
  key <- nonempty_env("AWS_ACCESS_KEY_ID")
  secret <- nonempty_env("AWS_SECRET_ACCESS_KEY")
  if (is.null(key) || is.null(secret)) {
    return("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY not set")
  }
  list(access_key_id = key, secret_access_key = secret,
       session_token = nonempty_env("AWS_SESSION_TOKEN"), source = "environment")
}

env_web_identity_credentials <- function(profile) {
  role <- nonempty_env("AWS_ROLE_ARN")
  token_file <- nonempty_env("AWS_WEB_IDENTITY_TOKEN_FILE")
  if (is.null(role) || is.null(token_file)) {
    return("AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE not set")
  }
  web_identity(role, token_file, nonempty_env("AWS_ROLE_SESSION_NAME"), profile,
               "web identity (AWS_ROLE_ARN, AWS_WEB_IDENTITY_TOKEN_FILE)")
}

web_identity <- function(role, token_file, session_name, profile, source) {
  if (!file.exists(token_file)) {
    stop(lp_error("lambdaparallel_no_credentials", sprintf(
      "%s: the token file %s does not exist", source, token_file)))
  }
  token <- trimws(paste(readLines(token_file, warn = FALSE), collapse = ""))
  sts_call(list(Action = "AssumeRoleWithWebIdentity", RoleArn = role,
                RoleSessionName = session_name %||% role_session_name(),
                WebIdentityToken = token),
           NULL, profile, source, role)
}

role_session_name <- function() sprintf("lambdaparallel-%d", as.integer(Sys.time()))

# The profile's own settings, in the SDKs' order of precedence within a profile.
profile_credentials <- function(name, chain = character()) {
  settings <- profile_settings(name)
  where <- sprintf("profile %s", sQuote(name, FALSE))
  if (!length(settings)) {
    return(sprintf("no %s in %s or %s", where, shared_file("AWS_CONFIG_FILE", "config"),
                   shared_file("AWS_SHARED_CREDENTIALS_FILE", "credentials")))
  }
  if (!is.null(settings$sso_session) || !is.null(settings$sso_start_url)) {
    return(sso_credentials(name, settings))
  }
  if (!is.null(settings$credential_process)) {
    return(process_credentials(name, settings$credential_process))
  }
  if (!is.null(settings$role_arn) && !is.null(settings$web_identity_token_file)) {
    return(web_identity(settings$role_arn, settings$web_identity_token_file,
                        settings$role_session_name, name,
                        sprintf("web identity (%s)", where)))
  }
  if (!is.null(settings$role_arn)) {
    return(assume_role_credentials(name, settings, chain))
  }
  if (!is.null(settings$aws_access_key_id) && !is.null(settings$aws_secret_access_key)) {
    return(list(access_key_id = settings$aws_access_key_id,
                secret_access_key = settings$aws_secret_access_key,
                session_token = settings$aws_session_token, source = where))
  }
  sprintf("%s has no keys, sso_session, credential_process or role_arn", where)
}

# IAM Identity Center: the access token `aws sso login` cached, exchanged for the role's
# credentials with the portal's GetRoleCredentials. The cache file is named by the SHA-1 of the
# sso-session's name (or, for a legacy profile, of its start URL), as botocore's SSOTokenLoader
# names it.
sso_credentials <- function(name, settings) {
  login <- sprintf("`aws sso login --profile %s`", name)
  session <- settings$sso_session
  if (!is.null(session)) {
    config <- read_ini(shared_file("AWS_CONFIG_FILE", "config"))
    sso <- config[[paste("sso-session", session)]]
    if (is.null(sso)) {
      stop(lp_error("lambdaparallel_no_credentials", sprintf(
        "profile %s names sso_session %s, which has no [sso-session %s] section in %s",
        sQuote(name, FALSE), session, session, shared_file("AWS_CONFIG_FILE", "config"))))
    }
    start_url <- sso$sso_start_url
    region <- sso$sso_region
    cache_key <- session
  } else {
    start_url <- settings$sso_start_url
    region <- settings$sso_region
    cache_key <- start_url
  }
  for (field in c("sso_account_id", "sso_role_name")) {
    if (is.null(settings[[field]])) {
      stop(lp_error("lambdaparallel_no_credentials", sprintf(
        "SSO profile %s has no %s: run `aws configure sso --profile %s`", sQuote(name, FALSE),
        field, name)))
    }
  }
  cache <- file.path(path.expand(file.path("~", ".aws", "sso", "cache")),
                     paste0(paste(openssl::sha1(utf8_raw(cache_key)), collapse = ""), ".json"))
  if (!file.exists(cache)) {
    stop(lp_error("lambdaparallel_sso_login", sprintf(
      "SSO profile %s: no cached login for %s (%s): run %s", sQuote(name, FALSE),
      start_url %||% session, cache, login)))
  }
  token <- jsonlite::fromJSON(cache)
  expires <- parse_expiration(token$expiresAt)
  if (is.null(token$accessToken) || is.null(expires) || expires <= Sys.time()) {
    stop(lp_error("lambdaparallel_sso_login", sprintf(
      "SSO profile %s: the login expired%s: run %s", sQuote(name, FALSE),
      if (is.null(expires)) "" else format(expires, " at %Y-%m-%d %H:%M:%S UTC", tz = "UTC"),
      login)))
  }
  base <- nonempty_env("AWS_ENDPOINT_URL_SSO") %||%
    sprintf("https://portal.sso.%s.amazonaws.com", region)
  url <- sprintf("%s/federation/credentials?account_id=%s&role_name=%s", sub("/+$", "", base),
                 aws_uri_encode(settings$sso_account_id), aws_uri_encode(settings$sso_role_name))
  answer <- credentials_fetch(url, c("x-amz-sso_bearer_token" = token$accessToken), "GET",
                              sprintf("SSO (profile %s)", sQuote(name, FALSE)))
  if (answer$status %in% c(401L, 403L)) {
    stop(lp_error("lambdaparallel_sso_login", sprintf(
      "SSO profile %s: the portal refused the cached login (HTTP %d): run %s",
      sQuote(name, FALSE), answer$status, login)))
  }
  if (answer$status != 200L) {
    stop(lp_error("lambdaparallel_no_credentials", sprintf(
      "SSO profile %s: GetRoleCredentials for role %s in account %s failed: HTTP %d %s",
      sQuote(name, FALSE), settings$sso_role_name, settings$sso_account_id, answer$status,
      substr(rawToChar(answer$body), 1L, 200L))))
  }
  role <- jsonlite::fromJSON(rawToChar(answer$body))$roleCredentials
  list(access_key_id = role$accessKeyId, secret_access_key = role$secretAccessKey,
       session_token = role$sessionToken, expiration = role$expiration,
       source = sprintf("SSO (profile %s)", sQuote(name, FALSE)))
}

# credential_process: a command whose standard output is {"Version": 1, "AccessKeyId": ...}.
process_credentials <- function(name, command) {
  source <- sprintf("credential_process (profile %s)", sQuote(name, FALSE))
  out <- suppressWarnings(system(command, intern = TRUE))
  status <- attr(out, "status") %||% 0L
  if (status != 0L) {
    stop(lp_error("lambdaparallel_no_credentials", sprintf(
      "%s: `%s` exited with status %d", source, command, status)))
  }
  body <- tryCatch(jsonlite::fromJSON(paste(out, collapse = "\n")), error = function(e) NULL)
  if (!is.list(body) || !identical(as.integer(body$Version), 1L) ||
    is.null(body$AccessKeyId) || is.null(body$SecretAccessKey)) {
    stop(lp_error("lambdaparallel_no_credentials", sprintf(
      "%s: `%s` did not print {\"Version\": 1, \"AccessKeyId\": ..., \"SecretAccessKey\": ...}",
      source, command)))
  }
  list(access_key_id = body$AccessKeyId, secret_access_key = body$SecretAccessKey,
       session_token = body$SessionToken, expiration = body$Expiration, source = source)
}

# role_arn: AssumeRole, signed with the source profile's credentials (or those of
# credential_source: Environment, Ec2InstanceMetadata or EcsContainer). external_id is passed;
# mfa_serial needs a code typed in, so only an interactive session can use it.
assume_role_credentials <- function(name, settings, chain) {
  where <- sprintf("profile %s", sQuote(name, FALSE))
  if (name %in% chain) {
    stop(lp_error("lambdaparallel_no_credentials", sprintf(
      "%s: source_profile loops (%s)", where, paste(c(chain, name), collapse = " -> "))))
  }
  source_name <- settings$source_profile
  if (!is.null(source_name)) {
    source_creds <- if (identical(source_name, name)) {
      # A profile naming itself uses its own keys (the SDKs allow it).
      list(access_key_id = settings$aws_access_key_id,
           secret_access_key = settings$aws_secret_access_key,
           session_token = settings$aws_session_token)
    } else {
      profile_credentials(source_name, c(chain, name))
    }
  } else if (!is.null(settings$credential_source)) {
    source_creds <- switch(settings$credential_source,
      Environment = env_credentials(),
      Ec2InstanceMetadata = imds_credentials(),
      EcsContainer = container_credentials(),
      stop(lp_error("lambdaparallel_no_credentials", sprintf(
        "%s: credential_source = %s is not one of Environment, Ec2InstanceMetadata, EcsContainer",
        where, settings$credential_source))))
  } else {
    stop(lp_error("lambdaparallel_no_credentials", sprintf(
      "%s has role_arn but neither source_profile nor credential_source", where)))
  }
  if (is.character(source_creds) || is.null(source_creds$access_key_id)) {
    stop(lp_error("lambdaparallel_no_credentials", sprintf(
      "%s: no credentials to assume role %s with (%s)", where, settings$role_arn,
      if (is.character(source_creds)) source_creds else "the source profile has no keys")))
  }
  params <- list(Action = "AssumeRole", RoleArn = settings$role_arn,
                 RoleSessionName = settings$role_session_name %||% role_session_name())
  if (!is.null(settings$external_id)) params$ExternalId <- settings$external_id
  if (!is.null(settings$duration_seconds)) params$DurationSeconds <- settings$duration_seconds
  if (!is.null(settings$mfa_serial)) {
    if (!interactive()) {
      stop(lp_error("lambdaparallel_mfa", sprintf(paste(
        "%s needs an MFA code (mfa_serial = %s) and this R session is not interactive, so",
        "none can be asked for: run it in an interactive session, or use a profile without",
        "mfa_serial here"), where, settings$mfa_serial)))
    }
    params$SerialNumber <- settings$mfa_serial
    params$TokenCode <- readline(sprintf("MFA code for %s: ", settings$mfa_serial))
  }
  sts_call(params, source_creds, name, sprintf("assume role (%s)", where), settings$role_arn)
}

# One STS Query API call (https://docs.aws.amazon.com/STS/latest/APIReference/), its answer's
# Credentials. AssumeRoleWithWebIdentity is not signed.
sts_call <- function(params, creds, profile, source, role) {
  region <- tryCatch(aws_region(profile), error = function(e) "us-east-1")
  url <- paste0(aws_endpoint("sts", region), "/")
  body <- utf8_raw(paste0(c(paste0(names(params), "=", aws_uri_encode(unlist(params))),
                            "Version=2011-06-15"), collapse = "&"))
  headers <- c("Content-Type" = "application/x-www-form-urlencoded; charset=utf-8")
  if (!is.null(creds)) {
    headers <- sigv4_sign("POST", url, headers, body, service = "sts", region = region,
                          credentials = creds)$headers
  }
  answer <- credentials_fetch(url, headers, "POST", source, body)
  text <- rawToChar(answer$body)
  xml <- function(tag) {
    found <- regmatches(text, regexpr(sprintf("(?<=<%s>)[^<]*", tag), text, perl = TRUE))
    if (length(found)) found else NULL
  }
  if (answer$status != 200L) {
    stop(lp_error("lambdaparallel_no_credentials", sprintf(
      "%s: STS %s of %s was refused: HTTP %d %s: %s; check the role's trust policy and %s",
      source, params$Action, role, answer$status, xml("Code") %||% "",
      xml("Message") %||% substr(text, 1L, 200L),
      if (is.null(creds)) "the token's audience" else "that the source may sts:AssumeRole it")))
  }
  list(access_key_id = xml("AccessKeyId"), secret_access_key = xml("SecretAccessKey"),
       session_token = xml("SessionToken"), expiration = xml("Expiration"), source = source)
}

# A request to a credentials source; not reaching it is an error naming the source.
credentials_fetch <- function(url, headers, method, source, body = NULL, timeout = 10) {
  tryCatch(fetch_once(url, headers, body, method = method, timeout = timeout),
           error = function(e) stop(lp_error("lambdaparallel_no_credentials", sprintf(
             "%s: cannot reach %s: %s", source, sub("\\?.*$", "", url), conditionMessage(e)))))
}

container_credentials <- function() {
  relative <- nonempty_env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
  full <- nonempty_env("AWS_CONTAINER_CREDENTIALS_FULL_URI")
  url <- if (!is.null(relative)) paste0("http://169.254.170.2", relative) else full
  if (is.null(url)) {
    return("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and _FULL_URI not set")
  }
  token <- nonempty_env("AWS_CONTAINER_AUTHORIZATION_TOKEN")
  token_file <- nonempty_env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
  if (!is.null(token_file)) token <- trimws(readLines(token_file, warn = FALSE)[[1L]])
  headers <- if (!is.null(token)) c(Authorization = token) else character()
  response <- tryCatch(fetch_once(url, headers, method = "GET", timeout = 5),
                       error = function(e) e)
  if (inherits(response, "error") || response$status != 200L) {
    why <- if (inherits(response, "error")) conditionMessage(response) else
      paste("HTTP", response$status)
    stop(lp_error("lambdaparallel_no_credentials",
                  sprintf("the container credentials endpoint %s failed: %s", url, why)))
  }
  body <- jsonlite::fromJSON(rawToChar(response$body))
  list(access_key_id = body$AccessKeyId, secret_access_key = body$SecretAccessKey,
       session_token = body$Token, expiration = body$Expiration,
       source = "container credentials endpoint")
}

# IMDSv2: a session token (PUT), then the instance role's name and its credentials. One attempt
# with a 1 s timeout, as the SDKs' defaults (AWS_METADATA_SERVICE_TIMEOUT changes it); off with
# AWS_EC2_METADATA_DISABLED=true.
imds_credentials <- function() {
  if (identical(tolower(Sys.getenv("AWS_EC2_METADATA_DISABLED")), "true")) {
    return("EC2 instance metadata disabled (AWS_EC2_METADATA_DISABLED)")
  }
  base <- sub("/+$", "", nonempty_env("AWS_EC2_METADATA_SERVICE_ENDPOINT") %||%
                "http://169.254.169.254")
  timeout <- as.numeric(nonempty_env("AWS_METADATA_SERVICE_TIMEOUT") %||% 1)
  ask <- function(path, headers, method = "GET") {
    tryCatch(fetch_once(paste0(base, path), headers, method = method, timeout = timeout),
             error = function(e) NULL)
  }
  token <- ask("/latest/api/token", c("X-aws-ec2-metadata-token-ttl-seconds" = "21600"), "PUT")
  if (is.null(token) || token$status != 200L) {
    return(sprintf("EC2 instance metadata at %s: %s", base, if (is.null(token))
      sprintf("no answer in %g s", timeout) else sprintf("HTTP %d to the token request",
                                                        token$status)))
  }
  auth <- c("X-aws-ec2-metadata-token" = rawToChar(token$body))
  path <- "/latest/meta-data/iam/security-credentials/"
  roles <- ask(path, auth)
  if (is.null(roles) || roles$status != 200L || !nzchar(rawToChar(roles$body))) {
    return(sprintf("EC2 instance metadata at %s: no instance role", base))
  }
  role <- strsplit(rawToChar(roles$body), "\n", fixed = TRUE)[[1L]][[1L]]
  answer <- ask(paste0(path, role), auth)
  if (is.null(answer) || answer$status != 200L) {
    stop(lp_error("lambdaparallel_no_credentials", sprintf(
      "EC2 instance metadata at %s: the credentials of role %s could not be read", base, role)))
  }
  body <- jsonlite::fromJSON(rawToChar(answer$body))
  list(access_key_id = body$AccessKeyId, secret_access_key = body$SecretAccessKey,
       session_token = body$Token, expiration = body$Expiration,
       source = sprintf("EC2 instance metadata (role %s)", role))
}
