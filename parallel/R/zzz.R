# The FutureBackend methods (future >= 1.40) are registered when such a future is loaded: their
# generics do not exist in Debian's future 1.31, so NAMESPACE cannot name them.
.onLoad <- function(libname, pkgname) {
  if (isNamespaceLoaded("future")) {
    register_backend_methods()
  } else {
    setHook(packageEvent("future", "onLoad"), function(...) register_backend_methods())
  }
}

register_backend_methods <- function() {
  future <- asNamespace("future")
  if (!exists("launchFuture", envir = future, inherits = FALSE)) {
    return(invisible(FALSE))
  }
  ours <- asNamespace("lambdaparallel")
  for (generic in c("launchFuture", "listFutures", "interruptFuture", "stopWorkers",
                    "nbrOfWorkers", "nbrOfFreeWorkers")) {
    registerS3method(generic, "LambdaFutureBackend",
                     get(paste0(generic, ".LambdaFutureBackend"), envir = ours), envir = future)
  }
  invisible(TRUE)
}
