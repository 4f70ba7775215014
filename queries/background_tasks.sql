-- Background tasks (seed 002): a work queue with progress tracking.
-- Worker-side updates (progress, complete, fail) match on claim_id, the fencing token a
-- claim hands out, so that a worker whose task was cancelled, or reclaimed (and maybe
-- claimed again, even under the same worker id), changes nothing.

-- name: insert_task(task_id, user_session, task_type, input_data, use_cache, use_llm)<!
-- Enqueues a pending task and returns it; task_id is the caller's key, or generated when
-- null. Returns nothing when a task with that task_id exists already (a retry: see
-- get_task_for_retry). Served by background_tasks_task_id_key (the conflict target).
insert into background_tasks (
    task_id,
    user_session,
    task_type,
    input_data,
    use_cache,
    use_llm
)
values (
    coalesce(:task_id::uuid, gen_random_uuid()),
    :user_session,
    :task_type,
    :input_data::jsonb,
    :use_cache::boolean,
    :use_llm::boolean
)
on conflict (task_id) do nothing
returning
    task_id,
    user_session,
    task_type,
    status,
    input_data,
    import_result,
    enrich_result,
    analyze_result,
    progress,
    current_stage,
    error_message,
    created_at,
    started_at,
    completed_at,
    use_cache,
    use_llm,
    claimed_by,
    heartbeat_at,
    attempts,
    claim_id;

-- name: get_task_for_retry(task_id, user_session, task_type, input_data, use_cache, use_llm)^
-- Which enqueue arguments differ from those the task with task_id was created with, as
-- an array of names (empty when the call repeats the one that created it); nothing when
-- no task has that id. Served by background_tasks_task_id_key.
-- @nonnull differing
select
    array_remove(
        array[
            case when user_session is distinct from :user_session::text then 'user_session' end,
            case when task_type is distinct from :task_type::text then 'task_type' end,
            case when input_data is distinct from :input_data::jsonb then 'input_data' end,
            case when use_cache is distinct from :use_cache::boolean then 'use_cache' end,
            case when use_llm is distinct from :use_llm::boolean then 'use_llm' end
        ],
        null
    ) as differing
from background_tasks
where task_id = :task_id::uuid;

-- name: get_task(task_id)^
-- One task by its public id, or nothing. Served by background_tasks_task_id_key.
select
    task_id,
    user_session,
    task_type,
    status,
    input_data,
    import_result,
    enrich_result,
    analyze_result,
    progress,
    current_stage,
    error_message,
    created_at,
    started_at,
    completed_at,
    use_cache,
    use_llm,
    claimed_by,
    heartbeat_at,
    attempts,
    claim_id
from background_tasks
where task_id = :task_id::uuid;

-- name: claim_next_task(worker)<!
-- Takes the oldest pending task of any type for :worker: running, claimed_by = worker,
-- a new claim_id (the fencing token the worker passes back), started_at = heartbeat_at
-- = now(), attempts + 1. Rows locked by another claimer are skipped (for update skip
-- locked), so concurrent workers never take the same task or wait on each other.
-- Returns the task, or nothing when none is pending. Served by
-- background_tasks_created_at_id_pending_idx (partial, pending tasks in created_at order:
-- the first entry is the task).
with next_task as (
    select id
    from background_tasks
    where status = 'pending'
    order by created_at, id
    limit 1
    for update skip locked
)
update background_tasks as t
set
    status = 'running',
    claimed_by = :worker,
    claim_id = gen_random_uuid(),
    started_at = now(),
    heartbeat_at = now(),
    attempts = t.attempts + 1
from next_task
where t.id = next_task.id
returning
    t.task_id,
    t.user_session,
    t.task_type,
    t.status,
    t.input_data,
    t.import_result,
    t.enrich_result,
    t.analyze_result,
    t.progress,
    t.current_stage,
    t.error_message,
    t.created_at,
    t.started_at,
    t.completed_at,
    t.use_cache,
    t.use_llm,
    t.claimed_by,
    t.heartbeat_at,
    t.attempts,
    t.claim_id;

-- name: claim_next_task_of_types(worker, task_types)<!
-- As claim_next_task, but only a task whose task_type is one of :task_types. Served by
-- background_tasks_task_type_created_at_id_idx (partial, pending tasks only): one
-- index range per type asked for, so pending tasks of other types are never read
-- (the pending tasks of the types asked for are sorted to find the oldest).
with next_task as (
    select id
    from background_tasks
    where status = 'pending'
        and task_type = any(:task_types::text[])
    order by created_at, id
    limit 1
    for update skip locked
)
update background_tasks as t
set
    status = 'running',
    claimed_by = :worker,
    claim_id = gen_random_uuid(),
    started_at = now(),
    heartbeat_at = now(),
    attempts = t.attempts + 1
from next_task
where t.id = next_task.id
returning
    t.task_id,
    t.user_session,
    t.task_type,
    t.status,
    t.input_data,
    t.import_result,
    t.enrich_result,
    t.analyze_result,
    t.progress,
    t.current_stage,
    t.error_message,
    t.created_at,
    t.started_at,
    t.completed_at,
    t.use_cache,
    t.use_llm,
    t.claimed_by,
    t.heartbeat_at,
    t.attempts,
    t.claim_id;

-- name: update_progress(task_id, claim_id, progress, stage, stage_result)<!
-- For a running task whose current claim is :claim_id: sets progress (null keeps it),
-- current_stage (null keeps it), stores stage_result in that stage's result column
-- when given, and refreshes heartbeat_at. Returns the task, or nothing if it is
-- missing, not running or claimed under another claim_id. Served by
-- background_tasks_task_id_key.
update background_tasks
set
    progress = coalesce(:progress::integer, progress),
    current_stage = coalesce(:stage::varchar, current_stage),
    import_result = case
        when :stage::varchar = 'import' and :stage_result::jsonb is not null
            then :stage_result::jsonb
        else import_result
    end,
    enrich_result = case
        when :stage::varchar = 'enrich' and :stage_result::jsonb is not null
            then :stage_result::jsonb
        else enrich_result
    end,
    analyze_result = case
        when :stage::varchar = 'analyze' and :stage_result::jsonb is not null
            then :stage_result::jsonb
        else analyze_result
    end,
    heartbeat_at = now()
where task_id = :task_id::uuid
    and status = 'running'
    and claim_id = :claim_id::uuid
returning
    task_id,
    user_session,
    task_type,
    status,
    input_data,
    import_result,
    enrich_result,
    analyze_result,
    progress,
    current_stage,
    error_message,
    created_at,
    started_at,
    completed_at,
    use_cache,
    use_llm,
    claimed_by,
    heartbeat_at,
    attempts,
    claim_id;

-- name: complete_task(task_id, claim_id, import_result, enrich_result, analyze_result)<!
-- Ends a running task whose current claim is :claim_id as completed: progress 100,
-- completed_at = now(), claimed_by and claim_id cleared; each non-null result replaces
-- the stored one. Returns the task, or nothing if it is missing, not running or
-- claimed under another claim_id.
-- Served by background_tasks_task_id_key.
update background_tasks
set
    status = 'completed',
    progress = 100,
    import_result = coalesce(:import_result::jsonb, import_result),
    enrich_result = coalesce(:enrich_result::jsonb, enrich_result),
    analyze_result = coalesce(:analyze_result::jsonb, analyze_result),
    completed_at = now(),
    claimed_by = null,
    claim_id = null
where task_id = :task_id::uuid
    and status = 'running'
    and claim_id = :claim_id::uuid
returning
    task_id,
    user_session,
    task_type,
    status,
    input_data,
    import_result,
    enrich_result,
    analyze_result,
    progress,
    current_stage,
    error_message,
    created_at,
    started_at,
    completed_at,
    use_cache,
    use_llm,
    claimed_by,
    heartbeat_at,
    attempts,
    claim_id;

-- name: fail_task(task_id, claim_id, error_message)<!
-- Ends a running task whose current claim is :claim_id as failed with :error_message;
-- completed_at = now(), claimed_by and claim_id cleared. Returns the task, or nothing
-- if it is missing, not running or claimed under another claim_id. Served by
-- background_tasks_task_id_key.
update background_tasks
set
    status = 'failed',
    error_message = :error_message,
    completed_at = now(),
    claimed_by = null,
    claim_id = null
where task_id = :task_id::uuid
    and status = 'running'
    and claim_id = :claim_id::uuid
returning
    task_id,
    user_session,
    task_type,
    status,
    input_data,
    import_result,
    enrich_result,
    analyze_result,
    progress,
    current_stage,
    error_message,
    created_at,
    started_at,
    completed_at,
    use_cache,
    use_llm,
    claimed_by,
    heartbeat_at,
    attempts,
    claim_id;

-- name: cancel_task(task_id, reason)<!
-- @nullable-params reason
-- Cancels a pending or running task: cancelled, completed_at = now(), claimed_by and
-- claim_id cleared, :reason (may be null) in error_message. Returns the task, or
-- nothing if it is missing or already finished. Served by background_tasks_task_id_key.
update background_tasks
set
    status = 'cancelled',
    error_message = :reason,
    completed_at = now(),
    claimed_by = null,
    claim_id = null
where task_id = :task_id::uuid
    and status in ('pending', 'running')
returning
    task_id,
    user_session,
    task_type,
    status,
    input_data,
    import_result,
    enrich_result,
    analyze_result,
    progress,
    current_stage,
    error_message,
    created_at,
    started_at,
    completed_at,
    use_cache,
    use_llm,
    claimed_by,
    heartbeat_at,
    attempts,
    claim_id;

-- name: list_tasks_by_session(user_session, status, limit)
-- A user session's tasks (only those with :status, or all when null), newest first, at
-- most :limit. Served by background_tasks_user_session_created_at_id_idx (backward scan).
select
    task_id,
    user_session,
    task_type,
    status,
    input_data,
    import_result,
    enrich_result,
    analyze_result,
    progress,
    current_stage,
    error_message,
    created_at,
    started_at,
    completed_at,
    use_cache,
    use_llm,
    claimed_by,
    heartbeat_at,
    attempts,
    claim_id
from background_tasks
where user_session = :user_session
    and (:status::varchar is null or status = :status::varchar)
order by created_at desc, id desc
limit :limit::bigint;

-- name: list_recent_tasks(limit)
-- The newest tasks of all sessions, at most :limit, without their data (task_id,
-- user_session, task_type, status, progress, current_stage, timestamps, claimed_by).
-- Served by background_tasks_created_at_id_idx (backward scan).
select
    task_id,
    user_session,
    task_type,
    status,
    progress,
    current_stage,
    created_at,
    started_at,
    completed_at,
    claimed_by
from background_tasks
order by created_at desc, id desc
limit :limit::bigint;

-- name: count_tasks_by_status()
-- One row per status present: status and how many tasks have it. Served by
-- background_tasks_status_created_at_id_idx (leading column status).
select
    status,
    count(*) as tasks
from background_tasks
group by status
order by status;

-- name: reclaim_stale_tasks(stale_seconds, max_attempts)
-- Running tasks whose worker has been silent (no heartbeat or progress since claim)
-- for more than :stale_seconds go back to pending for another worker, or to failed
-- when they have already been claimed :max_attempts times. Returns one row per task
-- changed: task_id, status (the new one), previous worker (claimed_by) and attempts.
-- Locked rows (a worker is updating them right now) are skipped: that worker is alive.
-- Served by background_tasks_status_created_at_id_idx (status = 'running').
with stale as (
    select
        id,
        claimed_by
    from background_tasks
    where status = 'running'
        and coalesce(heartbeat_at, started_at)
            < now() - make_interval(secs => :stale_seconds::double precision)
    for update skip locked
)
update background_tasks as t
set
    status = case when t.attempts >= :max_attempts::integer then 'failed' else 'pending' end,
    error_message = case
        when t.attempts >= :max_attempts::integer
            then 'worker ' || stale.claimed_by || ' stopped responding; gave up after '
                || t.attempts || ' attempts'
        else t.error_message
    end,
    completed_at = case when t.attempts >= :max_attempts::integer then now() end,
    claimed_by = null,
    claim_id = null,
    started_at = case when t.attempts >= :max_attempts::integer then t.started_at end,
    heartbeat_at = null,
    progress = case when t.attempts >= :max_attempts::integer then t.progress else 0 end,
    current_stage = case when t.attempts >= :max_attempts::integer then t.current_stage end
from stale
where t.id = stale.id
returning
    t.task_id,
    t.status,
    stale.claimed_by,
    t.attempts;

-- name: purge_finished_tasks(older_than_seconds)!
-- Deletes completed, failed and cancelled tasks that finished more than
-- :older_than_seconds ago; returns the row count. Only finished tasks have a
-- completed_at (background_tasks_finished_check), so the time test alone picks them.
-- Served by background_tasks_completed_at_idx (partial: finished tasks only).
delete from background_tasks
where completed_at < now() - make_interval(secs => :older_than_seconds::double precision);
