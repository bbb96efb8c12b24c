"""A Lambda Runtime API (2018-06-01) emulator that owns the runtime process.

from rlambda.local.runtime_api import RuntimeApiServer, ProcessRuntime
runtime = ProcessRuntime(argv=["/var/runtime/bootstrap"], env={"_HANDLER": "fn.handler"})
with RuntimeApiServer(runtime, timeout_s=3, memory_mb=512, function_name="demo") as server:
    result = server.invoke(b'{"x": 1}')
"""

from .launcher import ProcessHandle, ProcessRuntime, RuntimeHandle, RuntimeLauncher
from .model import InvokeReport, InvokeResult, RuntimeApiError
from .server import RuntimeApiServer

__all__ = [
    "InvokeReport",
    "InvokeResult",
    "ProcessHandle",
    "ProcessRuntime",
    "RuntimeApiError",
    "RuntimeApiServer",
    "RuntimeHandle",
    "RuntimeLauncher",
]
