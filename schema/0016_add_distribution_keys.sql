-- Distribution keys in every primary key (issue 11): the schema a Citus cluster can
-- shard, still plain PostgreSQL (0017 distributes it only where Citus is installed).
--
-- Citus requires each PRIMARY KEY / UNIQUE of a distributed table to contain the
-- distribution column, and foreign keys between distributed tables to join on it. The
-- keys chosen (docs/scaling.md explains each):
--
--   messages, agent_contexts, agent_switches  session_db_id       (one session's rows)
--   poc_execution_plans, poc_subtask_executions task_execution_id (one run's plan)
--   pipeline_cache                            input_hash
--   extended_tasks, task_conflicts            task_management_run_id
--
-- So each of those primary keys becomes (key, id), and the two children that did not
-- carry their parent's key get it:
-- * agent_switches.session_db_id (filled from its agent context), with the foreign key
--   to agent_contexts on (session_db_id, context_db_id);
-- * poc_subtask_executions.task_execution_id (filled from its plan), with the foreign key
--   to poc_execution_plans on (task_execution_id, plan_id) and the unique subtask id per
--   plan on (task_execution_id, plan_id, subtask_id): plan_id determines
--   task_execution_id, so the rule it enforces is the same.
-- The ids stay unique in practice (identity columns or generated uuids); what no longer
-- exists is an index on id alone, and no query looks rows up by id alone any more.
--
-- Locks: every statement here rebuilds a primary key or adds a column under an ACCESS
-- EXCLUSIVE lock on its table, messages included (an index build over all messages).
-- Run it in a maintenance window on a large database; the runner's lock timeout bounds
-- the wait for the locks, not the build.

-- migrate:up

-- messages, agent_contexts, agent_switches: by session ----------------------------
-- squawk-ignore adding-serial-primary-key-field, ban-drop-constraint, constraint-missing-not-valid
alter table messages drop constraint messages_pkey, add constraint messages_pkey primary key (session_db_id, id);

comment on index messages_pkey is
    'Primary key (session_db_id, id): the session first so Citus can shard by it; serves '
    'the global search''s look-up of its candidates (queries/agent_runtime.sql:search_messages)';

-- squawk-ignore ban-drop-constraint
alter table agent_switches drop constraint agent_switches_context_db_id_fkey;

-- squawk-ignore adding-serial-primary-key-field, ban-drop-constraint, constraint-missing-not-valid
alter table agent_contexts drop constraint agent_contexts_pkey, add constraint agent_contexts_pkey primary key (session_db_id, id);

comment on index agent_contexts_pkey is
    'Primary key (session_db_id, id); agent_switches references it. One context per '
    'session is agent_contexts_session_db_id_key''s rule';

alter table agent_switches add column session_db_id bigint;

comment on column agent_switches.session_db_id is
    'The session (sessions.id) of the switch''s agent context: the distribution key it '
    'shares with messages and agent_contexts';

update agent_switches as w
set session_db_id = c.session_db_id
from agent_contexts as c
where c.id = w.context_db_id;

-- squawk-ignore adding-not-nullable-field
alter table agent_switches alter column session_db_id set not null;

-- squawk-ignore adding-serial-primary-key-field, ban-drop-constraint, constraint-missing-not-valid
alter table agent_switches drop constraint agent_switches_pkey, add constraint agent_switches_pkey primary key (session_db_id, id);

comment on index agent_switches_pkey is
    'Primary key (session_db_id, id); serves queries/agent_runtime.sql: '
    'list_context_switches, list_context_history, delete_switches_from, list_agent_switches';

-- The seed's index keeps its name and purpose (a context's switches by time) and now
-- leads with the session, so it also backs the new foreign key (a context delete finds
-- its switches by it) and stays on the session's shard under Citus.
-- squawk-ignore require-concurrent-index-deletion
drop index idx_context_switched;

-- squawk-ignore require-concurrent-index-creation
create index idx_context_switched on agent_switches (session_db_id, context_db_id, switched_at);

comment on index idx_context_switched is
    'Seed 001 index (context_db_id, switched_at), led by session_db_id since 0016: a '
    'context''s switches by time; backs agent_switches_session_db_id_context_db_id_fkey. No '
    'named query needs it (they read agent_switches_pkey).';

-- squawk-ignore adding-foreign-key-constraint, constraint-missing-not-valid
alter table agent_switches add constraint agent_switches_session_db_id_context_db_id_fkey foreign key (session_db_id, context_db_id) references agent_contexts (session_db_id, id) on delete cascade;

-- The global search's candidates carry their session, so the search finds each by
-- messages_pkey (session_db_id, id). PL/pgSQL rather than SQL: Citus cannot run a SQL
-- function whose parameters reach a query of a distributed table, while a PL/pgSQL one
-- runs its query on the coordinator as an ordinary (fan-out) distributed query.
-- squawk-ignore ban-drop-function
drop function messages_search_candidates(tsquery, integer);

create function messages_search_candidates(query tsquery, candidates integer)
returns table (session_db_id bigint, id bigint)
    language plpgsql
    stable
    parallel safe
    rows 100
    set enable_seqscan = off
    set enable_indexscan = off
as $$
#variable_conflict use_column
begin
    return query
    select
        m.session_db_id,
        m.id
    from messages as m
    where to_tsvector('simple'::regconfig, left(m.content, 100000)) @@ query
        and exists (
            select
            from sessions as s
            where s.id = m.session_db_id
                and s.deleted_at is null
        )
    order by m.id desc
    limit candidates;
end
$$;

comment on function messages_search_candidates(tsquery, integer) is
    '(session_db_id, id) of the newest `candidates` messages of live sessions matching the '
    'query, by a bitmap scan of messages_content_fts_idx (planner pinned by SET); see '
    'queries/agent_runtime.sql:search_messages.';

-- Keyed reads now take session_db_id (looked up once by sessions_session_id_key), and
-- the stats read only messages.
comment on index sessions_session_id_key is
    'Enforces one row per session_id; serves every lookup by it: queries/agent_runtime.sql:'
    'upsert_session,get_session,soft_delete_session,delete_session,restore_session.';

comment on index idx_session_timestamp is
    'Seed 001 index (session_db_id, timestamp): a session''s messages by time, one of the '
    'indexes queries/agent_runtime.sql:get_message_stats may read.';

comment on column messages.token_count is
    'Tokens of this message as counted by the caller; null when not counted. Summed by '
    'queries/agent_runtime.sql:get_message_stats.';

-- poc_execution_plans, poc_subtask_executions: by task execution --------------------
-- squawk-ignore ban-drop-constraint
alter table poc_subtask_executions drop constraint poc_subtask_executions_plan_id_fkey;

-- squawk-ignore adding-serial-primary-key-field, ban-drop-constraint, constraint-missing-not-valid
alter table poc_execution_plans drop constraint poc_execution_plans_pkey, add constraint poc_execution_plans_pkey primary key (task_execution_id, id);

comment on index poc_execution_plans_pkey is
    'Primary key (task_execution_id, id); arbiter of queries/planning_metrics.sql:'
    'insert_plan''s on conflict; poc_subtask_executions references it';

-- squawk-ignore prefer-text-field
alter table poc_subtask_executions add column task_execution_id varchar(36);

comment on column poc_subtask_executions.task_execution_id is
    'The run (poc_task_executions.id) of the subtask''s plan: the distribution key it '
    'shares with poc_execution_plans';

update poc_subtask_executions as s
set task_execution_id = p.task_execution_id
from poc_execution_plans as p
where p.id = s.plan_id;

-- squawk-ignore adding-not-nullable-field
alter table poc_subtask_executions alter column task_execution_id set not null;

-- squawk-ignore adding-serial-primary-key-field, ban-drop-constraint, constraint-missing-not-valid
alter table poc_subtask_executions drop constraint poc_subtask_executions_pkey, add constraint poc_subtask_executions_pkey primary key (task_execution_id, id);

comment on index poc_subtask_executions_pkey is 'Primary key (task_execution_id, id)';

-- squawk-ignore ban-drop-constraint, constraint-missing-not-valid, disallowed-unique-constraint
alter table poc_subtask_executions drop constraint poc_subtask_executions_plan_id_subtask_id_key, add constraint poc_subtask_executions_plan_subtask_key unique (task_execution_id, plan_id, subtask_id);

comment on index poc_subtask_executions_plan_subtask_key is
    'One row per subtask id within a plan (plan_id determines task_execution_id, which '
    'leads for Citus); arbiter of queries/planning_metrics.sql:insert_subtasks';

-- squawk-ignore adding-foreign-key-constraint, constraint-missing-not-valid
alter table poc_subtask_executions add constraint poc_subtask_executions_plan_fkey foreign key (task_execution_id, plan_id) references poc_execution_plans (task_execution_id, id) on delete cascade;

-- pipeline_cache: by input hash -----------------------------------------------------
-- squawk-ignore adding-serial-primary-key-field, ban-drop-constraint, constraint-missing-not-valid
alter table pipeline_cache drop constraint pipeline_cache_pkey, add constraint pipeline_cache_pkey primary key (input_hash, id);

comment on index pipeline_cache_pkey is
    'Primary key (input_hash, id); entries are found by (stage, input_hash) through '
    'pipeline_cache_stage_input_hash_key';

-- extended_tasks, task_conflicts: by run --------------------------------------------
-- squawk-ignore adding-serial-primary-key-field, ban-drop-constraint, constraint-missing-not-valid
alter table extended_tasks drop constraint extended_tasks_pkey, add constraint extended_tasks_pkey primary key (task_management_run_id, id);

comment on index extended_tasks_pkey is
    'Primary key (task_management_run_id, id); tasks are found by (run, task_id) through '
    'extended_tasks_task_management_run_id_task_id_key';

-- squawk-ignore adding-serial-primary-key-field, ban-drop-constraint, constraint-missing-not-valid
alter table task_conflicts drop constraint task_conflicts_pkey, add constraint task_conflicts_pkey primary key (task_management_run_id, id);

comment on index task_conflicts_pkey is
    'Primary key (task_management_run_id, id); conflicts are found by (run, conflict_id) '
    'through task_conflicts_task_management_run_id_conflict_id_key';

-- migrate:down
-- squawk-ignore adding-serial-primary-key-field, ban-drop-constraint, constraint-missing-not-valid
alter table task_conflicts drop constraint task_conflicts_pkey, add constraint task_conflicts_pkey primary key (id);
-- squawk-ignore adding-serial-primary-key-field, ban-drop-constraint, constraint-missing-not-valid
alter table extended_tasks drop constraint extended_tasks_pkey, add constraint extended_tasks_pkey primary key (id);
-- squawk-ignore adding-serial-primary-key-field, ban-drop-constraint, constraint-missing-not-valid
alter table pipeline_cache drop constraint pipeline_cache_pkey, add constraint pipeline_cache_pkey primary key (id);

-- squawk-ignore ban-drop-constraint
alter table poc_subtask_executions drop constraint poc_subtask_executions_plan_fkey;
-- squawk-ignore ban-drop-constraint, constraint-missing-not-valid, disallowed-unique-constraint
alter table poc_subtask_executions drop constraint poc_subtask_executions_plan_subtask_key, add constraint poc_subtask_executions_plan_id_subtask_id_key unique (plan_id, subtask_id);
comment on index poc_subtask_executions_plan_id_subtask_id_key is
    'Enforces one subtask_id per plan; serves queries/planning_metrics.sql:'
    'insert_subtasks,get_subtask,start_subtask,complete_subtask,fail_subtask,skip_subtask '
    'and the poc_execution_plans cascade.';
-- squawk-ignore adding-serial-primary-key-field, ban-drop-constraint, constraint-missing-not-valid
alter table poc_subtask_executions drop constraint poc_subtask_executions_pkey, add constraint poc_subtask_executions_pkey primary key (id);
alter table poc_subtask_executions drop column task_execution_id;
-- squawk-ignore adding-serial-primary-key-field, ban-drop-constraint, constraint-missing-not-valid
alter table poc_execution_plans drop constraint poc_execution_plans_pkey, add constraint poc_execution_plans_pkey primary key (id);
-- squawk-ignore adding-foreign-key-constraint, constraint-missing-not-valid
alter table poc_subtask_executions add constraint poc_subtask_executions_plan_id_fkey foreign key (plan_id) references poc_execution_plans (id) on delete cascade;

drop function messages_search_candidates(tsquery, integer);
create function messages_search_candidates(query tsquery, candidates integer)
returns setof bigint
    language sql
    stable
    parallel safe
    rows 100
    set enable_seqscan = off
    set enable_indexscan = off
as $$
select m.id
from messages as m
where to_tsvector('simple'::regconfig, left(m.content, 100000)) @@ query
    and exists (
        select
        from sessions as s
        where s.id = m.session_db_id
            and s.deleted_at is null
    )
order by m.id desc
limit candidates
$$;
comment on function messages_search_candidates(tsquery, integer) is
    'Ids of the newest `candidates` messages of live sessions matching the query, by a '
    'bitmap scan of messages_content_fts_idx (planner pinned by SET); see search_messages.';

-- squawk-ignore ban-drop-constraint
alter table agent_switches drop constraint agent_switches_session_db_id_context_db_id_fkey;
-- squawk-ignore require-concurrent-index-deletion
drop index idx_context_switched;
-- squawk-ignore require-concurrent-index-creation
create index idx_context_switched on agent_switches (context_db_id, switched_at);
comment on index idx_context_switched is
    'Seed 001 index (context_db_id, switched_at): a context''s switches, '
    'queries/agent_runtime.sql:list_context_switches,delete_switches_from,'
    'list_context_history,list_agent_switches; and the agent_contexts cascade.';
-- squawk-ignore adding-serial-primary-key-field, ban-drop-constraint, constraint-missing-not-valid
alter table agent_switches drop constraint agent_switches_pkey, add constraint agent_switches_pkey primary key (id);
alter table agent_switches drop column session_db_id;
-- squawk-ignore adding-serial-primary-key-field, ban-drop-constraint, constraint-missing-not-valid
alter table agent_contexts drop constraint agent_contexts_pkey, add constraint agent_contexts_pkey primary key (id);
-- squawk-ignore adding-foreign-key-constraint, constraint-missing-not-valid
alter table agent_switches add constraint agent_switches_context_db_id_fkey foreign key (context_db_id) references agent_contexts (id) on delete cascade;

-- squawk-ignore adding-serial-primary-key-field, ban-drop-constraint, constraint-missing-not-valid
alter table messages drop constraint messages_pkey, add constraint messages_pkey primary key (id);
comment on index sessions_session_id_key is
    'Enforces one row per session_id; serves every lookup by it: queries/agent_runtime.sql:'
    'upsert_session,get_session,get_session_stats,soft_delete_session,delete_session,'
    'restore_session,upsert_agent_context,get_agent_context,list_session_messages_page,'
    'list_session_messages_after.';
comment on index idx_session_timestamp is
    'Seed 001 index (session_db_id, timestamp): last_message_at of '
    'queries/agent_runtime.sql:get_session_stats.';
comment on column messages.token_count is
    'Tokens of this message as counted by the caller; null when not counted. Summed by '
    'get_session_stats.';
