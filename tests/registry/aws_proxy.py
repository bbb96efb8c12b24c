"""An HTTP relay in front of moto that answers chosen AWS calls with a fault, on cue.

moto never throttles and its simple Lambda never reports a function error; real AWS does both.
A rule sees (method, path) and returns None (relay to moto) or what to do instead:
`Fault(status, code)` answers with an AWS-shaped error; `Fault(headers={...})` relays to moto
and adds response headers (Lambda's X-Amz-Function-Error, X-Amz-Log-Result). Every request is
recorded.
"""

import http.server
import json
from collections.abc import Callable
from dataclasses import dataclass

import requests

from ..helpers import serve_in_thread


@dataclass
class Fault:
    status: int = 0  # 0: relay, only adding `headers`
    code: str = ""
    message: str = ""
    headers: dict[str, str] | None = None


class AwsFaultProxy:
    def __init__(self, target: str, rule: Callable[[str, str], Fault | None]) -> None:
        self.target = target
        self.rule = rule
        self.seen: list[tuple[str, str, int]] = []  # (method, path, status answered)
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _relay(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                fault = proxy.rule(self.command, self.path)
                if fault is not None and fault.status:
                    message = fault.message or f"injected {fault.code}"
                    payload = json.dumps({"__type": fault.code, "message": message})
                    self._answer(fault.status, {"x-amzn-ErrorType": fault.code}, payload.encode())
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                upstream = requests.request(
                    self.command, proxy.target + self.path, data=body, headers=headers, timeout=30
                )
                out = {
                    k: v
                    for k, v in upstream.headers.items()
                    if k.lower() not in ("content-length", "transfer-encoding", "connection",
                                         "content-encoding")
                }  # fmt: skip
                if fault is not None and fault.headers:
                    out.update(fault.headers)
                self._answer(upstream.status_code, out, upstream.content)

            def _answer(self, status: int, headers: dict, body: bytes) -> None:
                proxy.seen.append((self.command, self.path, status))
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _relay

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        serve_in_thread(self.server)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
