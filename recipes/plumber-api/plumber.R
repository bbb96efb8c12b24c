# A plumber API written for pr_run(), served on Lambda unchanged (recipes/plumber-api).

#* Tag every response, as a filter does under pr_run().
#* @filter served-by
function(req, res) {
  res$setHeader("X-Served-By", "plumber")
  plumber::forward()
}

#* Requests under /private need the X-Token header.
#* @filter token
function(req, res) {
  if (startsWith(req$PATH_INFO, "/private") && !identical(req$HTTP_X_TOKEN, "let-me-in")) {
    res$status <- 401
    return(list(error = "missing or wrong X-Token"))
  }
  plumber::forward()
}

#* Say hello, with a name from the query string.
#* @get /hello
function(name = "world") {
  list(message = paste0("hello, ", name))
}

#* One item, by its numeric id (a typed path parameter).
#* @get /items/<id:int>
function(id) {
  list(id = id, double = id * 2L)
}

#* Add the numbers of a JSON body {"values": [...]}; sets a cookie counting calls.
#* @post /sum
function(req, res, values) {
  res$setCookie("last_sum", sum(unlist(values)), path = "/")
  list(n = length(values), sum = sum(unlist(values)))
}

#* Plain text out.
#* @serializer text
#* @get /private/note
function() {
  "for token holders only"
}

#* An R error: plumber answers 500 and logs the message; the caller sees no detail.
#* @get /boom
function() {
  stop("the database is on fire")
}

#* A binary body: a 1x1 PNG image, sent base64-encoded.
#* @serializer contentType list(type = "image/png")
#* @get /pixel.png
function() {
  as.raw(c(
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44,
    0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f,
    0x15, 0xc4, 0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8,
    0xcf, 0xc0, 0xf0, 0x1f, 0x00, 0x05, 0x00, 0x01, 0xff, 0x89, 0x99, 0x3d, 0x1d, 0x00, 0x00,
    0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82
  ))
}

#* SHA-256 of the request body, hex, by libsodium through sodium (which plumber imports for its
#* encrypted session cookies): on al2023 that library is built from source into sodium's
#* shared object (recipe.toml's [system-sources]).
#* @serializer text
#* @post /digest
function(req) {
  sodium::bin2hex(sodium::sha256(req$bodyRaw))
}
