# POST /items/{id} with {"quantity": n, "unit_price": p}
#   -> 200 {"id": ..., "quantity": n, "unit_price": p, "total": n * p}
# A body that is not JSON, or lacks a number, is the client's mistake: 400 with the reason.
# An event that is not from API Gateway at all is the caller's: the invoke fails
# (errorType NotAnApiGatewayEvent), which API Gateway itself would never send.
# REST APIs (payload 1.0) give the id as a path parameter; HTTP APIs with a $default route and
# function URLs (payload 2.0) give only the path, /items/ID.

handle <- function(event) {
  if (!is_http_event(event)) {
    stop(structure(
      class = c("NotAnApiGatewayEvent", "error", "condition"),
      list(message = "expected an API Gateway or function URL event", call = NULL)
    ))
  }
  request <- as_http_request(event)
  id <- request$path_parameters$id %||% item_id(request$path)
  if (is.null(id)) {
    return(reply(404L, list(error = "no such resource: use /items/ID")))
  }
  body <- tryCatch(jsonlite::fromJSON(request$body %||% ""), error = function(e) NULL)
  quantity <- number(body, "quantity")
  price <- number(body, "unit_price")
  if (is.null(quantity) || is.null(price)) {
    return(reply(400L, list(error = "the body must be JSON with numbers quantity and unit_price")))
  }
  reply(200L, list(
    id = id,
    quantity = quantity,
    unit_price = price,
    total = quantity * price
  ))
}

item_id <- function(path) {
  found <- regmatches(path, regexec("^/items/([^/]+)$", path))[[1L]]
  if (length(found) == 2L) found[[2L]]
}

number <- function(body, field) {
  value <- if (is.list(body)) body[[field]]
  if (is.numeric(value) && length(value) == 1L && !is.na(value)) value
}

# The proxy integration's response document; the body is JSON text inside it.
reply <- function(status, value) {
  list(
    statusCode = status,
    headers = list(`Content-Type` = "application/json"),
    body = as.character(jsonlite::toJSON(value, auto_unbox = TRUE, digits = NA)),
    isBase64Encoded = FALSE
  )
}

`%||%` <- function(x, y) if (is.null(x)) y else x
