library(testthat)
library(lambdaparallel)
test_check("lambdaparallel")
