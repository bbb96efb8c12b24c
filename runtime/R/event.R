# Turning an invoke into the handler's arguments, as its formals ask (see handler_shape()).

build_args <- function(shape, payload, context = NULL) {
  event <- NULL
  if (shape$needs_json) {
    txt <- raw_to_text(payload)
    if (is.null(txt)) {
      stop(runtime_condition("Runtime.UnmarshalError", "the event payload is not UTF-8 text"))
    }
    event <- tryCatch(from_json(txt), error = function(e) {
      if (inherits(e, "lambda_runtime_error")) stop(e)
      stop(runtime_condition("Runtime.UnmarshalError",
                             paste("could not parse the event as JSON:", conditionMessage(e))))
    })
  }
  # `args[name] <- list(value)` rather than `args$name <- value`: a NULL event must be passed,
  # not dropped.
  args <- list()
  if (shape$event) args["event"] <- list(event)
  if (shape$raw_event) {
    txt <- raw_to_text(payload)
    args["raw_event"] <- list(if (is.null(txt)) payload else txt)
  }
  if (shape$request) args["request"] <- list(as_http_request(event))
  if (shape$context) args["context"] <- list(context)
  if (shape$unwrap) args <- c(args, unwrap_event(shape, event))
  # The loop needs to know later where an http_response()'s cookies go.
  attr(args, "http_kind") <- if (shape$needs_json) http_event_kind(event)
  args
}

unwrap_event <- function(shape, event) {
  if (is.null(event)) return(list())
  if (!is.list(event) || is.data.frame(event) || (length(event) && is.null(names(event)))) {
    stop(runtime_condition("Runtime.InvalidEvent", sprintf(
      "the handler takes named arguments (%s), so the event must be a JSON object",
      paste(c(shape$fields, if (shape$dots) "..."), collapse = ", "))))
  }
  fields <- names(event)
  # Names R cannot bind as arguments: they would fail inside the call, with the runtime's frames.
  unbindable <- fields[!nzchar(fields) | fields == "..." | grepl("^\\.\\.[0-9]+$", fields)]
  if (length(unbindable)) {
    stop(runtime_condition("Runtime.InvalidEvent", sprintf(
      "event field(s) %s cannot be passed as R arguments (empty, '...' or '..N'): take the whole event with an `event` argument",
      paste0("'", unbindable, "'", collapse = ", "))))
  }
  clash <- intersect(fields, reserved_formals[unlist(shape[reserved_formals])])
  if (length(clash)) {
    stop(runtime_condition("Runtime.InvalidEvent", sprintf(
      "event field(s) %s clash with the handler's runtime argument(s) of the same name",
      paste0("'", clash, "'", collapse = ", "))))
  }
  unknown <- setdiff(fields, shape$fields)
  if (length(unknown) && !shape$dots) {
    stop(runtime_condition("Runtime.InvalidEvent", sprintf(
      "event field(s) %s match no argument of the handler (add ... to accept any field)",
      paste0("'", unknown, "'", collapse = ", "))))
  }
  event
}

# A call `name(arg = arg, ...)` evaluated in an environment holding the values: stack traces
# then show argument names, not the deparsed contents of the whole event.
handler_call <- function(fn, name, args) {
  env <- new.env(parent = baseenv())
  fname <- if (!nzchar(name) || name %in% names(args)) ".handler" else name
  for (i in seq_along(args)) assign(names(args)[[i]], args[[i]], envir = env)
  assign(fname, fn, envir = env)
  symbols <- lapply(names(args), as.name)
  names(symbols) <- names(args)
  list(call = as.call(c(as.name(fname), symbols)), env = env)
}
