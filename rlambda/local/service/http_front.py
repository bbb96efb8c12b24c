"""`--http PORT`: a function served as a function URL / HTTP API (payload format 2.0).

A request becomes the 2.0 event (AWS's "Lambda function URL request and response payloads"
and API Gateway's "payload format version 2.0"): rawPath, rawQueryString, cookies (taken out
of the headers), headers (lower-case, repeated ones joined with commas), queryStringParameters
(likewise), requestContext.http, body (base64 when it is not text). The function's result:
an object with statusCode is a proxy result (statusCode, headers, cookies -> Set-Cookie, body,
isBase64Encoded); anything else valid JSON is sent as is, 200, application/json, as both
fronts do. A function error is 500 {"message":"Internal Server Error"}, as HTTP APIs answer.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
import uuid
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from rlambda.local.http_io import BadRequest, read_body

from . import errors
from .errors import ApiError
from .handler import ServiceHandler

_TEXT_TYPES = ("text/", "application/json", "application/xml", "application/javascript")
_TEXT_SUFFIXES = ("+json", "+xml", "x-www-form-urlencoded")


def is_text(content_type: str, body: bytes) -> bool:
    kind = content_type.split(";", 1)[0].strip().lower()
    textual = not kind or kind.startswith(_TEXT_TYPES) or kind.endswith(_TEXT_SUFFIXES)
    if not textual:
        return False
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def to_event(
    method: str,
    target: str,
    headers: list[tuple[str, str]],
    body: bytes,
    source_ip: str,
    now: float | None = None,
) -> dict[str, Any]:
    """The payload-2.0 event for one HTTP request."""
    now = time.time() if now is None else now
    split = urlsplit(target)
    joined: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in headers:
        lower = name.lower()
        if lower == "cookie":
            cookies.extend(part.strip() for part in value.split(";") if part.strip())
            continue
        joined[lower] = f"{joined[lower]},{value}" if lower in joined else value
    query: dict[str, str] = {}
    for key, value in parse_qsl(split.query, keep_blank_values=True):
        query[key] = f"{query[key]},{value}" if key in query else value
    host = joined.get("host", "localhost")
    request_id = str(uuid.uuid4())
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": split.path or "/",
        "rawQueryString": split.query,
        "headers": joined,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "local",
            "domainName": host,
            "domainPrefix": host.split(".", 1)[0],
            "http": {
                "method": method,
                "path": split.path or "/",
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": joined.get("user-agent", ""),
            },
            "requestId": request_id,
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": False,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = query
    if body:
        if is_text(joined.get("content-type", ""), body):
            event["body"] = body.decode("utf-8")
        else:
            event["body"] = base64.b64encode(body).decode()
            event["isBase64Encoded"] = True
    return event


def to_response(body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
    """The HTTP response for a function's (successful) result."""
    try:
        value = json.loads(body)
    except ValueError:
        value = None
    if not isinstance(value, dict) or "statusCode" not in value:
        # Not a proxy result: sent as the body, as JSON, with 200.
        return HTTPStatus.OK, [("Content-Type", "application/json")], body
    try:
        status = int(value["statusCode"])
    except (TypeError, ValueError):
        return _error()
    headers = [(str(k), str(v)) for k, v in (value.get("headers") or {}).items()]
    for name, values in (value.get("multiValueHeaders") or {}).items():
        headers.extend((str(name), str(v)) for v in values)
    headers.extend(("Set-Cookie", str(cookie)) for cookie in value.get("cookies") or [])
    if not any(name.lower() == "content-type" for name, _ in headers):
        headers.append(("Content-Type", "application/json"))
    raw = value.get("body")
    text = raw if isinstance(raw, str) else ("" if raw is None else json.dumps(raw))
    if value.get("isBase64Encoded"):
        try:
            payload = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            return _error()
    else:
        payload = text.encode("utf-8")
    return status, headers, payload


def _error() -> tuple[int, list[tuple[str, str]], bytes]:
    # A function error, or a result the front cannot use: API Gateway HTTP APIs answer
    # 500 {"message":"Internal Server Error"}.
    body = json.dumps({"message": "Internal Server Error"}).encode()
    return HTTPStatus.INTERNAL_SERVER_ERROR, [("Content-Type", "application/json")], body


class FunctionUrlHandler(ServiceHandler):
    def _any(self) -> None:
        name = self.server.function  # type: ignore[attr-defined]
        try:
            body = read_body(self, errors.SYNC_LIMIT)
        except BadRequest as exc:
            message = json.dumps({"message": str(exc)}).encode()
            headers = [("Content-Type", "application/json")]
            self.send(HTTPStatus.BAD_REQUEST, message, headers, close=True)
            return
        if body.too_large(errors.SYNC_LIMIT):
            message = json.dumps({"message": "Request Entity Too Large"}).encode()
            self.send(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE, message, [("Content-Type", "application/json")]
            )
            return
        event = to_event(
            self.command, self.path, list(self.headers.items()), body.data, self.client_address[0]
        )
        try:
            outcome = self.service.invoke(name, json.dumps(event).encode())
        except ApiError as error:
            if error.status == HTTPStatus.TOO_MANY_REQUESTS:
                message = json.dumps({"message": "Too Many Requests"}).encode()
                self.send(error.status, message, [("Content-Type", "application/json")])
            else:
                # _error() is (status, headers, body); send() takes the body second.
                status, headers, payload = _error()
                self.send(status, payload, headers)
            return
        if outcome.result.function_error or outcome.result.status_code != HTTPStatus.OK:
            status, headers, payload = _error()
        else:
            status, headers, payload = to_response(outcome.result.body)
        headers.append(("x-amzn-RequestId", outcome.request_id))
        self.send(status, payload, headers)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _any
