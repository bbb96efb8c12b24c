# Entry point, run by ./bootstrap as:  Rscript --default-packages=base main.R [--report-exit=N]
#
# The package is not installed: its R files are sys.source()d into one environment (parent:
# base) and its exports attached as "rlambda". Sourcing the ~14 small files costs ~5 ms, about
# what loading an installed package's lazy-load database costs, and it keeps the image free of
# a build step; handlers see the same functions either way.
local({
  file_arg <- grep("^--file=", commandArgs(FALSE), value = TRUE)
  # Rscript writes spaces in the script path as "~+~".
  here <- dirname(gsub("~+~", " ", sub("^--file=", "", file_arg[[1L]]), fixed = TRUE))
  rt <- new.env(parent = baseenv())
  for (f in sort(list.files(file.path(here, "R"), pattern = "[.][Rr]$", full.names = TRUE))) {
    sys.source(f, envir = rt, keep.source = FALSE)
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
