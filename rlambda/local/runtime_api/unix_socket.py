"""The Runtime API on a Unix socket, for a launcher whose runtimes have no network
(model.API_SOCKET_ENV): the runtime's routes only, in a private directory the launcher
bind-mounts into the container."""

from __future__ import annotations

import shutil
import socketserver
import tempfile
import threading
from http import HTTPStatus
from pathlib import Path

from rlambda.local.http_io import read_body

from .http_handler import RuntimeApiHandler
from .model import RuntimeApiError


class _UnixSocketHandler(RuntimeApiHandler):
    """The runtime's side only: the container reaches this socket, and Lambda's Runtime API
    has no invoke route (a function cannot invoke itself through it)."""

    disable_nagle_algorithm = False  # TCP_NODELAY is not an option of a Unix socket

    def _invoke(self) -> None:
        read_body(self, 0)
        self.send(HTTPStatus.NOT_FOUND, b'{"message":"Not Found"}')


class _UnixSocketServer(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True


class UnixSocketApi:
    """Serves `emulator`'s Runtime API routes on `path` until close(), which also removes
    the socket's directory."""

    def __init__(self, emulator: object) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="rlambda-api-"))
        self.path = self._dir / "api.sock"
        try:
            server = _UnixSocketServer(str(self.path), _UnixSocketHandler)
        except OSError as exc:
            shutil.rmtree(self._dir, ignore_errors=True)
            raise RuntimeApiError(
                f"cannot serve the Runtime API on the Unix socket {self.path}: {exc} (a socket's "
                "path has at most 107 bytes: set TMPDIR to a shorter directory)"
            ) from exc
        server.emulator = emulator  # type: ignore[attr-defined]
        self._server = server
        try:
            # The runtime connects as uid 993: it may traverse the directory (not list it,
            # and the name is random) and connect to the socket.
            self.path.chmod(0o666)
            self._dir.chmod(0o711)
        except BaseException:
            server.server_close()
            shutil.rmtree(self._dir, ignore_errors=True)
            raise
        # A short poll interval only makes close() quick; requests never wait on it.
        threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        shutil.rmtree(self._dir, ignore_errors=True)
