-- Claims, progress reports and completions of background tasks become HOT updates
-- (issue 10, issue 13 section 3): PostgreSQL 15 can update a row in place of its page,
-- without new entries in every index, only when no indexed column (key or partial-index
-- predicate) changes. Every claim and completion changes status, so no index of
-- background_tasks may name status (or claimed_by, claim_id, started_at, heartbeat_at,
-- attempts, progress, completed_at). Which tasks are pending or running now lives in a
-- small side table, background_task_queue, kept in step by a trigger for every writer;
-- the claim reads it instead of a partial index of background_tasks. background_tasks
-- keeps only indexes on columns a task never changes: its primary key, task_id, the
-- seed's user_session and created_at indexes. A lower fillfactor leaves room on each
-- page for the new row versions.

-- migrate:up

/*
 * background_task_queue: one row per pending or running task (claimed = running), none
 * for finished ones. The claim takes the oldest unclaimed row; reclaim looks only at
 * claimed rows. Written only by tg_background_tasks__sync_queue.
 */
create table background_task_queue (
    task_db_id bigint not null,
    task_type varchar(50) not null,
    created_at timestamptz not null,
    claimed boolean not null default false,
    constraint background_task_queue_pkey primary key (task_db_id),
    constraint background_task_queue_task_db_id_fkey foreign key (task_db_id)
        references background_tasks (id) on delete cascade
);

comment on table background_task_queue is
    'The pending and running background tasks (one row each; finished tasks have none), '
    'kept in step with background_tasks.status by trigger background_tasks_100_sync_queue. '
    'Lets claims find pending tasks without an index on background_tasks.status, so '
    'claims and completions are HOT updates there.';
comment on column background_task_queue.task_db_id is 'The task (background_tasks.id).';
comment on column background_task_queue.task_type is 'Copy of background_tasks.task_type.';
comment on column background_task_queue.created_at is 'Copy of background_tasks.created_at.';
comment on column background_task_queue.claimed is
    'True while the task is running (claimed by a worker), false while it is pending.';

-- Pending tasks, oldest first: claim_next_task reads the first entry.
create index background_task_queue_created_at_task_db_id_idx
    on background_task_queue (created_at, task_db_id)
    where not claimed;

comment on index background_task_queue_created_at_task_db_id_idx is
    'Serves claim_next_task (the oldest pending task is the first entry).';

-- Pending tasks by type, oldest first: claim_next_task_of_types, one range per type.
create index background_task_queue_task_type_created_at_task_db_id_idx
    on background_task_queue (task_type, created_at, task_db_id)
    where not claimed;

comment on index background_task_queue_task_type_created_at_task_db_id_idx is
    'Serves claim_next_task_of_types (pending tasks of the types asked for, oldest first).';

-- Running tasks: reclaim_stale_tasks.
create index background_task_queue_task_db_id_claimed_idx
    on background_task_queue (task_db_id)
    where claimed;

comment on index background_task_queue_task_db_id_claimed_idx is
    'Serves reclaim_stale_tasks (the running tasks only).';

insert into background_task_queue (task_db_id, task_type, created_at, claimed)
select id, task_type, created_at, status = 'running'
from background_tasks
where status in ('pending', 'running');

/*
 * tg_background_tasks__sync_queue: after a task is inserted, or its status, task_type
 * or created_at changes, its background_task_queue row says the same: present and
 * unclaimed while pending, claimed while running, absent once finished. Progress
 * reports do not fire it (the trigger's WHEN compares those columns).
 */
create function tg_background_tasks__sync_queue() returns trigger
    language plpgsql
as $$
begin
    if new.status in ('pending', 'running') then
        insert into background_task_queue (task_db_id, task_type, created_at, claimed)
        values (new.id, new.task_type, new.created_at, new.status = 'running')
        on conflict (task_db_id) do update
        set
            task_type = excluded.task_type,
            created_at = excluded.created_at,
            claimed = excluded.claimed;
    elsif tg_op = 'UPDATE' then
        delete from background_task_queue
        where task_db_id = new.id;
    end if;
    return null;
end
$$;

comment on function tg_background_tasks__sync_queue() is
    'Trigger function: keeps background_task_queue in step with a task''s status, '
    'task_type and created_at.';

create trigger background_tasks_100_sync_queue_on_insert
    after insert on background_tasks
    for each row
    when (new.status in ('pending', 'running'))
    execute function tg_background_tasks__sync_queue();

create trigger background_tasks_100_sync_queue_on_update
    after update of status, task_type, created_at on background_tasks
    for each row
    when (
        (old.status, old.task_type, old.created_at)
        is distinct from (new.status, new.task_type, new.created_at)
    )
    execute function tg_background_tasks__sync_queue();

-- The indexes whose columns a claim or completion changes (their queries now read
-- background_task_queue, or, for count_tasks_by_status, the table).
drop index background_tasks_status_created_at_id_idx;
drop index background_tasks_created_at_id_pending_idx;
drop index background_tasks_task_type_created_at_id_idx;
drop index background_tasks_completed_at_idx;

comment on index background_tasks_user_session_created_at_id_idx is
    'The seed''s user_session index: serves list_tasks_by_session (newest first).';
comment on index background_tasks_created_at_id_idx is
    'The seed''s created_at index: serves list_recent_tasks (newest first) and '
    'purge_finished_tasks (tasks created before the cutoff).';

-- Room on each page for an updated row version (HOT needs it on the same page).
alter table background_tasks set (fillfactor = 50);

-- migrate:down
alter table background_tasks reset (fillfactor);
create index background_tasks_status_created_at_id_idx
    on background_tasks (status, created_at, id);
create index background_tasks_created_at_id_pending_idx
    on background_tasks (created_at, id)
    where status = 'pending';
create index background_tasks_task_type_created_at_id_idx
    on background_tasks (task_type, created_at, id)
    where status = 'pending';
create index background_tasks_completed_at_idx
    on background_tasks (completed_at)
    where completed_at is not null;
comment on index background_tasks_user_session_created_at_id_idx is null;
comment on index background_tasks_created_at_id_idx is null;
drop trigger background_tasks_100_sync_queue_on_update on background_tasks;
drop trigger background_tasks_100_sync_queue_on_insert on background_tasks;
drop function tg_background_tasks__sync_queue();
drop table background_task_queue;
