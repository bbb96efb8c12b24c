test_that("with R_ENABLE_JIT set, the JIT is on for the handler's code only", {
  out <- run_base_r(c(
    "rt$jit_init()",
    "cat(compiler::enableJIT(-1), rt$with_user_jit(compiler::enableJIT(-1)), compiler::enableJIT(-1), '\\n')"
  ), env = "R_ENABLE_JIT=3")
  expect_equal(out, "0 3 0 ")
})

test_that("without it, the compiler is never loaded", {
  out <- run_base_r(c(
    "rt$jit_init()",
    "cat(rt$with_user_jit(42), 'compiler' %in% loadedNamespaces(), '\\n')"
  ))
  expect_equal(out, "42 FALSE ")
})
