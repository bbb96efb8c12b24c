# Load the runtime the way main.R does (sys.source into one environment whose parent is base),
# so the tests exercise the same code and the same scoping as the Lambda image.
runtime_dir <- local({
  candidates <- c(file.path(getwd(), "..", ".."), file.path(getwd(), "runtime"))
  found <- Filter(function(d) file.exists(file.path(d, "R", "loop.R")), candidates)
  if (!length(found)) stop("cannot find the runtime's R/ directory from ", getwd())
  normalizePath(found[[1L]])
})

load_runtime <- function() {
  env <- new.env(parent = baseenv())
  for (f in sort(list.files(file.path(runtime_dir, "R"), pattern = "[.][Rr]$", full.names = TRUE))) {
    sys.source(f, envir = env, keep.source = FALSE)
  }
  env
}

rt <- load_runtime()

# A condition's class, or NA if `expr` raised none.
error_class <- function(expr) {
  tryCatch({
    force(expr)
    NA_character_
  }, error = function(e) class(e)[[1L]])
}

# Handler files for resolve_handler() in a fresh temporary task root.
task_root_with <- function(files) {
  root <- tempfile("task")
  dir.create(root)
  for (name in names(files)) {
    dir.create(dirname(file.path(root, name)), showWarnings = FALSE, recursive = TRUE)
    writeLines(files[[name]], file.path(root, name))
  }
  root
}

# The bytes of an HTTP response as a connection http_read_response() can read.
response_connection <- function(text) rawConnection(charToRaw(text), "rb")

fixture <- function(name) file.path(runtime_dir, "tests", "testthat", "fixtures", name)

# In a fresh R started like the bootstrap starts it (base only), since this test process has
# the default packages attached already.
run_base_r <- function(code, env = "R_ENABLE_JIT=0") {
  script <- tempfile(fileext = ".R")
  writeLines(c(
    sprintf("rt <- new.env(parent = baseenv()); for (f in list.files(%s, full.names = TRUE)) sys.source(f, rt)",
            deparse(file.path(runtime_dir, "R"))),
    code), script)
  out <- system2(file.path(R.home("bin"), "Rscript"), c("--default-packages=base", script),
                 stdout = TRUE, stderr = TRUE, env = env)
  expect_null(attr(out, "status"), info = paste(out, collapse = "\n"))
  out
}

