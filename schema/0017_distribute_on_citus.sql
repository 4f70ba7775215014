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
begin
    if not exists (select 1 from pg_extension where extname = 'citus') then
        raise notice 'no citus extension in this database: every table stays local';
        return;
    end if;

    perform set_config('citus.enable_unsafe_triggers', 'on', true);
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
    -- execution): every write to messages would fail. Without them, save_session still
    -- sees rows another writer inserted or removed at the end (its max(seq) probe);
    -- whoever edits or deletes earlier messages by hand must null the digest too
    -- (docs/scaling.md, "What changes on Citus").
    drop trigger messages_200_forget_chain_on_update on messages;
    drop trigger messages_200_forget_chain_on_delete on messages;
    drop trigger messages_200_forget_chain_on_truncate on messages;

    perform create_reference_table('sessions');
    perform create_reference_table('user_sessions');
    perform create_reference_table('event_plans');
    perform create_reference_table('vendors');
    perform create_reference_table('task_management_runs');
    perform create_reference_table('materials');
    perform create_reference_table('calculation_methods');
    perform create_reference_table('coefficient_types');
    perform create_reference_table('calculations');
    perform create_reference_table('checkpoint_migrations');
    perform create_reference_table('checkpoints');
    perform create_reference_table('checkpoint_blobs');
    perform create_reference_table('checkpoint_writes');

    perform create_distributed_table('messages', 'session_db_id', colocate_with => 'none');
    perform create_distributed_table(
        'agent_contexts', 'session_db_id', colocate_with => 'messages'
    );
    perform create_distributed_table(
        'agent_switches', 'session_db_id', colocate_with => 'messages'
    );

    perform create_distributed_table('poc_task_executions', 'id', colocate_with => 'none');
    perform create_distributed_table(
        'poc_execution_plans', 'task_execution_id', colocate_with => 'poc_task_executions'
    );
    perform create_distributed_table(
        'poc_subtask_executions', 'task_execution_id', colocate_with => 'poc_task_executions'
    );

    perform create_distributed_table('pipeline_cache', 'input_hash', colocate_with => 'none');

    perform create_distributed_table(
        'extended_tasks', 'task_management_run_id', colocate_with => 'none'
    );
    perform create_distributed_table(
        'task_conflicts', 'task_management_run_id', colocate_with => 'extended_tasks'
    );

    perform create_distributed_table(
        'calculation_data', 'calculation_id', colocate_with => 'none'
    );
    perform create_distributed_table('coefficients', 'material_id', colocate_with => 'none');

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
