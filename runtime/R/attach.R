# R's default packages, attached lazily.
#
# The bootstrap starts R with only 'base' (R with the usual default packages starts in ~150 ms,
# with base alone in ~40 ms; stats and methods are most of the difference). Handler code written
# for ordinary R still expects median(), head() or is() to be found, so each default package
# gets an environment on the search path, named as the real one, holding a promise per
# exported name: the package's namespace loads the first time one of its functions is used.
# About 1,100 promises and six small index files cost ~2 ms. Set RLAMBDA_DEFAULT_PACKAGES="" to skip this.

default_packages <- c("methods", "datasets", "utils", "grDevices", "graphics", "stats")

attach_lazily <- function(packages = default_packages) {
  for (pkg in packages) {
    if (paste0("package:", pkg) %in% search()) next
    exports <- saved_exports[[pkg]]
    if (is.null(exports)) exports <- package_exports(pkg)
    if (is.null(exports)) next
    # attach() places each package in front of the previous one, so give them in the reverse
    # of R's search order (stats first on the path, methods last).
    env <- attach(NULL, pos = 2L, name = paste0("package:", pkg))
    lazy_exports(exports, pkg, env)
    # 'datasets' exports nothing: its data sets are a lazy-load database, as R attaches it.
    rdata <- file.path(.Library, pkg, "data", "Rdata")
    if (!length(exports) && file.exists(paste0(rdata, ".rdx"))) lazyLoad(rdata, envir = env)
  }
  invisible()
}

# What one of R's own packages exports (character(0): nothing), NULL if R has no such package.
# R's own packages live in .Library; looking there directly skips find.package()'s search.
package_exports <- function(pkg) {
  info <- tryCatch(readRDS(file.path(.Library, pkg, "Meta", "nsInfo.rds")),
                   error = function(e) NULL)
  if (is.null(info)) NULL else as.character(info$exports)
}

# The default packages' exports as the image's R has them, recorded in runtime.rds when the
# image is built (main.R --save-runtime): reading the six index files at each cold start cost
# ~2-3 ms of it. Sourced, the runtime reads them.
saved_exports <- list()

save_exports <- function(packages = default_packages) {
  exports <- lapply(packages, package_exports)
  names(exports) <- packages
  exports
}

# One promise per name, `get(name, envir = asNamespace(pkg))`. makeLazy is the primitive
# behind base's lazyLoad(): it makes them all in one C loop (~0.3 ms for 1,100 names, against
# ~6 ms for as many delayedAssign() calls). Should an R version drop it, the loop takes over.
lazy_exports <- function(names, pkg, env) {
  expr <- substitute(get(NAME, envir = asNamespace(PKG)), list(NAME = "", PKG = pkg))
  done <- tryCatch({
    .Internal(makeLazy(names, as.list(names), expr, baseenv(), env))
    TRUE
  }, error = function(e) FALSE)
  if (!done) for (name in names) lazy_export(name, pkg, env)
  invisible()
}

# A function of its own so that each promise sees its own `name` and `pkg`.
lazy_export <- function(name, pkg, env) {
  delayedAssign(name, getExportedValue(pkg, name), assign.env = env)
}

# The runtime's exported functions, on the search path for handler code (the bootstrap does not
# install the package; see main.R).
attach_exports <- function(rt_env, exports) {
  env <- attach(NULL, pos = 2L, name = "rlambda")
  for (name in exports) assign(name, get(name, envir = rt_env), envir = env)
  for (cls in c("lambda_context", "lambda_http_request")) {
    method <- get0(paste0("print.", cls), envir = rt_env)
    if (!is.null(method)) registerS3method("print", cls, method, envir = rt_env)
  }
  invisible(env)
}
