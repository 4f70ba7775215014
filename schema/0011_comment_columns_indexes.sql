-- Comments a DBA can trust in \d+, and two catalog fixes (issue 13, section 1).
--
-- * COMMENT ON for the columns 0002..0010 left silent (ids, timestamps, most status
--   columns), for every index other than a primary key, and for every CHECK whose rule
--   is not obvious from its name (obvious: col >= 0, col <> '', jsonb_typeof(col) = ...).
--   Convention: a comment names the named queries it speaks of as
--   queries/<file>.sql:<name>[,<name>...]; tests/test_schema_conventions.py checks that
--   each one exists, and that no new column, index or CHECK goes uncommented.
-- * The vendor index comments of 0008 named get_vendor_by_name; the query is
--   list_vendors_by_name.
-- * The three LangGraph *_thread_id_idx indexes duplicate the leading column of their
--   table's primary key. They stay: langgraph-checkpoint-postgres creates them in its
--   own MIGRATIONS (v6..v8) and 0007 records those steps as done, so its setup() would
--   not recreate them and our schema would differ from the package's.
-- * messages.fingerprint lost its default '\x' (0 bytes), which violated the column's own
--   CHECK (octet_length = 32) and only worked because the BEFORE INSERT trigger
--   messages_100_set_fingerprint overwrites every value. NOT NULL is checked after
--   BEFORE triggers, so a writer that omits the column still gets the trigger's digest.
-- * calculation_data_observed_at_idx was a BRIN index on plain PostgreSQL and a B-tree
--   (observed_at desc) on TimescaleDB under one name. The BRIN one is renamed
--   calculation_data_observed_at_brin_idx; the B-tree keeps the plain <table>_<col>_idx
--   name (a B-tree is what that pattern means). The condition is real: which of the two
--   0010 built depends on the server, so the rename looks at the index's access method.
--
-- Left as they are, because editing an applied file's up part is drift (the runner
-- checksums it) and the catalog is right:
-- * 0002: the block comment that describes the messages table sits above the
--   messages_canonical_json and messages_fingerprint functions, 78 lines before
--   "create table messages". COMMENT ON TABLE messages is the authoritative text.
-- * 0010: "exception when others" around "create extension timescaledb" catches every
--   failure, not only a missing privilege; the NOTICE it raises carries sqlerrm, and the
--   tables are then created without hypertables (plain PostgreSQL path). A DBA who expects
--   TimescaleDB checks timescaledb_information.hypertables after migrating; the runner
--   prints the NOTICE. Narrowing it to insufficient_privilege needs a new migration that
--   converts existing tables, not an edit of 0010.

-- migrate:up

-- No client breaks: the trigger fills fingerprint for every insert that omits it.
-- squawk-ignore ban-drop-default
alter table messages alter column fingerprint drop default;

comment on column messages.fingerprint is
    'messages_fingerprint() of role, content, name, tool_call_id and tool_calls (32-byte '
    'sha256), set by trigger messages_100_set_fingerprint on every insert and on updates '
    'of those columns (or of fingerprint itself), whatever the writer gives; no default: '
    'writers omit it. save_session compares it with the given messages instead of '
    're-hashing content.';

do $$
begin
    if exists (
        select
        from pg_class as i
        join pg_am as am
            on am.oid = i.relam
        where i.oid = 'calculation_data_observed_at_idx'::regclass
            and am.amname = 'brin'
    ) then
        alter index calculation_data_observed_at_idx
            rename to calculation_data_observed_at_brin_idx;
        comment on index calculation_data_observed_at_brin_idx is
            'BRIN on observed_at (plain PostgreSQL; TimescaleDB gets the B-tree '
            'calculation_data_observed_at_idx instead): time-range scans across all '
            'calculations, queries/shrinkage.sql:list_metric_buckets. Prunes well only while '
            'rows arrive in rough time order (see README).';
    else
        comment on index calculation_data_observed_at_idx is
            'B-tree on observed_at desc, per chunk (TimescaleDB; plain PostgreSQL gets the BRIN '
            'calculation_data_observed_at_brin_idx instead): time-range scans across all '
            'calculations after chunk exclusion, queries/shrinkage.sql:list_metric_buckets.';
    end if;
end
$$;

-- Columns ---------------------------------------------------------------------------

comment on column sessions.created_at is
    'When the session was first saved (default now()); never updated.';

comment on column messages.id is
    'Surrogate key in insertion order; search_messages takes the newest matches by it '
    '(messages_search_candidates).';

comment on column agent_contexts.id is
    'Surrogate key that agent_switches.context_db_id references.';
comment on column agent_contexts.created_at is
    'When the context was first saved (the caller''s value, else now()); kept on update.';
comment on column agent_contexts.updated_at is
    'Last change of the row, set by trigger agent_contexts_100_set_updated_at.';

comment on column agent_switches.id is
    'Surrogate key; also the order the switches were saved in (history order).';
comment on column agent_switches.to_agent is
    'Agent taking over the session (1..100 characters).';
comment on column agent_switches.reason is
    'Why the switch happened, as the caller gave it (up to 10,000 characters); null if none.';

comment on column poc_task_executions.started_at is
    'When the run started (default now()); duration_seconds counts from here.';
comment on column poc_task_executions.error is
    'Error text of a failed run; null otherwise.';

comment on column poc_execution_plans.task_execution_id is
    'The run (poc_task_executions.id) this plan belongs to; unique: one plan per run.';
comment on column poc_execution_plans.original_task is
    'The task text the planner was given, as recorded with the plan.';
comment on column poc_execution_plans.created_at is
    'When the plan was recorded (default now()); keyset order of '
    'queries/planning_metrics.sql:list_open_plans,list_plans_with_subtask_counts.';

comment on column poc_subtask_executions.id is
    'uuid as text (varchar(36)) like the SQLite original; the API addresses subtasks by '
    '(plan_id, subtask_id) instead.';
comment on column poc_subtask_executions.description is
    'What the planner asked the subtask to do.';
comment on column poc_subtask_executions.status is
    'pending -> running -> completed | failed; pending -> failed | skipped. Ending the '
    'last open subtask completes the plan (queries/planning_metrics.sql:complete_plan_if_done).';
comment on column poc_subtask_executions.result is
    'Output of a completed subtask; null otherwise.';

comment on column pipeline_cache.id is
    'Surrogate key; identity "by default" so the SQLite original''s ids import as they are.';
comment on column pipeline_cache.stage is
    'Pipeline stage the result belongs to: import, enrich or analyze.';
comment on column pipeline_cache.created_at is
    'When the entry was first stored (default now()); a put that replaces the result '
    'keeps it.';

comment on column user_sessions.id is
    'Surrogate key; identity "by default" so the SQLite original''s ids import as they are.';
comment on column user_sessions.created_at is
    'When the user session was first recorded (default now()).';

comment on column background_tasks.status is
    'pending -> running (claim) -> completed | failed; pending | running -> cancelled; '
    'running -> pending again when reclaimed. Only running tasks have claimed_by and '
    'claim_id; only finished ones completed_at (see the CHECKs).';
comment on column background_tasks.created_at is
    'When the task was enqueued (default now()); the queue order (oldest pending first).';

comment on column event_plans.id is
    'Event plan id (uuid, generated); task_management_runs.event_id references it.';
comment on column event_plans.title is
    'Name of the event, non-empty.';
comment on column event_plans.created_at is
    'When the plan was created (default now()).';
comment on column event_plans.updated_at is
    'Last change of the row, set by trigger event_plans_100_set_updated_at.';

comment on column vendors.id is
    'Vendor id (uuid, generated).';
comment on column vendors.name is
    'Vendor name as entered, non-empty; looked up ignoring case '
    '(queries/event_planning.sql:list_vendors_by_name).';
comment on column vendors.created_at is
    'When the vendor was added (default now()).';
comment on column vendors.updated_at is
    'Last change of the row, set by trigger vendors_100_set_updated_at.';

comment on column checkpoints.thread_id is
    'LangGraph thread (conversation) id; leading column of checkpoints_pkey.';
comment on column checkpoints.checkpoint_id is
    'Checkpoint id within the thread and namespace (time-ordered uuid6 text, so newest '
    'sorts last).';
comment on column checkpoints.type is
    'Serializer type tag of the checkpoint; null in the package''s current writes.';

comment on column checkpoint_blobs.thread_id is
    'LangGraph thread id; leading column of checkpoint_blobs_pkey.';
comment on column checkpoint_blobs.checkpoint_ns is
    'Checkpoint namespace: empty for the root graph, set for subgraphs.';
comment on column checkpoint_blobs.channel is
    'Graph channel (state key) whose value this is.';
comment on column checkpoint_blobs.version is
    'Channel version the value belongs to; checkpoints reference values by it.';

comment on column checkpoint_writes.thread_id is
    'LangGraph thread id; leading column of checkpoint_writes_pkey.';
comment on column checkpoint_writes.checkpoint_ns is
    'Checkpoint namespace: empty for the root graph, set for subgraphs.';
comment on column checkpoint_writes.checkpoint_id is
    'Checkpoint the pending write was made against (checkpoints.checkpoint_id).';
comment on column checkpoint_writes.task_id is
    'LangGraph task that produced the write.';
comment on column checkpoint_writes.channel is
    'Graph channel the write goes to.';
comment on column checkpoint_writes.type is
    'Serializer type tag of blob.';
comment on column checkpoint_writes.blob is
    'Serialized value of the write.';

comment on column task_management_runs.id is
    'Run id (integer identity "by default", the seed''s SERIAL); parent key of '
    'extended_tasks and task_conflicts.';
comment on column task_management_runs.event_id is
    'The event plan (event_plans.id) the run processed; deleted with it.';
comment on column task_management_runs.created_at is
    'When the row was inserted (default now()).';
comment on column task_management_runs.updated_at is
    'Last change of the row, set by trigger task_management_runs_100_set_updated_at.';

comment on column extended_tasks.id is
    'Row id (integer identity "by default", the seed''s SERIAL); the API uses '
    '(task_management_run_id, task_id).';
comment on column extended_tasks.task_management_run_id is
    'The run (task_management_runs.id) that produced the task; deleted with it.';
comment on column extended_tasks.created_at is
    'When the task was first stored (default now()); an upsert keeps it.';
comment on column extended_tasks.updated_at is
    'Last change of the row, set by trigger extended_tasks_100_set_updated_at.';

comment on column task_conflicts.id is
    'Row id (integer identity "by default", the seed''s SERIAL); the API uses '
    '(task_management_run_id, conflict_id).';
comment on column task_conflicts.task_management_run_id is
    'The run (task_management_runs.id) that detected the conflict; deleted with it.';
comment on column task_conflicts.created_at is
    'When the conflict was first stored (default now()); an upsert keeps it.';
comment on column task_conflicts.updated_at is
    'Last change of the row, set by trigger task_conflicts_100_set_updated_at.';

comment on column materials.id is
    'Surrogate key that calculations and coefficients reference (material_id).';
comment on column materials.name is
    'Human-readable name of the material or object.';
comment on column materials.created_at is
    'When the material was added (default now()).';

comment on column calculation_methods.code is
    'Method key (lowercase snake_case, 1..63 characters) that calculations.method_code '
    'references.';
comment on column calculation_methods.name is
    'Human-readable name of the method.';
comment on column calculation_methods.description is
    'What the method computes and from which inputs; empty when not described.';
comment on column calculation_methods.created_at is
    'When the method was added (default now()).';

comment on column coefficient_types.code is
    'Coefficient key (lowercase snake_case, 1..63 characters) that '
    'coefficients.coefficient_code references.';
comment on column coefficient_types.name is
    'Human-readable name of the coefficient.';
comment on column coefficient_types.description is
    'What the coefficient means and where its values come from; empty when not described.';
comment on column coefficient_types.created_at is
    'When the coefficient type was added (default now()).';

comment on column calculations.id is
    'Surrogate key that calculation_data.calculation_id references.';
comment on column calculations.material_id is
    'The material or object (materials.id) whose shrinkage is calculated.';
comment on column calculations.method_code is
    'How it is calculated (calculation_methods.code).';
comment on column calculations.created_at is
    'When the calculation was created (default now()).';
comment on column calculations.updated_at is
    'Last change of the row, set by trigger calculations_100_set_updated_at.';

comment on column calculation_data.calculation_id is
    'The calculation (calculations.id) the value belongs to; deleted with it. Leading '
    'column of calculation_data_pkey and the compression segment on TimescaleDB.';
comment on column calculation_data.value is
    'The measured or computed value, in the unit the metric name states.';

comment on column coefficients.material_id is
    'The material (materials.id) the coefficient applies to; compression segment on '
    'TimescaleDB.';
comment on column coefficients.coefficient_code is
    'Which coefficient (coefficient_types.code); its unit is coefficient_types.unit.';
comment on column coefficients.value is
    'Coefficient value from valid_from on, in coefficient_types.unit.';

-- Indexes (primary keys excluded) --------------------------------------------------------

comment on index sessions_session_id_key is
    'Enforces one row per session_id; serves every lookup by it: queries/agent_runtime.sql:'
    'upsert_session,get_session,get_session_stats,soft_delete_session,delete_session,'
    'restore_session,upsert_agent_context,get_agent_context,list_session_messages_page,'
    'list_session_messages_after.';
comment on index idx_session_activity is
    'Seed 001 index (session_id, last_activity), kept by its name; no named query reads it '
    '(lookups by session_id use sessions_session_id_key).';
comment on index idx_active_sessions is
    'Seed 001 index (is_active, last_activity), kept by its name; no named query reads it '
    '(live sessions by age use sessions_last_activity_idx).';
comment on index sessions_last_activity_idx is
    'Live sessions (deleted_at is null) by last_activity: '
    'queries/agent_runtime.sql:list_live_session_ids,soft_delete_idle_sessions.';
comment on index sessions_deleted_at_idx is
    'Soft-deleted sessions by deleted_at: queries/agent_runtime.sql:delete_expired_sessions.';

comment on index messages_session_db_id_seq_key is
    'Enforces one seq per session; serves the session''s messages in order: '
    'queries/agent_runtime.sql:list_message_fingerprints,delete_messages_from,'
    'insert_messages,list_session_messages,list_session_messages_page,'
    'list_session_messages_after,search_session_messages; and the sessions cascade.';
comment on index idx_session_timestamp is
    'Seed 001 index (session_db_id, timestamp): last_message_at of '
    'queries/agent_runtime.sql:get_session_stats.';
comment on index idx_role_timestamp is
    'Seed 001 index (role, timestamp) for analytics by role over time; no named query '
    'reads it.';
comment on index messages_content_fts_idx is
    'GIN full-text index on the first 100,000 characters of content (''simple'' config): '
    'queries/agent_runtime.sql:search_messages (via messages_search_candidates),'
    'search_session_messages. Queries must repeat the exact expression.';

comment on index agent_contexts_session_db_id_key is
    'Enforces one context per session; serves queries/agent_runtime.sql:'
    'upsert_agent_context,get_agent_context,list_agent_switches and the sessions cascade.';
comment on index agent_contexts_current_agent_idx is
    'Contexts by current agent (seed 001): queries/agent_runtime.sql:list_sessions_by_agent.';
comment on index idx_context_switched is
    'Seed 001 index (context_db_id, switched_at): a context''s switches, '
    'queries/agent_runtime.sql:list_context_switches,delete_switches_from,'
    'list_context_history,list_agent_switches; and the agent_contexts cascade.';

comment on index poc_task_executions_task_id_mode_started_at_idx is
    'Runs of one task by mode and start: queries/planning_metrics.sql:list_task_executions.';
comment on index poc_execution_plans_task_execution_id_key is
    'Enforces one plan per run; serves queries/planning_metrics.sql:'
    'insert_plan,get_plan_by_task_execution and the poc_task_executions cascade.';
comment on index idx_poc_plans_task_plan is
    'Seed 000 index (task_execution_id, plan_id), kept by its name; no named query reads it '
    '(lookups by run use poc_execution_plans_task_execution_id_key).';
comment on index idx_poc_plans_complete is
    'Seed 000 index (is_complete), kept by its name; no named query reads it (open plans '
    'use poc_execution_plans_created_at_id_open_idx).';
comment on index poc_execution_plans_created_at_id_idx is
    'All plans oldest first, keyset pages: '
    'queries/planning_metrics.sql:list_plans_with_subtask_counts.';
comment on index poc_execution_plans_created_at_id_open_idx is
    'Open plans only (not is_complete), oldest first: '
    'queries/planning_metrics.sql:list_open_plans.';
comment on index poc_subtask_executions_plan_id_subtask_id_key is
    'Enforces one subtask_id per plan; serves queries/planning_metrics.sql:'
    'insert_subtasks,get_subtask,start_subtask,complete_subtask,fail_subtask,skip_subtask '
    'and the poc_execution_plans cascade.';
comment on index idx_poc_subtasks_plan_seq is
    'Seed 000 index (plan_id, sequence_number): a plan''s subtasks in order, '
    'queries/planning_metrics.sql:list_subtasks,get_plan_metrics,complete_plan_if_done,'
    'list_plans_with_subtask_counts.';
comment on index idx_poc_subtasks_status is
    'Seed 000 index (status): queries/planning_metrics.sql:count_subtasks_by_status.';
comment on index idx_poc_subtasks_agent is
    'Seed 000 index (agent): queries/planning_metrics.sql:list_subtasks_by_agent.';

comment on index pipeline_cache_stage_input_hash_key is
    'Enforces one entry per (stage, input_hash); serves queries/pipeline_cache.sql:'
    'get_entry,upsert_entry,delete_entry,delete_stage_entries,get_session_results.';
comment on index pipeline_cache_input_hash_idx is
    'Entries by hash alone, every stage: queries/pipeline_cache.sql:list_entries_by_hash.';
comment on index pipeline_cache_created_at_id_idx is
    'Entries oldest first: queries/pipeline_cache.sql:list_oldest_entries.';
comment on index pipeline_cache_expires_at_idx is
    'Expiring entries only (expires_at is not null): '
    'queries/pipeline_cache.sql:purge_expired_entries.';
comment on index user_sessions_session_id_key is
    'Enforces one row per session_id; serves queries/pipeline_cache.sql:'
    'upsert_user_session,get_user_session,touch_user_session,get_session_results.';

comment on index background_tasks_task_id_key is
    'Enforces unique public task ids; serves queries/background_tasks.sql:'
    'get_task,update_progress,complete_task,fail_task,cancel_task.';
comment on index background_tasks_user_session_created_at_id_idx is
    'A user session''s tasks newest first (backward scan): '
    'queries/background_tasks.sql:list_tasks_by_session.';
comment on index background_tasks_status_created_at_id_idx is
    'Tasks by status and age: queries/background_tasks.sql:'
    'count_tasks_by_status,reclaim_stale_tasks.';
comment on index background_tasks_created_at_id_pending_idx is
    'Pending tasks only, oldest first (the queue): queries/background_tasks.sql:'
    'claim_next_task.';
comment on index background_tasks_task_type_created_at_id_idx is
    'Pending tasks only, by type then age: queries/background_tasks.sql:'
    'claim_next_task_of_types.';
comment on index background_tasks_completed_at_idx is
    'Finished tasks only (completed_at is not null) by finish time: '
    'queries/background_tasks.sql:purge_finished_tasks.';
comment on index background_tasks_created_at_id_idx is
    'All tasks newest first (backward scan): queries/background_tasks.sql:list_recent_tasks.';

comment on index vendors_service_type_location_city_rating_name_idx is
    'Active vendors (partial: is_active) by service type and lower(location_city), best '
    'rated first then name, in the query''s order: queries/event_planning.sql:list_vendors.';
comment on index vendors_name_idx is
    'Case-insensitive name lookup on lower(name): '
    'queries/event_planning.sql:list_vendors_by_name.';

comment on index checkpoints_thread_id_idx is
    'Duplicates the leading column of checkpoints_pkey (thread_id, ...), which serves the '
    'same lookups. Kept: langgraph-checkpoint-postgres creates it in its MIGRATIONS v6 and '
    '0007 records v6 as done, so setup() would not recreate it and our schema would differ '
    'from the package''s. No named query reads it.';
comment on index checkpoint_blobs_thread_id_idx is
    'Duplicates the leading column of checkpoint_blobs_pkey (thread_id, ...), which serves '
    'the same lookups. Kept: langgraph-checkpoint-postgres creates it in its MIGRATIONS v7 '
    'and 0007 records v7 as done, so setup() would not recreate it and our schema would '
    'differ from the package''s. No named query reads it.';
comment on index checkpoint_writes_thread_id_idx is
    'Duplicates the leading column of checkpoint_writes_pkey (thread_id, ...), which serves '
    'the same lookups. Kept: langgraph-checkpoint-postgres creates it in its MIGRATIONS v8 '
    'and 0007 records v8 as done, so setup() would not recreate it and our schema would '
    'differ from the package''s. No named query reads it.';

comment on index task_management_runs_event_id_run_timestamp_idx is
    'An event''s runs by start time (and the event_plans cascade): '
    'queries/event_planning.sql:list_runs_for_event.';
comment on index task_management_runs_status_idx is
    'Seed 003 index list (status field); no named query reads it.';
comment on index task_management_runs_run_timestamp_idx is
    'Seed 003 index list (timestamp); no named query reads it.';
comment on index task_management_runs_processing_summary_idx is
    'Seed 003 index list: GIN (jsonb_path_ops, containment @> only) on '
    'processing_summary; no named query reads it.';
comment on index extended_tasks_task_management_run_id_task_id_key is
    'Enforces one task_id per run; serves queries/event_planning.sql:'
    'upsert_extended_tasks,get_run_summary and the task_management_runs cascade.';
comment on index extended_tasks_created_at_idx is
    'Seed 003 index list (timestamp); no named query reads it.';
comment on index extended_tasks_task_data_idx is
    'GIN (jsonb_path_ops, fastupdate off) on task_data for containment (@>): '
    'queries/event_planning.sql:find_tasks.';
comment on index extended_tasks_has_errors_idx is
    'Partial: tasks whose task_data->>''has_errors'' = ''true'', by run and task_id: '
    'queries/event_planning.sql:list_tasks_with_errors.';
comment on index extended_tasks_requires_manual_review_idx is
    'Partial: tasks whose task_data->>''requires_manual_review'' = ''true'', by run and '
    'task_id: queries/event_planning.sql:list_tasks_for_review.';
comment on index task_conflicts_task_management_run_id_conflict_id_key is
    'Enforces one conflict_id per run; serves queries/event_planning.sql:'
    'upsert_task_conflicts,resolve_conflict,get_conflict,get_run_summary and the '
    'task_management_runs cascade.';
comment on index task_conflicts_resolution_status_idx is
    'Seed 003 index list (status field); no named query reads it (unresolved conflicts '
    'use task_conflicts_unresolved_idx).';
comment on index task_conflicts_created_at_idx is
    'Seed 003 index list (timestamp); no named query reads it.';
comment on index task_conflicts_conflict_data_idx is
    'GIN (jsonb_path_ops, fastupdate off) on conflict_data for containment (@>): '
    'queries/event_planning.sql:find_conflicts.';
comment on index task_conflicts_unresolved_idx is
    'Partial: unresolved conflicts by run and conflict_id: '
    'queries/event_planning.sql:list_unresolved_conflicts.';

comment on index materials_code_key is
    'Enforces unique material codes; serves queries/shrinkage.sql:'
    'get_material_by_code,insert_material.';
comment on index calculations_material_id_period_start_idx is
    'A material''s calculations, newest period first (and the materials foreign key): '
    'queries/shrinkage.sql:list_material_calculations.';
comment on index calculations_method_code_idx is
    'Supports calculations_method_code_fkey (a change to calculation_methods checks '
    'calculations through it); no named query reads it.';
comment on index calculations_status_idx is
    'Partial: unfinished calculations (pending, running) by status and age, for workers '
    'that pick them up; no named query reads it.';
comment on index coefficients_valid_from_idx is
    'B-tree on valid_from desc: time scans across materials (per chunk on TimescaleDB); '
    'no named query reads it (as-of lookups use coefficients_pkey).';

-- CHECK constraints whose rule the name does not tell -------------------------------------

comment on constraint sessions_session_id_length_check on sessions is
    'session_id is 1..255 characters (as pydal_lite/agent_runtime.py validates).';
comment on constraint sessions_is_active_check on sessions is
    'is_active is true exactly when deleted_at is null: soft delete sets both.';

comment on constraint messages_role_check on messages is
    'OpenAI chat roles: system, developer, user, assistant, tool, function (legacy).';
comment on constraint messages_content_check on messages is
    'A message has content or tool_calls (an assistant tool call may have no text).';
comment on constraint messages_content_length_check on messages is
    'content is at most 1,000,000 characters.';
comment on constraint messages_name_length_check on messages is
    'name, when given, is 1..255 characters.';
comment on constraint messages_tool_call_id_length_check on messages is
    'tool_call_id, when given, is 1..255 characters.';
comment on constraint messages_fingerprint_check on messages is
    'fingerprint is a 32-byte sha256 digest (set by trigger messages_100_set_fingerprint).';

comment on constraint agent_contexts_current_agent_length_check on agent_contexts is
    'current_agent is 1..100 characters.';
comment on constraint agent_switches_from_agent_length_check on agent_switches is
    'from_agent, when given, is 1..100 characters.';
comment on constraint agent_switches_to_agent_length_check on agent_switches is
    'to_agent is 1..100 characters.';
comment on constraint agent_switches_reason_length_check on agent_switches is
    'reason is at most 10,000 characters.';

comment on constraint poc_task_executions_mode_check on poc_task_executions is
    'mode is single-agent or multi-agent; a new mode needs a migration widening this.';
comment on constraint poc_task_executions_status_check on poc_task_executions is
    'status is running, completed or failed.';
comment on constraint poc_task_executions_ended_check on poc_task_executions is
    'completed_at is null exactly while status is running.';
comment on constraint poc_task_executions_completed_at_check on poc_task_executions is
    'A run cannot finish before it started (completed_at >= started_at).';
comment on constraint poc_execution_plans_completion_check on poc_execution_plans is
    'is_complete is true exactly when completed_at is set.';
comment on constraint poc_execution_plans_completed_at_check on poc_execution_plans is
    'A plan cannot complete before it was recorded (completed_at >= created_at).';
comment on constraint poc_subtask_executions_status_check on poc_subtask_executions is
    'status is pending, running, completed, failed or skipped.';
comment on constraint poc_subtask_executions_completed_at_check on poc_subtask_executions is
    'A subtask cannot end before it started (completed_at >= started_at).';
comment on constraint poc_subtask_executions_timestamps_check on poc_subtask_executions is
    'Timestamps follow status: pending has neither; running has started_at only; '
    'completed has both; failed has completed_at (started_at if it ran); skipped has '
    'completed_at only.';

comment on constraint pipeline_cache_stage_check on pipeline_cache is
    'stage is import, enrich or analyze.';
comment on constraint pipeline_cache_input_hash_check on pipeline_cache is
    'input_hash is 64 lowercase hex digits (a SHA-256).';
comment on constraint user_sessions_import_hash_check on user_sessions is
    'import_hash, when set, is 64 lowercase hex digits (a pipeline_cache.input_hash).';
comment on constraint user_sessions_enrich_hash_check on user_sessions is
    'enrich_hash, when set, is 64 lowercase hex digits (a pipeline_cache.input_hash).';
comment on constraint user_sessions_analyze_hash_check on user_sessions is
    'analyze_hash, when set, is 64 lowercase hex digits (a pipeline_cache.input_hash).';

comment on constraint background_tasks_status_check on background_tasks is
    'status is pending, running, completed, failed or cancelled.';
comment on constraint background_tasks_current_stage_check on background_tasks is
    'current_stage, when set, is import, enrich or analyze.';
comment on constraint background_tasks_progress_check on background_tasks is
    'progress is a percentage, 0..100.';
comment on constraint background_tasks_task_type_check on background_tasks is
    'task_type is lowercase snake_case starting with a letter (e.g. ics_processing).';
comment on constraint background_tasks_claimed_check on background_tasks is
    'claimed_by is set exactly while status is running.';
comment on constraint background_tasks_claim_id_check on background_tasks is
    'claim_id (the fencing token) is set exactly while status is running.';
comment on constraint background_tasks_finished_check on background_tasks is
    'completed_at is set exactly when status is completed, failed or cancelled.';

comment on constraint vendors_service_type_check on vendors is
    'service_type is venue, caterer, photographer, decorator, makeup_artist or other.';
comment on constraint vendors_rating_check on vendors is
    'rating, when set, is 0.0..5.0.';

comment on constraint task_management_runs_status_check on task_management_runs is
    'status is initialized, processing, completed or failed '
    '(transitions: pydal_lite.event_planning.RUN_TRANSITIONS).';
comment on constraint extended_tasks_has_errors_check on extended_tasks is
    'task_data.has_errors, when present, is a JSON boolean (extended_tasks_has_errors_idx '
    'compares its text with ''true'').';
comment on constraint extended_tasks_requires_manual_review_check on extended_tasks is
    'task_data.requires_manual_review, when present, is a JSON boolean '
    '(extended_tasks_requires_manual_review_idx compares its text with ''true'').';
comment on constraint task_conflicts_resolution_status_check on task_conflicts is
    'resolution_status is unresolved, resolved or ignored.';
comment on constraint task_conflicts_resolved_at_check on task_conflicts is
    'resolved_at is null exactly while resolution_status is unresolved.';

comment on constraint materials_code_check on materials is
    'code is 1..63 characters: a letter or digit, then letters, digits, _ . or -.';
comment on constraint materials_kind_check on materials is
    'kind is material (a substance or good) or object (a storage object).';
comment on constraint calculation_methods_code_check on calculation_methods is
    'code is lowercase snake_case, 1..63 characters, starting with a letter.';
comment on constraint coefficient_types_code_check on coefficient_types is
    'code is lowercase snake_case, 1..63 characters, starting with a letter.';
comment on constraint calculations_status_check on calculations is
    'status is pending, running, completed or failed.';
comment on constraint calculations_period_check on calculations is
    'The period is not empty: period_end > period_start.';
comment on constraint calculations_completed_at_check on calculations is
    'completed_at is set exactly when status is completed or failed.';
comment on constraint calculation_data_metric_check on calculation_data is
    'metric is lowercase snake_case, 1..63 characters, starting with a letter (mass_kg).';

-- migrate:down

comment on constraint calculation_data_metric_check on calculation_data is null;
comment on constraint calculations_completed_at_check on calculations is null;
comment on constraint calculations_period_check on calculations is null;
comment on constraint calculations_status_check on calculations is null;
comment on constraint coefficient_types_code_check on coefficient_types is null;
comment on constraint calculation_methods_code_check on calculation_methods is null;
comment on constraint materials_kind_check on materials is null;
comment on constraint materials_code_check on materials is null;
comment on constraint task_conflicts_resolved_at_check on task_conflicts is null;
comment on constraint task_conflicts_resolution_status_check on task_conflicts is null;
comment on constraint extended_tasks_requires_manual_review_check on extended_tasks is null;
comment on constraint extended_tasks_has_errors_check on extended_tasks is null;
comment on constraint task_management_runs_status_check on task_management_runs is null;
comment on constraint vendors_rating_check on vendors is null;
comment on constraint vendors_service_type_check on vendors is null;
comment on constraint background_tasks_finished_check on background_tasks is null;
comment on constraint background_tasks_claim_id_check on background_tasks is null;
comment on constraint background_tasks_claimed_check on background_tasks is null;
comment on constraint background_tasks_task_type_check on background_tasks is null;
comment on constraint background_tasks_progress_check on background_tasks is null;
comment on constraint background_tasks_current_stage_check on background_tasks is null;
comment on constraint background_tasks_status_check on background_tasks is null;
comment on constraint user_sessions_analyze_hash_check on user_sessions is null;
comment on constraint user_sessions_enrich_hash_check on user_sessions is null;
comment on constraint user_sessions_import_hash_check on user_sessions is null;
comment on constraint pipeline_cache_input_hash_check on pipeline_cache is null;
comment on constraint pipeline_cache_stage_check on pipeline_cache is null;
comment on constraint poc_subtask_executions_timestamps_check on poc_subtask_executions is null;
comment on constraint poc_subtask_executions_completed_at_check on poc_subtask_executions is null;
comment on constraint poc_subtask_executions_status_check on poc_subtask_executions is null;
comment on constraint poc_execution_plans_completed_at_check on poc_execution_plans is null;
comment on constraint poc_execution_plans_completion_check on poc_execution_plans is null;
comment on constraint poc_task_executions_completed_at_check on poc_task_executions is null;
comment on constraint poc_task_executions_ended_check on poc_task_executions is null;
comment on constraint poc_task_executions_status_check on poc_task_executions is null;
comment on constraint poc_task_executions_mode_check on poc_task_executions is null;
comment on constraint agent_switches_reason_length_check on agent_switches is null;
comment on constraint agent_switches_to_agent_length_check on agent_switches is null;
comment on constraint agent_switches_from_agent_length_check on agent_switches is null;
comment on constraint agent_contexts_current_agent_length_check on agent_contexts is null;
comment on constraint messages_fingerprint_check on messages is null;
comment on constraint messages_tool_call_id_length_check on messages is null;
comment on constraint messages_name_length_check on messages is null;
comment on constraint messages_content_length_check on messages is null;
comment on constraint messages_content_check on messages is null;
comment on constraint messages_role_check on messages is null;
comment on constraint sessions_is_active_check on sessions is null;
comment on constraint sessions_session_id_length_check on sessions is null;

comment on index coefficients_valid_from_idx is null;
comment on index calculations_status_idx is null;
comment on index calculations_method_code_idx is null;
comment on index calculations_material_id_period_start_idx is null;
comment on index materials_code_key is null;
comment on index task_conflicts_unresolved_idx is null;
comment on index task_conflicts_conflict_data_idx is null;
comment on index task_conflicts_created_at_idx is null;
comment on index task_conflicts_resolution_status_idx is null;
comment on index task_conflicts_task_management_run_id_conflict_id_key is null;
comment on index extended_tasks_requires_manual_review_idx is null;
comment on index extended_tasks_has_errors_idx is null;
comment on index extended_tasks_task_data_idx is null;
comment on index extended_tasks_created_at_idx is null;
comment on index extended_tasks_task_management_run_id_task_id_key is null;
comment on index task_management_runs_processing_summary_idx is null;
comment on index task_management_runs_run_timestamp_idx is null;
comment on index task_management_runs_status_idx is null;
comment on index task_management_runs_event_id_run_timestamp_idx is null;
comment on index checkpoint_writes_thread_id_idx is null;
comment on index checkpoint_blobs_thread_id_idx is null;
comment on index checkpoints_thread_id_idx is null;
comment on index vendors_name_idx is
    'get_vendor_by_name: case-insensitive name lookup';
comment on index vendors_service_type_location_city_rating_name_idx is
    'list_vendors: active vendors by service type and city (lower), best rated first';
comment on index background_tasks_created_at_id_idx is null;
comment on index background_tasks_completed_at_idx is null;
comment on index background_tasks_task_type_created_at_id_idx is null;
comment on index background_tasks_created_at_id_pending_idx is null;
comment on index background_tasks_status_created_at_id_idx is null;
comment on index background_tasks_user_session_created_at_id_idx is null;
comment on index background_tasks_task_id_key is null;
comment on index user_sessions_session_id_key is null;
comment on index pipeline_cache_expires_at_idx is null;
comment on index pipeline_cache_created_at_id_idx is null;
comment on index pipeline_cache_input_hash_idx is null;
comment on index pipeline_cache_stage_input_hash_key is null;
comment on index idx_poc_subtasks_agent is null;
comment on index idx_poc_subtasks_status is null;
comment on index idx_poc_subtasks_plan_seq is null;
comment on index poc_subtask_executions_plan_id_subtask_id_key is null;
comment on index poc_execution_plans_created_at_id_open_idx is null;
comment on index poc_execution_plans_created_at_id_idx is null;
comment on index idx_poc_plans_complete is null;
comment on index idx_poc_plans_task_plan is null;
comment on index poc_execution_plans_task_execution_id_key is null;
comment on index poc_task_executions_task_id_mode_started_at_idx is null;
comment on index idx_context_switched is null;
comment on index agent_contexts_current_agent_idx is null;
comment on index agent_contexts_session_db_id_key is null;
comment on index messages_content_fts_idx is null;
comment on index idx_role_timestamp is null;
comment on index idx_session_timestamp is null;
comment on index messages_session_db_id_seq_key is null;
comment on index sessions_deleted_at_idx is null;
comment on index sessions_last_activity_idx is null;
comment on index idx_active_sessions is null;
comment on index idx_session_activity is null;
comment on index sessions_session_id_key is null;

comment on column coefficients.value is null;
comment on column coefficients.coefficient_code is null;
comment on column coefficients.material_id is null;
comment on column calculation_data.value is null;
comment on column calculation_data.calculation_id is null;
comment on column calculations.updated_at is null;
comment on column calculations.created_at is null;
comment on column calculations.method_code is null;
comment on column calculations.material_id is null;
comment on column calculations.id is null;
comment on column coefficient_types.created_at is null;
comment on column coefficient_types.description is null;
comment on column coefficient_types.name is null;
comment on column coefficient_types.code is null;
comment on column calculation_methods.created_at is null;
comment on column calculation_methods.description is null;
comment on column calculation_methods.name is null;
comment on column calculation_methods.code is null;
comment on column materials.created_at is null;
comment on column materials.name is null;
comment on column materials.id is null;
comment on column task_conflicts.updated_at is null;
comment on column task_conflicts.created_at is null;
comment on column task_conflicts.task_management_run_id is null;
comment on column task_conflicts.id is null;
comment on column extended_tasks.updated_at is null;
comment on column extended_tasks.created_at is null;
comment on column extended_tasks.task_management_run_id is null;
comment on column extended_tasks.id is null;
comment on column task_management_runs.updated_at is null;
comment on column task_management_runs.created_at is null;
comment on column task_management_runs.event_id is null;
comment on column task_management_runs.id is null;
comment on column checkpoint_writes.blob is null;
comment on column checkpoint_writes.type is null;
comment on column checkpoint_writes.channel is null;
comment on column checkpoint_writes.task_id is null;
comment on column checkpoint_writes.checkpoint_id is null;
comment on column checkpoint_writes.checkpoint_ns is null;
comment on column checkpoint_writes.thread_id is null;
comment on column checkpoint_blobs.version is null;
comment on column checkpoint_blobs.channel is null;
comment on column checkpoint_blobs.checkpoint_ns is null;
comment on column checkpoint_blobs.thread_id is null;
comment on column checkpoints.type is null;
comment on column checkpoints.checkpoint_id is null;
comment on column checkpoints.thread_id is null;
comment on column vendors.updated_at is null;
comment on column vendors.created_at is null;
comment on column vendors.name is null;
comment on column vendors.id is null;
comment on column event_plans.updated_at is null;
comment on column event_plans.created_at is null;
comment on column event_plans.title is null;
comment on column event_plans.id is null;
comment on column background_tasks.created_at is null;
comment on column background_tasks.status is null;
comment on column user_sessions.created_at is null;
comment on column user_sessions.id is null;
comment on column pipeline_cache.created_at is null;
comment on column pipeline_cache.stage is null;
comment on column pipeline_cache.id is null;
comment on column poc_subtask_executions.result is null;
comment on column poc_subtask_executions.status is null;
comment on column poc_subtask_executions.description is null;
comment on column poc_subtask_executions.id is null;
comment on column poc_execution_plans.created_at is null;
comment on column poc_execution_plans.original_task is null;
comment on column poc_execution_plans.task_execution_id is null;
comment on column poc_task_executions.error is null;
comment on column poc_task_executions.started_at is null;
comment on column agent_switches.reason is null;
comment on column agent_switches.to_agent is null;
comment on column agent_switches.id is null;
comment on column agent_contexts.updated_at is null;
comment on column agent_contexts.created_at is null;
comment on column agent_contexts.id is null;
comment on column messages.id is null;
comment on column sessions.created_at is null;

do $$
begin
    if to_regclass('calculation_data_observed_at_brin_idx') is not null then
        comment on index calculation_data_observed_at_brin_idx is null;
        alter index calculation_data_observed_at_brin_idx
            rename to calculation_data_observed_at_idx;
    else
        comment on index calculation_data_observed_at_idx is null;
    end if;
end
$$;

comment on column messages.fingerprint is
    'messages_fingerprint() of role, content, name, tool_call_id and tool_calls (32-byte '
    'sha256), set by trigger messages_100_set_fingerprint on every insert and on updates '
    'of those columns (or of fingerprint itself), '
    'whatever the writer gives (the empty default only lets writers omit the column). '
    'save_session compares it with the given messages instead of re-hashing content.';

alter table messages
    alter column fingerprint set default '\x'::bytea;
