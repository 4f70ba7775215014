"""Where rejected rows go: raised as the error that stops the import, or written to a file."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, TextIO

from .errors import BadRowError


class Rejecter(Protocol):
    """Takes a rejected row: raises it, or records it and returns."""

    @property
    def skipping(self) -> bool:
        """True when rejected rows are recorded and the import goes on."""
        ...

    def reject(self, error: BadRowError) -> None: ...


class BadRows:
    """Where rejected rows go: raise (the default) or append to a JSON-lines file."""

    def __init__(self, path: str | Path | None) -> None:
        self.path = Path(path) if path is not None else None
        self.count = 0
        self._file: TextIO | None = None
        if self.path is not None:
            self._file = self.path.open("w", encoding="utf-8")

    @property
    def skipping(self) -> bool:
        return self._file is not None

    def reject(self, error: BadRowError) -> None:
        """Raise ``error``, or record it and return when skipping bad rows."""
        if self._file is None:
            raise error
        self._file.write(error.as_json() + "\n")
        self.count += 1

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
