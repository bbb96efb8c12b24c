"""A handler module whose import fails: the runtime reports an init error."""

import module_that_does_not_exist  # noqa: F401


def handler(event, context):
    return "never"
