"""The stand-ins registry tests run against (their fixtures are in tests/conftest.py).

- moto's server (in a thread, on 127.0.0.1, a free port) answers the ECR and Lambda APIs;
  `MOTO_LAMBDA_STUB_ECR=false` makes its Lambda look images up in its ECR, so deploying a
  digest that was never recorded fails as on AWS. boto3 finds it through AWS_ENDPOINT_URL.
- Debian's docker-registry (Distribution 2.8) receives the bytes: 127.0.0.1, a free port,
  a temporary storage directory, htpasswd (bcrypt) auth.

The credentials: ECR's get_authorization_token hands out `AWS:<password>` and ECR's registry
accepts exactly that. moto's token is fixed (`AWS:<account>-auth-token`), so the registry's
htpasswd entry is made from the token moto hands out, read through the same API call the code
under test makes. Nothing else connects the two: a registry started with another password
rejects the push (the wrong-credentials test does that).
"""

import base64
import contextlib
import gzip
import hashlib
import json
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import boto3
import requests

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account
HERE = Path(__file__).resolve().parent
MANIFEST_TYPE = "application/vnd.docker.distribution.manifest.v2+json"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(condition, what: str, timeout: float = 20.0) -> None:
    """Poll `condition` until it holds: readiness of a process we started, not a fixed sleep."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise TimeoutError(f"{what} not ready after {timeout}s")


@dataclass
class RegistryServer:
    """One docker-registry process; `endpoint` is what --registry-endpoint takes."""

    username: str
    password: str
    root: Path
    port: int = 0
    process: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "RegistryServer":
        self.port = free_port()
        htpasswd = self.root / "htpasswd"
        entry = subprocess.run(
            ["htpasswd", "-Bbn", self.username, self.password],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        htpasswd.write_text(entry)
        config = self.root / "config.yml"
        config.write_text(
            (HERE / "registry-config.yml")
            .read_text()
            .format(storage=self.root / "storage", port=self.port, htpasswd=htpasswd)
        )
        log = (self.root / "registry.log").open("wb")
        self.process = subprocess.Popen(
            ["docker-registry", "serve", str(config)], stdout=log, stderr=subprocess.STDOUT
        )
        wait_for(self._answers, f"docker-registry on port {self.port}")
        return self

    def _answers(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(
                f"docker-registry exited: {(self.root / 'registry.log').read_text()}"
            )
        with contextlib.suppress(requests.ConnectionError):
            return requests.get(f"{self.endpoint}/v2/", timeout=2).status_code == 401
        return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def get(self, path: str) -> requests.Response:
        # Without this Accept header Distribution converts a manifest to schema 1 (another
        # digest): what a reader must ask for to see the bytes that were pushed.
        return requests.get(
            f"{self.endpoint}/v2/{path}",
            auth=(self.username, self.password),
            headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
            timeout=10,
        )

    def upload_blob(self, repository: str, data: bytes) -> str:
        """Put one blob through the v2 API (a monolithic upload); its digest."""
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        auth = (self.username, self.password)
        started = requests.post(
            f"{self.endpoint}/v2/{repository}/blobs/uploads/", auth=auth, timeout=10
        )
        started.raise_for_status()
        location = started.headers["Location"]
        if location.startswith("/"):
            location = self.endpoint + location
        joined = "&" if "?" in location else "?"
        requests.put(
            f"{location}{joined}digest={digest}", data=data, auth=auth, timeout=10,
            headers={"Content-Type": "application/octet-stream"},
        ).raise_for_status()  # fmt: skip
        return digest

    def put_image(self, repository: str, tag: str, config: dict) -> tuple[str, str]:
        """An image made of `config` and one small layer, without an engine: what anyone who
        may push can plant. Returns (the manifest's text, its digest)."""
        config_bytes = json.dumps(config).encode()
        layer = gzip.compress(config_bytes, mtime=0)  # one layer per config: moto hashes layers
        manifest = {
            "schemaVersion": 2,
            "mediaType": MANIFEST_TYPE,
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": len(config_bytes),
                "digest": self.upload_blob(repository, config_bytes),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "size": len(layer),
                    "digest": self.upload_blob(repository, layer),
                }
            ],
        }
        text = json.dumps(manifest)
        requests.put(
            f"{self.endpoint}/v2/{repository}/manifests/{tag}", data=text.encode(),
            auth=(self.username, self.password), headers={"Content-Type": MANIFEST_TYPE},
            timeout=10,
        ).raise_for_status()  # fmt: skip
        return text, "sha256:" + hashlib.sha256(text.encode()).hexdigest()

    def tags(self, repository: str) -> list[str]:
        response = self.get(f"{repository}/tags/list")
        return (response.json().get("tags") or []) if response.status_code == 200 else []


def moto_token_credentials(endpoint_url: str) -> tuple[str, str]:
    ecr = boto3.client(
        "ecr", region_name=REGION, endpoint_url=endpoint_url,
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )  # fmt: skip
    token = ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]
    username, _, password = base64.b64decode(token).decode().partition(":")
    return username, password


def queue_result(moto: str, payload: object) -> None:
    """What moto's simple Lambda answers to the next invoke (it never runs the image)."""
    body = {"results": [json.dumps(payload)], "region": REGION}
    requests.post(f"{moto}/moto-api/static/lambda-simple/response", json=body, timeout=10)
