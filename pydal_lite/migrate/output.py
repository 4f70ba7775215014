"""What the command line prints: tables and JSON, written so a closed pipe stops nothing.

``pydal-migrate up | head -3`` closes standard output after three lines. Writing to it
then raises ``BrokenPipeError``; :class:`Output` swallows that, drops the rest of the
output and lets the run finish, and the CLI says so on standard error at the end.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from .bookkeeping import HistoryEvent
from .plan import VersionStatus

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_DRIFT = 3
EXIT_CONNECT = 4
EXIT_BACKUP = 5
EXIT_PENDING = 6


class Output:
    """Line-oriented stdout/stderr that never raises for a reader that went away."""

    def __init__(self, stdout: TextIO | None = None, stderr: TextIO | None = None) -> None:
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr
        self.dropped = 0  # lines not written because standard output was closed
        self._closed = False

    def _write(self, stream: TextIO, text: str) -> bool:
        try:
            stream.write(text + "\n")
            stream.flush()
            return True
        except (BrokenPipeError, ValueError):  # ValueError: the stream was closed
            if stream is self.stdout:
                self._closed = True
                _silence(stream)
            return False
        except OSError:
            return False

    def line(self, text: str) -> None:
        """One line on standard output."""
        if self._closed or not self._write(self.stdout, text):
            self.dropped += 1

    def err(self, text: str) -> None:
        """One line on standard error."""
        self._write(self.stderr, text)

    def json(self, value: Any) -> None:
        for text in json.dumps(value, indent=2).splitlines():
            self.line(text)

    def closing_note(self) -> None:
        if self.dropped:
            self.err(
                f"note: standard output was closed early (broken pipe); {self.dropped} "
                "line(s) of output were dropped, the run itself was not interrupted"
            )


def fail(io: Output, as_json: bool, code: int, message: str, **extra: Any) -> int:
    """Report an error on stderr (and as a JSON object with ``--json``); return ``code``."""
    io.err(f"error: {message}")
    if as_json:
        io.json({"ok": False, "exit_code": code, "error": message, **extra})
    return code


def _silence(stream: TextIO) -> None:
    # Point the descriptor at /dev/null so the interpreter's final flush does not
    # raise again (the recipe of Python's signal module documentation).
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
    except (OSError, ValueError):
        pass


def table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> list[str]:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [fmt.format(*header), fmt.format(*("-" * w for w in widths))]
    lines += [fmt.format(*row) for row in rows]
    return [line.rstrip() for line in lines]


def fmt_ms(ms: float | None) -> str:
    return "" if ms is None else f"{ms:.0f} ms"


def status_lines(states: list[VersionStatus]) -> list[str]:
    rows = [
        (
            s.version,
            s.name,
            s.state,
            s.applied_at.strftime("%Y-%m-%d %H:%M:%S%z") if s.applied_at else "",
            fmt_ms(s.execution_ms),
        )
        for s in states
    ]
    return table(rows, ("version", "name", "state", "applied_at", "duration"))


def history_lines(events: list[HistoryEvent]) -> list[str]:
    if not events:
        return ["no migration events recorded"]
    rows = [
        (
            str(e.id),
            e.happened_at.strftime("%Y-%m-%d %H:%M:%S%z"),
            e.direction,
            e.version,
            e.name,
            fmt_ms(e.execution_ms),
            e.actor,
        )
        for e in events
    ]
    return table(rows, ("#", "at", "event", "version", "name", "duration", "by"))
