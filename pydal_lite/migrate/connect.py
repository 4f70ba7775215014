"""Open the runner's connection, waiting for the server if asked to."""

from __future__ import annotations

import time
from typing import Any

import psycopg

from ..dsn import connect_error
from ..errors import ConfigurationError

APPLICATION_NAME = "pydal_lite.migrate"


def connect(
    dsn: str,
    *,
    wait: float = 0.0,
    connect_timeout: float = 10.0,
    application_name: str = APPLICATION_NAME,
) -> psycopg.Connection[Any]:
    """An autocommit connection; retry for up to ``wait`` seconds while the server is not up."""
    deadline = time.monotonic() + wait
    delay = 0.2
    while True:
        try:
            return psycopg.connect(
                dsn,
                autocommit=True,
                application_name=application_name,
                connect_timeout=max(1, round(connect_timeout)),
            )
        except psycopg.ProgrammingError:
            # libpq's parse error quotes the string, password included
            raise ConfigurationError("invalid connection string (not shown)") from None
        except psycopg.OperationalError as exc:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise psycopg.OperationalError(connect_error(dsn, exc)) from None
            time.sleep(min(delay, remaining))
            delay = min(delay * 2, 2.0)
