"""A handler module whose init never finishes in time."""

import time

time.sleep(60)


def handler(event, context):
    return "never"
