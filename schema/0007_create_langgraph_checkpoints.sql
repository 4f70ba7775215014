-- LangGraph state tables (seed 003, "v1.0.0 - LangGraph state management tables"),
-- exactly as langgraph-checkpoint-postgres==3.2.0 creates them: the MIGRATIONS list in
-- langgraph/checkpoint/postgres/base.py, ten entries, v = 0..9.
--
-- We create the package's final schema here and record v = 0..9 in its own counter,
-- checkpoint_migrations, so that PostgresSaver.setup() finds nothing to do on a
-- database migrated by us (it runs MIGRATIONS[0], a create-if-not-exists of the
-- counter table, then only the entries above max(v)). The package version is pinned in
-- pyproject.toml (test extra); tests/test_langgraph_checkpoints.py fails when the
-- installed package has a different number of MIGRATIONS, and compares this file's
-- catalog with the one setup() builds on an empty database.
--
-- How the package's ten steps map to this file:
--   v0-v3  the four create table statements, column for column
--   v4     "alter table checkpoint_blobs alter column blob drop not null": blob is
--          created nullable below
--   v5     "select 1" (a placeholder the package keeps so its counter stays aligned)
--   v6-v8  "create index concurrently if not exists <table>_thread_id_idx": plain
--          create index here, same names and definitions. This migration runs in one
--          transaction (concurrently cannot) and the tables are new and empty, so there
--          is nothing to wait for; atomicity is worth more than non-blocking builds.
--   v9     "alter table checkpoint_writes add column if not exists task_path text not
--          null default ''": created as the last column, where the package adds it
--
-- Identifiers, types, defaults, nullability and key column order are the package's;
-- only the spelling differs (lowercase, constraint names written out as PostgreSQL
-- would generate them, no "if not exists": our version table is the guard).
--
-- The tables hold opaque serialized graph state owned by the package: we never write
-- to them ourselves; PostgresSaver does (connection: autocommit=True,
-- row_factory=dict_row, prepare_threshold=0).

-- migrate:up

/*
 * checkpoint_migrations: the package's own schema version counter (its v0).
 */
create table checkpoint_migrations (
    v integer not null,
    constraint checkpoint_migrations_pkey primary key (v)
);

comment on table checkpoint_migrations is
    'langgraph-checkpoint-postgres schema counter: one row per applied entry of its '
    'MIGRATIONS list (v = 0..9 for 3.2.0, recorded by our migration 0007)';
comment on column checkpoint_migrations.v is
    'Index into MIGRATIONS of langgraph/checkpoint/postgres/base.py';

/*
 * checkpoints: one row per saved graph state (a LangGraph checkpoint) of a thread.
 */
create table checkpoints (
    thread_id text not null,
    checkpoint_ns text not null default '',
    checkpoint_id text not null,
    parent_checkpoint_id text,
    type text,
    checkpoint jsonb not null,
    metadata jsonb not null default '{}',
    constraint checkpoints_pkey primary key (thread_id, checkpoint_ns, checkpoint_id)
);

comment on table checkpoints is
    'LangGraph checkpoints written by langgraph-checkpoint-postgres PostgresSaver; '
    'schema owned by that package (pinned version), created by our migration 0007';
comment on column checkpoints.checkpoint_ns is
    'Checkpoint namespace: empty for the root graph, set for subgraphs';
comment on column checkpoints.parent_checkpoint_id is
    'Checkpoint this one was derived from; null for the first of a thread';
comment on column checkpoints.checkpoint is
    'Checkpoint body without the large channel values (those are in checkpoint_blobs)';
comment on column checkpoints.metadata is
    'Checkpoint metadata (source, step, user keys); PostgresSaver.list(filter=...) '
    'queries it with @>';

/*
 * checkpoint_blobs: channel values too large or non-JSON for the checkpoint row,
 * stored once per channel version.
 */
create table checkpoint_blobs (
    thread_id text not null,
    checkpoint_ns text not null default '',
    channel text not null,
    version text not null,
    type text not null,
    blob bytea,
    constraint checkpoint_blobs_pkey primary key (thread_id, checkpoint_ns, channel, version)
);

comment on table checkpoint_blobs is
    'LangGraph channel values by channel version, written by PostgresSaver; '
    'schema owned by langgraph-checkpoint-postgres';
comment on column checkpoint_blobs.type is
    'Serializer type tag of blob (e.g. msgpack, empty)';
comment on column checkpoint_blobs.blob is
    'Serialized channel value; null for an empty channel (the package''s v4)';

/*
 * checkpoint_writes: pending writes of tasks that have not yet become a checkpoint.
 */
create table checkpoint_writes (
    thread_id text not null,
    checkpoint_ns text not null default '',
    checkpoint_id text not null,
    task_id text not null,
    idx integer not null,
    channel text not null,
    type text,
    blob bytea not null,
    task_path text not null default '',
    constraint checkpoint_writes_pkey primary key (thread_id, checkpoint_ns, checkpoint_id, task_id, idx)
);

comment on table checkpoint_writes is
    'LangGraph pending writes per task, written by PostgresSaver.put_writes; '
    'schema owned by langgraph-checkpoint-postgres';
comment on column checkpoint_writes.idx is
    'Position of the write within the task; negative for special writes (errors, interrupts)';
comment on column checkpoint_writes.task_path is
    'Path of the task in the graph, used to order writes (the package''s v9)';

create index checkpoints_thread_id_idx on checkpoints (thread_id);

create index checkpoint_blobs_thread_id_idx on checkpoint_blobs (thread_id);

create index checkpoint_writes_thread_id_idx on checkpoint_writes (thread_id);

insert into checkpoint_migrations (v)
select v
from generate_series(0, 9) as v;

-- migrate:down
drop table checkpoint_writes;
drop table checkpoint_blobs;
drop table checkpoints;
drop table checkpoint_migrations;
