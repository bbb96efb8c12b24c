# Reading JSON in base R, with the results of jsonlite::fromJSON(txt) at its defaults.
#
# Why not jsonlite: loading it pulls in 'methods' (its toJSON is an S4 generic), +22 MiB of resident
# memory on top of base R's 16 MiB (BENCHMARKS.md, "The runtime's JSON layer against jsonlite").
# This file reproduces jsonlite 1.8-2.0 exactly: its parser (yajl: integers that fit in 32 bits are
# integers, other numbers doubles; strings marked UTF-8; yajl's unescaping, comments allowed) and
# its simplify() (ported below line by line from jsonlite's R/simplify.R, R/simplifyDataFrame.R and
# the C helpers it calls), so that a handler sees the same R values either way. The testthat suite
# compares the two on hand-picked and on randomly generated documents.
#
# The document is cut into tokens by one regular expression (gregexpr, in C), all scalars are
# converted at once, and brackets are paired by depth with vectorised operations; each array
# or object is then built in one step from the tokens at its depth, so an R function call is
# paid per container, not per value. (Rewriting the tokens as an R call of nested list()s
# for R's own parser to build was tried: no faster for small events, 2-3x slower for long
# arrays.)

json_token_re <- paste0(
  "[ \t\n\r\f\v]+|/\\*[\\s\\S]*?\\*/|//[^\n]*",          # whitespace; yajl allows comments
  "|\"(?:[^\"\\\\\\x01-\\x1f]++|\\\\[\"\\\\/bfnrt]|\\\\u[0-9a-fA-F]{4})*+\"",
  "|-?(?:0|[1-9][0-9]*)(?:\\.[0-9]+)?(?:[eE][+-]?[0-9]+)?",
  "|true|false|null|[][{}:,]|[\\s\\S]"
)

# Token kinds by first byte: w(hitespace), c(omment), s(tring), n(umber), l(iteral), and the
# punctuation as itself. A lone '"', '/', 't', '-'... is the pattern's catch-all: an error.
json_kinds <- c(" " = "w", "\t" = "w", "\n" = "w", "\r" = "w", "\f" = "w", "\v" = "w",
                "/" = "c", "\"" = "s", "-" = "n", "0" = "n", "1" = "n", "2" = "n", "3" = "n",
                "4" = "n", "5" = "n", "6" = "n", "7" = "n", "8" = "n", "9" = "n", t = "l",
                f = "l", n = "l", "{" = "{", "}" = "}", "[" = "[", "]" = "]", ":" = ":",
                "," = ",")

json_syntax_error <- function(what, tok, at) {
  near <- " at the end of the text"
  if (at <= length(tok)) {
    shown <- substr(tok[[at]], 1L, 20L)  # bytes: shown valid, with <xx> for what is not
    Encoding(shown) <- "unknown"
    near <- sprintf(" at token %d ('%s')", at, as_utf8(shown))
  }
  stop(simpleError(paste0("invalid JSON: ", what, near)))
}

# The raw tree of a document, as jsonlite's C parser builds it before simplifying: objects are
# named lists, arrays unnamed lists, null NULL, scalars length-one vectors.
json_parse_tree <- function(txt) {
  if (!is.character(txt) || length(txt) != 1L || is.na(txt)) {
    stop("invalid JSON: the text must be one string")
  }
  if (!validUTF8(txt)) stop("invalid JSON: the text is not valid UTF-8")
  # By bytes from here on, whatever the locale: substring() then costs O(1) per token, and
  # matches gregexpr(useBytes = TRUE)'s offsets.
  Encoding(txt) <- "bytes"
  head <- charToRaw(substr(txt, 1L, 3L))
  if (identical(head, as.raw(c(0xef, 0xbb, 0xbf)))) {
    warning("JSON string contains (illegal) UTF8 byte-order-mark!", call. = FALSE)
    txt <- substring(txt, 4L)
  } else if (length(head) && head[[1L]] == as.raw(0x1e)) {
    txt <- substring(txt, 2L)  # RFC 7464 record separator
  }
  m <- gregexpr(json_token_re, txt, perl = TRUE, useBytes = TRUE)[[1L]]
  tok <- substring(txt, m, m + attr(m, "match.length") - 1L)
  first <- substr(tok, 1L, 1L)
  kind <- json_kinds[match(first, names(json_kinds))]
  one <- nchar(tok, "bytes") == 1L
  kind[is.na(kind) | (one & kind %in% c("s", "l", "c")) | (one & first == "-")] <- "?"
  keep <- kind != "w" & kind != "c"
  tok <- tok[keep]
  kind <- kind[keep]
  n <- length(tok)
  if (!n) json_syntax_error("no value", tok, 1L)
  bad <- which(kind == "?")
  if (length(bad)) json_syntax_error("unexpected character", tok, bad[[1L]])

  open <- kind == "{" | kind == "["
  close <- kind == "}" | kind == "]"
  depth <- cumsum(open) - cumsum(close)
  if (depth[[n]] != 0L || any(depth < 0L)) json_syntax_error("unbalanced brackets", tok, n)
  value <- json_scalars(tok, kind)

  # Matching brackets: within one depth, opening and closing brackets alternate.
  br <- which(open | close)
  level <- depth[br] + close[br]  # a closer's depth before it closes
  if (length(br)) {
    if (depth[[n]] != 0L || any(level < 1L)) json_syntax_error("unbalanced brackets", tok, n)
    # The k-th opener of a depth pairs with its k-th closer: with the depth never below 0 and
    # back to 0 at the end, openers and closers of one depth alternate.
    is_open <- open[br]
    if (max(level) <= 32L) {
      opener <- closer <- integer()
      for (lv in seq_len(max(level))) {
        at <- level == lv
        opener <- c(opener, br[at & is_open])
        closer <- c(closer, br[at & !is_open])
      }
    } else {
      o <- br[order(level * (n + 1) + br)]
      opener <- o[open[o]]
      closer <- o[!open[o]]
    }
    if (any((kind[opener] == "{") != (kind[closer] == "}"))) {
      json_syntax_error("mismatched brackets", tok, closer[[which(
        (kind[opener] == "{") != (kind[closer] == "}"))[[1L]]]])
    }
    match <- integer(n)
    match[opener] <- closer
    # A container is flat (scalars only) when the next bracket after its opener is its closer.
    next_br <- integer(n)
    next_br[br[-length(br)]] <- br[-1L]
    flat <- open & next_br == match
  } else {
    match <- integer(n)
    flat <- logical(n)
  }
  state <- list(tok = tok, kind = kind, match = match, flat = flat, value = value,
                open = open, close = close, depth = depth)
  end <- if (open[[1L]]) match[[1L]] else 1L
  if (end != n) json_syntax_error("text after the value", tok, end + 1L)
  json_tree_value(state, 1L)
}

json_tree_value <- function(s, i) {
  if (s$open[[i]]) return(json_container(s, i))
  k <- s$kind[[i]]
  if (k == "s" || k == "n" || k == "l") return(s$value[[i]])
  json_syntax_error("expected a value", s$tok, i)
}

# One array or object, its members found in one step: the tokens directly inside it are those
# at its depth (scalars, ',' and ':') and the openers of the containers it holds, which are
# built by recursion. Whatever a nested container holds is balanced and checked there.
json_container <- function(s, i) {
  end <- s$match[[i]]
  obj <- s$kind[[i]] == "{"
  if (end == i + 1L) return(if (obj) structure(list(), names = character()) else list())
  r <- (i + 1L):(end - 1L)
  if (!s$flat[[i]]) {
    d <- s$depth[[i]]
    dd <- s$depth[r]
    r <- r[(dd == d & !s$close[r]) | (s$open[r] & dd == d + 1L)]
  }
  k <- s$kind[r]
  n <- length(r)
  if (obj) {
    pos <- (seq_len(n) - 1L) %% 4L
    at <- r[pos == 2L]
    if ((n + 1L) %% 4L != 0L || any(k[pos == 0L] != "s") || any(k[pos == 1L] != ":") ||
        any(k[pos == 2L] == ":" | k[pos == 2L] == ",") || any(k[pos == 3L] != ",")) {
      json_syntax_error("expected \"key\": value pairs separated by ','", s$tok,
                        json_first_bad(r, k, c("s", ":", "v", ","), end))
    }
  } else {
    odd <- seq.int(1L, n, by = 2L)
    at <- r[odd]
    if (n %% 2L == 0L || any(k[odd] == ":" | k[odd] == ",") || any(k[-odd] != ",")) {
      json_syntax_error("expected values separated by ','", s$tok,
                        json_first_bad(r, k, c("v", ","), end))
    }
  }
  out <- s$value[at]
  nested <- s$open[at]
  if (any(nested)) out[nested] <- lapply(at[nested], json_container, s = s)
  if (obj) names(out) <- unlist(s$value[r[pos == 0L]], use.names = FALSE)
  out
}

# For the error message: the first token not where the pattern (a cycle of kinds, "v" any
# value) wants it, or the closing bracket if the members stop early.
json_first_bad <- function(r, k, cycle, end) {
  want <- rep_len(cycle, length(r))
  ok <- ifelse(want == "v", !(k %in% c(":", ",")), k == want)
  bad <- which(!ok)
  if (length(bad)) r[[bad[[1L]]]] else end
}

# Scalar tokens as a list of R values, as jsonlite's parser makes them (other tokens: NULL).
json_scalars <- function(tok, kind) {
  out <- vector("list", length(tok))
  str <- which(kind == "s")
  if (length(str)) out[str] <- as.list(json_strings(tok[str]))
  num <- which(kind == "n")
  if (length(num)) out[num] <- json_numbers(tok[num])
  lit <- which(kind == "l")
  if (length(lit)) {
    t <- tok[lit]
    out[lit[t == "true"]] <- list(TRUE)
    out[lit[t == "false"]] <- list(FALSE)
  }
  out
}

# Number tokens as doubles, correctly rounded as C's strtod() (yajl's) rounds them. R's own
# as.numeric() is not always: it gave 0.11044779419899001 for "0.11044779419899" (1 in ~5,000
# random 15-digit numbers). A number of at most 15 significant digits and a power of ten within
# +-22 is exact as digits / 10^k or digits * 10^k: both operands are exact doubles, and one
# IEEE operation rounds correctly (Clinger's fast path). Others -- more digits, or huge and tiny
# exponents -- are left to as.numeric(), which may differ from strtod() in the last bit.
json_pow10 <- cumprod(c(1, rep(10, 22)))

# yajl: a number without fraction or exponent that fits in 32 bits (but not -2^31) is an
# integer; any other number is a double. Returns a list of length-one vectors.
json_numbers <- function(t) {
  d <- as.numeric(t)  # exact for integers below 2^53
  plain <- !grepl("[.eE]", t)
  int <- plain & abs(d) <= 2147483647
  if (all(int)) return(as.list(as.integer(d)))
  if (!all(plain)) d[!plain] <- json_decimals(t[!plain], d[!plain])
  out <- as.list(d)
  if (any(int)) out[int] <- as.list(as.integer(d[int]))
  out
}

# digits * or / 10^k where both are exact (see json_pow10); `d` (as.numeric()) otherwise.
json_decimals <- function(t, d) {
  if (!any(grepl("e", t, fixed = TRUE)) && !any(grepl("E", t, fixed = TRUE))) {
    frac <- nchar(t) - regexpr(".", t, fixed = TRUE)  # every token here has a '.'
    m <- as.numeric(sub(".", "", t, fixed = TRUE))
    fast <- abs(m) < 9007199254740992 & frac <= 22L
    d[fast] <- m[fast] / json_pow10[frac[fast] + 1L]
    return(d)
  }
  e_at <- regexpr("[eE]", t)
  has_e <- e_at > 0L
  mant <- t
  e <- numeric(length(t))
  if (any(has_e)) {
    mant[has_e] <- substr(t[has_e], 1L, e_at[has_e] - 1L)
    e[has_e] <- as.numeric(substring(t[has_e], e_at[has_e] + 1L))
  }
  dot <- regexpr(".", mant, fixed = TRUE)
  frac <- nchar(mant) - dot
  frac[dot < 0L] <- 0L
  m <- as.numeric(sub(".", "", mant, fixed = TRUE))  # an integer: exact below 2^53
  p <- e - frac
  fast <- abs(m) < 9007199254740992 & abs(p) <= 22
  scale <- json_pow10[pmin(abs(p), 22) + 1]
  v <- m * scale
  down <- p < 0
  v[down] <- m[down] / scale[down]
  d[fast] <- v[fast]
  d
}

# String tokens (quotes included) as UTF-8 strings, unescaped the way yajl does.
json_strings <- function(tok) {
  x <- substr(tok, 2L, nchar(tok, "bytes") - 1L)
  esc <- grepl("\\", x, fixed = TRUE)
  if (any(esc)) x[esc] <- vapply(x[esc], json_unescape, "", USE.NAMES = FALSE)
  Encoding(x) <- "UTF-8"
  x
}

json_escape_map <- c(r = "\r", n = "\n", "\\" = "\\", "/" = "/", "\"" = "\"", f = "\f",
                     b = "\b", t = "\t")

# One string's escapes (a port of yajl_string_decode, quirks included: a high surrogate
# followed by any \u escape is combined with it, a lone one becomes '?' and swallows the next
# character, \u0000 ends the string because R strings stop at NUL).
json_unescape <- function(x) {
  m <- gregexpr("\\\\(?:u[0-9a-fA-F]{4}|.)", x, perl = TRUE, useBytes = TRUE)
  esc <- regmatches(x, m)[[1L]]
  u <- startsWith(esc, "\\u")
  cp <- strtoi(substr(esc[u], 3L, 6L), 16L)
  # Surrogates and \u0000 take yajl's byte-by-byte decoding below; the rest, all at once.
  if (!any(cp == 0L | bitwAnd(cp, 0xF800L) == 0xD800L)) {
    out <- character(length(esc))
    out[!u] <- json_escape_map[substring(esc[!u], 2L)]
    if (any(u)) {
      uc <- unique(cp)
      out[u] <- vapply(uc, function(c) rawToChar(utf8_bytes(c)), "")[match(cp, uc)]
    }
    Encoding(out) <- "bytes"
    regmatches(x, m) <- list(out)
    return(x)
  }
  b <- charToRaw(x)
  n <- length(b)
  out <- vector("list", 0L)
  beg <- 1L
  end <- 1L
  bs <- as.raw(0x5c)
  while (end <= n) {
    if (b[[end]] != bs) {
      end <- end + 1L
      next
    }
    if (end > beg) out[[length(out) + 1L]] <- b[beg:(end - 1L)]
    end <- end + 1L
    ch <- rawToChar(b[end])
    if (ch != "u") {
      out[[length(out) + 1L]] <- charToRaw(json_escape_map[[ch]])
      end <- end + 1L
      beg <- end
      next
    }
    cp <- strtoi(rawToChar(b[(end + 1L):(end + 4L)]), 16L)
    end <- end + 4L  # on the last hex digit
    if (bitwAnd(cp, 0xFC00L) == 0xD800L) {
      end <- end + 1L
      if (end + 1L <= n && b[[end]] == bs && rawToChar(b[end + 1L]) == "u") {
        sur <- strtoi(rawToChar(b[(end + 2L):(end + 5L)]), 16L)
        cp <- bitwOr(bitwOr(bitwShiftL(bitwAnd(cp, 0x3FL), 10L),
                            bitwShiftL(bitwAnd(bitwShiftR(cp, 6L), 0xFL) + 1L, 16L)),
                     bitwAnd(sur, 0x3FFL))
        end <- end + 5L
      } else {
        out[[length(out) + 1L]] <- charToRaw("?")
        end <- end + 1L
        beg <- end
        next
      }
    }
    if (cp == 0L) {  # yajl writes a NUL byte: the R string ends there
      beg <- n + 1L
      end <- n + 1L
      break
    }
    out[[length(out) + 1L]] <- utf8_bytes(cp)
    end <- end + 1L
    beg <- end
  }
  if (end > beg && beg <= n) out[[length(out) + 1L]] <- b[beg:min(end - 1L, n)]
  rawToChar(unlist(out))
}

# A code point as UTF-8 bytes, surrogates included (as yajl's Utf32toUtf8 writes them).
utf8_bytes <- function(cp) {
  if (cp < 0x80L) return(as.raw(cp))
  if (cp < 0x800L) {
    return(as.raw(c(bitwOr(0xC0L, bitwShiftR(cp, 6L)), bitwOr(0x80L, bitwAnd(cp, 0x3FL)))))
  }
  if (cp < 0x10000L) {
    return(as.raw(c(bitwOr(0xE0L, bitwShiftR(cp, 12L)),
                    bitwOr(0x80L, bitwAnd(bitwShiftR(cp, 6L), 0x3FL)),
                    bitwOr(0x80L, bitwAnd(cp, 0x3FL)))))
  }
  as.raw(c(bitwOr(0xF0L, bitwShiftR(cp, 18L)),
           bitwOr(0x80L, bitwAnd(bitwShiftR(cp, 12L), 0x3FL)),
           bitwOr(0x80L, bitwAnd(bitwShiftR(cp, 6L), 0x3FL)),
           bitwOr(0x80L, bitwAnd(cp, 0x3FL))))
}

# ---- jsonlite's simplify(), ported -------------------------------------------------------

json_simplify <- function(x, simplify_matrix = TRUE, simplify_sub_matrix = simplify_matrix,
                          dates = TRUE) {
  if (!is.list(x) || !length(x)) return(x)
  # Shortcuts, exact for what the parser builds: a named list (object) is never a record list,
  # a matrix or an array list, so without "$date" anywhere in the document it simplifies to
  # its simplified elements; an unnamed list of scalars is never a record list.
  if (!dates) {
    if (!is.null(names(x))) {
      return(lapply(x, json_simplify, simplify_matrix = simplify_sub_matrix, dates = FALSE))
    }
    if (json_is_scalarlist(x)) return(json_list_to_vec(x, dates = FALSE))
  }
  if (json_is_recordlist(x)) {
    df <- json_simplify_df(x, simplify_sub_matrix, dates)
    if (is.data.frame(df) && json_is_date_object(df)) return(json_parse_date(df[["$date"]]))
    return(df)
  }
  if (is.null(names(x)) && json_is_scalarlist(x)) return(json_list_to_vec(x))
  out <- lapply(x, json_simplify, simplify_matrix = simplify_sub_matrix, dates = dates)
  if (dates && json_is_scalarlist(out) && all(vapply(out, inherits, logical(1), "POSIXt"))) {
    return(structure(json_list_to_vec(out), class = c("POSIXct", "POSIXt")))
  }
  if (simplify_matrix && json_is_matrixlist(out) &&
      all(unlist(vapply(x, json_is_scalarlist, logical(1))))) {
    return(do.call(rbind, out))
  }
  if (simplify_matrix && json_is_arraylist(out)) {
    return(array(data = do.call(rbind, lapply(out, as.vector)),
                 dim = c(length(out), dim(out[[1L]]))))
  }
  if (is.null(names(out))) {
    isemptylist <- vapply(out, identical, logical(1), list())
    if (any(isemptylist) & !all(isemptylist)) {
      if (all(vapply(out[!isemptylist], is.data.frame, logical(1)))) {
        for (i in which(isemptylist)) out[[i]] <- data.frame()
        return(out)
      }
      if (all(vapply(out[!isemptylist], function(z) isTRUE(is.vector(z) && is.atomic(z)),
                     logical(1)))) {
        for (i in which(isemptylist)) {
          out[[i]] <- vector(mode = typeof(out[[which(!isemptylist)[1L]]]))
        }
        return(out)
      }
    }
  }
  if (dates && json_is_date_object(out)) return(json_parse_date(out[["$date"]]))
  out
}

# C_is_recordlist: an unnamed list of named lists and NULLs, with at least one named list.
json_is_recordlist <- function(x) {
  if (typeof(x) != "list" || !is.null(names(x)) || !length(x)) return(FALSE)
  named <- vapply(x, function(e) typeof(e) == "list" && !is.null(names(e)), logical(1))
  all(named | vapply(x, is.null, logical(1))) && any(named)
}

# C_is_scalarlist: a list whose elements are atomic (or NULL) of length 0 or 1.
json_is_scalarlist <- function(x) {
  typeof(x) == "list" && all(lengths(x) < 2L) &&
    !any(is.na(match(vapply(x, typeof, ""), c("logical", "integer", "double", "character",
                                                "NULL", "raw", "complex"))))
}

# C_null_to_na: NULL becomes NA; the strings "NA", "NaN", "Inf", "-Inf" become NA, NaN, Inf,
# -Inf unless some other string is present.
json_null_to_na <- function(x, types = vapply(x, typeof, "")) {
  if (!length(x)) return(x)
  x[types == "NULL"] <- list(NA)
  str <- types == "character"
  if (!any(str)) return(x)
  s <- vapply(x[str], function(e) e[1L], "")
  if (!all(s %in% c("NA", "NaN", "Inf", "-Inf"))) return(x)
  x[str] <- list(NA, NaN, Inf, -Inf)[match(s, c("NA", "NaN", "Inf", "-Inf"))]
  x
}

json_list_to_vec <- function(x, dates = TRUE) {
  isdates <- dates && json_is_datelist(x)
  out <- unlist(json_null_to_na(x), recursive = FALSE, use.names = FALSE)
  if (isdates && is.numeric(out)) structure(out, class = c("POSIXct", "POSIXt")) else out
}

# C_is_datelist: NULLs, "NA" strings and POSIXct values, at least one POSIXct.
json_is_datelist <- function(x) {
  if (!is.list(x) || !length(x)) return(FALSE)
  status <- FALSE
  for (el in x) {
    if (is.null(el)) next
    if (is.character(el) && length(el) && identical(el[[1L]], "NA")) next
    if (is.numeric(el) && inherits(el, "POSIXct")) status <- TRUE else return(FALSE)
  }
  status
}

json_all_identical <- function(x) length(x) > 0L && all(x == x[1L])

json_is_matrixlist <- function(x) {
  isTRUE(is.list(x) && length(x) && is.null(names(x)) &&
           all(vapply(x, is.atomic, logical(1))) &&
           json_all_identical(vapply(x, length, integer(1))))
}

json_is_arraylist <- function(x) {
  isTRUE(is.list(x) && length(x) && is.null(names(x)) &&
           all(vapply(x, is.array, logical(1))) &&
           json_all_identical(vapply(x, function(y) paste(dim(y), collapse = "-"), "")))
}

# Mongo-style {"$date": ...}.
json_is_date_object <- function(x) {
  isTRUE(is.list(x) && identical(names(x), "$date") &&
           (is.numeric(x[["$date"]]) || is.character(x[["$date"]])))
}

json_parse_date <- function(x) {
  if (is.numeric(x)) return(structure(x / 1000, class = c("POSIXct", "POSIXt")))
  if (is.character(x)) {
    is_utc <- ifelse(all(grepl("Z$", x)), "UTC", "")
    return(as.POSIXct(strptime(x, format = "%Y-%m-%dT%H:%M:%OS", tz = is_utc)))
  }
  x
}

# C_transpose_list: for each column name, every record's first field of that name (or NULL).
json_transpose <- function(records, columns) {
  n <- length(records)
  lens <- lengths(records)
  values <- unlist(records, recursive = FALSE, use.names = FALSE)
  keys <- unlist(lapply(records, names), use.names = FALSE)
  row <- rep.int(seq_len(n), lens)
  col_of <- match(keys, columns)
  first <- !duplicated(row * (length(columns) + 1) + col_of)
  lapply(seq_along(columns), function(j) {
    col <- vector("list", n)
    sel <- first & col_of == j
    col[row[sel]] <- values[sel]
    col
  })
}

json_simplify_df <- function(recordlist, simplify_matrix, dates = TRUE) {
  if (!any(vapply(recordlist, length, integer(1), USE.NAMES = FALSE))) {
    return(data.frame(matrix(nrow = length(recordlist), ncol = 0)))
  }
  columns <- unique(unlist(lapply(recordlist, names), recursive = FALSE, use.names = FALSE))
  columnlist <- json_transpose(recordlist, columns)
  columnlist <- lapply(columnlist, json_simplify, simplify_matrix = FALSE,
                       simplify_sub_matrix = simplify_matrix, dates = dates)
  columnlengths <- unlist(vapply(columnlist, function(z) {
    ifelse(length(dim(z)) > 1, nrow(z), length(z))
  }, integer(1)))
  n <- unique(columnlengths)
  if (length(n) > 1) stop("Elements not of equal length: ", paste(columnlengths, collapse = " "))
  names(columnlist) <- columns
  class(columnlist) <- "data.frame"
  if ("_row" %in% names(columnlist)) {
    rn <- columnlist[["_row"]]
    columnlist["_row"] <- NULL
    if (is.double(rn)) rn <- as.integer(rn)
    rn_na <- is.na(rn)
    if (sum(rn_na) > 0) rn[rn_na] <- paste0("NA_", seq_len(sum(rn_na)))
    if (any(duplicated(rn))) {
      warning("Duplicate names in \"_row\" field. Data frames must have unique row names.",
              call. = FALSE)
      if (is.character(rn)) row.names(columnlist) <- make.unique(rn)
      else row.names(columnlist) <- seq_len(n)
    } else {
      row.names(columnlist) <- rn
    }
  } else {
    row.names(columnlist) <- seq_len(n)
  }
  columnlist
}

#' Parse JSON text as jsonlite::fromJSON(txt) does with its defaults, in base R.
json_read <- function(txt) {
  json_simplify(json_parse_tree(txt), dates = grepl("$date", txt, fixed = TRUE))
}
