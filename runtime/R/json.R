# JSON without jsonlite for the common case.
#
# The runtime's own small documents (error bodies, JSON log lines) are written here in base R,
# so that reporting an error never depends on jsonlite being loadable. Events and results are
# read and written in base R too (json_read.R, json_write.R), with jsonlite's results: loading
# jsonlite pulls in 'methods', +22 MiB of resident memory and ~60 ms (BENCHMARKS.md, "The
# runtime's JSON layer against jsonlite"). jsonlite is loaded only for large events and for
# values the base writer does not know.

#' Mark a string as already-serialised JSON: the runtime sends it unchanged.
json <- function(x) {
  if (is.raw(x)) x <- rawToChar(x)
  if (!is.character(x) || length(x) != 1L || is.na(x)) {
    stop("json() takes one string of serialised JSON")
  }
  structure(x, class = "json")
}

# Strings as valid UTF-8. In a C locale (a bare Lambda environment has no LANG) enc2utf8()
# would turn the bytes of an unmarked string into "<c3><a9>" escapes; unmarked strings that
# are valid UTF-8 -- most of what packages and sockets hand back -- are taken as UTF-8 instead.
# Bytes that are not UTF-8 at all (a caller's base64 body decoded into a message, say) become
# "<ff>" escapes, R's own notation: left in, they make gsub() and friends stop with "invalid in
# this locale", and an error in the runtime's reporting code would end R.
as_utf8 <- function(x) {
  x <- as.character(x)
  known <- !is.na(x)
  unmarked <- known & Encoding(x) == "unknown"
  if (any(unmarked)) {
    valid <- unmarked & validUTF8(x)
    Encoding(x)[valid] <- "UTF-8"
  }
  bytes <- known & Encoding(x) == "bytes"  # enc2utf8() refuses to translate these
  if (any(bytes)) Encoding(x)[bytes] <- "unknown"
  x <- tryCatch(enc2utf8(x), error = function(e) x)
  bad <- known & !validUTF8(x)
  if (any(bad)) {
    x[bad] <- iconv(x[bad], "UTF-8", "UTF-8", sub = "byte")
    Encoding(x)[bad] <- "UTF-8"
  }
  x
}

utf8_raw <- function(x) charToRaw(as_utf8(paste(x, collapse = "")))

# Escape strings into JSON string literals (quotes included); NA becomes null. Bytes that are
# not UTF-8 are escaped first (as_utf8()), so this never fails: error reports depend on it.
json_quote <- function(x) json_escape(as_utf8(x))

# A minimal writer for the runtime's own documents: NULL, atomic vectors (length one becomes a
# scalar, any other length an array), named lists (objects) and unnamed lists (arrays).
json_write <- function(x) {
  if (is.null(x)) return("null")
  if (is.list(x)) {
    if (length(x) == 0L) return(if (is.null(names(x))) "[]" else "{}")
    parts <- vapply(x, json_write, "")
    if (!is.null(names(x))) {
      return(paste0("{", paste0(json_quote(names(x)), ":", parts, collapse = ","), "}"))
    }
    return(paste0("[", paste(parts, collapse = ","), "]"))
  }
  if (is.factor(x)) x <- as.character(x)
  vals <- if (is.character(x)) {
    json_quote(x)
  } else if (is.logical(x)) {
    ifelse(is.na(x), "null", ifelse(x, "true", "false"))
  } else if (is.numeric(x)) {
    ifelse(is.finite(x), as.character(x), "null")
  } else {
    stop("json_write() cannot write an object of class ", class(x)[[1L]])
  }
  if (length(x) == 1L) vals else paste0("[", paste(vals, collapse = ","), "]")
}

# jsonlite on demand, only where the base-R layer (json_read.R, json_write.R) hands over.
# requireNamespace() loads without attaching, so the handler's search path stays as the
# handler left it.
jsonlite_installed <- function() nzchar(system.file(package = "jsonlite"))

jsonlite_ns <- function() {
  if (!requireNamespace("jsonlite", quietly = TRUE)) {
    stop(runtime_condition(
      "Runtime.MissingJsonlite",
      "the R package 'jsonlite' is needed to read or write JSON but is not installed"
    ))
  }
  asNamespace("jsonlite")
}

# Documents above this many bytes are parsed by jsonlite when it is installed: its C parser is
# much faster on them (see BENCHMARKS.md, "The runtime's JSON layer"), and its results are the
# same (the testthat suite checks it). Below it, and always without jsonlite, base R parses.
json_read_jsonlite_above <- 100000L

# Parse an event with jsonlite::fromJSON()'s defaults: arrays of scalars become vectors, arrays
# of records data frames. An empty payload is NULL.
from_json <- function(txt) {
  if (!nzchar(txt)) return(NULL)
  if (nchar(txt, "bytes") > json_read_jsonlite_above && jsonlite_installed()) {
    return(jsonlite_ns()$fromJSON(txt))
  }
  json_read(txt)
}

# Serialise a result: length-one vectors unboxed (wrap in I() to keep an array), NULL and NA as
# null, data frames as an array of records, 15 significant digits. Written in base R; a value
# the base writer does not know (json_write.R) goes to jsonlite's toJSON() with the same
# options, or, without jsonlite, is refused. The result is one string marked UTF-8 (jsonlite
# writes UTF-8 but leaves it unmarked).
to_json <- function(x) {
  txt <- json_write_value(x)
  if (is.null(txt)) {
    if (!jsonlite_installed()) {
      stop(runtime_condition("Runtime.MarshalError", paste0(
        "cannot serialise a value of class ", paste(class(x), collapse = "/"),
        " without the R package 'jsonlite' (not installed): return lists, vectors, factors, ",
        "dates, data frames or matrices, or serialise it yourself and return json(text)")))
    }
    txt <- jsonlite_ns()$toJSON(x, auto_unbox = TRUE, null = "null", na = "null",
                                dataframe = "rows", digits = NA, POSIXt = "ISO8601",
                                UTC = TRUE)
  }
  txt <- as.character(txt)
  Encoding(txt) <- "UTF-8"
  txt
}
