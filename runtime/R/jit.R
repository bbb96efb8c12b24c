# R's JIT compiler, for the handler only.
#
# The bootstrap turns the JIT off by default (R_ENABLE_JIT=0): with it on, R loads the
# 'compiler' namespace at start-up, and every closure the loop creates afresh for each invoke
# (condition handlers, the context's remaining_time_ms) would be compiled again on every invoke,
# ~45 ms each time. A function that sets R_ENABLE_JIT=1..3 wants its own code compiled: the
# loop then runs with the JIT off and switches it on only around the handler's code.

jit_init <- function() {
  level <- if (isNamespaceLoaded("compiler")) asNamespace("compiler")$enableJIT(-1L) else 0L
  rt_state$jit <- level
  if (level > 0L) asNamespace("compiler")$enableJIT(0L)
  invisible(level)
}

# Evaluates `expr` (lazily, as a promise) with the JIT at the function's own level.
with_user_jit <- function(expr) {
  level <- rt_state$jit
  if (is.null(level) || level <= 0L) return(expr)
  compiler <- asNamespace("compiler")
  compiler$enableJIT(level)
  on.exit(compiler$enableJIT(0L))
  expr
}
