#!/bin/sh
# What AWS's Lambda base images run (their /lambda-entrypoint.sh): the handler is the one
# argument (the image's CMD), exported as _HANDLER; outside Lambda (no AWS_LAMBDA_RUNTIME_API)
# AWS's Runtime Interface Emulator runs the runtime, on Lambda the runtime runs directly.
if [ $# -ne 1 ]; then
  echo "entrypoint requires the handler name to be the first argument" 1>&2
  exit 142
fi
export _HANDLER="$1"

RUNTIME_ENTRYPOINT=/var/runtime/bootstrap
if [ -z "${AWS_LAMBDA_RUNTIME_API:-}" ]; then
  exec /usr/local/bin/aws-lambda-rie "$RUNTIME_ENTRYPOINT"
else
  exec "$RUNTIME_ENTRYPOINT"
fi
