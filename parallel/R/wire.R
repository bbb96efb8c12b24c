# What travels between the caller and the worker.
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
