-- Index comments for pydal_lite.pipeline_cache.get_session_results without its join
-- (issue 11, Citus).
--
-- get_session_results used to be one query joining user_sessions to pipeline_cache three
-- times on the session's hashes. On Citus user_sessions is a reference table and
-- pipeline_cache is distributed by input_hash, and Citus refuses those left joins. It is
-- now two queries: get_user_session reads the hashes, get_session_entries fetches the
-- entries by (stage, input_hash) equalities, which Citus routes to the shards holding
-- those hashes (on plain PostgreSQL through pipeline_cache_pkey, input_hash first, since
-- 0016). The comments written by 0011 on the two indexes below named the old query
-- (queries/pipeline_cache.sql:get_session_results, which no longer exists); this
-- migration drops it from them. Comments only: no lock beyond a brief one per index.

-- migrate:up
comment on index pipeline_cache_stage_input_hash_key is
    'Enforces one entry per (stage, input_hash); serves queries/pipeline_cache.sql:'
    'get_entry,upsert_entry,delete_entry,delete_stage_entries.';

comment on index user_sessions_session_id_key is
    'Enforces one row per session_id; serves queries/pipeline_cache.sql:'
    'upsert_user_session,get_user_session,touch_user_session.';

-- migrate:down
comment on index user_sessions_session_id_key is
    'Enforces one row per session_id; serves queries/pipeline_cache.sql:'
    'upsert_user_session,get_user_session,touch_user_session,get_session_results.';

comment on index pipeline_cache_stage_input_hash_key is
    'Enforces one entry per (stage, input_hash); serves queries/pipeline_cache.sql:'
    'get_entry,upsert_entry,delete_entry,delete_stage_entries,get_session_results.';
