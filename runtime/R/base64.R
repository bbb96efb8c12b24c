# Base64 in base R (vectorised over bytes): HTTP events carry binary bodies base64-encoded, and
# the trailer of a failed stream carries its error body that way. Base R has no codec of its
# own and this avoids loading a package for it.

b64_alphabet <- c(LETTERS, letters, as.character(0:9), "+", "/")

base64_encode <- function(x) {
  if (is.character(x)) x <- utf8_raw(x)
  n <- length(x)
  if (n == 0L) return("")
  pad <- (3L - n %% 3L) %% 3L
  b <- matrix(as.integer(c(x, as.raw(rep(0L, pad)))), nrow = 3L)
  v <- b[1L, ] * 65536L + b[2L, ] * 256L + b[3L, ]
  idx <- rbind(v %/% 262144L, (v %/% 4096L) %% 64L, (v %/% 64L) %% 64L, v %% 64L)
  out <- b64_alphabet[as.vector(idx) + 1L]
  if (pad > 0L) out[(length(out) - pad + 1L):length(out)] <- "="
  paste(out, collapse = "")
}

base64_decode <- function(x) {
  # Accept the URL-safe alphabet and missing padding too; whitespace is ignored.
  chars <- strsplit(gsub("[^A-Za-z0-9+/_-]", "", x), "")[[1L]]
  chars[chars == "-"] <- "+"
  chars[chars == "_"] <- "/"
  if (length(chars) %% 4L == 1L) stop("invalid base64 input")
  v <- match(chars, b64_alphabet) - 1L
  pad <- (4L - length(v) %% 4L) %% 4L
  m <- matrix(c(v, rep(0L, pad)), nrow = 4L)
  w <- m[1L, ] * 262144L + m[2L, ] * 4096L + m[3L, ] * 64L + m[4L, ]
  bytes <- as.vector(rbind(w %/% 65536L, (w %/% 256L) %% 256L, w %% 256L))
  as.raw(bytes[seq_len(length(bytes) - pad)])
}
