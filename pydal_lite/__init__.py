"""pydal_lite: a raw-SQL data access layer for PostgreSQL (TimescaleDB where present).

- :mod:`pydal_lite.migrate`: the version-table migration runner for ``schema/``
- :mod:`pydal_lite.queries` / :mod:`pydal_lite.aqueries`: named queries from ``queries/``
- :mod:`pydal_lite.connection`: connections, pools, transaction scopes; reads from a
  standby with :mod:`pydal_lite.pools`, fault errors from :mod:`pydal_lite.faults`,
  bounded retries with :mod:`pydal_lite.retry`
- :mod:`pydal_lite.operation`: multi-query operations, one source for sync and async
- domains: :mod:`~pydal_lite.agent_runtime`, :mod:`~pydal_lite.planning_metrics`,
  :mod:`~pydal_lite.pipeline_cache`, :mod:`~pydal_lite.background_tasks`,
  :mod:`~pydal_lite.event_planning`, :mod:`~pydal_lite.shrinkage`
- :mod:`pydal_lite.import_sqlite`: legacy SQLite data into the migrated schema
"""

from .connection import (
    AsyncPool,
    Pool,
    Settings,
    aconnect,
    atransaction,
    connect,
    create_async_pool,
    create_pool,
    transaction,
)
from .errors import (
    CannotConnect,
    CommitOutcomeUnknown,
    ConnectionFailure,
    ConnectionLost,
    InvalidInput,
    InvalidTransition,
    MigrationError,
    NotFound,
    PoolExhausted,
    PydalError,
)
from .faults import translate_error
from .retry import arun_transaction, run_transaction

__version__ = "0.1.0"

__all__ = [
    "AsyncPool",
    "CannotConnect",
    "CommitOutcomeUnknown",
    "ConnectionFailure",
    "ConnectionLost",
    "InvalidInput",
    "InvalidTransition",
    "MigrationError",
    "NotFound",
    "Pool",
    "PoolExhausted",
    "PydalError",
    "Settings",
    "__version__",
    "aconnect",
    "arun_transaction",
    "atransaction",
    "connect",
    "create_async_pool",
    "create_pool",
    "run_transaction",
    "transaction",
    "translate_error",
]
