-- Event planning (seed 003): event plans, vendors, Task Management Agent runs, their
-- extended tasks and conflicts. Schema: schema/0006..0009. The JSON flag predicates
-- (task_data ->> 'has_errors' = 'true', task_data ->> 'requires_manual_review' = 'true',
-- resolution_status = 'unresolved') are written exactly as in the partial indexes of
-- 0009 so the planner can use them: do not rephrase them.

-- name: insert_event_plan(id, title, event_date)<!
-- Creates an event plan with the caller's :id (a new uuid when null); returns the new
-- row, or nothing when a plan with that id exists already (see get_event_plan_for_retry).
-- Primary key event_plans_pkey (the on conflict arbiter).
-- @nullable-params id, event_date
insert into event_plans (
    id,
    title,
    event_date
)
values (
    coalesce(:id::uuid, gen_random_uuid()),
    :title::text,
    :event_date::date
)
on conflict (id) do nothing
returning
    id,
    title,
    event_date,
    created_at,
    updated_at;

-- name: get_event_plan_for_retry(id, title, event_date)$
-- @nullable-params event_date
-- Which of the create arguments (title, event_date) differ from those of the existing
-- event plan :id, as an array of names (empty when the call repeats the one that
-- created it); null when there is no such plan. Served by event_plans_pkey.
select
    array_remove(
        array[
            case when title is distinct from :title::text then 'title' end,
            case when event_date is distinct from :event_date::date then 'event_date' end
        ],
        null
    ) as differing
from event_plans
where id = :id::uuid;

-- name: get_event_plan(event_id)^
-- One event plan by id, or nothing. Served by event_plans_pkey.
select
    id,
    title,
    event_date,
    created_at,
    updated_at
from event_plans
where id = :event_id::uuid;

-- name: insert_vendor(name, service_type, location_city, rating, price_from)<!
-- Adds a vendor (active); returns the new row. Primary key vendors_pkey.
-- @nullable-params rating, price_from
insert into vendors (
    name,
    service_type,
    location_city,
    rating,
    price_from
)
values (
    :name::text,
    :service_type::text,
    :location_city::text,
    :rating::numeric,
    :price_from::numeric
)
returning
    id,
    name,
    service_type,
    location_city,
    rating,
    price_from,
    is_active,
    created_at,
    updated_at;

-- name: list_vendors(service_type, city, limit)
-- Active vendors of one service type in one city (case-insensitive), best rated first
-- (unrated last), then by name; at most :limit rows.
-- Served by vendors_service_type_location_city_rating_name_idx (partial, where is_active).
select
    id,
    name,
    service_type,
    location_city,
    rating,
    price_from
from vendors
where is_active
    and service_type = :service_type::text
    and lower(location_city) = lower(:city::text)
order by
    rating desc nulls last,
    name
limit :limit::integer;

-- name: list_vendors_by_name(name)
-- Vendors whose name equals :name ignoring case, active or not, by id.
-- Served by vendors_name_idx on lower(name).
select
    id,
    name,
    service_type,
    location_city,
    rating,
    price_from,
    is_active
from vendors
where lower(name) = lower(:name::text)
order by id;

-- name: insert_run(event_id, processing_summary, request_key)<!
-- @nullable-params request_key
-- Starts a task management run (status initialized) for an event plan; returns the new
-- row, or nothing when :request_key (null: none) names a run already (see
-- get_run_for_retry). The foreign key is checked through event_plans_pkey;
-- task_management_runs_request_key_idx (partial) is the on conflict arbiter.
insert into task_management_runs (
    event_id,
    processing_summary,
    request_key
)
values (
    :event_id::uuid,
    :processing_summary::jsonb,
    :request_key::text
)
on conflict (request_key) where request_key is not null do nothing
returning
    id,
    event_id,
    run_timestamp,
    processing_summary,
    status,
    error_log,
    created_at,
    updated_at;

-- name: get_run_for_retry(request_key, event_id, processing_summary)^
-- The id of the run created with :request_key and which create arguments differ from
-- the call's, as an array of names (empty when the call repeats the one that created
-- it): event_id, and processing_summary while the run is still initialized (a status
-- move may replace it later). Nothing when no run has the key.
-- Served by task_management_runs_request_key_idx (partial).
-- @nonnull differing
select
    id,
    array_remove(
        array[
            case when event_id is distinct from :event_id::uuid then 'event_id' end,
            case
                when status = 'initialized'
                    and processing_summary is distinct from :processing_summary::jsonb
                    then 'processing_summary'
            end
        ],
        null
    ) as differing
from task_management_runs
where request_key = :request_key::text;

-- name: get_run(run_id)^
-- One run by id, or nothing. Served by task_management_runs_pkey.
select
    id,
    event_id,
    run_timestamp,
    processing_summary,
    status,
    error_log,
    created_at,
    updated_at
from task_management_runs
where id = :run_id::integer;

-- name: list_runs_for_event(event_id)
-- The runs of one event plan, newest first.
-- Served by task_management_runs_event_id_run_timestamp_idx (backward scan).
select
    id,
    event_id,
    run_timestamp,
    processing_summary,
    status,
    error_log,
    created_at,
    updated_at
from task_management_runs
where event_id = :event_id::uuid
order by run_timestamp desc, id desc;

-- name: update_run_status(run_id, status, from_statuses, error_log, processing_summary)<!
-- Moves a run to :status if its current status is one of :from_statuses (the caller's
-- transition table), in one statement so concurrent moves cannot both win. A null
-- :error_log / :processing_summary keeps the stored value. Returns the updated row, or
-- nothing when the run is missing or in another status. Sets updated_at itself: on Citus
-- 0017 drops the trigger from this reference table. Served by task_management_runs_pkey.
update task_management_runs
set
    status = :status::varchar,
    error_log = coalesce(:error_log::text, error_log),
    processing_summary = coalesce(:processing_summary::jsonb, processing_summary),
    updated_at = now()
where id = :run_id::integer
    and status = any(:from_statuses::varchar[])
returning
    id,
    event_id,
    run_timestamp,
    processing_summary,
    status,
    error_log,
    created_at,
    updated_at;

-- name: upsert_extended_tasks(run_id, rows)$
-- Inserts or replaces a batch of tasks of one run in one statement. :rows is a JSON
-- array of {"task_id": ..., "task_data": {...}}; a task whose document is unchanged is
-- not rewritten (its updated_at stays). Returns the number of rows inserted or changed.
-- Conflicts are found through extended_tasks_task_management_run_id_task_id_key.
-- The count comes from RETURNING: on Citus an INSERT ... SELECT goes through the
-- coordinator, whose command tag counts the rows sent, written or not.
with written as (
    insert into extended_tasks (
        task_management_run_id,
        task_id,
        task_data
    )
    select
        :run_id::integer,
        r.task_id,
        r.task_data
    from jsonb_to_recordset(:rows::jsonb) as r (task_id varchar(100), task_data jsonb)
    on conflict (task_management_run_id, task_id) do update
    set task_data = excluded.task_data
    where extended_tasks.task_data is distinct from excluded.task_data
    returning 1
)

select count(*) as written
from written;

-- name: upsert_task_conflicts(run_id, rows)$
-- Inserts or replaces a batch of conflicts of one run in one statement. :rows is a JSON
-- array of {"conflict_id": ..., "conflict_data": {...}}. New conflicts are unresolved;
-- an existing conflict gets the new document but keeps its resolution (a re-run of
-- the detector does not reopen a settled conflict). Returns the number of rows
-- inserted or changed. Conflicts are found through
-- task_conflicts_task_management_run_id_conflict_id_key.
-- The count comes from RETURNING: on Citus an INSERT ... SELECT goes through the
-- coordinator, whose command tag counts the rows sent, written or not.
with written as (
    insert into task_conflicts (
        task_management_run_id,
        conflict_id,
        conflict_data
    )
    select
        :run_id::integer,
        r.conflict_id,
        r.conflict_data
    from jsonb_to_recordset(:rows::jsonb) as r (conflict_id varchar(100), conflict_data jsonb)
    on conflict (task_management_run_id, conflict_id) do update
    set conflict_data = excluded.conflict_data
    where task_conflicts.conflict_data is distinct from excluded.conflict_data
    returning 1
)

select count(*) as written
from written;

-- name: find_tasks(run_id, filter, limit)
-- Tasks of one run whose document contains :filter (JSON containment, @>), by task_id,
-- at most :limit rows. Served by extended_tasks_task_data_idx (GIN, jsonb_path_ops).
select
    id,
    task_management_run_id,
    task_id,
    task_data,
    created_at,
    updated_at
from extended_tasks
where task_management_run_id = :run_id::integer
    and task_data @> :filter::jsonb
order by task_id
limit :limit::integer;

-- name: list_tasks_with_errors(run_id, after_task_id, limit)
-- Tasks of one run flagged {"has_errors": true}, by task_id, after :after_task_id
-- (keyset paging: pass '' first, then the last task_id seen), at most :limit rows.
-- Served by extended_tasks_has_errors_idx (partial).
select
    id,
    task_management_run_id,
    task_id,
    task_data,
    created_at,
    updated_at
from extended_tasks
where task_management_run_id = :run_id::integer
    and task_data ->> 'has_errors' = 'true'
    and task_id > :after_task_id::varchar
order by task_id
limit :limit::integer;

-- name: list_tasks_for_review(run_id, after_task_id, limit)
-- Tasks of one run flagged {"requires_manual_review": true}, by task_id, after
-- :after_task_id (keyset paging as above), at most :limit rows.
-- Served by extended_tasks_requires_manual_review_idx (partial).
select
    id,
    task_management_run_id,
    task_id,
    task_data,
    created_at,
    updated_at
from extended_tasks
where task_management_run_id = :run_id::integer
    and task_data ->> 'requires_manual_review' = 'true'
    and task_id > :after_task_id::varchar
order by task_id
limit :limit::integer;

-- name: find_conflicts(run_id, filter, limit)
-- Conflicts of one run (any resolution) whose document contains :filter, e.g.
-- {"conflict_type": "venue"}, by conflict_id, at most :limit rows.
-- Served by task_conflicts_conflict_data_idx (GIN, jsonb_path_ops).
select
    id,
    task_management_run_id,
    conflict_id,
    conflict_data,
    resolution_status,
    resolved_at,
    created_at,
    updated_at
from task_conflicts
where task_management_run_id = :run_id::integer
    and conflict_data @> :filter::jsonb
order by conflict_id
limit :limit::integer;

-- name: list_unresolved_conflicts(run_id, after_conflict_id, limit)
-- Unresolved conflicts of one run, by conflict_id, after :after_conflict_id (keyset
-- paging: '' first), at most :limit rows. Served by task_conflicts_unresolved_idx
-- (partial).
select
    id,
    task_management_run_id,
    conflict_id,
    conflict_data,
    resolution_status,
    resolved_at,
    created_at,
    updated_at
from task_conflicts
where task_management_run_id = :run_id::integer
    and resolution_status = 'unresolved'
    and conflict_id > :after_conflict_id::varchar
order by conflict_id
limit :limit::integer;

-- name: resolve_conflict(run_id, conflict_id, resolution_status)<!
-- Settles one unresolved conflict as :resolution_status (resolved or ignored) and
-- stamps resolved_at; returns the updated row, or nothing when the conflict is missing
-- or already settled. Served by task_conflicts_task_management_run_id_conflict_id_key.
update task_conflicts
set
    resolution_status = :resolution_status::varchar,
    resolved_at = now()
where task_management_run_id = :run_id::integer
    and conflict_id = :conflict_id::varchar
    and resolution_status = 'unresolved'
returning
    id,
    task_management_run_id,
    conflict_id,
    conflict_data,
    resolution_status,
    resolved_at,
    created_at,
    updated_at;

-- name: get_conflict(run_id, conflict_id)^
-- One conflict of a run by its conflict_id, or nothing.
-- Served by task_conflicts_task_management_run_id_conflict_id_key.
select
    id,
    task_management_run_id,
    conflict_id,
    conflict_data,
    resolution_status,
    resolved_at,
    created_at,
    updated_at
from task_conflicts
where task_management_run_id = :run_id::integer
    and conflict_id = :conflict_id::varchar;

-- name: get_run_summary(run_id)^
-- One row per run id (nothing when missing): status and times, task_count,
-- error_count, review_count, and conflicts_by_status, a JSON object with a count for
-- each of unresolved, resolved and ignored. Counts use
-- extended_tasks_task_management_run_id_task_id_key, the two partial task indexes and
-- task_conflicts_task_management_run_id_conflict_id_key. The counts name :run_id, not
-- r.id: a correlated subquery on the run (a Citus reference table) would not be routed
-- to the shard of the run's tasks.
-- @nonnull task_count, error_count, review_count, conflicts_by_status
select
    r.id,
    r.event_id,
    r.status,
    r.run_timestamp,
    r.updated_at,
    (
        select count(*)
        from extended_tasks as t
        where t.task_management_run_id = :run_id::integer
    ) as task_count,
    (
        select count(*)
        from extended_tasks as t
        where t.task_management_run_id = :run_id::integer
            and t.task_data ->> 'has_errors' = 'true'
    ) as error_count,
    (
        select count(*)
        from extended_tasks as t
        where t.task_management_run_id = :run_id::integer
            and t.task_data ->> 'requires_manual_review' = 'true'
    ) as review_count,
    (
        select jsonb_object_agg(s.status, coalesce(c.n, 0))
        from unnest(array['unresolved', 'resolved', 'ignored']) as s (status)
        left join (
            select
                tc.resolution_status,
                count(*) as n
            from task_conflicts as tc
            where tc.task_management_run_id = :run_id::integer
            group by tc.resolution_status
        ) as c
            on c.resolution_status = s.status
    ) as conflicts_by_status
from task_management_runs as r
where r.id = :run_id::integer;
