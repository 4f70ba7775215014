"""pydal_lite: a raw-SQL data access layer for PostgreSQL (TimescaleDB where present).

- :mod:`pydal_lite.migrate`: the version-table migration runner for ``schema/``
- :mod:`pydal_lite.queries` / :mod:`pydal_lite.aqueries`: named queries from ``queries/``
- :mod:`pydal_lite.connection`: connections, pools, transaction scopes
- :mod:`pydal_lite.operation`: multi-query operations, one source for sync and async
- domains: :mod:`~pydal_lite.agent_runtime`, :mod:`~pydal_lite.planning_metrics`,
  :mod:`~pydal_lite.pipeline_cache`, :mod:`~pydal_lite.background_tasks`,
  :mod:`~pydal_lite.event_planning`, :mod:`~pydal_lite.shrinkage`
- :mod:`pydal_lite.import_sqlite`: legacy SQLite data into the migrated schema
"""

from .connection import (
    Settings,
    aconnect,
    atransaction,
    connect,
    create_async_pool,
    create_pool,
    transaction,
)
from .errors import InvalidInput, InvalidTransition, MigrationError, NotFound, PydalError

__version__ = "0.1.0"

__all__ = [
    "InvalidInput",
    "InvalidTransition",
    "MigrationError",
    "NotFound",
    "PydalError",
    "Settings",
    "__version__",
    "aconnect",
    "atransaction",
    "connect",
    "create_async_pool",
    "create_pool",
    "transaction",
]
