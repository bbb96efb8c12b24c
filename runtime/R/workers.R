# Lambda Managed Instances: with AWS_LAMBDA_MAX_CONCURRENCY=N, Lambda sends up to N invokes to
# one execution environment at once and expects the runtime to take them (an invoke with no
# idle runtime is refused: Runtime.Unavailable). R runs one thing at a time, so after init the
# runtime forks N workers with base R's 'parallel' (mcparallel): the handler's init state is
# shared copy-on-write, and each worker runs its own GET /next loop on its own connection. The
# first process stays as a supervisor: a worker that dies (quit() in a handler, a crash in C
# code, the kernel's OOM killer) has the invoke it was handling reported as Runtime.ExitError
# and is replaced by a fresh fork. Managed Instances require JSON logs (see log_configure()).

max_concurrency <- function(value = Sys.getenv("AWS_LAMBDA_MAX_CONCURRENCY")) {
  if (!nzchar(value)) return(1L)
  n <- suppressWarnings(as.integer(value))
  if (is.na(n) || n < 1L) {
    log_warn("AWS_LAMBDA_MAX_CONCURRENCY must be a whole number >= 1, not '", value,
             "': serving one invoke at a time")
    return(1L)
  }
  n
}

# Each worker writes what it is doing to its own state file (the bootstrap's file plus
# ".<slot>"), which the supervisor reads when the worker dies.
worker_state_file <- function(base, slot) if (nzchar(base)) paste0(base, ".", slot) else ""

# Runs the workers, replacing any that dies, until one fails on the Runtime API itself (which
# no fresh fork can fix): then it stops with that error, as the single loop would.
run_workers <- function(client, h, n) {
  base_state <- Sys.getenv("RLAMBDA_STATE_FILE")
  # Nothing open is inherited: every worker opens its own connection on its first GET /next.
  http_close(client)
  start <- function(slot) {
    state <- worker_state_file(base_state, slot)
    if (nzchar(state)) try(cat("", file = state), silent = TRUE)
    parallel::mcparallel({
      Sys.setenv(RLAMBDA_STATE_FILE = state)
      serve_invokes(client, h)
    })
  }
  jobs <- lapply(seq_len(n), start)
  write_worker_pids(base_state, jobs)
  rt_debug("serving ", n, " invokes at once: workers ",
           paste(vapply(jobs, `[[`, 0L, "pid"), collapse = ", "))
  repeat {
    done <- suppressWarnings(parallel::mccollect(jobs, wait = FALSE, timeout = 3600))
    if (is.null(done)) next
    for (pid in names(done)) {  # results are named by pid (for jobs without a name)
      slot <- which(vapply(jobs, function(j) identical(as.character(j$pid), pid), NA))
      if (!length(slot)) next
      outcome <- done[[pid]]
      reported <- report_worker_exit(client, worker_state_file(base_state, slot), pid, outcome)
      if (inherits(outcome, "try-error") && !reported) {
        # The worker's own loop failed between invokes: the Runtime API is gone or broken,
        # which no fresh fork can fix. End the others and R, as the single loop would.
        others <- vapply(jobs[-slot], `[[`, 0L, "pid")
        if (length(others)) tools::pskill(others, tools::SIGTERM)
        stop("worker ", pid, " failed outside any invoke: ", sub("\n$", "", outcome), call. = FALSE)
      }
      tempdir(check = TRUE)  # quit() in a forked worker removes the session's tempdir
      jobs[[slot]] <- start(slot)
      write_worker_pids(base_state, jobs)
    }
  }
}

# The bootstrap passes SIGTERM on to these pids too (R itself cannot catch a signal).
write_worker_pids <- function(base, jobs) {
  if (!nzchar(base)) return(invisible(FALSE))
  pids <- vapply(jobs, `[[`, 0L, "pid")
  invisible(!inherits(try(writeLines(as.character(pids), paste0(base, ".pids")), silent = TRUE),
                      "try-error"))
}

# A worker has ended. If an invoke was in flight, it gets the error its caller would otherwise
# wait for until the timeout. TRUE if there was one.
report_worker_exit <- function(client, state, pid, outcome) {
  what <- if (nzchar(state) && file.exists(state)) readLines(state, warn = FALSE) else character()
  in_flight <- length(what) && nzchar(what[[1L]])
  how <- if (inherits(outcome, "try-error")) {
    paste("with an error:", sub("\n$", "", as.character(outcome)))
  } else {
    "(quit() in the handler, or a crash)"
  }
  if (!in_flight) {
    log_warn("worker ", pid, " ended ", how, "; starting another")
    return(FALSE)
  }
  rt_state$request_id <- what[[1L]]
  on.exit(rt_state$request_id <- NULL)
  cond <- runtime_condition("Runtime.ExitError", sprintf(
    "R worker %s ended while handling the invoke %s; a new worker takes its place", pid, how))
  tryCatch(send_error(client, what[[1L]], cond), error = function(e) {
    log_error("could not report worker ", pid, "'s exit: ", conditionMessage(e))
  })
  http_close(client)
  TRUE
}
