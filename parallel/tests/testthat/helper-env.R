# Run `code` with only the given AWS variables set (all others unset) and HOME elsewhere.
with_aws_env <- function(vars, code) {
  names <- c("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
             "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_CONFIG_FILE",
             "AWS_SHARED_CREDENTIALS_FILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_LAMBDA",
             "AWS_ENDPOINT_URL_S3", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
             "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN",
             "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "AWS_ROLE_ARN",
             "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_SESSION_NAME", "AWS_ENDPOINT_URL_STS",
             "AWS_ENDPOINT_URL_SSO", "AWS_EC2_METADATA_DISABLED",
             "AWS_EC2_METADATA_SERVICE_ENDPOINT", "AWS_METADATA_SERVICE_TIMEOUT")
  old <- Sys.getenv(c(names, "HOME"), unset = NA)
  on.exit({
    for (n in names(old)) {
      if (is.na(old[[n]])) Sys.unsetenv(n) else do.call(Sys.setenv, stats::setNames(list(old[[n]]), n))
    }
  })
  Sys.unsetenv(names)
  # No instance metadata to wait for unless a test asks for it.
  Sys.setenv(HOME = tempfile("home"), AWS_EC2_METADATA_DISABLED = "true")
  if (length(vars)) do.call(Sys.setenv, as.list(vars))
  force(code)
}
