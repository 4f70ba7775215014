"""The runner's own tables: names and the DDL that creates them (with their comments)."""

from __future__ import annotations

VERSION_TABLE = "schema_migrations"
HISTORY_TABLE = "schema_migration_history"
PROGRESS_TABLE = "schema_migration_progress"
RUNNER_TABLES = (VERSION_TABLE, HISTORY_TABLE, PROGRESS_TABLE)
DIRECTIONS = ("up", "down", "accept", "forget", "baseline", "failed")
VERSION_COLUMNS = {"version", "name", "checksum", "applied_at", "applied_by", "execution_ms"}
DIRECTION_CHECK = "check (direction in ({}))".format(", ".join(f"'{d}'" for d in DIRECTIONS))

# {versions}, {history} and {progress} become schema-qualified names: a migration that
# changes search_path must not make the runner lose its own tables.
CREATE_VERSIONS = [
    """create table {versions} (
    version      text primary key,
    name         text not null,
    checksum     text not null,
    applied_at   timestamptz not null default now(),
    applied_by   text not null,
    execution_ms double precision not null
)""",
    "comment on table {versions} is"
    " 'One row per applied migration file of schema/; written by python -m pydal_lite.migrate'",
    "comment on column {versions}.checksum is 'SHA-256 of the file''s up part when applied'",
    "comment on column {versions}.version is 'The file''s number (NNNN of NNNN_name.sql)'",
    "comment on column {versions}.name is 'The file''s name without number and .sql'",
    "comment on column {versions}.applied_at is 'When the up part committed'",
    "comment on column {versions}.applied_by is 'Database role (OS user@host) that applied it'",
    "comment on column {versions}.execution_ms is 'How long the up part took, in milliseconds'",
]
CREATE_HISTORY = [
    f"""create table {{history}} (
    id           bigint generated always as identity primary key,
    version      text not null,
    name         text not null,
    direction    text not null constraint schema_migration_history_direction_check
                     {DIRECTION_CHECK},
    checksum     text not null,
    happened_at  timestamptz not null default now(),
    actor        text not null,
    execution_ms double precision not null
)""",
    "comment on table {history} is"
    " 'Every up, down, failed, accepted-drift, forget and baseline event of the migration"
    " runner, oldest first'",
    "comment on column {history}.direction is"
    " 'up, down, accept (drift accepted), forget (an applied version whose file is gone,"
    " forgotten by name), baseline (adopted after a verified catalog comparison)"
    " or failed (the part failed; nothing recorded as applied)'",
    "comment on column {history}.id is 'Event number, in the order the events happened'",
    "comment on column {history}.version is 'The file''s number (NNNN of NNNN_name.sql)'",
    "comment on column {history}.name is 'The file''s name without number and .sql'",
    "comment on column {history}.checksum is 'SHA-256 of the file''s up part at the event'",
    "comment on column {history}.happened_at is 'When the event was recorded'",
    "comment on column {history}.actor is 'Database role (OS user@host) that ran the runner'",
    "comment on column {history}.execution_ms is 'How long the part took, in milliseconds'",
    "comment on constraint schema_migration_history_direction_check on {history} is"
    " 'direction is one of the runner''s event kinds (see the column comment)'",
]
CREATE_PROGRESS = [
    """create table {progress} (
    version     text not null,
    direction   text not null constraint schema_migration_progress_direction_check
                    check (direction in ('up', 'down')),
    statement   integer not null,
    sha256      text not null,
    state       text not null constraint schema_migration_progress_state_check
                    check (state in ('started', 'done')),
    line        integer not null,
    updated_at  timestamptz not null default now(),
    constraint schema_migration_progress_pkey primary key (version, direction, statement)
)""",
    "comment on table {progress} is"
    " 'Statements of a transaction:false part that a run started or finished; empty unless a"
    " run stopped inside such a part, which the next run resumes from here'",
    "comment on column {progress}.statement is"
    " 'Index of the statement in the part, 0 for the first'",
    "comment on column {progress}.state is"
    " 'started: sent alone, outcome unknown if the run died; done: completed'",
    "comment on column {progress}.version is 'The migration file''s number'",
    "comment on column {progress}.direction is 'Which part: up or down'",
    "comment on column {progress}.sha256 is 'SHA-256 of the statement text, to resume safely'",
    "comment on column {progress}.line is 'Line of the statement in the file'",
    "comment on column {progress}.updated_at is 'When the state was last written'",
    "comment on constraint schema_migration_progress_direction_check on {progress} is"
    " 'direction is the part being run: up or down'",
    "comment on constraint schema_migration_progress_state_check on {progress} is"
    " 'state is started (sent, outcome unknown) or done'",
]
