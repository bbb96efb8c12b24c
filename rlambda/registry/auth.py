"""ECR credentials for one push: fetched, decoded, handed to the push call, never written.

The token from get_authorization_token decodes to `AWS:<password>`. It goes to the Docker
engine in the push request itself (the X-Registry-Auth header the SDK builds from
`auth_config`) and to the registry's v2 API as HTTP basic auth: never to ~/.docker/config.json,
never to a log line, never into an exception's text (the password field has no repr).
"""

import base64
import ipaddress
import os
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import botocore.exceptions

from rlambda import aws
from rlambda.errors import UsageError

# Where the registry's bytes go, when that is not ECR's own endpoint: tests and the local demo
# point it at a registry server on 127.0.0.1. Repository URIs, image URIs and everything sent
# to the ECR/Lambda APIs keep ECR's names; only the transport moves.
ENDPOINT_ENV = "RLAMBDA_REGISTRY_ENDPOINT"
_ENDPOINT = re.compile(r"(https?)://((?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::(\d{1,5}))?)/?")


@dataclass(frozen=True)
class RegistryAuth:
    host: str  # host[:port] the engine pushes to
    scheme: str  # for our own reads of the v2 API
    username: str
    password: str = field(repr=False)

    def docker(self) -> dict[str, str]:
        return {"username": self.username, "password": self.password}

    def basic(self) -> tuple[str, str]:
        return (self.username, self.password)

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.host}"


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or localhost: traffic that never leaves this machine."""
    host = host.removeprefix("[").removesuffix("]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_endpoint(value: str) -> tuple[str, str]:
    """`http://127.0.0.1:5000` → ("http", "127.0.0.1:5000").

    The ECR token goes to this endpoint as HTTP basic auth: plain http only to this machine,
    where nobody on the network can read it."""
    match = _ENDPOINT.fullmatch(value)
    if match is None:
        raise UsageError(
            f"registry endpoint {value!r}: expected http(s)://HOST[:PORT], e.g."
            " http://127.0.0.1:5000 (used by tests and the local demo only)"
        )
    scheme, host = match[1], match[2]
    if match[3] is not None and not 0 < int(match[3]) < 65536:
        raise UsageError(f"registry endpoint {value!r}: port {match[3]} is out of range")
    if scheme == "http" and not is_loopback(host.rsplit(":", 1)[0] if match[3] else host):
        raise UsageError(
            f"registry endpoint {value!r}: plain http would send the ECR token unencrypted over"
            " the network; use https://, or http:// only to 127.0.0.1, ::1 or localhost"
        )
    return scheme, host


def endpoint_override(option: str | None) -> str | None:
    return option or os.environ.get(ENDPOINT_ENV) or None


def authorize(ecr, registry_id: str, endpoint: str | None = None) -> RegistryAuth:
    try:
        data = ecr.get_authorization_token(registryIds=[registry_id])["authorizationData"][0]
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        raise aws.explain(e, "getting an ECR authorization token") from None
    username, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
    if endpoint:
        scheme, host = parse_endpoint(endpoint)
    else:
        parts = urlsplit(data["proxyEndpoint"])
        scheme, host = parts.scheme or "https", parts.netloc
    return RegistryAuth(host, scheme, username, password)
