"""Lambda's Invoke API over HTTP: POST /2015-03-31/functions/{FunctionName}/invocations.

Headers read, as in the API reference: X-Amz-Invocation-Type (RequestResponse | Event |
DryRun), X-Amz-Log-Type (None | Tail), X-Amz-Client-Context (base64 JSON, passed on to the
runtime), X-Amzn-Trace-Id; the query's Qualifier. Answered: 200 with the function's bytes
(X-Amz-Function-Error: Unhandled on a function error, X-Amz-Executed-Version, and with Tail
X-Amz-Log-Result = base64 of the invoke's last 4 KB of log), 202 for Event, 204 for DryRun,
and the errors of errors.py.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import re
import uuid
from http import HTTPStatus
from urllib.parse import parse_qs, unquote, urlsplit

from rlambda.local.http_io import BadRequest, read_body

from . import errors
from .errors import ApiError
from .handler import ServiceHandler
from .names import LATEST
from .pool import tail
from .server import raw_response

INVOKE_PATH = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations$")
INVOCATION_TYPES = ["Event", "RequestResponse", "DryRun"]
LOG_TYPES = ["None", "Tail"]


class InvokeApiHandler(ServiceHandler):
    @classmethod
    def busy_response(cls) -> bytes:
        error = errors.too_many_connections()
        headers = (("x-amzn-ErrorType", error.code),)
        return raw_response(error.status, error.body(), headers)

    def refuse_host(self, message: str) -> None:
        error = errors.misdirected(message)
        self.send(error.status, error.body(), list(error.headers().items()), close=True)

    def do_POST(self) -> None:
        try:
            self._invoke()
        except BadRequest as exc:
            error = errors.ApiError(
                HTTPStatus.BAD_REQUEST, "InvalidRequestContentException", str(exc)
            )
            self.send(error.status, error.body(), list(error.headers().items()), close=True)
        except ApiError as error:
            self.send(error.status, error.body(), list(error.headers().items()))

    def _refuse(self) -> None:
        with contextlib.suppress(BadRequest):
            read_body(self, 0)
        error = errors.unknown_operation(self.command, urlsplit(self.path).path)
        self.send(error.status, error.body(), list(error.headers().items()))

    do_GET = do_PUT = do_DELETE = do_PATCH = _refuse

    def _invoke(self) -> None:
        service = self.service
        body = read_body(self, errors.SYNC_LIMIT)
        if body.too_large(errors.SYNC_LIMIT):
            raise errors.sync_too_large()
        if service.verifier is not None:
            service.verifier.check(self.command, self.path, self.header_map(), body.data)
        split = urlsplit(self.path)
        match = INVOKE_PATH.match(split.path)
        if match is None:
            raise errors.unknown_operation(self.command, split.path)
        qualifier = parse_qs(split.query).get("Qualifier", [None])[0]
        name = service.resolve_function(unquote(match["name"]), qualifier)
        kind = self.headers.get("X-Amz-Invocation-Type") or "RequestResponse"
        if kind not in INVOCATION_TYPES:
            raise errors.validation("invocationType", kind, INVOCATION_TYPES)
        log_type = self.headers.get("X-Amz-Log-Type") or "None"
        if log_type not in LOG_TYPES:
            raise errors.validation("logType", log_type, LOG_TYPES)
        context = _client_context(self.headers.get("X-Amz-Client-Context"))
        trace_id = self.headers.get("X-Amzn-Trace-Id")

        if kind == "DryRun":
            # "Validate parameter values and verify that the user or role has permission".
            self.send(HTTPStatus.NO_CONTENT, b"", [("x-amzn-RequestId", str(uuid.uuid4()))])
            return
        if kind == "Event":
            if len(body.data) > errors.ASYNC_LIMIT:
                raise errors.async_too_large(len(body.data))
            request_id = service.invoke_async(
                name, body.data, trace_id=trace_id, client_context=context
            )
            self.send(HTTPStatus.ACCEPTED, b"", [("x-amzn-RequestId", request_id)])
            return
        outcome = service.invoke(
            name, body.data, tail=log_type == "Tail", trace_id=trace_id, client_context=context
        )
        result = outcome.result
        headers = [
            ("Content-Type", result.content_type),
            ("x-amzn-RequestId", outcome.request_id),
            ("X-Amz-Executed-Version", LATEST),
        ]
        if result.function_error:
            headers.append(("X-Amz-Function-Error", result.function_error))
        if outcome.log is not None:
            headers.append(("X-Amz-Log-Result", base64.b64encode(tail(outcome.log)).decode()))
        self.send(result.status_code, result.body, headers)


def _client_context(value: str | None) -> str | None:
    # The API takes ClientContext as base64 of a JSON object; the runtime gets the JSON text.
    if not value:
        return None
    try:
        text = base64.b64decode(value, validate=True).decode()
        if not isinstance(json.loads(text), dict):
            raise ValueError
    except (binascii.Error, ValueError):
        raise errors.ApiError(
            HTTPStatus.BAD_REQUEST,
            "InvalidRequestContentException",
            "Client context must be a valid Base64-encoded JSON object.",
        ) from None
    return text
