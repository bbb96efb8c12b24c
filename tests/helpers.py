"""Plain helpers shared by test modules in more than one folder (fixtures are in conftest.py)."""

import contextlib
import json
import socketserver
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import build

# The recipes whose events run on the host's R, from the local mirror's packages.
LOCAL_MIRROR_RECIPES = ["hello", "json-api", "s3-summary", "xml-extract", "worker"]


def write_event(directory: Path, name: str, document: Any) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return path


def run_build(capsys, *argv: str) -> tuple[int, str]:
    """build.py's main with `argv`: its exit status and everything it printed."""
    status = build.main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out + captured.err


def validate_sbom(doc: dict) -> None:
    # Imported here: its IRI format check builds a parser on import (~1.6 s of CPU), which only
    # the SBOM tests need.
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    error = JsonStrictValidator(SchemaVersion.V1_5).validate_str(json.dumps(doc))
    assert error is None, str(error)


def sbom_components(doc: dict) -> dict[str, dict]:
    return {c["bom-ref"]: c for c in doc["components"]}


def serve_in_thread(server: socketserver.BaseServer) -> None:
    """Serve on a daemon thread that notices `server.shutdown()` within 0.05 s (serve_forever's
    default, 0.5 s, was half a second of each such test's teardown)."""
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()


@contextlib.contextmanager
def started_as_lambda_base(client, image: str) -> Iterator[tuple[Any, str]]:
    """`image` started as provided:al2023 starts it: no AWS_LAMBDA_RUNTIME_API, so its
    /lambda-entrypoint.sh runs the AWS RIE in the image. Yields the container and the RIE's
    invoke URL on a free loopback port; the container is removed afterwards."""
    container = client.containers.run(
        image,
        environment={"AWS_LAMBDA_FUNCTION_TIMEOUT": "60"},
        ports={"8080/tcp": ("127.0.0.1", None)},
        detach=True,
    )
    try:
        container.reload()
        port = container.ports["8080/tcp"][0]["HostPort"]
        yield container, f"http://127.0.0.1:{port}/2015-03-31/functions/function/invocations"
    finally:
        container.remove(force=True)


def invoke_rie(url: str, payload: bytes, attempts: int = 50) -> dict:
    """POST one event to an AWS RIE's invoke endpoint, waiting for it to listen first."""
    for _ in range(attempts):
        try:
            with urllib.request.urlopen(urllib.request.Request(url, payload), timeout=90) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as e:
            raise AssertionError(f"RIE answered {e.code}: {e.read()!r}") from None
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.2)
    raise AssertionError(f"RIE did not answer at {url}")
