"""rlambda-relay (rlambda/local/api_relay.c) as a host process, and how it is built and cached.

The Docker tests that run it inside network-less containers are in test_local_lambda.py and
test_aws_rie.py.
"""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import socket
import stat
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from rlambda.errors import JobError
from rlambda.local import api_relay
from rlambda.local.aws_rie.function import AwsRie, _UnixHTTPConnection
from rlambda.local.docker_launcher import DockerRuntime
from rlambda.local.runtime_api import RuntimeApiError, RuntimeApiServer
from rlambda.local.runtime_api.model import API_SOCKET_ENV
from rlambda.sources.fetch import sha256_file


@pytest.fixture(scope="module")
def relay(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return api_relay.relay_binary(cache=tmp_path_factory.mktemp("cache"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class UnixServer:
    """A Unix-socket server for one test, each connection handled in its own thread.

    close() wakes the accepting thread (shutdown), ends every connection and joins every
    thread before the socket is closed. A thread still in accept() when its descriptor is closed
    accepts on whatever socket a later test is given that number: moto's server got it, and a
    handler here read its reset request, which then hung for 10 s.
    """

    def __init__(self, path: Path, handle) -> None:
        self.handle = handle
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        self.sock.listen()
        self.connections: list[socket.socket] = []
        self.threads: list[threading.Thread] = []
        self.acceptor = threading.Thread(target=self._accept, daemon=True)
        self.acceptor.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections.append(conn)
            thread = threading.Thread(target=self.handle, args=(conn,), daemon=True)
            self.threads.append(thread)
            thread.start()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes accept() (EINVAL)
        self.acceptor.join(5)
        for conn in self.connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)  # wakes a handler's recv()
        for thread in self.threads:
            thread.join(5)
        assert not self.acceptor.is_alive() and not any(t.is_alive() for t in self.threads)
        self.sock.close()
        for conn in self.connections:
            conn.close()


def reverse_until_eof(conn: socket.socket) -> None:
    """Read everything (the client half-closes), answer it reversed, close."""
    data = bytearray()
    while chunk := conn.recv(65536):
        data += chunk
    conn.sendall(bytes(reversed(data)))
    conn.close()


def wait_listening(port: int) -> None:
    deadline = time.monotonic() + 5
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def test_forwards_both_ways_with_half_close_then_dies_with_the_command(
    relay: Path, tmp_path: Path
) -> None:
    server = UnixServer(tmp_path / "api.sock", reverse_until_eof)
    port = free_port()
    gate = tmp_path / "gate"
    # The command waits until the test lets it go, then exits 7.
    command = ["sh", "-c", f"while [ ! -e {gate} ]; do sleep 0.02; done; exit 7"]
    process = subprocess.Popen(
        [str(relay), f"tcp:127.0.0.1:{port}", f"unix:{tmp_path / 'api.sock'}", "--", *command]
    )
    try:
        wait_listening(port)
        payload = os.urandom(3 * 1024 * 1024)  # far beyond one buffer: partial writes
        with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
            sender = threading.Thread(
                target=lambda: (conn.sendall(payload), conn.shutdown(socket.SHUT_WR))
            )
            sender.start()
            received = bytearray()
            while chunk := conn.recv(65536):
                received += chunk
            sender.join()
        assert bytes(received) == bytes(reversed(payload))
        gate.touch()
        assert process.wait(timeout=10) == 7  # the command's own status
    finally:
        process.kill()
        server.close()
    # The forwarding child went with it: nothing listens any more.
    deadline = time.monotonic() + 5
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except ConnectionRefusedError:
            break
        assert time.monotonic() < deadline, "the relay outlived its command"
        time.sleep(0.02)


def test_a_command_that_cannot_run_is_reported_as_invalid_entrypoint(
    relay: Path, tmp_path: Path
) -> None:
    requests: list[bytes] = []

    def runtime_api(conn: socket.socket) -> None:
        data = b""
        while b"\r\n\r\n" not in data or not data.endswith(b"}"):
            if not (chunk := conn.recv(65536)):
                break
            data += chunk
        requests.append(data)
        conn.sendall(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        conn.close()

    server = UnixServer(tmp_path / "api.sock", runtime_api)
    try:
        listen, target = f"tcp:127.0.0.1:{free_port()}", f"unix:{tmp_path / 'api.sock'}"
        missing = subprocess.run(
            [str(relay), "-e", listen, target, "--", "/no/such/bootstrap"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    finally:
        server.close()
    assert missing.returncode == 127
    assert "fork/exec /no/such/bootstrap: No such file or directory" in missing.stderr
    [request] = requests
    head, _, body = request.partition(b"\r\n\r\n")
    assert head.startswith(b"POST /2018-06-01/runtime/init/error HTTP/1.1\r\n")
    assert b"Lambda-Runtime-Function-Error-Type: Runtime.InvalidEntrypoint" in head
    assert body == (
        b'{"errorMessage":"fork/exec /no/such/bootstrap: No such file or directory",'
        b'"errorType":"Runtime.InvalidEntrypoint"}'
    )


def test_bad_arguments_are_refused(relay: Path) -> None:
    usage = subprocess.run([str(relay), "tcp:1.2.3.4:1"], capture_output=True, text=True)
    assert usage.returncode == 111 and "usage: rlambda-relay" in usage.stderr
    bad = subprocess.run(
        [str(relay), "udp:x", "unix:/x", "--", "true"], capture_output=True, text=True
    )
    assert bad.returncode == 111 and "bad address udp:x" in bad.stderr


def test_compiled_once_per_source_and_cached(tmp_path: Path, monkeypatch) -> None:
    first = api_relay.relay_binary(cache=tmp_path)
    built_at = first.stat().st_mtime_ns
    assert api_relay.relay_binary(cache=tmp_path) == first
    assert first.stat().st_mtime_ns == built_at  # not compiled again
    changed = tmp_path / "api_relay.c"
    changed.write_text(api_relay.SOURCE.read_text() + "/* changed */\n")
    monkeypatch.setattr(api_relay, "SOURCE", changed)
    second = api_relay.relay_binary(cache=tmp_path)
    assert second != first and second.is_file()


def test_the_cached_binary_is_hashed_at_every_use_and_rebuilt_when_changed(
    tmp_path: Path, capsys
) -> None:
    built = api_relay.relay_binary(cache=tmp_path)
    record = built.with_name(f"{built.name}.sha256")
    original = built.read_bytes()
    assert record.read_text().strip() == sha256_file(built)
    capsys.readouterr()
    # Someone with write access to the cache swaps the binary, keeping its name.
    built.write_bytes(b"#!/bin/sh\necho pwned\n")
    again = api_relay.relay_binary(cache=tmp_path)
    assert again == built and again.read_bytes() == original
    err = capsys.readouterr().err
    assert "no longer matches the sha256 recorded when it was built" in err
    assert "removed and built again" in err
    # A binary from before hashes were recorded (no record) is built again too.
    record.unlink()
    api_relay.relay_binary(cache=tmp_path)
    assert "has no recorded sha256" in capsys.readouterr().err
    assert record.read_text().strip() == sha256_file(built)
    # An untouched one is used as is, silently.
    api_relay.relay_binary(cache=tmp_path)
    assert capsys.readouterr().err == ""


def test_no_compiler_or_no_static_libc_says_what_to_install(tmp_path: Path, monkeypatch) -> None:
    broken = tmp_path / "api_relay.c"
    broken.write_text("#include <no-such-header.h>\n")
    monkeypatch.setattr(api_relay, "SOURCE", broken)
    with pytest.raises(JobError, match=r"no-such-header\.h") as caught:
        api_relay.relay_binary(cache=tmp_path)
    assert "apt-get install gcc libc6-dev" in str(caught.value)
    assert not list((tmp_path / "api-relay").iterdir())  # nothing half-built left
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(JobError, match="install gcc and libc6-dev"):
        api_relay.relay_binary(cache=tmp_path)


def test_an_engine_of_another_architecture_is_refused(monkeypatch) -> None:
    monkeypatch.setattr(api_relay.platform, "machine", lambda: "x86_64")
    api_relay.check_engine_architecture("x86_64")
    api_relay.check_engine_architecture("amd64")
    with pytest.raises(JobError, match="engine runs on aarch64 but this machine is x86_64"):
        api_relay.check_engine_architecture("aarch64")


def test_a_binary_for_another_architecture_names_the_likely_cause(
    relay: Path, tmp_path: Path
) -> None:
    # /bin/true with its ELF e_machine set to VAX (75): what an arm64 entrypoint is to an x86_64
    # kernel without QEMU registered with binfmt_misc. Not aarch64 itself: on a host with
    # qemu-aarch64 registered that binary would run (and exit 255). Debian's qemu-user-static
    # registers no handler for VAX, so this holds on both kinds of host.
    foreign = tmp_path / "bootstrap"
    elf = bytearray(Path("/bin/true").read_bytes())
    elf[18:20] = (75).to_bytes(2, "little")
    foreign.write_bytes(bytes(elf))
    foreign.chmod(0o755)
    ran = subprocess.run(
        [str(relay), f"tcp:127.0.0.1:{free_port()}", "unix:/nonexistent", "--", str(foreign)],
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert ran.returncode == 126
    assert "Exec format error (a binary for another architecture?" in ran.stderr
    assert "QEMU registered with binfmt_misc" in ran.stderr


class _NoNetworkLauncher:
    """A launcher that asks for the Unix socket (starts nothing: these tests invoke nothing)."""

    api_socket = True

    def start(self, env):
        raise AssertionError("no invoke here")


def test_the_emulator_serves_the_runtime_api_on_a_private_unix_socket() -> None:
    server = RuntimeApiServer(_NoNetworkLauncher(), quiet=True).start()
    try:
        path = server.api_socket
        assert path is not None and path.is_socket()
        assert stat.S_IMODE(path.stat().st_mode) == 0o666
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o711
        connection = _UnixHTTPConnection(path, timeout=5)
        connection.request("POST", "/2015-03-31/functions/function/invocations", b"{}")
        assert connection.getresponse().status == 404  # no invoke route on the runtime's side
        connection.close()
    finally:
        server.close()
    assert not path.parent.exists()


def test_a_socket_path_too_long_is_a_clear_error_and_leaves_nothing(
    tmp_path: Path, monkeypatch
) -> None:
    long_dir = tmp_path / ("d" * 100)
    long_dir.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(long_dir))
    with pytest.raises(RuntimeApiError, match="at most 107 bytes: set TMPDIR"):
        RuntimeApiServer(_NoNetworkLauncher(), quiet=True).start()
    assert not list(long_dir.iterdir())


class _Images:
    def get(self, image: str) -> SimpleNamespace:
        config = {"Entrypoint": ["/bootstrap"], "Cmd": ["h.f"]}
        native = {"x86_64": "amd64", "aarch64": "arm64"}[platform.machine()]
        return SimpleNamespace(attrs={"Config": config, "Os": "linux", "Architecture": native})


class _Engine:
    """What DockerRuntime asks of the engine before it starts a container."""

    images = _Images()

    def info(self) -> dict:
        return {"Architecture": platform.machine()}


def _mounted_relay(options: dict) -> Path:
    [host] = [h for h, m in options["volumes"].items() if m["bind"] == api_relay.RELAY_PATH]
    return Path(host)


@pytest.mark.parametrize("emulator", ["ours", "aws"])
def test_every_container_start_hashes_the_relay_it_mounts(
    emulator: str, cache: Path, tmp_path: Path, capsys
) -> None:
    """`build.py test` (either emulator) and `serve` mount the cached relay into each container
    they start: each start hashes it again, so a binary swapped between two starts of one run
    is never mounted."""
    runtime = DockerRuntime("img", client=_Engine())
    if emulator == "ours":
        env = {API_SOCKET_ENV: str(tmp_path / "api.sock"), "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512"}

        def options() -> dict:
            return runtime.container_options(env)
    else:
        rie = AwsRie("img", client=_Engine())
        rie.sandbox = runtime

        def options() -> dict:
            return rie.container_options(tmp_path / "rie", tmp_path)

    first = _mounted_relay(options())
    original = first.read_bytes()
    first.write_bytes(b"#!/bin/sh\necho pwned\n")  # between two starts
    capsys.readouterr()
    again = _mounted_relay(options())
    assert again == first and again.read_bytes() == original
    assert "no longer matches the sha256 recorded" in capsys.readouterr().err
