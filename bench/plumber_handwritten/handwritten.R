# recipes/plumber-api's /hello and /sum written by hand against the runtime's `request` and
# http_response(): the baseline bench/plumber.py compares the plumber API with. The same
# answers byte for byte (plumber's json serializer is jsonlite::toJSON, boxed vectors).

handle <- function(request) {
  headers <- list("X-Served-By" = "plumber")
  if (request$method == "GET" && request$path == "/hello") {
    name <- request$query$name
    if (is.null(name)) name <- "world"
    body <- jsonlite::toJSON(list(message = paste0("hello, ", name)))
    return(http_response(json(body), headers = headers))
  }
  if (request$method == "POST" && request$path == "/sum") {
    values <- unlist(request$json$values)
    body <- jsonlite::toJSON(list(n = length(values), sum = sum(values)))
    cookie <- paste0("last_sum=", sum(values), "; Path=/")
    return(http_response(json(body), headers = headers, cookies = cookie))
  }
  http_response(json("{\"error\":\"404 - Resource Not Found\"}"), status = 404L,
                headers = headers)
}
