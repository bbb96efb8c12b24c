"""A local stand-in for the AWS credential sources that moto does not serve, speaking each one's
documented API, for the tests of lambdaparallel's credential chain (tests/r/):

- STS's Query API (https://docs.aws.amazon.com/STS/latest/APIReference/): AssumeRole and
  AssumeRoleWithWebIdentity, with roles that cannot be assumed (403 AccessDenied, as STS answers);
  moto's STS serves the happy paths, this one the refusals and short-lived credentials;
- the IAM Identity Center portal's GetRoleCredentials
  (https://docs.aws.amazon.com/singlesignon/latest/PortalAPIReference/API_GetRoleCredentials.html),
  which moto does not have: 401 UnauthorizedException for an unknown access token;
- EC2 instance metadata, IMDSv2 only: a token from PUT /latest/api/token, required on every GET
  (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/instancedata-data-retrieval.html);
- a container credentials endpoint (GET, checking the Authorization header when told to).

Credentials it hands out expire `lifetime_s` seconds after they are asked for; each has its own
session token ("token-1", "token-2", ...) so a test sees a refresh. `fail_after` makes every
request after that many credentials an HTTP 500, as a source that went away.
"""

from __future__ import annotations

import datetime
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.parallel_service import ACCESS_KEY, SECRET_KEY

Answer = tuple[int, dict[str, str], bytes]  # status, headers, body
IMDS_ROLE = "r-caller-instance-role"


class CredentialsService:
    def __init__(
        self,
        *,
        lifetime_s: float = 3600,
        sso_token: str = "sso-access-token",
        container_token: str | None = None,
        deny_roles: frozenset[str] = frozenset(),
        fail_after: int | None = None,
    ) -> None:
        self.lifetime_s = lifetime_s
        self.sso_token = sso_token
        self.container_token = container_token
        self.deny_roles = deny_roles
        self.fail_after = fail_after
        self.issued = 0
        self.requests: list[dict[str, Any]] = []
        self._imds_tokens: set[str] = set()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> CredentialsService:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def issue(self) -> dict[str, str] | None:
        """The next credentials (the lambdaparallel tests' key, so signatures check), or None
        once `fail_after` have been issued."""
        with self._lock:
            if self.fail_after is not None and self.issued >= self.fail_after:
                return None
            self.issued += 1
            n = self.issued
        expires = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=self.lifetime_s)
        return {
            "AccessKeyId": ACCESS_KEY,
            "SecretAccessKey": SECRET_KEY,
            "Token": f"token-{n}",
            "Expiration": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        url = urlsplit(path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        with self._lock:
            self.requests.append(
                {
                    "method": method,
                    "path": url.path,
                    "query": query,
                    "headers": headers,
                    "form": _form(body),
                }
            )
        if method == "POST" and url.path == "/":
            return self._sts(_form(body), headers)
        if url.path == "/federation/credentials":
            return self._sso(query, headers)
        if url.path.startswith("/latest/"):
            return self._imds(method, url.path, headers)
        if url.path == "/container":
            if self.container_token and headers.get("authorization") != self.container_token:
                return 401, {}, b"unauthorized"
            return self._json(self.issue())
        return 404, {}, b"not found"

    def _json(self, credentials: dict[str, str] | None) -> Answer:
        if credentials is None:
            return 500, {}, b"gone"
        return 200, {"Content-Type": "application/json"}, json.dumps(credentials).encode()

    def _sts(self, form: dict[str, str], headers: dict[str, str]) -> Answer:
        action = form.get("Action", "")
        if action not in ("AssumeRole", "AssumeRoleWithWebIdentity"):
            return 400, {}, _sts_error("InvalidAction", f"Could not find operation {action}")
        if action == "AssumeRole" and "authorization" not in headers:
            return 403, {}, _sts_error("MissingAuthenticationToken", "Request is missing auth")
        role = form.get("RoleArn", "")
        if role in self.deny_roles:
            return (
                403,
                {},
                _sts_error(
                    "AccessDenied",
                    f"User is not authorized to perform: sts:{action} on resource: {role}",
                ),
            )
        issued = self.issue()
        if issued is None:
            return 500, {}, _sts_error("ServiceUnavailable", "gone")
        xml = (
            f"<{action}Response><{action}Result><Credentials>"
            f"<AccessKeyId>{issued['AccessKeyId']}</AccessKeyId>"
            f"<SecretAccessKey>{issued['SecretAccessKey']}</SecretAccessKey>"
            f"<SessionToken>{issued['Token']}</SessionToken>"
            f"<Expiration>{issued['Expiration']}</Expiration>"
            f"</Credentials></{action}Result></{action}Response>"
        )
        return 200, {"Content-Type": "text/xml"}, xml.encode()

    def _sso(self, query: dict[str, str], headers: dict[str, str]) -> Answer:
        if headers.get("x-amz-sso_bearer_token") != self.sso_token:
            body = json.dumps({"message": "Session token not found or invalid"}).encode()
            return 401, {"x-amzn-errortype": "UnauthorizedException"}, body
        issued = self.issue()
        if issued is None:
            return 500, {}, b"gone"
        expires = datetime.datetime.strptime(issued["Expiration"], "%Y-%m-%dT%H:%M:%SZ")
        role = {
            "accessKeyId": issued["AccessKeyId"],
            "secretAccessKey": issued["SecretAccessKey"],
            "sessionToken": issued["Token"],
            "expiration": int(expires.replace(tzinfo=datetime.UTC).timestamp() * 1000),
            "account": query.get("account_id"),
            "role": query.get("role_name"),
        }
        body = json.dumps({"roleCredentials": role}).encode()
        return 200, {"Content-Type": "application/json"}, body

    def _imds(self, method: str, path: str, headers: dict[str, str]) -> Answer:
        if path == "/latest/api/token":
            if method != "PUT" or "x-aws-ec2-metadata-token-ttl-seconds" not in headers:
                return 400, {}, b"bad token request"
            token = f"imds-{len(self._imds_tokens) + 1}"
            self._imds_tokens.add(token)
            return 200, {}, token.encode()
        if headers.get("x-aws-ec2-metadata-token") not in self._imds_tokens:
            return 401, {}, b"unauthorized"
        base = "/latest/meta-data/iam/security-credentials/"
        if path == base:
            return 200, {}, IMDS_ROLE.encode()
        if path == base + IMDS_ROLE:
            issued = self.issue()
            return self._json(None if issued is None else {"Code": "Success", **issued})
        return 404, {}, b"not found"


def _form(body: bytes) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}


def _sts_error(code: str, message: str) -> bytes:
    return (
        "<ErrorResponse><Error><Type>Sender</Type>"
        f"<Code>{code}</Code><Message>{message}</Message></Error></ErrorResponse>"
    ).encode()


def _handler(service: CredentialsService) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, out, payload = service.handle(self.command, self.path, headers, body)
            self.send_response(status)
            for name, value in out.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_PUT = do_POST = _serve

    return Handler
