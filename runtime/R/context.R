# The `context` argument: what Lambda tells the runtime about one invoke (the Lambda-Runtime-*
# headers of /next) and about the function (its environment variables).
#
# It is an environment, so that the two JSON-valued fields, client_context and identity, are
# parsed only if the handler reads them: most invokes carry neither.

make_context <- function(headers, env = Sys.getenv(), now_ms = function() epoch_ms()) {
  h <- function(name) {
    v <- headers[[name]]
    if (is.null(v) || !nzchar(v)) NULL else v
  }
  e <- function(name) {
    v <- as.vector(env[name])  # drops the names and the "Dlist" class of Sys.getenv()
    if (is.na(v) || !nzchar(v)) NULL else v
  }
  ctx <- new.env(parent = emptyenv())
  ctx$request_id <- h("lambda-runtime-aws-request-id")
  ctx$invoked_function_arn <- h("lambda-runtime-invoked-function-arn")
  deadline <- h("lambda-runtime-deadline-ms")
  ctx$deadline_ms <- if (is.null(deadline)) NA_real_ else as.numeric(deadline)
  deadline_ms <- ctx$deadline_ms
  ctx$remaining_time_ms <- function() max(0, deadline_ms - now_ms())
  ctx$trace_id <- h("lambda-runtime-trace-id")
  ctx$tenant_id <- h("lambda-runtime-aws-tenant-id")
  ctx$function_name <- e("AWS_LAMBDA_FUNCTION_NAME")
  ctx$function_version <- e("AWS_LAMBDA_FUNCTION_VERSION")
  memory <- e("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
  ctx$memory_limit_mb <- if (is.null(memory)) NA_integer_ else as.integer(memory)
  ctx$log_group_name <- e("AWS_LAMBDA_LOG_GROUP_NAME")
  ctx$log_stream_name <- e("AWS_LAMBDA_LOG_STREAM_NAME")
  client_context <- h("lambda-runtime-client-context")
  identity <- h("lambda-runtime-cognito-identity")
  delayedAssign("client_context", if (is.null(client_context)) NULL else from_json(client_context),
                assign.env = ctx)
  delayedAssign("identity", if (is.null(identity)) NULL else from_json(identity),
                assign.env = ctx)
  class(ctx) <- "lambda_context"
  ctx
}

epoch_ms <- function() as.numeric(Sys.time()) * 1000

print.lambda_context <- function(x, ...) {
  cat("<lambda_context> request ", x$request_id, ", ", format(x$remaining_time_ms()),
      " ms left\n", sep = "")
  invisible(x)
}
