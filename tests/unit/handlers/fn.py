"""Handlers for the Runtime API emulator's conformance tests (run by awslambdaric)."""

import os
import time


def echo(event, context):
    return event


def context_info(event, context):
    return {
        "request_id": context.aws_request_id,
        "function_arn": context.invoked_function_arn,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "client_context": getattr(context.client_context, "custom", None),
        "identity_id": getattr(context.identity, "cognito_identity_id", None),
        "trace_env": os.environ.get("_X_AMZN_TRACE_ID"),
        "env": {
            name: os.environ.get(name)
            for name in (
                "AWS_LAMBDA_FUNCTION_NAME",
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                "AWS_LAMBDA_RUNTIME_API",
                "AWS_REGION",
                "CUSTOM_VAR",
            )
        },
    }


def fail(event, context):
    raise ValueError(f"boom: {event['why']}")


def sized(event, context):
    # A JSON string of exactly event["bytes"] bytes once the runtime serialises it.
    return "x" * (event["bytes"] - 2)


def sleep(event, context):
    if "pidfile" in event:
        with open(event["pidfile"], "w") as out:
            out.write(str(os.getpid()))
    time.sleep(event["seconds"])
    return "woke up"


def crash(event, context):
    os._exit(event.get("status", 3))


def timed(event, context):
    # Sleeping is the work here: the test checks two of these never overlap.
    start = time.time()
    time.sleep(event["seconds"])
    return {"pid": os.getpid(), "start": start, "end": time.time()}


def allocate(event, context):
    block = b"x" * (event["mb"] * 1024 * 1024)  # written, so the pages are resident
    return len(block)
