-- An index on poc_execution_plans.id alone, lost in 0016 (issue 11, planning metrics).
--
-- 0016 made the plans' primary key (task_execution_id, id) so Citus can shard plans by
-- their run. The public calls that name a plan by its row id only (get_plan,
-- list_subtasks, get_plan_metrics and the subtask lifecycle of pydal_lite.planning_metrics)
-- first look up the plan's task_execution_id (queries/planning_metrics.sql:get_plan_key),
-- then run every other statement with it, so each lands on the run's shard. That look-up,
-- and record_plan_created's check that a caller-chosen row id is not taken by another
-- run's plan, read plans by id alone: without this index each is a full scan of the
-- table (of every shard on Citus, where the look-up probes all shards by this index).
--
-- Not unique: Citus refuses a unique index without the distribution column. Plan row ids
-- are generated uuids or caller-chosen ids that record_plan_created checks first.
--
-- transaction:false: built concurrently, so plans stay writable while it builds. If the
-- build fails PostgreSQL leaves an INVALID index: drop it concurrently and run the
-- migration again (see 0008's header).

-- migrate:up transaction:false
create index concurrently poc_execution_plans_id_idx
    on poc_execution_plans (id);

comment on index poc_execution_plans_id_idx is
    'Plans by row id alone: serves queries/planning_metrics.sql:get_plan_key (the run of a '
    'plan named by its id; a probe of every shard on Citus)';

-- migrate:down transaction:false
drop index concurrently poc_execution_plans_id_idx;
