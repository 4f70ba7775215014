-- Planning metrics (seed 000): task executions, execution plans, subtask executions.
-- Multi-step operations (plan with its subtasks, subtask end + plan completion) are in
-- pydal_lite/planning_metrics/; durations are always computed here, by the server.
-- Plans and subtasks are found by their run (task_execution_id, the Citus distribution
-- key of all three tables, 0016/0017) as well as their own ids, so each keyed statement
-- lands on one shard; get_plan_key finds the run of a plan named by its id alone.

-- name: insert_task_execution(id, task_id, mode, metadata)<!
-- Inserts a running task execution started now and returns the row, or nothing when an
-- execution with that id exists already (see get_task_execution_for_retry).
-- poc_task_executions_pkey is the on conflict arbiter. The caller generates :id when its
-- caller gave none: Citus must see the key (the distribution column) in the statement.
insert into poc_task_executions (
    id,
    task_id,
    mode,
    metadata
)
values (
    :id::varchar,
    :task_id,
    :mode,
    :metadata::jsonb
)
on conflict (id) do nothing
returning
    id,
    task_id,
    mode,
    status,
    started_at,
    completed_at,
    duration_seconds,
    tokens,
    success,
    error,
    metadata;

-- name: get_task_execution_for_retry(id, task_id, mode, metadata)$
-- Which create arguments differ from those of the execution :id, as an array of names
-- (empty for a repeat of that call): task_id, mode, metadata (only while running:
-- finishing merges into it). Null when there is no such execution.
-- Served by poc_task_executions_pkey.
select
    array_remove(
        array[
            case when task_id is distinct from :task_id::varchar then 'task_id' end,
            case when mode is distinct from :mode::varchar then 'mode' end,
            case
                when status = 'running' and metadata is distinct from :metadata::jsonb
                    then 'metadata'
            end
        ],
        null
    ) as differing
from poc_task_executions
where id = :id::varchar;

-- name: finish_task_execution(id, status, success, tokens, error, metadata)<!
-- @nullable-params error
-- Ends a running task execution as completed or failed: completed_at = now(),
-- duration_seconds computed by the server, metadata merged into the old object.
-- Returns the row, or nothing if it is missing or not running. Served by
-- poc_task_executions_pkey.
update poc_task_executions
set
    status = :status,
    completed_at = now(),
    -- (select now()): Citus refuses now() beside a column in an UPDATE; as a subquery
    -- it is evaluated once, on the coordinator, the same value as completed_at
    duration_seconds = extract(epoch from (select now()) - started_at),
    success = :success::boolean,
    tokens = coalesce(:tokens::bigint, tokens),
    error = :error,
    metadata = metadata || :metadata::jsonb
where id = :id
    and status = 'running'
returning
    id,
    task_id,
    mode,
    status,
    started_at,
    completed_at,
    duration_seconds,
    tokens,
    success,
    error,
    metadata;

-- name: get_task_execution(id)^
-- One task execution by id, or nothing. Served by poc_task_executions_pkey.
select
    id,
    task_id,
    mode,
    status,
    started_at,
    completed_at,
    duration_seconds,
    tokens,
    success,
    error,
    metadata
from poc_task_executions
where id = :id;

-- name: lock_task_execution(id)$
-- The id of the task execution, key-share locked so it cannot be deleted before the
-- transaction ends (as the foreign key check would); null if missing.
-- Served by poc_task_executions_pkey.
select id
from poc_task_executions
where id = :id
for key share;

-- name: list_task_executions(task_id)
-- Every execution of one benchmark task, by mode then start time.
-- Served by poc_task_executions_task_id_mode_started_at_idx.
select
    id,
    task_id,
    mode,
    status,
    started_at,
    completed_at,
    duration_seconds,
    tokens,
    success,
    error,
    metadata
from poc_task_executions
where task_id = :task_id
order by mode, started_at;

-- name: delete_task_execution(id)!
-- Deletes a task execution; its plan and the plan's subtasks go with it (on delete
-- cascade). Returns the row count (0 or 1). Served by poc_task_executions_pkey.
delete from poc_task_executions
where id = :id;

-- name: insert_plan(id, task_execution_id, plan_id, original_task, subtask_count, metadata)<!
-- @nullable-params metadata
-- Inserts an open plan for a task execution with row id :id (the caller generates one
-- when its caller gave none) and returns it, or nothing when that run has a plan with
-- that id already (see get_plan_for_retry). poc_execution_plans_pkey (task_execution_id,
-- id) is the on conflict arbiter; poc_execution_plans_task_execution_id_key (one plan per
-- execution) still raises.
insert into poc_execution_plans (
    id,
    task_execution_id,
    plan_id,
    original_task,
    subtask_count,
    metadata
)
values (
    :id::varchar,
    :task_execution_id,
    :plan_id,
    :original_task,
    :subtask_count,
    :metadata::jsonb
)
on conflict (task_execution_id, id) do nothing
returning
    id,
    task_execution_id,
    plan_id,
    original_task,
    subtask_count,
    created_at,
    completed_at,
    is_complete,
    metadata;

-- name: get_plan_for_retry(task_execution_id, id, plan_id, original_task, metadata, subtasks)$
-- @nullable-params metadata
-- Which create arguments differ from those the plan :id (row id) of run
-- :task_execution_id was recorded with, as an array of names (empty for a repeat of that
-- call): plan_id, original_task, metadata, subtasks (the insert_subtasks array, compared
-- by subtask_id without the status columns). Null when there is no such plan. (The run
-- is the key here: a plan of another run is get_plan_key's to find.)
-- Served by poc_execution_plans_pkey and poc_subtask_executions_plan_subtask_key.
select
    array_remove(
        array[
            case when p.plan_id is distinct from :plan_id::varchar then 'plan_id' end,
            case
                when p.original_task is distinct from :original_task::text
                    then 'original_task'
            end,
            case when p.metadata is distinct from :metadata::jsonb then 'metadata' end,
            case
                when (
                    select jsonb_agg(to_jsonb(s) order by s.subtask_id)
                    from jsonb_to_recordset(:subtasks::jsonb) as s (
                        subtask_id text,
                        sequence_number integer,
                        description text,
                        agent text,
                        estimated_time text,
                        dependencies jsonb
                    )
                ) is distinct from (
                    select jsonb_agg(to_jsonb(t) order by t.subtask_id)
                    from (
                        select
                            st.subtask_id,
                            st.sequence_number,
                            st.description,
                            st.agent,
                            st.estimated_time,
                            st.dependencies
                        from poc_subtask_executions as st
                        where st.task_execution_id = :task_execution_id::varchar
                            and st.plan_id = p.id
                    ) as t
                )
                    then 'subtasks'
            end
        ],
        null
    ) as differing
from poc_execution_plans as p
where p.task_execution_id = :task_execution_id::varchar
    and p.id = :id::varchar;

-- name: insert_subtasks(task_execution_id, plan_id, subtasks)
-- Inserts a batch of pending subtasks for one plan (of run :task_execution_id) in one
-- statement from a JSON array of objects (subtask_id, sequence_number, description,
-- agent, estimated_time, dependencies) and returns the inserted rows in sequence order.
-- Served by poc_subtask_executions_plan_subtask_key (a subtask id once per plan).
insert into poc_subtask_executions (
    task_execution_id,
    plan_id,
    subtask_id,
    sequence_number,
    description,
    agent,
    estimated_time,
    dependencies
)
select
    :task_execution_id::varchar,
    :plan_id::varchar,
    s.subtask_id,
    s.sequence_number,
    s.description,
    s.agent,
    s.estimated_time,
    s.dependencies
from jsonb_to_recordset(:subtasks::jsonb) as s (
    subtask_id text,
    sequence_number integer,
    description text,
    agent text,
    estimated_time text,
    dependencies jsonb
)
order by s.sequence_number
returning
    id,
    plan_id,
    subtask_id,
    sequence_number,
    description,
    agent,
    estimated_time,
    status,
    started_at,
    completed_at,
    duration_seconds,
    result,
    error,
    dependencies;

-- name: get_plan_key(plan_id)$
-- The run (task_execution_id, the distribution key) of the plan with row id :plan_id,
-- or null: how calls that name a plan by its id alone find the shard for their other
-- statements. On Citus a probe of every shard. Served by poc_execution_plans_id_idx.
select task_execution_id
from poc_execution_plans
where id = :plan_id;

-- name: get_plan(task_execution_id, plan_id)^
-- One plan of a run by its row id, or nothing. Served by poc_execution_plans_pkey.
select
    id,
    task_execution_id,
    plan_id,
    original_task,
    subtask_count,
    created_at,
    completed_at,
    is_complete,
    metadata
from poc_execution_plans
where task_execution_id = :task_execution_id
    and id = :plan_id;

-- name: get_plan_by_task_execution(task_execution_id)^
-- The plan of one task execution, or nothing. Served by
-- poc_execution_plans_task_execution_id_key.
select
    id,
    task_execution_id,
    plan_id,
    original_task,
    subtask_count,
    created_at,
    completed_at,
    is_complete,
    metadata
from poc_execution_plans
where task_execution_id = :task_execution_id;

-- name: lock_plan(task_execution_id, plan_id)^
-- The plan's id and is_complete, the row locked (for no key update) until the
-- transaction ends: operations that end a subtask take it first, so plan completion
-- is decided by one transaction at a time. Nothing if missing. The run in the filter
-- routes the lock to one shard on Citus. Served by poc_execution_plans_pkey.
select
    id,
    is_complete
from poc_execution_plans
where task_execution_id = :task_execution_id
    and id = :plan_id
for no key update;

-- name: list_open_plans(limit)
-- Plans not complete yet, oldest first, at most :limit. Served by
-- poc_execution_plans_created_at_id_open_idx (partial, open plans, in this order: no sort).
select
    id,
    task_execution_id,
    plan_id,
    original_task,
    subtask_count,
    created_at,
    completed_at,
    is_complete,
    metadata
from poc_execution_plans
where not is_complete
order by created_at, id
limit :limit::bigint;

-- name: complete_plan_if_done(task_execution_id, plan_id)<!
-- Marks the plan complete (completed_at = now()) if it is open and none of its subtasks
-- is pending or running; returns the plan row if this call completed it, else nothing.
-- Served by poc_execution_plans_pkey and poc_subtask_executions_plan_subtask_key.
update poc_execution_plans as p
set
    is_complete = true,
    completed_at = now()
where p.task_execution_id = :task_execution_id
    and p.id = :plan_id
    and not p.is_complete
    and not exists (
        select 1
        from poc_subtask_executions as s
        where s.task_execution_id = :task_execution_id
            and s.plan_id = :plan_id
            and s.status in ('pending', 'running')
    )
returning
    p.id,
    p.task_execution_id,
    p.plan_id,
    p.original_task,
    p.subtask_count,
    p.created_at,
    p.completed_at,
    p.is_complete,
    p.metadata;

-- name: delete_plan(task_execution_id, plan_id)!
-- Deletes a run's plan and (on delete cascade) its subtasks; returns the row count (0
-- or 1). Served by poc_execution_plans_pkey.
delete from poc_execution_plans
where task_execution_id = :task_execution_id
    and id = :plan_id;

-- name: list_plans_with_subtask_counts(after, limit)
-- @nonnull actual_subtasks
-- The seed's check query, one keyset page: at most :limit plans, oldest first, each
-- with its recorded subtask_count and the number of subtask rows it actually has
-- (actual_subtasks); :after is the id of the last plan of the previous page (null for
-- the first page; a missing plan gives nothing). Plans are read in page order and each
-- counted as it comes, so a page costs the same however deep it is. The count is a
-- subquery on the plan's run, not a join: on Citus it then runs inside each shard (each
-- reads its own page, the coordinator merges them) instead of every subtask row being
-- pulled to the coordinator for the join. Served by poc_execution_plans_created_at_id_idx
-- (the page, in order), poc_subtask_executions_plan_subtask_key (the counts) and
-- poc_execution_plans_id_idx (the :after plan).
select
    p.id,
    p.plan_id,
    p.original_task,
    p.subtask_count,
    p.is_complete,
    (
        select count(*)
        from poc_subtask_executions as se
        where se.task_execution_id = p.task_execution_id
            and se.plan_id = p.id
    ) as actual_subtasks
from poc_execution_plans as p
where :after::varchar is null
    or (p.created_at, p.id) > (
        select
            a.created_at,
            a.id
        from poc_execution_plans as a
        where a.id = :after::varchar
    )
order by p.created_at, p.id
limit :limit::bigint;

-- name: get_subtask(task_execution_id, plan_id, subtask_id)^
-- One subtask of a run's plan by the planner's subtask id, or nothing.
-- Served by poc_subtask_executions_plan_subtask_key.
select
    id,
    plan_id,
    subtask_id,
    sequence_number,
    description,
    agent,
    estimated_time,
    status,
    started_at,
    completed_at,
    duration_seconds,
    result,
    error,
    dependencies
from poc_subtask_executions
where task_execution_id = :task_execution_id
    and plan_id = :plan_id
    and subtask_id = :subtask_id;

-- name: list_subtasks(task_execution_id, plan_id)
-- The subtasks of a run's plan in sequence order. Served by idx_poc_subtasks_plan_seq.
select
    id,
    plan_id,
    subtask_id,
    sequence_number,
    description,
    agent,
    estimated_time,
    status,
    started_at,
    completed_at,
    duration_seconds,
    result,
    error,
    dependencies
from poc_subtask_executions
where task_execution_id = :task_execution_id
    and plan_id = :plan_id
order by sequence_number, subtask_id;

-- name: list_subtasks_by_agent(agent, limit)
-- One agent's subtasks across all plans, at most :limit, in no particular plan order.
-- Served by idx_poc_subtasks_agent.
select
    id,
    plan_id,
    subtask_id,
    sequence_number,
    description,
    agent,
    estimated_time,
    status,
    started_at,
    completed_at,
    duration_seconds,
    result,
    error,
    dependencies
from poc_subtask_executions
where agent = :agent
limit :limit::bigint; -- noqa: AM09

-- name: count_subtasks_by_status()
-- One row per status present across all plans: status and how many subtasks have it.
-- Served by idx_poc_subtasks_status (index-only scan when the visibility map allows).
select
    status,
    count(*) as subtasks
from poc_subtask_executions
group by status
order by status;

-- name: start_subtask(task_execution_id, plan_id, subtask_id)<!
-- Moves a pending subtask to running with started_at = now(); returns the row, or
-- nothing if it is missing or not pending.
-- Served by poc_subtask_executions_plan_subtask_key.
update poc_subtask_executions
set
    status = 'running',
    started_at = now()
where task_execution_id = :task_execution_id
    and plan_id = :plan_id
    and subtask_id = :subtask_id
    and status = 'pending'
returning
    id,
    plan_id,
    subtask_id,
    sequence_number,
    description,
    agent,
    estimated_time,
    status,
    started_at,
    completed_at,
    duration_seconds,
    result,
    error,
    dependencies;

-- name: complete_subtask(task_execution_id, plan_id, subtask_id, result)<!
-- @nullable-params result
-- Ends a running subtask as completed with its result; completed_at = now() and
-- duration_seconds = completed_at - started_at, computed here. Returns the row, or
-- nothing if it is missing or not running.
-- Served by poc_subtask_executions_plan_subtask_key.
update poc_subtask_executions
set
    status = 'completed',
    completed_at = now(),
    -- (select now()): Citus refuses now() beside a column in an UPDATE; as a subquery
    -- it is evaluated once, on the coordinator, the same value as completed_at
    duration_seconds = extract(epoch from (select now()) - started_at),
    result = :result
where task_execution_id = :task_execution_id
    and plan_id = :plan_id
    and subtask_id = :subtask_id
    and status = 'running'
returning
    id,
    plan_id,
    subtask_id,
    sequence_number,
    description,
    agent,
    estimated_time,
    status,
    started_at,
    completed_at,
    duration_seconds,
    result,
    error,
    dependencies;

-- name: fail_subtask(task_execution_id, plan_id, subtask_id, error)<!
-- Ends a pending or running subtask as failed with its error; completed_at = now() and
-- duration_seconds computed here (null if it never started). Returns the row, or
-- nothing if it is missing or already ended.
-- Served by poc_subtask_executions_plan_subtask_key.
update poc_subtask_executions
set
    status = 'failed',
    completed_at = now(),
    -- (select now()): Citus refuses now() beside a column in an UPDATE; as a subquery
    -- it is evaluated once, on the coordinator, the same value as completed_at
    duration_seconds = extract(epoch from (select now()) - started_at),
    error = :error
where task_execution_id = :task_execution_id
    and plan_id = :plan_id
    and subtask_id = :subtask_id
    and status in ('pending', 'running')
returning
    id,
    plan_id,
    subtask_id,
    sequence_number,
    description,
    agent,
    estimated_time,
    status,
    started_at,
    completed_at,
    duration_seconds,
    result,
    error,
    dependencies;

-- name: skip_subtask(task_execution_id, plan_id, subtask_id, reason)<!
-- @nullable-params reason
-- Ends a pending subtask as skipped (e.g. a dependency failed), the reason in error;
-- completed_at = now(), no duration. Returns the row, or nothing if it is missing or
-- not pending. Served by poc_subtask_executions_plan_subtask_key.
update poc_subtask_executions
set
    status = 'skipped',
    completed_at = now(),
    error = :reason
where task_execution_id = :task_execution_id
    and plan_id = :plan_id
    and subtask_id = :subtask_id
    and status = 'pending'
returning
    id,
    plan_id,
    subtask_id,
    sequence_number,
    description,
    agent,
    estimated_time,
    status,
    started_at,
    completed_at,
    duration_seconds,
    result,
    error,
    dependencies;

-- name: get_plan_metrics(task_execution_id, plan_id)^
-- @nonnull total_subtasks, pending, running, completed, failed, skipped
-- @nonnull total_duration_seconds
-- One row for a plan, or nothing: the plan's fields; its actual subtask count and the
-- count per status; total, average and longest subtask duration in seconds (ended
-- subtasks that had started); completion_ratio = completed / all subtasks (null with
-- none); per_agent, a JSON array (by agent) of {agent, subtasks, completed, failed,
-- skipped, total_duration_seconds, avg_duration_seconds, max_duration_seconds,
-- completion_ratio}. The run :task_execution_id names every table's rows: one shard on
-- Citus. Served by poc_execution_plans_pkey and idx_poc_subtasks_plan_seq.
select
    p.id,
    p.task_execution_id,
    p.plan_id,
    p.subtask_count,
    p.is_complete,
    p.created_at,
    p.completed_at,
    s.total_subtasks,
    s.pending,
    s.running,
    s.completed,
    s.failed,
    s.skipped,
    s.total_duration_seconds,
    s.avg_duration_seconds,
    s.max_duration_seconds,
    s.completion_ratio,
    coalesce(a.per_agent, '[]'::jsonb) as per_agent
from poc_execution_plans as p
cross join lateral (
    select
        count(*) as total_subtasks,
        count(*) filter (where st.status = 'pending') as pending,
        count(*) filter (where st.status = 'running') as running,
        count(*) filter (where st.status = 'completed') as completed,
        count(*) filter (where st.status = 'failed') as failed,
        count(*) filter (where st.status = 'skipped') as skipped,
        coalesce(sum(st.duration_seconds), 0) as total_duration_seconds,
        avg(st.duration_seconds) as avg_duration_seconds,
        max(st.duration_seconds) as max_duration_seconds,
        (count(*) filter (where st.status = 'completed'))::double precision
            / nullif(count(*), 0) as completion_ratio
    from poc_subtask_executions as st
    where st.task_execution_id = :task_execution_id
        and st.plan_id = :plan_id
) as s
cross join lateral (
    select jsonb_agg(to_jsonb(g) order by g.agent) as per_agent
    from (
        select
            st.agent,
            count(*) as subtasks,
            count(*) filter (where st.status = 'completed') as completed,
            count(*) filter (where st.status = 'failed') as failed,
            count(*) filter (where st.status = 'skipped') as skipped,
            coalesce(sum(st.duration_seconds), 0) as total_duration_seconds,
            avg(st.duration_seconds) as avg_duration_seconds,
            max(st.duration_seconds) as max_duration_seconds,
            (count(*) filter (where st.status = 'completed'))::double precision
                / count(*) as completion_ratio
        from poc_subtask_executions as st
        where st.task_execution_id = :task_execution_id
            and st.plan_id = :plan_id
        group by st.agent
    ) as g
) as a
where p.task_execution_id = :task_execution_id
    and p.id = :plan_id;
