"""Rows per table as an import goes: a bar on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """Reports nothing; the base of the console reporter and of test doubles."""

    def start(self, table: str, total: int | None) -> None:
        """A table begins; ``total`` is its source row count when known."""

    def advance(self, rows: int) -> None:
        """``rows`` more source rows of the current table were handled."""

    def finish(self) -> None:
        """The current table is done."""

    def message(self, text: str) -> None:
        """A note for the user (naive timestamps, ignored columns)."""


class ConsoleProgress(Progress):
    """Writes to ``stream`` (stderr): a redrawn bar on a TTY, a line per tenth otherwise."""

    def __init__(self, stream: TextIO | None = None, *, interval: float = 0.2) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty()
        self.interval = interval
        self.table = ""
        self.total: int | None = None
        self.done = 0
        self._last_draw = 0.0
        self._last_tenth = -1
        self._started = 0.0

    def start(self, table: str, total: int | None) -> None:
        self.table, self.total, self.done = table, total, 0
        self._last_tenth = 0
        self._started = time.monotonic()
        if self.tty:
            self._draw()
        else:
            of = f" {total:,}" if total is not None else ""
            self._line(f"{table}: importing{of} rows")

    def advance(self, rows: int) -> None:
        self.done += rows
        if self.tty:
            now = time.monotonic()
            if now - self._last_draw >= self.interval:
                self._draw()
        elif self.total:
            tenth = min(10, self.done * 10 // self.total)
            if tenth > self._last_tenth and tenth < 10:
                self._last_tenth = tenth
                self._line(f"{self.table}: {self.done:,}/{self.total:,} rows ({tenth * 10}%)")

    def finish(self) -> None:
        seconds = time.monotonic() - self._started
        if self.tty:
            self._draw()
            self.stream.write("\n")
            self.stream.flush()
        else:
            self._line(f"{self.table}: {self.done:,} rows done in {seconds:.1f} s")

    def message(self, text: str) -> None:
        self._line(text)

    def _draw(self) -> None:
        self._last_draw = time.monotonic()
        if self.total:
            frac = min(1.0, self.done / self.total)
            bar = "#" * int(frac * 30)
            text = f"{self.table:<24} [{bar:<30}] {frac:4.0%} {self.done:,}/{self.total:,}"
        else:
            text = f"{self.table:<24} {self.done:,} rows"
        self.stream.write("\r" + text + "\x1b[K")
        self.stream.flush()

    def _line(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()
