# POST /items/{id} with {"quantity": n, "unit_price": p}
#   -> 200 {"id": ..., "quantity": n, "unit_price": p, "total": n * p}
# A body that is not JSON, or lacks a number, is the client's mistake: 400 with the reason.
# An event that is not from API Gateway at all is the caller's: the invoke fails
# (errorType NotAnApiGatewayEvent), which API Gateway itself would never send.

handle <- function(event) {
  if (!is.list(event) || is.null(event$httpMethod)) {
    stop(structure(
      class = c("NotAnApiGatewayEvent", "error", "condition"),
      list(message = "expected an API Gateway REST (payload 1.0) event", call = NULL)
    ))
  }
  body <- tryCatch(jsonlite::fromJSON(event$body %||% ""), error = function(e) NULL)
  quantity <- number(body, "quantity")
  price <- number(body, "unit_price")
  if (is.null(quantity) || is.null(price)) {
    return(reply(400L, list(error = "the body must be JSON with numbers quantity and unit_price")))
  }
  reply(200L, list(
    id = event$pathParameters$id,
    quantity = quantity,
    unit_price = price,
    total = quantity * price
  ))
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
