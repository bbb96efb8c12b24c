"""Moving bytes: the Docker engine's push, and the one client of a registry's v2 API.

One retry policy, ours: a push attempt that fails transiently (connection refused or reset,
throttling, a 5xx) is retried with exponential backoff, a bounded number of times. The engine's
own per-layer retry (5 tries, 5 to 20 s apart, not configurable per push) is cut short as soon as
it starts, by closing the stream, which cancels the engine's push; the next attempt re-sends only
what the registry lacks, since the engine checks every layer before sending it.
"""

import contextlib
import hashlib
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import docker.errors
import requests

import docker
from rlambda.errors import JobError
from rlambda.registry.auth import RegistryAuth

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
# Asked for by name so a registry holding an index for the tag says so instead of picking one
# entry: Lambda rejects image indexes (manifest lists).
SINGLE_MANIFESTS = (DOCKER_MANIFEST, OCI_MANIFEST)
INDEXES = (
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.index.v1+json",
)
# Engine error texts that no retry can fix.
_FATAL = ("unauthorized", "authentication required", "denied", "name unknown", "manifest invalid")


class TransientError(Exception):
    """A failure worth another attempt."""


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 3
    first_delay: float = 2.0  # seconds; doubled after each failed attempt

    def delays(self) -> list[float]:
        return [self.first_delay * 2**i for i in range(self.attempts - 1)]


def with_retries(what: str, policy: RetryPolicy, action, out=None):
    delays = policy.delays()
    for attempt in range(1, policy.attempts + 1):
        try:
            return action()
        except TransientError as e:
            if attempt == policy.attempts:
                raise JobError(f"{what} failed after {attempt} attempts: {e}") from None
            delay = delays[attempt - 1]
            print(
                f"  {what}: attempt {attempt}/{policy.attempts} failed ({e});"
                f" retrying in {delay:g}s",
                file=out or sys.stderr,
            )
            time.sleep(delay)
    raise AssertionError("unreachable")


@dataclass
class PushStats:
    layers_pushed: int = 0
    layers_existing: int = 0
    bytes_pushed: int = 0
    attempts: int = 0
    seconds: float = 0.0
    _sizes: dict[str, int] = field(default_factory=dict, repr=False)


def _push_once(
    client: docker.DockerClient, ref: str, tag: str, auth: RegistryAuth, stats: PushStats
) -> str:
    stats.attempts += 1
    digest = None
    try:
        stream = client.images.push(ref, tag, auth_config=auth.docker(), stream=True, decode=True)
        with contextlib.closing(stream):
            for item in stream:
                if "error" in item:
                    message = str(item["error"]).strip()
                    if any(word in message.lower() for word in _FATAL):
                        raise JobError(f"the registry at {auth.host} refused the push: {message}")
                    raise TransientError(message)
                status = str(item.get("status", ""))
                layer = item.get("id", "")
                if status.startswith("Retrying in"):
                    # Leaving the with-block closes the stream: the engine cancels its push.
                    raise TransientError(f"layer {layer} upload failed (engine began retrying)")
                if status == "Pushing" and item.get("progressDetail", {}).get("total"):
                    stats._sizes[layer] = item["progressDetail"]["total"]
                elif status == "Pushed":
                    stats.layers_pushed += 1
                    stats.bytes_pushed += stats._sizes.get(layer, 0)
                elif status == "Layer already exists" or status.startswith("Mounted from"):
                    stats.layers_existing += 1
                elif "aux" in item and "Digest" in item["aux"]:
                    digest = item["aux"]["Digest"]
    except docker.errors.APIError as e:
        if e.status_code is not None and e.status_code < 500:
            raise JobError(f"the engine refused the push: {e.explanation or e}") from None
        raise TransientError(str(e.explanation or e)) from None
    except requests.exceptions.RequestException as e:
        raise TransientError(f"lost the Docker engine: {e}") from None
    if digest is None:
        raise TransientError("the engine ended the push without reporting a digest")
    return digest


def push(
    client: docker.DockerClient,
    image_id: str,
    auth: RegistryAuth,
    repository: str,
    tag: str,
    policy: RetryPolicy,
    out=None,
) -> tuple[str, PushStats]:
    """Push one tag of a local image; returns the manifest digest the engine reports."""
    ref = f"{auth.host}/{repository}"
    stats = PushStats()
    started = time.monotonic()
    image = client.images.get(image_id)
    # Untagging the last name of an image would delete it: only remove a name we added.
    added = f"{ref}:{tag}" not in image.tags
    image.tag(ref, tag)
    try:
        digest = with_retries(
            f"push to {ref}", policy, lambda: _push_once(client, ref, tag, auth, stats), out
        )
    finally:
        # The registry-qualified name was only the engine's way of knowing where to push.
        if added:
            with contextlib.suppress(docker.errors.APIError):
                client.images.remove(f"{ref}:{tag}", noprune=True)
    stats.seconds = time.monotonic() - started
    return digest, stats


@dataclass(frozen=True)
class Manifest:
    raw: bytes
    media_type: str
    digest: str

    @property
    def text(self) -> str:
        return self.raw.decode()


class RegistryClient:
    """The one client of a registry's HTTP API v2 (the OCI distribution spec) for reads:
    manifests and blobs, each checked against its digest.

    `basic`: credentials (ECR's token, see auth.py), else none; a registry that answers 401
    with a Bearer challenge (Docker Hub, public.ecr.aws) gets an anonymous token for the scope
    it names, as the docker CLI does. Transient failures (unreachable, 429, 5xx) are retried
    by `retry`.
    """

    def __init__(
        self,
        base_url: str,
        *,
        basic: tuple[str, str] | None = None,
        retry: RetryPolicy | None = None,
    ):
        self.base_url = base_url.rstrip("/")  # scheme://host[:port]
        self.host = self.base_url.split("://", 1)[-1]
        self.basic = basic
        self.retry = retry or RetryPolicy()
        self.token: str | None = None

    def get(self, path: str, accept: Sequence[str] = ()) -> requests.Response | None:
        """GET /v2/`path`; None when the registry has no such thing (404)."""

        def once() -> requests.Response | None:
            response = self._request(path, accept)
            challenge = response.headers.get("WWW-Authenticate", "")
            if response.status_code == 401 and challenge.lower().startswith("bearer "):
                self.token = self._anonymous_token(challenge)
                response = self._request(path, accept)
            if response.status_code == 404:
                return None
            if response.status_code in (401, 403):
                raise JobError(
                    f"the registry at {self.host} refused the credentials"
                    f" (HTTP {response.status_code})"
                )
            if response.status_code == 429 or response.status_code >= 500:
                raise TransientError(f"HTTP {response.status_code} from {self.host}")
            if response.status_code != 200:
                raise JobError(f"unexpected HTTP {response.status_code} from {self.host}/v2/{path}")
            return response

        return with_retries(f"reading {path}", self.retry, once)

    def manifest(self, repository: str, reference: str, accept: Sequence[str]) -> Manifest | None:
        """The manifest (or index) a tag or digest names, byte for byte, its digest checked."""
        response = self.get(f"{repository}/manifests/{reference}", accept)
        if response is None:
            return None
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        digest = "sha256:" + hashlib.sha256(response.content).hexdigest()
        announced = response.headers.get("Docker-Content-Digest")
        if announced and announced != digest:
            raise JobError(
                f"{repository}:{reference}: the registry announced {announced} but sent a"
                f" manifest whose digest is {digest}"
            )
        return Manifest(response.content, media_type, digest)

    def blob(self, repository: str, digest: str) -> bytes:
        response = self.get(f"{repository}/blobs/{digest}")
        if response is None:
            raise JobError(f"{repository}: blob {digest} is missing from the registry")
        if "sha256:" + hashlib.sha256(response.content).hexdigest() != digest:
            raise JobError(f"{repository}: blob {digest} does not match its digest")
        return response.content

    def _request(self, path: str, accept: Sequence[str]) -> requests.Response:
        headers = {"Accept": ", ".join(accept)} if accept else {}
        if self.token:
            # requests drops it on a redirect to another host (blob CDNs reject foreign auth).
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            return requests.get(
                f"{self.base_url}/v2/{path}",
                headers=headers,
                auth=None if self.token else self.basic,
                timeout=60,
            )
        except requests.exceptions.RequestException as e:
            raise TransientError(f"cannot reach {self.host}: {type(e).__name__}") from None

    def _anonymous_token(self, challenge: str) -> str:
        params = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
        realm = params.pop("realm", None)
        if not realm:
            raise JobError(f"{self.host}: bearer challenge without a realm: {challenge}")
        try:
            response = requests.get(realm, params=params, timeout=60)
            response.raise_for_status()
            token = response.json().get("token") or response.json().get("access_token")
        except (requests.exceptions.RequestException, ValueError) as e:
            raise JobError(f"cannot get an anonymous token from {realm}: {e}") from None
        if not isinstance(token, str):
            raise JobError(f"{realm}: no token in the answer")
        return token


def client_for(auth: RegistryAuth, policy: RetryPolicy) -> RegistryClient:
    return RegistryClient(auth.base_url, basic=auth.basic(), retry=policy)


def read_manifest(
    auth: RegistryAuth, repository: str, reference: str, policy: RetryPolicy
) -> Manifest | None:
    """The single-architecture manifest a tag or digest names, as the registry stores it."""
    manifest = client_for(auth, policy).manifest(repository, reference, SINGLE_MANIFESTS)
    if manifest is None:
        return None
    if manifest.media_type in INDEXES:
        raise JobError(
            f"{repository}:{reference} is an image index ({manifest.media_type}); Lambda needs"
            " a single-architecture image manifest (build without BuildKit attestations)"
        )
    if manifest.media_type not in SINGLE_MANIFESTS:
        raise JobError(
            f"{repository}:{reference}: unexpected manifest type {manifest.media_type!r}"
        )
    return manifest


def read_blob(auth: RegistryAuth, repository: str, digest: str, policy: RetryPolicy) -> bytes:
    return client_for(auth, policy).blob(repository, digest)
