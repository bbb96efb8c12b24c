# A handler for bench/criu_snapstart.py, mounted at /var/task/criu_snapcheck.R: plumber loaded
# and R's RNG seeded at init, as a script might do. Its last before-snapshot hook is where
# CRIU checkpoints the process: there the runtime holds no socket (its first Runtime API call
# after init is GET /runtime/restore/next, made after the hooks), which CRIU 4.1.1 could not
# dump on this machine's kernel. On restore the hook returns and the runtime goes on.
suppressMessages(library(plumber))
set.seed(1)
lambda_before_snapshot(function() {
  file.create("/tmp/checkpoint-here")
  while (!file.exists("/tmp/restored")) Sys.sleep(0.002)
})
handler <- function(event) list(draw = runif(1), pid = Sys.getpid())
