"""The stand-ins registry tests run against, and the pytest fixtures that start them.

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
import json
import logging
import os
import secrets
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
import requests
from moto.server import ThreadedMotoServer

import docker

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account
HERE = Path(__file__).resolve().parent


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


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per API call otherwise
    os.environ["MOTO_LAMBDA_STUB_ECR"] = "false"  # read by moto on every create/update
    # AWS's managed policies (AWSLambdaBasicExecutionRole), which real IAM always has.
    os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    # moto's Docker Lambda runs zip runtimes only (it cannot run an Image function); its simple
    # Lambda answers an invoke with a result queued through /moto-api (or echoes the event).
    requests.post(f"{url}/moto-api/config", json={"lambda": {"use_docker": False}}, timeout=10)
    yield url
    server.stop()


@pytest.fixture
def aws(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A clean moto for one test, and the environment boto3 reads to reach it."""
    requests.post(f"{moto_server}/moto-api/reset", timeout=10).raise_for_status()
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.delenv("RLAMBDA_REGISTRY_ENDPOINT", raising=False)
    return moto_server


def queue_result(moto: str, payload: object) -> None:
    """What moto's simple Lambda answers to the next invoke (it never runs the image)."""
    body = {"results": [json.dumps(payload)], "region": REGION}
    requests.post(f"{moto}/moto-api/static/lambda-simple/response", json=body, timeout=10)


@pytest.fixture(scope="session")
def registry(moto_server: str) -> Iterator[RegistryServer]:
    """The registry accepting the credentials moto's ECR hands out."""
    username, password = moto_token_credentials(moto_server)
    with tempfile.TemporaryDirectory(prefix="rlambda-registry-") as root:
        server = RegistryServer(username, password, Path(root)).start()
        yield server
        server.stop()


@pytest.fixture
def ecr(aws: str):
    return boto3.client("ecr", region_name=REGION)


@pytest.fixture
def lambda_client(aws: str):
    return boto3.client("lambda", region_name=REGION)


@pytest.fixture
def make_image(docker_client: docker.DockerClient, tmp_path: Path) -> Iterator:
    """Build a small labelled image FROM scratch: one layer of random bytes per `layers` entry.

    Tagged like build.py's images (r-<version>-<family>-<arch>) in a throwaway repository, with
    the labels build.py sets, so registry.py reads its facts the same way.
    """
    made: list[str] = []

    def make(
        layers: tuple[int, ...] = (64_000,),
        r_version: str = "4.2.2",
        family: str = "debian",
        content_hash: str | None = None,
        base: str = "scratch",
    ) -> str:
        context = tmp_path / f"ctx-{secrets.token_hex(4)}"
        context.mkdir()
        lines = [f"FROM {base}"]
        for i, size in enumerate(layers):
            (context / f"layer{i}").write_bytes(secrets.token_bytes(size))
            lines.append(f"COPY layer{i} /layer{i}")
        (context / "Dockerfile").write_text("\n".join(lines) + "\n")
        name = f"rlambda-test/push-{secrets.token_hex(4)}:r-{r_version}-{family}-x86_64"
        docker_client.images.build(
            path=str(context),
            tag=name,
            rm=True,
            labels={
                "io.rlambda.r.version": r_version,
                "io.rlambda.content-hash": content_hash or secrets.token_hex(32),
            },
        )
        made.append(name)
        return name

    yield make
    for name in made:
        with contextlib.suppress(docker.errors.APIError):
            docker_client.images.remove(name, force=True, noprune=False)


@pytest.fixture
def create_function(lambda_client):
    """Create an image-packaged function in moto (its role first: moto checks it exists)."""
    iam = boto3.client("iam", region_name=REGION)
    role = iam.create_role(
        RoleName="rlambda-test",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )["Role"]["Arn"]

    def create(name: str, image_uri: str, arch: str = "x86_64") -> None:
        lambda_client.create_function(
            FunctionName=name, Role=role, PackageType="Image",
            Code={"ImageUri": image_uri}, Architectures=[arch],
        )  # fmt: skip

    return create
