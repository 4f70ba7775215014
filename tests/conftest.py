"""Test harness: a real PostgreSQL, one migrated database, clones where a test needs one.

The fixtures live in plugin modules, each with its own docstring:

- ``fix_server``: which server the session runs on (``PYDAL_TEST_DSN``, Docker, or the
  embedded PostgreSQL), the report header, and the ``docker`` / ``timescale`` markers;
- ``fix_db``: the migrated template, the shared rolled-back ``conn`` / ``aconn``, and the
  clones (``dsn``, ``own_db``, ``empty_dsn``, ``module_dsn``) for tests that commit;
- ``fix_citus``: a Citus cluster in ``PYDAL_CITUS_DSN`` and the ``citus`` marker.
"""

pytest_plugins = ["fix_server", "fix_db", "fix_citus"]
