"""What both HTTP fronts (invoke_api.py, http_front.py) share: the service they call, as a
protocol, so neither imports service.py (which starts them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from rlambda.local.runtime_api import InvokeResult

from .server import GuardedHandler
from .sigv4 import Verifier


@dataclass(frozen=True)
class SyncOutcome:
    result: InvokeResult
    request_id: str
    log: str | None  # the invoke's log, when asked for (Tail)


class Invoker(Protocol):
    """What the fronts ask of the service (Service)."""

    verifier: Verifier | None

    def resolve_function(self, function_name: str, qualifier: str | None) -> str: ...

    def invoke(
        self,
        name: str,
        payload: bytes,
        *,
        tail: bool = False,
        trace_id: str | None = None,
        client_context: str | None = None,
    ) -> SyncOutcome: ...

    def invoke_async(
        self, name: str, payload: bytes, *, trace_id: str | None, client_context: str | None
    ) -> str: ...


class ServiceHandler(GuardedHandler):
    """Keep-alive and quiet (the REPORT lines say what happened), as QuietHandler is; Host,
    time and connection count bounded as GuardedHandler says."""

    server_version = "rlambda-serve"

    @property
    def service(self) -> Invoker:
        return self.server.service  # type: ignore[attr-defined]

    def header_map(self) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for name, value in self.headers.items():
            found.setdefault(name.lower(), []).append(value)
        return found
