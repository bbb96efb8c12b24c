"""Check AWS Signature Version 4 on incoming requests, with botocore's own signer.

botocore.auth.SigV4Auth computes the canonical request, string to sign and signature of an
AWSRequest; given the client's timestamp and credential scope, the same code that signs boto3's
requests recomputes the signature of the one received, so nothing of SigV4 is re-derived here
but parsing the Authorization header. The canonical URI is the path as received, encoded once
more as botocore does for every service but S3; the canonical query is rebuilt from the decoded
parameters (the spec's rule). Errors are AWS's (errors.py).
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

from botocore.auth import SIGV4_TIMESTAMP, UNSIGNED_PAYLOAD, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from . import errors

SERVICE = "lambda"
MAX_SKEW = datetime.timedelta(minutes=5)  # AWS refuses requests signed more than 5 min off
_AUTH = re.compile(
    r"AWS4-HMAC-SHA256\s+Credential=(?P<credential>[^,\s]+),\s*"
    r"SignedHeaders=(?P<signed>[^,\s]+),\s*Signature=(?P<signature>[0-9a-f]{64})"
)
_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your "
    "AWS Secret Access Key and signing method. Consult the service documentation for details."
)


@dataclass(frozen=True)
class Verifier:
    access_key: str
    secret_key: str = field(repr=False)  # never in a log line or a traceback's locals

    @classmethod
    def parse(cls, text: str) -> Verifier:
        """KEY:SECRET; the error does not repeat the text, which may hold the secret."""
        key, sep, secret = text.partition(":")
        if not sep or not key or not secret:
            raise ValueError("expected ACCESS_KEY_ID:SECRET_ACCESS_KEY")
        return cls(key, secret)

    def check(
        self,
        method: str,
        raw_path: str,
        headers: Mapping[str, Sequence[str]],
        body: bytes,
        now: datetime.datetime | None = None,
    ) -> None:
        """Raise errors.ApiError (403) unless the request is signed with these credentials.

        `headers`: lower-case name -> every value received under it.
        """
        authorization = _one(headers, "authorization")
        if authorization is None:
            raise errors.missing_signature()
        match = _AUTH.fullmatch(authorization.strip())
        if match is None:
            raise errors.bad_signature(f"Invalid Authorization header: {authorization[:80]}")
        scope = match["credential"].split("/")
        if len(scope) != 5 or scope[4] != "aws4_request":
            raise errors.bad_signature(f"Credential should be scoped correctly: {scope}")
        key_id, date, region, service, _ = scope
        if key_id != self.access_key:
            raise errors.unknown_key()
        if service != SERVICE:
            raise errors.bad_signature(
                f"Credential should be scoped to correct service: '{SERVICE}'."
            )
        timestamp = _one(headers, "x-amz-date")
        if timestamp is None or not timestamp.startswith(date):
            raise errors.bad_signature(
                "X-Amz-Date is missing or does not match the credential date"
            )
        _check_time(timestamp, now or datetime.datetime.now(datetime.UTC))
        signed = match["signed"].split(";")
        if "host" not in signed:
            raise errors.bad_signature("'Host' must be a signed header")
        content_sha = _one(headers, "x-amz-content-sha256")
        if content_sha not in (None, UNSIGNED_PAYLOAD, hashlib.sha256(body).hexdigest()):
            raise errors.bad_signature("The provided 'x-amz-content-sha256' header does not match")

        split = urlsplit(raw_path)
        request = AWSRequest(
            method=method,
            url=f"http://{_one(headers, 'host')}{split.path}",
            data=body,
            params=parse_qsl(split.query, keep_blank_values=True),
        )
        for name in signed:
            values = headers.get(name)
            if not values:
                raise errors.bad_signature(f"Signed header {name!r} is not in the request")
            for value in values:
                request.headers.add_header(name, value)
        request.context["timestamp"] = timestamp
        signer = SigV4Auth(Credentials(self.access_key, self.secret_key), SERVICE, region)
        expected = signer.signature(
            signer.string_to_sign(request, signer.canonical_request(request)), request
        )
        if not hmac.compare_digest(expected, match["signature"]):
            raise errors.bad_signature(_MISMATCH)


def _one(headers: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = headers.get(name)
    return values[0] if values else None


def _check_time(timestamp: str, now: datetime.datetime) -> None:
    try:
        signed_at = datetime.datetime.strptime(timestamp, SIGV4_TIMESTAMP).replace(
            tzinfo=datetime.UTC
        )
    except ValueError:
        raise errors.bad_signature(f"Invalid X-Amz-Date {timestamp!r}") from None
    if abs(now - signed_at) > MAX_SKEW:
        earliest = (now - MAX_SKEW).strftime(SIGV4_TIMESTAMP)
        raise errors.bad_signature(
            f"Signature expired: {timestamp} is now earlier than {earliest} "
            f"({now.strftime(SIGV4_TIMESTAMP)} - 5 min.)"
        )
