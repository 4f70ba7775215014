-- Planning metrics (seed 000): one benchmark run of a task, the plan a planner made
-- for it, and the execution of each planned subtask.
--
-- Ids stay varchar(36) (uuid text) as in the SQLite original, so its rows import
-- unchanged; new rows get gen_random_uuid()::text. JSON columns are jsonb.
--
-- Plan completion is automatic: the operation that ends a plan's last open subtask
-- (complete, fail or skip in pydal_lite.planning_metrics) sets is_complete and
-- completed_at in the same transaction, holding the plan row's lock so that two
-- subtasks ending at once cannot both miss it. A plan whose subtask list is empty
-- is complete when it is recorded. Nothing here does that by trigger: the rule
-- lives in the operation and its named query complete_plan_if_done.

-- migrate:up

-- A benchmark run of one task in one mode. The seed references it but does not
-- describe it; each plan belongs to exactly one run.
create table poc_task_executions (
    id varchar(36) not null default gen_random_uuid()::text,
    task_id varchar(100) not null,
    mode varchar(50) not null,
    status varchar(50) not null default 'running',
    started_at timestamptz not null default now(),
    completed_at timestamptz,
    duration_seconds double precision,
    tokens bigint,
    success boolean,
    error text,
    metadata jsonb not null default '{}'::jsonb,
    constraint poc_task_executions_pkey primary key (id),
    constraint poc_task_executions_mode_check
        check (mode in ('single-agent', 'multi-agent')),
    constraint poc_task_executions_status_check
        check (status in ('running', 'completed', 'failed')),
    constraint poc_task_executions_ended_check
        check ((status = 'running') = (completed_at is null)),
    constraint poc_task_executions_completed_at_check
        check (completed_at >= started_at),
    constraint poc_task_executions_duration_seconds_check
        check (duration_seconds >= 0),
    constraint poc_task_executions_tokens_check
        check (tokens >= 0),
    constraint poc_task_executions_metadata_check
        check (jsonb_typeof(metadata) = 'object')
);

comment on table poc_task_executions is
    'One benchmark run of one task in one mode (seed 000 references it as the parent of '
    'poc_execution_plans). Started as running; finished as completed or failed.';
comment on column poc_task_executions.id is
    'uuid as text (varchar(36)) like the SQLite original, so legacy rows import as they are';
comment on column poc_task_executions.task_id is
    'The benchmark task this run executes (e.g. task_001); many runs per task';
comment on column poc_task_executions.mode is
    'single-agent or multi-agent (the benchmark''s --mode); a new mode needs a migration '
    'that widens poc_task_executions_mode_check';
comment on column poc_task_executions.status is
    'running until finished; completed = the run ended normally (see success for its '
    'verdict), failed = it stopped with an error';
comment on column poc_task_executions.completed_at is
    'When the run finished; null exactly while status is running';
comment on column poc_task_executions.duration_seconds is
    'completed_at - started_at in seconds, computed by the database when the run finishes';
comment on column poc_task_executions.tokens is
    'LLM tokens the run used (prompt + completion); null until reported';
comment on column poc_task_executions.success is
    'The benchmark''s verdict on the run''s answer; null until finished. A completed run '
    'may still be unsuccessful';
comment on column poc_task_executions.metadata is
    'Free-form facts about the run (model, settings, ...), a JSON object';

-- Runs of one task, by mode and start (list_task_executions).
create index poc_task_executions_task_id_mode_started_at_idx
    on poc_task_executions (task_id, mode, started_at);

-- The plan a planner produced for one run (at most one per run, as in the seed).
create table poc_execution_plans (
    id varchar(36) not null default gen_random_uuid()::text,
    task_execution_id varchar(36) not null,
    plan_id varchar(100) not null,
    original_task text not null,
    subtask_count integer not null default 0,
    created_at timestamptz not null default now(),
    completed_at timestamptz,
    is_complete boolean not null default false,
    metadata jsonb,
    constraint poc_execution_plans_pkey primary key (id),
    constraint poc_execution_plans_task_execution_id_key unique (task_execution_id),
    constraint poc_execution_plans_task_execution_id_fkey
        foreign key (task_execution_id) references poc_task_executions (id) on delete cascade,
    constraint poc_execution_plans_subtask_count_check
        check (subtask_count >= 0),
    constraint poc_execution_plans_completion_check
        check (is_complete = (completed_at is not null)),
    constraint poc_execution_plans_completed_at_check
        check (completed_at >= created_at),
    constraint poc_execution_plans_metadata_check
        check (jsonb_typeof(metadata) = 'object')
);

comment on table poc_execution_plans is
    'The plan made for one task execution (seed 000). Completes itself: the operation that '
    'ends its last open subtask sets is_complete and completed_at in the same transaction.';
comment on column poc_execution_plans.id is
    'uuid as text; poc_subtask_executions.plan_id refers to this, not to plan_id';
comment on column poc_execution_plans.plan_id is
    'The planner''s own id for the plan (not unique across runs)';
comment on column poc_execution_plans.subtask_count is
    'How many subtasks the planner produced, as recorded with the plan';
comment on column poc_execution_plans.completed_at is
    'When the last open subtask ended; null while the plan is open';
comment on column poc_execution_plans.is_complete is
    'true once every subtask has ended (completed, failed or skipped)';
comment on column poc_execution_plans.metadata is
    'Free-form JSON object from the planner; null allowed as in the SQLite original';

-- The seed's index. poc_execution_plans_task_execution_id_key already serves lookups by
-- run alone; this one serves (run, planner plan id) lookups as the seed had it.
create index idx_poc_plans_task_plan
    on poc_execution_plans (task_execution_id, plan_id);

-- The seed's index: plans by completion (count or filter by is_complete).
create index idx_poc_plans_complete
    on poc_execution_plans (is_complete);

-- All plans oldest first: the keyset pages of list_plans_with_subtask_counts.
create index poc_execution_plans_created_at_id_idx
    on poc_execution_plans (created_at, id);

-- Open plans oldest first (list_open_plans): partial, so it holds only the open plans
-- and gives them in the query's order without a sort, however many plans are complete.
create index poc_execution_plans_created_at_id_open_idx
    on poc_execution_plans (created_at, id)
    where not is_complete;

-- One planned subtask of a plan and what happened when it ran.
create table poc_subtask_executions (
    id varchar(36) not null default gen_random_uuid()::text,
    plan_id varchar(36) not null,
    subtask_id varchar(100) not null,
    sequence_number integer not null,
    description text not null,
    agent varchar(50) not null,
    estimated_time varchar(50),
    status varchar(50) not null default 'pending',
    started_at timestamptz,
    completed_at timestamptz,
    duration_seconds double precision,
    result text,
    error text,
    dependencies jsonb,
    constraint poc_subtask_executions_pkey primary key (id),
    constraint poc_subtask_executions_plan_id_subtask_id_key unique (plan_id, subtask_id),
    constraint poc_subtask_executions_plan_id_fkey
        foreign key (plan_id) references poc_execution_plans (id) on delete cascade,
    constraint poc_subtask_executions_status_check
        check (status in ('pending', 'running', 'completed', 'failed', 'skipped')),
    constraint poc_subtask_executions_sequence_number_check
        check (sequence_number >= 0),
    constraint poc_subtask_executions_completed_at_check
        check (completed_at >= started_at),
    constraint poc_subtask_executions_timestamps_check
        check (
            case status
                when 'pending' then started_at is null and completed_at is null
                when 'running' then started_at is not null and completed_at is null
                when 'completed' then started_at is not null and completed_at is not null
                when 'failed' then completed_at is not null
                when 'skipped' then started_at is null and completed_at is not null
            end
        ),
    constraint poc_subtask_executions_duration_seconds_check
        check (duration_seconds >= 0),
    constraint poc_subtask_executions_dependencies_check
        check (jsonb_typeof(dependencies) = 'array')
);

comment on table poc_subtask_executions is
    'One subtask of an execution plan (seed 000): pending -> running -> completed or '
    'failed; a pending subtask may also fail or be skipped.';
comment on column poc_subtask_executions.plan_id is
    'poc_execution_plans.id (the row id, not the planner''s plan_id)';
comment on column poc_subtask_executions.subtask_id is
    'The planner''s id for the subtask, unique within its plan';
comment on column poc_subtask_executions.sequence_number is
    'Position in the plan (1-based when the collector numbers them)';
comment on column poc_subtask_executions.agent is
    'Name of the agent the planner assigned the subtask to';
comment on column poc_subtask_executions.estimated_time is
    'The planner''s estimate as it wrote it (free text such as "5 min")';
comment on column poc_subtask_executions.started_at is
    'When the subtask started running; null while pending and for a subtask skipped or '
    'failed before it started (poc_subtask_executions_timestamps_check)';
comment on column poc_subtask_executions.completed_at is
    'When the subtask ended (completed, failed or skipped); null exactly while pending '
    'or running';
comment on column poc_subtask_executions.duration_seconds is
    'completed_at - started_at in seconds, computed by the database when the subtask ends; '
    'null if it never started';
comment on column poc_subtask_executions.error is
    'Why the subtask failed or was skipped';
comment on column poc_subtask_executions.dependencies is
    'JSON array of subtask_id values this subtask waits for; null allowed as in the '
    'SQLite original';

-- The seed's index: a plan's subtasks in order (list_subtasks, get_plan_metrics).
create index idx_poc_subtasks_plan_seq
    on poc_subtask_executions (plan_id, sequence_number);

-- The seed's index: subtasks by status across plans (count_subtasks_by_status).
create index idx_poc_subtasks_status
    on poc_subtask_executions (status);

-- The seed's index: one agent's subtasks across plans (list_subtasks_by_agent).
create index idx_poc_subtasks_agent
    on poc_subtask_executions (agent);

-- migrate:down
drop table poc_subtask_executions;
drop table poc_execution_plans;
drop table poc_task_executions;
