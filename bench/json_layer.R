# The runtime's base-R JSON layer (runtime/R/json_read.R, json_write.R) against jsonlite,
# side by side: parse and write times for a small event, ~100 KB and ~5 MB documents (arrays
# of records, long numeric arrays, one long string). Run as the runtime runs R: base packages
# only and the JIT off (the bootstrap sets R_ENABLE_JIT=0), so the base layer is interpreted:
#
#   R_ENABLE_JIT=0 Rscript --default-packages=base bench/json_layer.R [rounds] [pattern]
#
# (`pattern`: a regular expression choosing documents by name, e.g. "small").
# Medians over `rounds` rounds (default 7); in each round the two are timed alternately, each
# over enough repetitions to last ~50 ms, so that other load on the machine falls on both.

args <- commandArgs(trailingOnly = TRUE)
rounds <- if (length(args)) as.integer(args[[1L]]) else 7L
pattern <- if (length(args) > 1L) args[[2L]] else ""
here <- local({
  file_arg <- grep("^--file=", commandArgs(FALSE), value = TRUE)
  dirname(dirname(normalizePath(sub("^--file=", "", file_arg[[1L]]))))
})
rt <- new.env(parent = baseenv())
for (f in sort(list.files(file.path(here, "runtime", "R"), pattern = "[.]R$", full.names = TRUE))) {
  sys.source(f, rt, keep.source = FALSE)
}
jl <- asNamespace("jsonlite")
jl_write <- function(x) {
  jl$toJSON(x, auto_unbox = TRUE, null = "null", na = "null", dataframe = "rows", digits = NA,
            POSIXt = "ISO8601", UTC = TRUE)
}

set.seed(13)
records <- function(n) {
  jl_write(data.frame(id = seq_len(n), name = paste0("user", seq_len(n)), score = stats::runif(n),
                      ok = stats::runif(n) > 0.5))
}
docs <- list(
  "small event" = "{\"name\":\"world\",\"n\":3,\"tags\":[\"a\",\"b\"],\"nested\":{\"x\":1.5,\"ok\":true}}",
  "100 KB records" = records(1250),
  "100 KB numbers" = jl_write(stats::runif(5000)),
  "100 KB string" = jl_write(list(text = strrep("lorem ipsum dolor sit amet ", 3800))),
  "5 MB records" = records(62000),
  "5 MB numbers" = jl_write(stats::runif(260000)),
  "5 MB string" = jl_write(list(text = strrep("lorem ipsum dolor sit amet ", 190000)))
)

per_call_us <- function(f) {
  f()
  reps <- 1L
  repeat {
    t <- system.time(for (i in seq_len(reps)) f())[["elapsed"]]
    if (t >= 0.05 || reps >= 100000L) return(t / reps * 1e6)
    reps <- reps * if (t < 0.005) 10L else 2L
  }
}

cat(sprintf("%-16s %9s | %12s %12s %7s | %12s %12s %7s\n", "document", "bytes",
            "parse jl us", "parse base", "ratio", "write jl us", "write base", "ratio"))
for (name in grep(pattern, names(docs), value = TRUE)) {
  txt <- as.character(docs[[name]])
  value <- jl$fromJSON(txt)
  stopifnot(identical(rt$json_read(txt), value),
            identical(rt$json_write_value(value), as.character(jl_write(value))))
  big <- nchar(txt, "bytes") > 1e6
  n <- if (big) max(1L, rounds %/% 3L) else rounds
  t <- replicate(n, c(per_call_us(function() jl$fromJSON(txt)),
                      per_call_us(function() rt$json_read(txt)),
                      per_call_us(function() jl_write(value)),
                      per_call_us(function() rt$json_write_value(value))))
  m <- apply(t, 1L, stats::median)
  cat(sprintf("%-16s %9d | %12.1f %12.1f %6.2fx | %12.1f %12.1f %6.2fx\n", name,
              nchar(txt, "bytes"), m[[1L]], m[[2L]], m[[2L]] / m[[1L]], m[[3L]], m[[4L]],
              m[[4L]] / m[[3L]]))
}
cat("R", as.character(getRversion()), "jsonlite", as.character(utils::packageVersion("jsonlite")),
    "rounds", rounds, "\n")
