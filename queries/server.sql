-- Server facts for health checks and test report headers.

-- name: get_server_info()^
-- One row: server version string and number, current database and user, and the
-- installed TimescaleDB version (null without it). Catalog lookups, no index needed.
select
    version() as version,
    current_setting('server_version_num')::int as version_num,
    current_database() as database,
    current_user as user,
    (
        select extversion
        from pg_extension
        where extname = 'timescaledb'
    ) as timescaledb_version;

-- name: get_schema_version()$
-- The newest applied migration version, or null before the first migration.
-- Served by schema_migrations_pkey (backward scan, one row).
select version
from schema_migrations
order by version desc
limit 1;

-- name: list_extensions()
-- Installed extensions and their versions, by name. A small catalog scan.
select
    extname as name,
    extversion as version
from pg_extension
order by extname;
