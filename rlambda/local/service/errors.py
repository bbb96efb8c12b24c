"""The Invoke API's own errors, in the shape Lambda sends them.

Lambda (a REST-JSON service) names the error in the `x-amzn-ErrorType` header and sends a JSON
body with `Type` ("User" or "Service") and a lower-case `message`; botocore reads the code from
the header and the message from the body. Bodies as seen in public reports of real responses:
- 404 {"Type":"User","message":"Function not found: arn:aws:lambda:...:function:NAME"}
- 429 {"Reason":"ReservedFunctionConcurrentInvocationLimitExceeded","Type":"User",
  "message":"Rate Exceeded."} (the Reason tells reserved-concurrency throttling apart)
- 413 RequestEntityTooLargeException "Request must be smaller than 6291456 bytes for the
  InvokeFunction operation" (the front end's limit on a synchronous request);
  RequestTooLargeException "N byte payload is too large for the Event invocation type (limit
  M bytes)" (an asynchronous one);
- 403 InvalidSignatureException / UnrecognizedClientException / MissingAuthenticationToken-
  Exception: {"message": ...} only, as AWS's signature front end answers for every service.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

SYNC_LIMIT = 6 * 1024 * 1024  # "Invocation payload (request and response) 6 MB", synchronous
ASYNC_LIMIT = 1024 * 1024  # asynchronous: 1 MB (raised from 256 KB in 2025)


@dataclass(frozen=True)
class ApiError(Exception):
    status: int
    code: str
    message: str
    error_class: str | None = "User"  # the body's "Type"; None for the signature errors
    extra: dict[str, Any] = field(default_factory=dict)

    def body(self) -> bytes:
        document: dict[str, Any] = dict(self.extra)
        if self.error_class is not None:
            document["Type"] = self.error_class
        document["message"] = self.message
        return json.dumps(document).encode()

    def headers(self) -> dict[str, str]:
        return {"x-amzn-ErrorType": self.code, "Content-Type": "application/json"}


def not_found(arn: str) -> ApiError:
    return ApiError(HTTPStatus.NOT_FOUND, "ResourceNotFoundException", f"Function not found: {arn}")


def throttled() -> ApiError:
    return ApiError(
        HTTPStatus.TOO_MANY_REQUESTS,
        "TooManyRequestsException",
        "Rate Exceeded.",
        extra={"Reason": "ReservedFunctionConcurrentInvocationLimitExceeded"},
    )


def sync_too_large() -> ApiError:
    return ApiError(
        HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
        "RequestEntityTooLargeException",
        f"Request must be smaller than {SYNC_LIMIT} bytes for the InvokeFunction operation",
    )


def async_too_large(size: int) -> ApiError:
    return ApiError(
        HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
        "RequestTooLargeException",
        f"{size} byte payload is too large for the Event invocation type (limit {ASYNC_LIMIT} "
        "bytes)",
    )


def invalid_parameter(message: str) -> ApiError:
    return ApiError(HTTPStatus.BAD_REQUEST, "InvalidParameterValueException", message)


def validation(field_name: str, value: str, allowed: list[str]) -> ApiError:
    # The wording of AWS's request validation (Coral's "1 validation error detected").
    message = (
        f"1 validation error detected: Value '{value}' at '{field_name}' failed to satisfy "
        f"constraint: Member must satisfy enum value set: [{', '.join(allowed)}]"
    )
    return ApiError(HTTPStatus.BAD_REQUEST, "ValidationException", message, error_class=None)


def unknown_operation(method: str, path: str) -> ApiError:
    return ApiError(
        HTTPStatus.NOT_FOUND,
        "UnknownOperationException",
        f"this service answers only Lambda's Invoke (POST "
        f"/2015-03-31/functions/NAME/invocations), not {method} {path}",
        error_class=None,
    )


def bad_signature(message: str) -> ApiError:
    return ApiError(HTTPStatus.FORBIDDEN, "InvalidSignatureException", message, error_class=None)


def unknown_key() -> ApiError:
    return ApiError(
        HTTPStatus.FORBIDDEN,
        "UnrecognizedClientException",
        "The security token included in the request is invalid.",
        error_class=None,
    )


def missing_signature() -> ApiError:
    return ApiError(
        HTTPStatus.FORBIDDEN,
        "MissingAuthenticationTokenException",
        "Missing Authentication Token",
        error_class=None,
    )


def too_many_connections() -> ApiError:
    # Every connection slot is taken (server.Limits.max_connections). botocore retries a 429
    # TooManyRequestsException with backoff, as it does Lambda's own throttling.
    return ApiError(
        HTTPStatus.TOO_MANY_REQUESTS,
        "TooManyRequestsException",
        "Rate Exceeded.",
        extra={"Reason": "ConcurrentInvocationLimitExceeded"},
    )


def misdirected(message: str) -> ApiError:
    return ApiError(HTTPStatus.MISDIRECTED_REQUEST, "MisdirectedRequestException", message, None)


def unavailable(message: str) -> ApiError:
    return ApiError(HTTPStatus.SERVICE_UNAVAILABLE, "ServiceException", message, "Service")
