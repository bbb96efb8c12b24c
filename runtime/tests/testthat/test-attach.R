test_that("default packages are on the search path but load only when used", {
  out <- run_base_r(c(
    "rt$attach_lazily()",
    "cat(search(), sep = ' '); cat('\\n')",
    "cat(loadedNamespaces(), sep = ' '); cat('\\n')",
    "cat(median(c(5, 1, 3)), nrow(mtcars), '\\n')",
    "cat('stats' %in% loadedNamespaces(), 'methods' %in% loadedNamespaces(), '\\n')"
  ))
  expect_equal(out[[1L]], paste(".GlobalEnv package:stats package:graphics package:grDevices",
                                "package:utils package:datasets package:methods Autoloads package:base"))
  expect_equal(out[[2L]], "base")
  expect_equal(out[[3L]], "3 32 ")
  expect_equal(out[[4L]], "TRUE FALSE ")
})

test_that("promises resolve to the packages' own functions", {
  env <- new.env()
  rt$lazy_exports(c("median", "sd"), "stats", env)
  expect_identical(env$median, stats::median)
  expect_identical(env$sd, stats::sd)
  env2 <- new.env()
  rt$lazy_export("head", "utils", env2)
  expect_identical(env2$head, utils::head)
})

test_that("the exports named in NAMESPACE exist in the runtime", {
  ns <- readLines(file.path(runtime_dir, "NAMESPACE"))
  exports <- sub("^export\\((.*)\\)$", "\\1", grep("^export\\(", ns, value = TRUE))
  expect_true(length(exports) > 5L)
  for (name in exports) expect_true(is.function(rt[[name]]), info = name)
})
