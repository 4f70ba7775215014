-- Caller-chosen request keys for creates whose row id is an identity (issue 9, section 4).
--
-- A caller that sees pydal_lite.errors.CommitOutcomeUnknown (the connection broke while
-- COMMIT was in flight) cannot tell whether its row exists. Where the caller can choose
-- the row's key itself (event_plans.id, poc_task_executions.id, poc_execution_plans.id)
-- a retry with the same key finds the row; task_management_runs and calculations have
-- identity ids the server assigns, so they get a separate key column here:
--
-- * request_key text, null by default (callers that pass no key behave as before), unique
--   where not null: pydal_lite.event_planning.start_run(..., request_key=...) and
--   pydal_lite.shrinkage.create_calculation(..., request_key=...) insert with
--   "on conflict (request_key) where request_key is not null do nothing" and, when the
--   key was taken, read the row back and compare it with the call's arguments (same
--   arguments: the row is returned; different: InvalidInput naming the key).
-- * Partial unique indexes: rows without a key (most of them) take no index space, and
--   the "where request_key is not null" predicate is what the inserts' on conflict
--   clauses name so PostgreSQL infers these indexes.
-- * A CHECK keeps keys between 1 and 200 characters (pydal_lite checks the same before
--   sending). Added "not valid" then validated: the column is new and all null, so the
--   validation scan finds nothing, and only a share update exclusive lock is held.
--
-- transaction:false: the unique indexes are built concurrently, so neither table is
-- locked against writes while they build (both may be large and live). The runner sends
-- each statement on its own. If a build fails, PostgreSQL leaves an INVALID index: drop
-- it concurrently and run the migration again (see 0008's header).

-- migrate:up transaction:false
alter table task_management_runs
    add column request_key text;

comment on column task_management_runs.request_key is
    'Caller-chosen key (request_key= of pydal_lite.event_planning) of the call that created '
    'the run; a retry with it after an unknown commit outcome returns this run. Null when '
    'the caller gave none';

alter table task_management_runs
    add constraint task_management_runs_request_key_check
    check (char_length(request_key) between 1 and 200) not valid;

alter table task_management_runs
    validate constraint task_management_runs_request_key_check;

comment on constraint task_management_runs_request_key_check on task_management_runs is
    'A request key is 1 to 200 characters (pydal_lite.event_planning checks the same)';

create unique index concurrently task_management_runs_request_key_idx
    on task_management_runs (request_key)
    where request_key is not null;

comment on index task_management_runs_request_key_idx is
    'One run per request key (partial: keyed runs only). Arbiter of the on conflict of '
    'queries/event_planning.sql:insert_run; serves '
    'queries/event_planning.sql:get_run_for_retry';

alter table calculations
    add column request_key text;

comment on column calculations.request_key is
    'Caller-chosen key (request_key= of pydal_lite.shrinkage) of the call that created the '
    'row; a retry with it after an unknown commit outcome returns this row. Null when the '
    'caller gave none';

alter table calculations
    add constraint calculations_request_key_check
    check (char_length(request_key) between 1 and 200) not valid;

alter table calculations
    validate constraint calculations_request_key_check;

comment on constraint calculations_request_key_check on calculations is
    'A request key is 1 to 200 characters (pydal_lite.shrinkage checks the same)';

create unique index concurrently calculations_request_key_idx
    on calculations (request_key)
    where request_key is not null;

comment on index calculations_request_key_idx is
    'One calculation per request key (partial: keyed rows only). Arbiter of the on '
    'conflict of queries/shrinkage.sql:insert_calculation; serves '
    'queries/shrinkage.sql:get_calculation_retry';

-- migrate:down transaction:false
drop index concurrently calculations_request_key_idx;

alter table calculations
    drop column request_key;

drop index concurrently task_management_runs_request_key_idx;

alter table task_management_runs
    drop column request_key;
