# Lambda's Invoke API over curl's multi interface: many requests in flight from one R process,
# connections reused by one pool, 429 and 5xx retried with capped exponential backoff and full
# jitter (https://aws.amazon.com/builders-library/timeouts-retries-and-backoff-with-jitter/).

invoke_url <- function(session, function_name, qualifier = NULL) {
  url <- sprintf("%s/2015-03-31/functions/%s/invocations", session$lambda,
                 aws_uri_encode(function_name))
  if (!is.null(qualifier)) url <- paste0(url, "?Qualifier=", aws_uri_encode(qualifier))
  url
}

lambda_request <- function(session, function_name, payload, type = "RequestResponse",
                           qualifier = NULL) {
  url <- invoke_url(session, function_name, qualifier)
  if (is.character(payload)) payload <- charToRaw(payload)
  headers <- c("Content-Type" = "application/json", "X-Amz-Invocation-Type" = type)
  # The last 4 KB of the invoke's log, whose REPORT line has the billed duration.
  if (type == "RequestResponse") headers <- c(headers, "X-Amz-Log-Type" = "Tail")
  signed <- sigv4_sign("POST", url, headers, payload, service = "lambda",
                       region = session$region, credentials = session$credentials)
  list(url = url, headers = signed$headers, body = payload)
}

curl_handle <- function(request, timeout) {
  handle <- curl::new_handle(
    # The size first: set after the body, curl would take the body's length as strlen().
    url = request$url, post = TRUE, postfieldsize = length(request$body),
    postfields = request$body, timeout = timeout, connecttimeout = 10
  )
  # No "Expect: 100-continue" round trip before big bodies.
  curl::handle_setheaders(handle, .list = c(as.list(request$headers), Expect = ""))
  handle
}

answer_of <- function(response) {
  list(status = response$status_code,
       headers = curl::parse_headers_list(response$headers),
       body = response$content)
}

# One request, waited for (the DryRun check, GetFunctionConfiguration).
fetch_once <- function(url, headers, body = NULL, method = "POST", timeout = 30) {
  handle <- curl::new_handle(customrequest = method, timeout = timeout, connecttimeout = 10)
  if (!is.null(body)) {
    curl::handle_setopt(handle, post = TRUE, postfieldsize = length(body), postfields = body)
  }
  curl::handle_setheaders(handle, .list = c(as.list(headers), Expect = ""))
  answer_of(curl::curl_fetch_memory(url, handle))
}

retryable_status <- function(status) status == 429L || status >= 500L

backoff_seconds <- function(attempt, base = 0.1, cap = 20, retry_after = NULL) {
  wait <- stats::runif(1L, 0, min(cap, base * 2^attempt))
  if (!is.null(retry_after) && !is.na(suppressWarnings(as.numeric(retry_after)))) {
    wait <- max(wait, as.numeric(retry_after))
  }
  wait
}

# Run `n` invokes, at most `concurrency` at a time. make_request(k) builds (and signs) the k-th
# request anew for every attempt; on_answer(k, answer, attempt) gets each final HTTP answer
# (or list(failed = message)) and returns "done", "retry" or "stop" (no further invokes; those
# in flight still finish).
# Throttles and 5xx are retried here, up to max_attempts in all. on_tick() runs after each
# wait. Whatever is in flight when this returns or is interrupted is cancelled.
run_invokes <- function(n, make_request, on_answer, concurrency, timeout,
                        max_attempts = 8L, on_tick = function() NULL, counters = NULL) {
  pool <- curl::new_pool(total_con = concurrency, host_con = concurrency, multiplex = FALSE)
  handles <- list()
  arrived <- list()
  attempts <- integer(n)
  due <- numeric() # k -> when its retry may go (names are k)
  next_k <- 1L
  finished <- 0L
  stopped <- FALSE
  on.exit(for (h in handles) try(curl::multi_cancel(h), silent = TRUE), add = TRUE)

  submit <- function(k) {
    attempts[[k]] <<- attempts[[k]] + 1L
    handle <- curl_handle(make_request(k), timeout)
    key <- as.character(k)
    handles[[key]] <<- handle
    if (!is.null(counters)) counters$invokes <- counters$invokes + 1L
    curl::multi_add(
      handle,
      done = function(response) arrived[[length(arrived) + 1L]] <<- list(k, answer_of(response)),
      fail = function(message) arrived[[length(arrived) + 1L]] <<- list(k, list(failed = message)),
      pool = pool
    )
  }

  while (TRUE) {
    while (!stopped && length(handles) < concurrency) {
      now <- as.numeric(Sys.time())
      ready <- names(due)[due <= now]
      if (length(ready)) {
        k <- as.integer(ready[[1L]])
        due <- due[names(due) != ready[[1L]]]
      } else if (next_k <= n) {
        k <- next_k
        next_k <- next_k + 1L
      } else {
        break
      }
      submit(k)
    }
    if (finished >= n || (stopped && !length(handles))) break
    wait <- if (length(due)) max(0, min(due) - as.numeric(Sys.time())) else 1
    if (length(handles)) {
      curl::multi_run(timeout = min(wait, 1), poll = TRUE, pool = pool)
    } else {
      Sys.sleep(min(wait, 1))
    }
    batch <- arrived
    arrived <- list()
    for (item in batch) {
      k <- item[[1L]]
      answer <- item[[2L]]
      handles[[as.character(k)]] <- NULL
      transient <- !is.null(answer$failed) || retryable_status(answer$status)
      if (transient && attempts[[k]] < max_attempts && !stopped) {
        if (!is.null(counters)) counters$retries <- counters$retries + 1L
        due[[as.character(k)]] <- as.numeric(Sys.time()) +
          backoff_seconds(attempts[[k]], retry_after = answer$headers[["retry-after"]])
        next
      }
      if (transient && stopped) {
        # Throttled or failed after the map stopped: that task never ran, and it is not retried.
        finished <- finished + 1L
        next
      }
      verdict <- on_answer(k, answer, attempts[[k]])
      if (identical(verdict, "retry") && !stopped) {
        due[[as.character(k)]] <- as.numeric(Sys.time()) + backoff_seconds(attempts[[k]])
      } else {
        finished <- finished + 1L
        if (identical(verdict, "stop")) {
          # No new invokes and no retries; those in flight are already running (and billed),
          # so their answers are collected: the error reported is then the lowest-index one
          # among the tasks that ran, whatever order they finished in.
          stopped <- TRUE
          due <- numeric()
        }
      }
    }
    on_tick()
  }
  invisible(finished)
}
