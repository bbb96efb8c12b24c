"""A TCP relay in front of the test registry that fails on cue, by bytes relayed (no timers).

`stay_down=True`: once `cut_after` bytes have gone upstream, every connection is cut and the
listener closed: the registry is gone mid-push and stays gone (connection refused).
`stay_down=False`: the connections open at that moment are cut once; new ones are relayed
again, like a transient network failure.
"""

import contextlib
import socket
import threading


class FailingRelay:
    def __init__(self, target_port: int, cut_after: int, *, stay_down: bool) -> None:
        self.target = ("127.0.0.1", target_port)
        self.cut_after = cut_after
        self.stay_down = stay_down
        self.relayed = 0
        self.cuts = 0
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed: the registry is "down"
            upstream = socket.create_connection(self.target)
            with self._lock:
                self._open += [client, upstream]
            threading.Thread(target=self._pipe, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, False), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, counts: bool) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
                if counts and self._count(len(data)):
                    self._cut()
                    return
        for s in (source, sink):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def _count(self, n: int) -> bool:
        with self._lock:
            before = self.relayed
            self.relayed += n
            # Cut once when the threshold is crossed; with stay_down, that is the end anyway.
            return before < self.cut_after <= self.relayed

    def _cut(self) -> None:
        with self._lock:
            self.cuts += 1
            if self.stay_down:
                self.close()
            for s in self._open:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
            self._open.clear()

    def close(self) -> None:
        # shutdown() wakes the thread blocked in accept(); close() alone would not.
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self._listener.close()
