# A handler file for tests/r/test_snapstart_r.py: it seeds R's RNG at init, as many scripts do,
# registers SnapStart hooks that leave a trace, and can be made to fail in each phase.

set.seed(42)
init_draw <- runif(1)
calls <- 0L
hooks <- character()

lambda_before_snapshot(function() hooks <<- c(hooks, "before-1"))
lambda_before_snapshot(function() hooks <<- c(hooks, "before-2"))
lambda_after_restore(function() {
  hooks <<- c(hooks, "after-1")
  if (nzchar(Sys.getenv("SNAP_FAIL_RESTORE"))) {
    stop(structure(class = c("credentialsExpired", "error", "condition"),
                   list(message = "cannot refresh the credentials", call = NULL)))
  }
})
lambda_after_restore(function() hooks <<- c(hooks, "after-2"))
if (nzchar(Sys.getenv("SNAP_RM_TMPDIR"))) {
  # What a restored file system without R's session directory looks like.
  lambda_before_snapshot(function() unlink(tempdir(), recursive = TRUE))
}
if (nzchar(Sys.getenv("SNAP_FAIL_SNAPSHOT"))) {
  lambda_before_snapshot(function() stop("cannot close the pool"))
}

handler <- function(event) {
  calls <<- calls + 1L
  if (isTRUE(event$fail)) stop("priming went wrong")
  list(draw = runif(1), init_draw = init_draw, calls = calls, hooks = hooks,
       tempdir_exists = dir.exists(tempdir()))
}
