# Writing JSON in base R, byte for byte what the runtime's jsonlite call wrote:
#   jsonlite::toJSON(x, auto_unbox = TRUE, null = "null", na = "null", dataframe = "rows",
#                    digits = NA, POSIXt = "ISO8601", UTC = TRUE)
# for the values handlers return: NULL, logical/integer/double/character vectors, factors,
# Date, POSIXct/POSIXlt, I(), lists, data frames (by rows, with list, matrix and data-frame
# columns), matrices and arrays. The rules below follow jsonlite's asJSON methods (R/asJSON.*.R,
# src/num_to_char.c, src/escape_chars.c of jsonlite 1.8-2.0). Anything else -- S4 objects,
# environments, functions, other classes (tibbles too: jsonlite's S4 dispatch on their class
# vector is not reproduced here) -- is "unsupported": to_json() then hands the value to
# jsonlite itself, so its meaning never silently changes. The testthat suite compares the two
# on hand-picked and on randomly generated values.

json_unsupported <- function(x) {
  stop(structure(class = c("json_unsupported", "error", "condition"), list(
    message = paste("no base-R JSON writer for a value of class",
                    paste(class(x), collapse = "/")),
    call = NULL)))
}

# jsonlite's string escaping: \\ \" \n \r \t \b \f, "</" as "<\/", other control characters as
# \u00xx; everything else (UTF-8 included) as is. NA as null.
json_escape <- function(x) {
  if (!length(x)) return(character())
  if (any(Encoding(x) == "bytes")) json_unsupported(x)
  x <- enc2utf8(x)
  na <- is.na(x)
  # Most strings need no escape: one scan instead of eight substitutions.
  if (!any(grepl("[\001-\037\\\\\"]|</", x, useBytes = TRUE))) {
    out <- paste0("\"", x, "\"")
    out[na] <- "null"
    return(out)
  }
  for (pair in list(c("\\", "\\\\"), c("\"", "\\\""), c("\n", "\\n"), c("\r", "\\r"),
                    c("\t", "\\t"), c("\b", "\\b"), c("\f", "\\f"), c("</", "<\\/"))) {
    x <- gsub(pair[[1L]], pair[[2L]], x, fixed = TRUE, useBytes = TRUE)
  }
  if (any(grepl("[\001-\037]", x, useBytes = TRUE))) {
    for (code in c(1:7, 11L, 14:31)) {
      x <- gsub(rawToChar(as.raw(code)), sprintf("\\u%04x", code), x,
                fixed = TRUE, useBytes = TRUE)
    }
  }
  out <- paste0("\"", x, "\"")
  out[na] <- "null"
  out
}

# The JSON text of each element of an atomic vector (no brackets).
json_cells <- function(x) {
  switch(typeof(x),
    logical = {
      out <- ifelse(x, "true", "false")
      out[is.na(x)] <- "null"
      as.character(out)
    },
    integer = {
      out <- as.character(unclass(x))
      out[is.na(x)] <- "null"
      out
    },
    double = {
      x <- unclass(x)
      out <- rep.int("null", length(x))
      ok <- is.finite(x)
      out[ok] <- sprintf("%.15g", x[ok])  # jsonlite's digits = NA: C's %.15g
      out
    },
    character = json_escape(x),
    json_unsupported(x)
  )
}

json_array <- function(parts) paste0("[", paste(parts, collapse = ","), "]")

# cleannames(): empty or NA names become their position, duplicates get make.unique() suffixes.
json_keys <- function(keys) {
  keys[!is.na(keys) & keys == ""] <- NA_character_
  miss <- is.na(keys)
  keys[miss] <- as.character(seq_along(keys))[miss]
  json_escape(make.unique(keys))
}

json_object <- function(keys, parts) {
  if (!length(parts)) return("{}")
  paste0("{", paste0(json_keys(keys), ":", parts, collapse = ","), "}")
}

# The value a class stands for, or unsupported.
json_plain <- function(x) {
  cls <- oldClass(x)
  if (is.null(cls)) return(x)
  if (identical(cls, "factor") || identical(cls, c("ordered", "factor"))) {
    return(as.character(x))
  }
  if (identical(cls, "Date")) return(format(x))
  if (identical(cls, c("POSIXct", "POSIXt")) || identical(cls, c("POSIXlt", "POSIXt"))) {
    return(format(x, format = "%Y-%m-%dT%H:%M:%SZ", tz = "UTC"))
  }
  if (identical(cls, "json")) return(as.character(x))  # jsonlite writes it as a string
  json_unsupported(x)
}

json_value <- function(x, unbox = TRUE) {
  if (is.null(x)) return("null")
  cls <- oldClass(x)
  if (!is.null(cls)) {
    if ("AsIs" %in% cls) {
      class(x) <- setdiff(cls, "AsIs")
      if (is.atomic(x) && length(x) == 1L) return(json_value(x, unbox = FALSE))
      return(json_value(x, unbox))
    }
    if (identical(cls, "data.frame")) return(json_array(json_df_rows(x)))
    x <- json_plain(x)
  }
  if (is.list(x)) {
    if (!identical(typeof(x), "list") || !is.null(dim(x))) json_unsupported(x)
    parts <- vapply(x, json_value, "", unbox = unbox, USE.NAMES = FALSE)
    if (is.null(names(x))) return(json_array(parts))
    return(json_object(names(x), parts))
  }
  if (!is.null(dim(x))) return(json_matrix(x, collapse = TRUE))
  cells <- json_cells(x)
  if (unbox && length(cells) == 1L) cells else json_array(cells)
}

# Matrices by rows, arrays nested with the first index outermost; never unboxed. With
# collapse = FALSE (a matrix column of a data frame) one array per row.
json_matrix <- function(x, collapse) {
  d <- dim(x)
  if (length(d) < 2L) {
    cells <- json_cells(c(x))
    return(if (collapse) json_array(cells) else cells)
  }
  if (!is.atomic(x) || (length(d) > 2L && any(d == 0L))) json_unsupported(x)
  cells <- json_cells(c(x))
  if (length(d) == 2L) {
    if (d[[1L]] == 0L) rows <- character()
    else if (d[[2L]] == 0L) rows <- rep.int("[]", d[[1L]])
    else {
      dim(cells) <- d
      rows <- paste0("[", do.call(paste, c(lapply(seq_len(d[[2L]]), function(j) cells[, j]),
                                           sep = ",")), "]")
    }
  } else {
    # Storage order with the last index fastest, then group from the innermost dimension.
    dim(cells) <- d
    cells <- c(aperm(cells, rev(seq_along(d))))
    for (k in rev(seq_along(d))[-length(d)]) {
      groups <- rep(seq_len(length(cells) / d[[k]]), each = d[[k]])
      cells <- vapply(split(cells, groups), json_array, "", USE.NAMES = FALSE)
    }
    rows <- cells
  }
  if (collapse) json_array(rows) else rows
}

# A column of a data frame as one JSON text per row.
json_column <- function(col) {
  if (is.null(col)) json_unsupported(col)
  cls <- oldClass(col)
  if (!is.null(cls)) {
    if ("AsIs" %in% cls) {
      class(col) <- setdiff(cls, "AsIs")
      return(json_column(col))
    }
    if (identical(cls, "data.frame")) return(json_df_rows(col))
    col <- json_plain(col)
  }
  if (is.list(col)) {
    if (!identical(typeof(col), "list") || !is.null(dim(col))) json_unsupported(col)
    return(vapply(col, json_value, "", unbox = TRUE, USE.NAMES = FALSE))
  }
  if (!is.null(dim(col))) return(json_matrix(col, collapse = FALSE))
  json_cells(col)
}

# A data frame as one JSON object per row.
json_df_rows <- function(x) {
  rn <- attr(x, "row.names")
  n <- nrow(x)
  x <- unclass(x)
  if (is.character(rn) && !all(grepl("^\\d+$", rn))) x[["_row"]] <- rn
  if (!n) return(character())
  cols <- lapply(x, function(col) {
    if (inherits(col, "POSIXlt")) col <- as.POSIXct(col)
    if (is.list(col) && !is.data.frame(col)) names(col) <- NULL
    cells <- json_column(col)
    if (length(cells) != n) json_unsupported(col)
    cells
  })
  if (!length(cols)) return(rep.int("{}", n))
  keys <- json_keys(names(x))
  pairs <- lapply(seq_along(cols), function(j) paste0(keys[[j]], ":", cols[[j]]))
  paste0("{", do.call(paste, c(pairs, sep = ",")), "}")
}

#' The runtime's JSON for `x`, in base R; NULL when `x` holds something only jsonlite knows.
json_write_value <- function(x) {
  tryCatch(json_value(x), json_unsupported = function(e) NULL)
}
