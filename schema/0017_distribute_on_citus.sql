-- Distribute the tables over a Citus cluster, only where Citus is installed (issue 11).
--
-- On plain PostgreSQL (no citus extension in this database) this file does nothing but
-- say so in a NOTICE, the way 0010 treats TimescaleDB. On a Citus coordinator (the
-- extension created in this database on every node, the workers registered with
-- citus_add_node) it makes:
--
-- * reference tables (a full copy on every node; small, read by keyed joins, or needing
--   a unique rule across all rows): sessions (unique session_id), user_sessions,
--   event_plans, vendors, task_management_runs and calculations (unique request keys,
--   0015), materials, calculation_methods, coefficient_types, and LangGraph's four tables
--   (its read query fails on distributed ones; see docs/scaling.md);
-- * distributed tables, hash-sharded, each group colocated so a keyed call and its
--   foreign keys stay on one shard:
--     messages, agent_contexts, agent_switches         by session_db_id
--     poc_task_executions (id), poc_execution_plans,
--       poc_subtask_executions                          by task_execution_id
--     pipeline_cache                                    by input_hash
--     extended_tasks, task_conflicts                    by task_management_run_id
--     calculation_data                                  by calculation_id
--     coefficients                                      by material_id
-- * local tables on the coordinator: background_tasks (the queue's claim takes row locks
--   with FOR UPDATE SKIP LOCKED over many rows, which Citus allows only on one shard)
--   and the runner's own tables.
--
-- Existing rows are copied into the shards by create_distributed_table (the local copy
-- is truncated afterwards); on a large live database read docs/scaling.md first.
-- citus.enable_unsafe_triggers is set for this database: the triggers left on
-- distributed tables (updated_at, message fingerprints) only set fields of the row being
-- written. messages' statement triggers that null the session's digest are dropped on
-- Citus (below).

-- migrate:up
do $$
declare
    t record;
    done_type text;
    done_column text;
begin
    if not exists (select 1 from pg_extension where extname = 'citus') then
        raise notice 'no citus extension in this database: every table stays local';
        return;
    end if;

    -- set_updated_at() on a reference table would run on every node with that node's
    -- own now(), leaving the copies with different updated_at values. pydal_lite's
    -- updates of these tables set updated_at themselves (the coordinator evaluates it
    -- once); on Citus, other writers must do the same.
    drop trigger event_plans_100_set_updated_at on event_plans;
    drop trigger vendors_100_set_updated_at on vendors;
    drop trigger task_management_runs_100_set_updated_at on task_management_runs;
    drop trigger calculations_100_set_updated_at on calculations;

    perform set_config('citus.enable_unsafe_triggers', 'on', true);
    -- DDL on tables a DBA distributed by hand would otherwise run over several
    -- connections per node and forbid the reference tables created after it.
    perform set_config('citus.multi_shard_modify_mode', 'sequential', true);
    -- Converting a parent to a reference table must not turn its children into "Citus
    -- local" tables, which could then not be distributed.
    perform set_config('citus.enable_local_reference_table_foreign_keys', 'off', true);
    execute format('alter database %I set citus.enable_unsafe_triggers = on', current_database());
    -- Distributed tables reference sessions and other reference tables: a transaction
    -- that read or wrote several shards in parallel could not then write a reference
    -- table ("cannot modify table sessions because there was a parallel operation").
    -- Sequential mode keeps one connection per node in a transaction, which such
    -- foreign keys need; keyed calls touch one shard and do not notice.
    execute format(
        'alter database %I set citus.multi_shard_modify_mode = sequential', current_database()
    );

    -- These statement triggers null a session's digest (sessions.message_chain) when
    -- messages change outside save_session. On Citus they would run on the shards and
    -- update a reference table from there, which Citus refuses (nested distributed
    -- execution): every write to messages would fail. Without them, whoever inserts,
    -- edits or deletes messages by hand must null the session's digest too
    -- (docs/scaling.md, "What changes on Citus"); 0021 skips its insert trigger here.
    drop trigger messages_200_forget_chain_on_update on messages;
    drop trigger messages_200_forget_chain_on_delete on messages;
    drop trigger messages_200_forget_chain_on_truncate on messages;

    -- In dependency order: reference tables first, then each colocation group's leader.
    -- A table a DBA already distributed by hand (e.g. with
    -- create_distributed_table_concurrently on a large live table, docs/scaling.md) is
    -- left as it is when its layout is the one below, and refused otherwise.
    for t in
        select *
        from (values
            (1, 'sessions', null, null),
            (2, 'user_sessions', null, null),
            (3, 'event_plans', null, null),
            (4, 'vendors', null, null),
            (5, 'task_management_runs', null, null),
            (6, 'materials', null, null),
            (7, 'calculation_methods', null, null),
            (8, 'coefficient_types', null, null),
            (9, 'calculations', null, null),
            (10, 'checkpoint_migrations', null, null),
            (11, 'checkpoints', null, null),
            (12, 'checkpoint_blobs', null, null),
            (13, 'checkpoint_writes', null, null),
            (20, 'messages', 'session_db_id', 'none'),
            (21, 'agent_contexts', 'session_db_id', 'messages'),
            (22, 'agent_switches', 'session_db_id', 'messages'),
            (30, 'poc_task_executions', 'id', 'none'),
            (31, 'poc_execution_plans', 'task_execution_id', 'poc_task_executions'),
            (32, 'poc_subtask_executions', 'task_execution_id', 'poc_task_executions'),
            (40, 'pipeline_cache', 'input_hash', 'none'),
            (50, 'extended_tasks', 'task_management_run_id', 'none'),
            (51, 'task_conflicts', 'task_management_run_id', 'extended_tasks'),
            (60, 'calculation_data', 'calculation_id', 'none'),
            (70, 'coefficients', 'material_id', 'none')
        ) as layout (ord, tbl, key_column, colocate_with)
        order by ord
    loop
        select
            c.citus_table_type,
            nullif(c.distribution_column, '<none>')
        into done_type, done_column
        from citus_tables as c
        where c.table_name = t.tbl::regclass;
        if found then
            -- 'local' is a Citus local table: what a child becomes when its parent was
            -- made a reference table with citus.enable_local_reference_table_foreign_keys
            -- on; with an identity column it cannot be distributed any more.
            if done_type <> (case when t.key_column is null then 'reference' else 'distributed' end)
                or done_column is distinct from t.key_column
            then
                raise exception '% is already a % Citus table (distribution column %)',
                    t.tbl, done_type, coalesce(done_column, 'none')
                    using hint = 'see docs/scaling.md for the layout this migration makes '
                        'and how to distribute tables by hand before it';
            end if;
            raise notice '% was already distributed: kept', t.tbl;
        elsif t.key_column is null then
            perform create_reference_table(t.tbl);
        else
            perform create_distributed_table(
                t.tbl, t.key_column, colocate_with => t.colocate_with
            );
        end if;
    end loop;

    raise notice 'citus %: % distributed and % reference tables',
        (select extversion from pg_extension where extname = 'citus'),
        (select count(*) from pg_dist_partition where partmethod = 'h'),
        (select count(*) from pg_dist_partition where partmethod = 'n');
end
$$;

-- migrate:down
-- Nothing to undo on plain PostgreSQL. On Citus the down part refuses: Citus 13's
-- undistribute_table() cannot take back tables with identity columns (messages,
-- agent_switches, ...), so going back means a dump and restore into a single server
-- (docs/scaling.md, "Back to one server").
do $$
begin
    if not exists (select 1 from pg_extension where extname = 'citus') then
        return;
    end if;
    -- a separate statement: pg_dist_partition exists only where citus does
    if exists (select 1 from pg_dist_partition where logicalrelid = 'messages'::regclass) then
        raise exception 'migration 0017 cannot be rolled back on a Citus cluster'
            using detail = 'Citus cannot undistribute tables with identity columns.',
                hint = 'dump the database and restore it into a single server; see '
                    'docs/scaling.md "Back to one server"';
    end if;
end
$$;
