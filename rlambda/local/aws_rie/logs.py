"""RIE's own log: which invokes it started, any (re-)init within each, and their REPORT lines.

RIE prints START/REPORT lines, not a report per invoke on the invoke side, so AwsRie follows
the container's output (function.py) and reads them here.
"""

from __future__ import annotations

import contextlib
import re
import threading
from dataclasses import dataclass
from typing import TextIO

import docker.errors
from docker.models.containers import Container

_START = re.compile(r"^START RequestId: (?P<id>\S+)")
_REPORT = re.compile(r"^REPORT RequestId: (?P<id>\S+)\t(?P<rest>.*)$")
_FIELD = re.compile(r"(?P<name>[A-Za-z ]+): (?P<value>[\d.]+) (ms|MB)")
# rapid's own log, normal mode: "INIT START(type: on-demand, phase: init)" (phase: invoke when
# it re-initialises after a crash), then "INIT REPORT(durationMs: 250.02)"; the "Init
# Duration" in its REPORT line is not the init.
_INIT_REPORT = re.compile(r"INIT REPORT\(durationMs: (?P<ms>[\d.]+)\)")


@dataclass
class Logged:
    """One invoke as RIE logged it: START, any init within it, and REPORT (none when the
    runtime exited during the invoke)."""

    request_id: str
    init_ms: float | None = None
    fields: dict[str, float] | None = None


class LogFollower:
    """Follows a container's output: copies it to `output`, keeps what START/REPORT say."""

    def __init__(self, container: Container, output: TextIO | None) -> None:
        self._cond = threading.Condition()
        self._invokes: list[Logged] = []
        self._output = output
        # Attached before the container starts, so no line is lost: attaching later (logs=True
        # replays what was written) lost the first START now and then (seen once RIE answered
        # quickly through the relay: the first invoke's START came between replay and stream).
        # attach, not logs(follow=True): the json-file log is followed about once a second,
        # attach streams the container's output as it is written.
        self._stream = container.attach(stdout=True, stderr=True, stream=True)
        threading.Thread(target=self._follow, daemon=True).start()

    def wait_for(self, count: int, timeout: float) -> list[Logged]:
        """The first `count` invokes, once the last has its REPORT (or `timeout` passed)."""

        def done() -> bool:
            return len(self._invokes) > count or (
                len(self._invokes) == count and self._invokes[-1].fields is not None
            )

        with self._cond:
            self._cond.wait_for(done, timeout=timeout)
            return list(self._invokes[:count])

    def _follow(self) -> None:
        with contextlib.suppress(docker.errors.APIError, OSError, ValueError):
            pending = ""
            for chunk in self._stream:
                text = chunk.decode("utf-8", "replace")
                if self._output is not None:
                    self._output.write(text)
                    self._output.flush()
                pending += text
                *lines, pending = pending.split("\n")
                for line in lines:
                    self._line(line)

    def _line(self, line: str) -> None:
        with self._cond:
            if found := _START.match(line):
                self._invokes.append(Logged(found["id"]))
            elif (found := _INIT_REPORT.search(line)) and self._invokes:
                current = self._invokes[-1]
                current.init_ms = (current.init_ms or 0.0) + float(found["ms"])
            elif found := _REPORT.match(line):
                fields = {
                    m["name"].strip(): float(m["value"]) for m in _FIELD.finditer(found["rest"])
                }
                for logged in reversed(self._invokes):
                    if logged.request_id == found["id"]:
                        logged.fields = fields
                        break
            else:
                return
            self._cond.notify_all()
