# Entry point, run by ./bootstrap as:  Rscript --default-packages=base main.R [--report-exit=N]
# (and once, when the image is built, with --save-runtime)
#
# The package is not installed: its R files are sys.source()d into one environment (parent:
# base) and its exports attached as "rlambda"; handlers see the same functions either way.
# Sourcing the ~19 files costs ~10 ms of a cold start (timed by hand on the host).
# `bootstrap --write-r-env`, run when the image is built, saves that environment as runtime.rds
# (main.R --save-runtime), which loads in less than half that: under AWS's RIE the cold first
# invoke went from 1.17x to 1.10x the floor's (bench/rie_runtime.py, BENCHMARKS.md). An R
# file, or R/ itself (a file added or removed), newer than runtime.rds means it is stale: the
# files are sourced.
local({
  file_arg <- grep("^--file=", commandArgs(FALSE), value = TRUE)
  # Rscript writes spaces in the script path as "~+~".
  here <- dirname(gsub("~+~", " ", sub("^--file=", "", file_arg[[1L]]), fixed = TRUE))
  files <- sort(list.files(file.path(here, "R"), pattern = "[.][Rr]$", full.names = TRUE))
  saved <- file.path(here, "runtime.rds")
  save <- "--save-runtime" %in% commandArgs(TRUE)
  mtime <- file.info(c(saved, file.path(here, "R"), files), extra_cols = FALSE)$mtime
  rt <- if (!save && !is.na(mtime[[1L]]) && all(mtime[-1L] <= mtime[[1L]])) {
    readRDS(saved)
  } else {
    rt <- new.env(parent = baseenv())
    for (f in files) sys.source(f, envir = rt, keep.source = FALSE)
    rt
  }
  if (save) {
    rt$saved_exports <- rt$save_exports()
    saveRDS(rt, saved, compress = FALSE)  # ~180 KB; compressed loads no faster
    return(invisible())
  }

  report <- grep("^--report-exit=", commandArgs(TRUE), value = TRUE)
  if (length(report)) {
    rt$report_exit(sub("^--report-exit=", "", report[[1L]]))
    return(invisible())
  }

  packages <- Sys.getenv("RLAMBDA_DEFAULT_PACKAGES", unset = NA)
  packages <- if (is.na(packages)) rt$default_packages else strsplit(packages, "[, ]+")[[1L]]
  rt$attach_lazily(packages[nzchar(packages)])
  ns <- readLines(file.path(here, "NAMESPACE"), warn = FALSE)
  exports <- sub("^export\\((.*)\\)$", "\\1", grep("^export\\(", ns, value = TRUE))
  rt$attach_exports(rt, exports)
  rt$start_lambda()
})
