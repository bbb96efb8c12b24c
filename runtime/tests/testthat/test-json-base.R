# The base-R JSON layer (json_read.R, json_write.R) against jsonlite itself: the same R values
# from the same text, the same text from the same values. Hand-picked edge cases first, then
# documents and values from a seeded random generator.

jsonlite_read <- function(txt) jsonlite::fromJSON(txt)
jsonlite_write <- function(x) {
  as.character(jsonlite::toJSON(x, auto_unbox = TRUE, null = "null", na = "null",
                                dataframe = "rows", digits = NA, POSIXt = "ISO8601", UTC = TRUE))
}
# The value (or that there was an error) and the warnings, but not jsonlite's warning from
# file.exists() (it tries a short text as a file name) in a locale that cannot show the text.
outcome <- function(expr) {
  warned <- character()
  value <- withCallingHandlers(
    tryCatch(expr, error = function(e) structure(list(), class = "json_test_error")),
    warning = function(w) {
      if (!grepl("translate", conditionMessage(w))) warned <<- c(warned, conditionMessage(w))
      invokeRestart("muffleWarning")
    })
  if (inherits(value, "json_test_error")) return(list(error = TRUE))
  list(value = value, warning = warned)
}
expect_same_read <- function(txt) {
  want <- outcome(jsonlite_read(txt))
  got <- outcome(rt$json_read(txt))
  if (isTRUE(want$error)) {
    expect_true(isTRUE(got$error), info = txt)
  } else {
    expect_identical(got, want, info = txt)
    if (!is.null(want$value)) {
      # The runtime's entry point too (below the size at which it hands over to jsonlite).
      expect_identical(suppressWarnings(rt$from_json(txt)), suppressWarnings(jsonlite_read(txt)),
                       info = txt)
    }
  }
}
expect_same_write <- function(x, info = NULL) {
  want <- tryCatch(jsonlite_write(x), error = function(e) NA_character_)
  got <- rt$json_write_value(x)
  if (is.null(got)) return(invisible(FALSE))  # handed to jsonlite: the same by construction
  expect_identical(got, want, info = paste(info, paste(deparse(x), collapse = " ")))
  invisible(TRUE)
}

read_cases <- c(
  "1", "-0", "-0.0", "0.0", "1e400", "-1e400", "1e-400", "2147483647", "2147483648",
  "-2147483647", "-2147483648", "12345678901234567890", "123456789012345678901234567890",
  "1.5", "1E2", "1e+2", "1.25e-3", "0.1", "0.11044779419899", "3.141592653589793",
  "9007199254740993", "4.9e-324", "1.7976931348623157e308",
  "\"a\"", "null", "true", "false", "[]", "{}", "[[]]", "[{}]", "{\"a\":{}}", "{\"a\":[]}",
  "[1,2,3]", "[1,\"a\"]", "[1,null]", "[null]", "[null,null]", "[true,null]", "[\"NA\",1]",
  "[\"NA\",\"a\"]", "[\"NA\"]", "[\"Inf\",\"NaN\",\"-Inf\"]", "[\"Inf\",2.5]", "[\"NA\",null]",
  "[true,1,2.5]", "[1,2.5]", "[true,\"x\"]", "[1,2147483648]", "[\"1\",1]",
  "[{\"a\":1},{\"b\":\"x\"}]", "[{\"a\":1,\"b\":{\"c\":2}},{\"a\":2,\"b\":{\"c\":3}}]",
  "[{\"a\":1},null]", "[null,{\"a\":1}]", "[{\"a\":[]},{\"a\":[1]}]", "[{\"a\":[1,2]},{\"a\":[3]}]",
  "[{\"a\":{\"b\":1}},{\"a\":null}]", "{\"a\":{\"b\":[{\"c\":1},{\"c\":2}]}}",
  "[{\"a\":1,\"a\":2}]", "[{},{}]", "[{}, {\"a\":1}]", "[{\"a\":[[1,2],[3,4]]},{\"a\":[[5,6],[7,8]]}]",
  "[{\"_row\":\"r1\",\"a\":1},{\"_row\":\"r2\",\"a\":2}]", "[{\"_row\":1,\"a\":1},{\"_row\":1,\"a\":2}]",
  "[[1,2],[3,4]]", "[[1,2],[3]]", "[[1,\"a\"],[2,\"b\"]]", "[[true,null],[null,1]]",
  "[[[1,2],[3,4]],[[5,6],[7,8]]]", "[[[1],[2]],[[3],[4]]]", "[[], [1]]", "[[],[]]",
  "[[], \"a\"]", "[[],{\"a\":1}]", "[[{\"a\":1}],[]]", "[[1,2],{\"a\":1}]",
  "{\"a\":[1,2],\"b\":{\"c\":null}}", "{\"\":1}", "{\"a\":1,\"a\":2}",
  "[{\"$date\":1000}]", "{\"$date\":\"2020-01-01T00:00:00Z\"}", "[{\"$date\":1000},{\"$date\":2000}]",
  "{\"x\":{\"$date\":1000}}",
  "[\"\\u00e9\\ud83d\\ude00\",\"x\\ny\"]", "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\\\u0041\"",
  "[\"a\\u0000b\"]", "[\"\\ud800x1\"]", "\"\\ud800\"", "\"\\ud800\\u0041\"", "\"\\udc00\"",
  "\"\u00e9\u4e2d\"", "{\"\u00e9\":\"\\u00e9\"}", "\" \"", "\"\"",
  "[1, /* c */ 2] // x", " \t\n[1]\n ", "\f[1]\v",
  # invalid
  "", " ", "[", "]", "[1,]", "[,1]", "{\"a\"}", "{\"a\":}", "{a:1}", "{\"a\":1,}", "[1 2]",
  "01", "1.", ".5", "+1", "-", "1e", "tru", "nul", "truex", "[1]]", "[[1]", "{\"a\":1]",
  "[1}", "\"abc", "\"a\nb\"", "'a'", "[1]x", "1 2", "\"\\x\"", "\"\\u12\"", "NaN", "Infinity",
  "[\u00e9]", "{\"a\" 1}", "{1:2}", "/* open"
)

test_that("the base-R parser gives jsonlite's values on hand-picked documents", {
  skip_if_not_installed("jsonlite")
  for (txt in read_cases) expect_same_read(txt)
})

test_that("a byte-order mark and a record separator are skipped as jsonlite skips them", {
  expect_warning(x <- rt$json_read("\xef\xbb\xbf[1]"), "byte-order-mark")
  expect_identical(x, 1L)
  expect_identical(rt$json_read("\x1e{\"a\":1}"), list(a = 1L))
})

test_that("invalid JSON is a clear error, reported as Runtime.UnmarshalError", {
  expect_error(rt$json_read("[1,]"), "invalid JSON")
  expect_error(rt$json_read("{\"a\":1"), "invalid JSON")
  expect_error(rt$json_read("\xff"), "not valid UTF-8")
  shape <- rt$handler_shape(function(event) event)
  expect_equal(error_class(rt$build_args(shape, charToRaw("{\"a\":"))), "Runtime.UnmarshalError")
  cond <- tryCatch(rt$build_args(shape, charToRaw("[1 2]")), error = function(e) e)
  expect_match(conditionMessage(cond), "could not parse the event as JSON: invalid JSON")
})

test_that("strings come back marked UTF-8, numbers as integers or doubles as jsonlite makes them", {
  x <- rt$json_read("[\"\\u00e9\", \"a\"]")
  expect_identical(Encoding(x), c("UTF-8", "unknown"))
  expect_identical(rt$json_read("[1, 2147483647]"), c(1L, 2147483647L))
  expect_identical(rt$json_read("[1, 2147483648]"), c(1, 2147483648))
  expect_identical(rt$json_read("1e400"), Inf)
  expect_identical(1 / rt$json_read("-0.0"), -Inf)
  expect_identical(rt$json_read("[{\"a\":1},{\"b\":null}]"),
                   data.frame(a = c(1L, NA), b = c(NA, NA)))
})

write_cases <- list(
  NULL, TRUE, NA, c(TRUE, NA), logical(0), 1L, NA_integer_, 1:3, integer(0), 1.5, pi, -0,
  1e300, 1e-300, 123456789012345678, c(NaN, Inf, -Inf, NA), 0.1 + 0.2, 100000, 1e15, 1e16,
  .Machine$double.xmin, 5e-324, 2^31, -2^31, "a", NA_character_, character(0), "",
  c("a\"b\\c\n\t\r\b\f\001\037\177</x<//", "\u00e9\u4e2d\U0001F600"),
  factor(c("a", "b", NA)), ordered(c("lo", "hi")), factor(character(0)),
  as.Date(c("2020-01-02", NA)), as.Date("2020-01-02"),
  as.POSIXct("2020-01-02 03:04:05.6", tz = "America/New_York"),
  as.POSIXlt("2020-01-02 03:04:05", tz = "UTC"), as.POSIXct(NA), I(1), I("a"), I(NA),
  I(c(1, 2)), I(list(1, "a")), I(list(a = 1)), list(), structure(list(), names = character()),
  list(1, "a", NULL, list()), list(a = 1, b = list(c = NULL, d = I(2)), 3),
  list(a = 1, 2, a = 3), setNames(list(1, 2), c(NA, "")), c(a = 1, b = 2),
  setNames(list(1, 2, 3, 4), c("a\"b", "</", "\u00e9", "\n")),
  data.frame(a = 1:2, b = c("x", NA), c = c(NA, 2.5)), data.frame(a = 1)[0, , drop = FALSE],
  data.frame(row.names = 1:3), data.frame(a = 1:2, row.names = c("r1", "r2")),
  data.frame(a = 1:2, row.names = c("1", "2")), data.frame(a = I(list(1, "x"))),
  local({
    d <- data.frame(a = 1:2)
    d$l <- list(1:2, NULL)
    d$named <- list(x = 1, y = "b")
    d$m <- matrix(1:4, 2)
    d$n <- data.frame(x = c("p", "q"))
    d$t <- as.POSIXlt(c("2020-01-01", "2021-01-01"), tz = "UTC")
    d$f <- factor(c("u", NA))
    d$d <- as.Date(c(NA, "2020-02-02"))
    d
  }),
  list(df = data.frame(x = 1), m = matrix(1:4, 2)), matrix(1:6, 2), matrix(c("a", NA), 1),
  matrix(c(TRUE, NA, FALSE, TRUE), 2), matrix(numeric(0), 0, 3), matrix(numeric(0), 2, 0),
  array(1:24, 2:4), array(1:3, 3), array(1, 1), matrix(1), structure(1:2, dim = 2L),
  array(c(0.5, NA), c(1, 1, 2))
)

test_that("the base-R writer gives jsonlite's bytes on hand-picked values", {
  skip_if_not_installed("jsonlite")
  handled <- vapply(seq_along(write_cases), function(i) {
    expect_same_write(write_cases[[i]], info = paste("case", i))
  }, logical(1))
  expect_true(all(handled))  # every case above is written in base R, not handed over
})

test_that("values the base writer does not know go to jsonlite, or fail clearly without it", {
  odd <- list(structure(list(a = 1), class = "myclass"), new.env(), function(x) x,
              as.raw(1:3), 1i, list(a = as.raw(1)), structure(1, class = "difftime"),
              quote(x), data.frame(r = I(as.raw(1:2))))
  for (x in odd) expect_null(rt$json_write_value(x))
  if (requireNamespace("jsonlite", quietly = TRUE)) {
    expect_identical(as.character(rt$to_json(list(a = as.raw(1:3)))), jsonlite_write(list(a = as.raw(1:3))))
    expect_equal(error_class(rt$serialise_result(new.env())), "Runtime.MarshalError")
  }
})

# ---- random documents and values ----------------------------------------------------------

rand_string <- function() {
  pieces <- c("a", "b", "Z", " ", "NA", "Inf", "-Inf", "NaN", "1", "\\n", "\\\"", "\\\\", "\\/",
              "\\t", "\\b", "\\f", "\\r", "\\u00e9", "\\u4e2d", "\\ud83d\\ude00", "\\u0001",
              "\u00e9", "\u4e2d", "</", "_row", "$", "x y")
  k <- sample(0:3, 1L)
  if (k == 1L && runif(1) < 0.4) return(paste0("\"", sample(c("NA", "Inf", "NaN", "-Inf"), 1L), "\""))
  paste0("\"", paste(sample(pieces, k, replace = TRUE), collapse = ""), "\"")
}

rand_number <- function() {
  switch(sample(8L, 1L),
    as.character(sample(-20:20, 1L)),
    as.character(sample(c(2147483647, 2147483648, -2147483647, -2147483648, 1e12), 1L)),
    sprintf("%.15g", runif(1, -1000, 1000)),
    sprintf("%.17g", runif(1)),
    sprintf("%.6g", rnorm(1) * 10^sample(-30:30, 1L)),
    sample(c("0", "-0", "0.0", "-0.0", "1e5", "1E-3", "2.5e+10", "1e400"), 1L),
    sprintf("%.3f", runif(1) * 100),
    sprintf("%de%d", sample(1:99, 1L), sample(-25:25, 1L))
  )
}

rand_scalar <- function() {
  switch(sample(5L, 1L), rand_number(), rand_string(), sample(c("true", "false"), 1L), "null",
         rand_number())
}

rand_keys <- c("a", "b", "c", "d", "\u00e9", "_row", "x y", "")
rand_doc <- function(depth = 0L) {
  ws <- function() sample(c("", "", " ", "\n  "), 1L)
  if (depth >= 3L || runif(1) < 0.25) return(rand_scalar())
  n <- sample(0:4, 1L)
  switch(sample(6L, 1L),
    # array of scalars, all one kind or mixed
    { kind <- sample(c("n", "s", "l", "mix"), 1L)
      vals <- replicate(n, switch(kind, n = rand_number(), s = rand_string(),
                                  l = sample(c("true", "false", "null"), 1L), mix = rand_scalar()))
      paste0("[", paste(vals, collapse = paste0(",", ws())), "]") },
    # array of records sharing some keys (data frames)
    { recs <- replicate(max(n, 1L), {
        keys <- unique(sample(rand_keys[1:4], sample(0:3, 1L), replace = TRUE))
        if (runif(1) < 0.1) return("null")
        paste0("{", paste0("\"", keys, "\":", vapply(keys, function(k) rand_doc(depth + 2L), ""),
                           collapse = ","), "}")
      })
      paste0("[", paste(recs, collapse = ","), "]") },
    # array of arrays (matrices, ragged lists)
    { len <- sample(1:3, 1L)
      rows <- replicate(n, paste0("[", paste(replicate(if (runif(1) < 0.8) len else sample(0:3, 1L),
                                                       rand_scalar()), collapse = ","), "]"))
      paste0("[", paste(rows, collapse = ","), "]") },
    # object
    { keys <- sample(rand_keys, n, replace = runif(1) < 0.2)
      paste0("{", ws(), paste0("\"", keys, "\"", ws(), ":", ws(),
                               vapply(keys, function(k) rand_doc(depth + 1L), ""), collapse = ","),
             "}") },
    # array of anything
    paste0("[", paste(replicate(n, rand_doc(depth + 1L)), collapse = ","), "]"),
    rand_scalar()
  )
}

test_that("the base-R parser gives jsonlite's values on 600 random documents", {
  skip_if_not_installed("jsonlite")
  set.seed(20261201)
  for (i in 1:600) expect_same_read(rand_doc())
})

rand_vector <- function(n = sample(0:4, 1L)) {
  v <- switch(sample(9L, 1L),
    sample(c(TRUE, FALSE, NA), n, replace = TRUE),
    sample(c(-3L, 0L, 7L, .Machine$integer.max, NA), n, replace = TRUE),
    sample(c(runif(3), -0, 1e20, 1e-20, 123456.789, NA, NaN, Inf), n, replace = TRUE),
    sample(c("a", "\u00e9", "q\"t", "nl\n", "</", "", NA, "NA"), n, replace = TRUE),
    factor(sample(c("u", "v", NA), n, replace = TRUE)),
    as.Date("2020-01-01") + sample(c(0, 400, NA), n, replace = TRUE),
    as.POSIXct("2021-06-01 12:34:56", tz = "UTC") + sample(c(0, 0.5, 86400, NA), n, replace = TRUE),
    I(sample(1:5, n, replace = TRUE)),
    round(rnorm(n) * 10^sample(-5:15, 1L), sample(0:10, 1L))
  )
  if (runif(1) < 0.1 && n) names(v) <- letters[seq_len(n)]
  v
}

rand_value <- function(depth = 0L) {
  if (depth >= 3L) return(rand_vector())
  switch(sample(7L, 1L),
    rand_vector(),
    rand_vector(1L),
    { n <- sample(0:3, 1L)
      x <- replicate(n, rand_value(depth + 1L), simplify = FALSE)
      if (n && runif(1) < 0.6) names(x) <- sample(c("a", "b", "", "\u00e9", "a"), n, replace = TRUE)
      x },
    { nr <- sample(0:3, 1L)
      cols <- replicate(sample(1:3, 1L), rand_vector(nr), simplify = FALSE)
      cols <- lapply(cols, function(c) { names(c) <- NULL; c })
      d <- as.data.frame(setNames(cols, paste0("v", seq_along(cols))), stringsAsFactors = FALSE)
      if (nr && runif(1) < 0.3) d$l <- replicate(nr, rand_value(depth + 2L), simplify = FALSE)
      if (nr && runif(1) < 0.2) d$n <- data.frame(z = rand_vector(nr))
      if (nr && runif(1) < 0.2) rownames(d) <- paste0("r", seq_len(nr))
      d },
    matrix(rand_vector(6L), sample(c(1L, 2L, 3L), 1L)),
    NULL,
    I(rand_value(depth + 1L))
  )
}

test_that("the base-R writer gives jsonlite's bytes on 600 random values", {
  skip_if_not_installed("jsonlite")
  set.seed(20261202)
  written <- 0L
  for (i in 1:600) {
    x <- tryCatch(rand_value(), error = function(e) NULL)
    if (expect_same_write(x, info = paste("random value", i))) written <- written + 1L
  }
  expect_gt(written, 550L)  # nearly all in base R, not handed over
})

test_that("what jsonlite writes, the base-R parser reads back as jsonlite does", {
  skip_if_not_installed("jsonlite")
  set.seed(20261203)
  for (i in 1:200) {
    x <- tryCatch(rand_value(), error = function(e) NULL)
    expect_same_read(jsonlite_write(x))
  }
})

test_that("a handler's JSON never loads jsonlite or methods", {
  out <- run_base_r(c(
    "ev <- rt$from_json('{\"name\":\"x\",\"v\":[1,2.5],\"rows\":[{\"a\":1},{\"b\":\"\\u00e9\"}]}')",
    "txt <- rt$to_json(list(got = ev, when = as.Date('2020-01-01'), f = factor('a'), m = matrix(1:4, 2)))",
    paste0("want <- '{\"got\":{\"name\":\"x\",\"v\":[1,2.5],\"rows\":[{\"a\":1,\"b\":null},",
           "{\"a\":null,\"b\":\"\\u00e9\"}]},\"when\":\"2020-01-01\",\"f\":\"a\",\"m\":[[1,3],[2,4]]}'"),
    "want <- sub('\\\\u00e9', '\\u00e9', want, fixed = TRUE)",
    "cat('same:', identical(txt, want), '\\n')",
    "cat('loaded:', sort(loadedNamespaces()), '\\n')"))
  expect_true("same: TRUE " %in% out, info = paste(out, collapse = "\n"))
  loaded <- grep("^loaded:", out, value = TRUE)
  expect_length(loaded, 1L)
  expect_false(grepl("jsonlite|methods", loaded), info = loaded)
})

test_that("documents nested deeper than R's parser takes are read as jsonlite reads them", {
  skip_if_not_installed("jsonlite")
  set.seed(20261204)
  for (i in 1:40) {
    depth <- sample(41:70, 1L)
    wrap <- sample(c("a", "o"), depth, replace = TRUE)
    txt <- rand_doc()
    for (w in wrap) txt <- if (w == "a") paste0("[", txt, ",1]") else paste0("{\"k\":", txt, "}")
    expect_same_read(txt)
  }
  expect_error(rt$json_read(paste0(strrep("[", 50), "1", strrep("]", 49))), "invalid JSON")
  expect_error(rt$json_read(paste0(strrep("[", 50), "1,]", strrep("]", 49))), "invalid JSON")
})
