"""A handler module whose import never returns: the runtime never asks for an event."""

import threading

# Blocks for good: nothing ever sets this event.
threading.Event().wait()


def handler(event, context):
    return "never"
