# What travels between the caller and the worker: the format (both sides), the caller's
# envelopes and their staging in S3 (lambda_map(), foreach and future all send theirs with
# new_envelopes()); the worker reads them in worker.R.
#
# An invoke's payload is JSON:
#   {"lambdaparallel": 1,
#    "common": PART,            serialize(list(fun, more_args, globals, packages, ...))
#    "tasks":  PART,            serialize(list of list(index, args, seed))
#    "result": {"bucket": ..., "key": ...} | null}   where the worker may stage a big result
# and PART is {"inline": "<base64>"} or {"s3": {"bucket": ..., "key": ...}}.
# The answer is {"lambdaparallel": 1, "result": PART, "cold": true|false}, the part holding
# serialize(list of task results). Serialisation is R's own, format version 3 (R >= 3.5).

# Lambda's synchronous payload limit, each way: 6 MB (6291456 bytes), measured on the JSON.
# https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
max_payload_bytes <- 6291456
payload_margin <- 1024 # the JSON around the base64 text

# serialize() writes an external pointer as a null pointer without a word; the refhook sees
# every reference object first, so refuse the ones that would arrive dead.
lp_serialize <- function(x, what) {
  found <- character()
  hook <- function(ref) {
    if (typeof(ref) == "externalptr") {
      found <<- c(found, paste(class(ref), collapse = "/"))
    }
    NULL
  }
  bytes <- serialize(x, NULL, version = 3L, refhook = hook)
  if (length(found)) {
    stop(lp_error("lambdaparallel_unserializable", sprintf(paste(
      "%s holds an external pointer (%s), which cannot travel to another R process: create",
      "the object inside the task instead (e.g. open the connection or load the model there)"),
      what, paste(unique(found), collapse = ", "))))
  }
  bytes
}

lp_unserialize <- function(bytes) unserialize(bytes, refhook = function(ref) NULL)

b64_size <- function(n) 4 * ceiling(n / 3)

part_inline <- function(bytes) {
  sprintf('{"inline":"%s"}', openssl::base64_encode(bytes))
}

part_s3 <- function(bucket, key) {
  sprintf('{"s3":{"bucket":%s,"key":%s}}', json_string(bucket), json_string(key))
}

json_string <- function(x) as.character(jsonlite::toJSON(x, auto_unbox = TRUE))

# A parsed PART -> the bytes it stands for.
part_bytes <- function(part, session_fn) {
  if (!is.null(part$inline)) {
    return(openssl::base64_decode(part$inline))
  }
  if (!is.null(part$s3)) {
    return(s3_get_object(part$s3$bucket, part$s3$key, session = session_fn()))
  }
  stop(lp_error("lambdaparallel_bad_envelope", "an envelope part is neither inline nor in S3"))
}

# ---- The caller's side: a map's (or a future's) envelopes, and what they staged ----------

# The common part, serialised: the caller's function, arguments, globals and packages, with
# what the worker checks (the caller's R version) and obeys (how many levels of fan-out it may
# do). `what` names them in the error if one of them cannot travel.
serialize_common <- function(common, spec, what) {
  common$r_version <- as.character(getRversion())
  common$fanout <- spec$fanout
  lp_serialize(common, what)
}

# The envelopes of one map, or of one future: invoke k carries the common part and
# task_bytes[[k]], the serialised tasks chunks[[k]]. The sizes are checked here, before anything
# is staged or invoked (plan_staging()). payload(k): invoke k's JSON as raw bytes, made once (a
# retry sends the same bytes); the common part is staged when the first payload is made, a task
# part with its own payload, all under s3_prefix/<one id>/: "common", "tasks-k", and
# "result-k" where the worker may stage invoke k's results. answered(k, inline): invoke k's
# results came inline, so there is no result-k to delete. cleanup(): delete everything staged
# and every result-k the worker may have staged (it may run more than once).
new_envelopes <- function(common_bytes, task_bytes, chunks, spec) {
  plan <- plan_staging(common_bytes, task_bytes, chunks, spec)
  id <- new_map_id()
  key <- function(name) paste0(spec$s3_prefix, id, "/", name)
  box <- new.env(parent = emptyenv())
  box$staged <- character() # put in S3 here, or where the worker may put a result
  common_part <- NULL
  payloads <- vector("list", length(chunks))
  stage <- function(name, bytes) {
    k <- key(name)
    box$staged <- c(box$staged, k)
    s3_put_object(spec$s3_bucket, k, bytes, session = spec$session)
    part_s3(spec$s3_bucket, k)
  }
  box$payload <- function(k) {
    if (!is.null(payloads[[k]])) {
      return(payloads[[k]])
    }
    if (is.null(common_part)) {
      common_part <<- if (plan$common) stage("common", common_bytes) else
        part_inline(common_bytes)
    }
    tasks_part <- if (plan$tasks[[k]]) stage(sprintf("tasks-%d", k), task_bytes[[k]]) else
      part_inline(task_bytes[[k]])
    result <- if (is.null(spec$s3_bucket)) "null" else {
      result_key <- key(sprintf("result-%d", k))
      box$staged <- c(box$staged, result_key)
      sprintf('{"bucket":%s,"key":%s}', json_string(spec$s3_bucket), json_string(result_key))
    }
    payloads[[k]] <<- charToRaw(sprintf(
      '{"lambdaparallel":1,"common":%s,"tasks":%s,"result":%s}', common_part, tasks_part, result
    ))
    # The bytes are in the payload (or in S3) now: do not hold them twice (a future keeps its
    # envelopes until its result is collected).
    task_bytes[k] <<- list(NULL)
    if (!any(vapply(payloads, is.null, TRUE))) common_bytes <<- NULL
    payloads[[k]]
  }
  box$answered <- function(k, inline) {
    if (isTRUE(inline)) box$staged <- setdiff(box$staged, key(sprintf("result-%d", k)))
  }
  box$cleanup <- function() {
    keys <- box$staged
    box$staged <- character()
    cleanup_staged(spec, keys)
  }
  box
}

# A staging id from the OS's CSPRNG (openssl's RAND_bytes), never the caller's RNG: with
# sample.int(), two sessions after the same set.seed() got the same id and, on one bucket and
# prefix, overwrote and then deleted each other's objects. The caller's stream is left untouched.
new_map_id <- function() {
  paste0(format(Sys.time(), "%Y%m%dT%H%M%S", tz = "UTC"), "-",
         paste(as.character(openssl::rand_bytes(8L)), collapse = ""))
}

format_range <- function(idx) {
  if (length(idx) == 1L) as.character(idx) else paste0(min(idx), "-", max(idx))
}

# Which parts go to S3. All inline when each envelope fits; else the common part is staged
# once (every envelope shares it) and each task part that still does not fit.
plan_staging <- function(common_bytes, task_bytes, chunks, spec) {
  limit <- max_payload_bytes - 2 * payload_margin
  common_size <- b64_size(length(common_bytes))
  task_sizes <- vapply(task_bytes, function(b) b64_size(length(b)), 0)
  if (all(common_size + task_sizes <= limit)) {
    return(list(common = FALSE, tasks = rep(FALSE, length(task_bytes))))
  }
  if (is.null(spec$s3_bucket)) {
    worst <- which.max(common_size + task_sizes)
    stop(lp_error("lambdaparallel_too_large", sprintf(paste(
      "the request for task%s %s is %.1f MB (serialised, base64-encoded), over Lambda's 6 MB",
      "invoke limit, and no bucket was named: pass s3_bucket = \"your-bucket\" to stage it",
      "in S3 (nothing was invoked)"),
      if (length(chunks[[worst]]) > 1L) "s" else "", format_range(chunks[[worst]]),
      (common_size + task_sizes[[worst]]) / 1e6)))
  }
  list(common = TRUE, tasks = task_sizes > limit - 1024)
}

cleanup_staged <- function(spec, keys) {
  for (k in unique(keys)) {
    tryCatch(s3_delete_object(spec$s3_bucket, k, session = spec$session),
             error = function(e) warning(sprintf(
               "could not delete the staged object s3://%s/%s: %s", spec$s3_bucket, k,
               conditionMessage(e)), call. = FALSE))
  }
}
