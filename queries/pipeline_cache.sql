-- Pipeline cache (seed 002): stage results by input hash, and per-session latest hashes.
-- input_hash is computed in Python (pydal_lite.pipeline_cache.input_hash).

-- name: get_entry(stage, input_hash)^
-- The live cache entry of a stage for an input hash (expired entries are misses), or
-- nothing. Served by pipeline_cache_stage_input_hash_key.
select
    id,
    stage,
    input_hash,
    input_data,
    result_data,
    created_at,
    updated_at,
    expires_at
from pipeline_cache
where stage = :stage
    and input_hash = :input_hash
    and (expires_at is null or expires_at > now());

-- name: upsert_entry(stage, input_hash, input_data, result_data, ttl_seconds)<!
-- Stores the result of a stage for an input, replacing any entry (live or expired)
-- for the same (stage, input_hash); expires_at = now() + ttl_seconds, or never when
-- ttl_seconds is null. Returns the stored row. Served by
-- pipeline_cache_stage_input_hash_key (the conflict target).
-- @nullable-params ttl_seconds
insert into pipeline_cache (
    stage,
    input_hash,
    input_data,
    result_data,
    expires_at
)
values (
    :stage,
    :input_hash,
    :input_data::jsonb,
    :result_data::jsonb,
    now() + make_interval(secs => :ttl_seconds::double precision)
)
on conflict (stage, input_hash) do update
set
    input_data = excluded.input_data,
    result_data = excluded.result_data,
    expires_at = excluded.expires_at
returning
    id,
    stage,
    input_hash,
    input_data,
    result_data,
    created_at,
    updated_at,
    expires_at;

-- name: delete_entry(stage, input_hash)!
-- Deletes the entry of a stage for an input hash, live or expired; returns the row
-- count (0 or 1). Served by pipeline_cache_stage_input_hash_key.
delete from pipeline_cache
where stage = :stage
    and input_hash = :input_hash;

-- name: delete_stage_entries(stage)!
-- Deletes every entry of a stage; returns the row count. Served by
-- pipeline_cache_stage_input_hash_key (leading column stage).
delete from pipeline_cache
where stage = :stage;

-- name: purge_expired_entries()!
-- Deletes every entry whose expires_at has passed; returns the row count.
-- Served by pipeline_cache_expires_at_idx (partial, expiring entries only).
delete from pipeline_cache
where expires_at <= now();

-- name: list_entries_by_hash(input_hash)
-- The live entries of every stage for one input hash, by stage. Served by
-- pipeline_cache_input_hash_idx.
select
    id,
    stage,
    input_hash,
    input_data,
    result_data,
    created_at,
    updated_at,
    expires_at
from pipeline_cache
where input_hash = :input_hash
    and (expires_at is null or expires_at > now())
order by stage;

-- name: list_oldest_entries(limit)
-- At most :limit entries (live or expired), oldest first, without their data: id,
-- stage, input_hash and timestamps. Served by pipeline_cache_created_at_id_idx.
select
    id,
    stage,
    input_hash,
    created_at,
    updated_at,
    expires_at
from pipeline_cache
order by created_at, id
limit :limit::bigint;

-- name: upsert_user_session(session_id, import_hash, enrich_hash, analyze_hash)<!
-- Creates the session or updates it: each non-null hash replaces the stored one, null
-- keeps it; last_accessed = now(). Returns the row. Served by
-- user_sessions_session_id_key (the conflict target). now() is in the VALUES, not in
-- the DO UPDATE SET, where Citus refuses non-immutable functions (user_sessions is a
-- reference table there).
-- @nullable-params import_hash, enrich_hash, analyze_hash
insert into user_sessions (
    session_id,
    import_hash,
    enrich_hash,
    analyze_hash,
    last_accessed
)
values (
    :session_id,
    :import_hash,
    :enrich_hash,
    :analyze_hash,
    now()
)
on conflict (session_id) do update
set
    import_hash = coalesce(excluded.import_hash, user_sessions.import_hash),
    enrich_hash = coalesce(excluded.enrich_hash, user_sessions.enrich_hash),
    analyze_hash = coalesce(excluded.analyze_hash, user_sessions.analyze_hash),
    last_accessed = excluded.last_accessed
returning
    id,
    session_id,
    import_hash,
    enrich_hash,
    analyze_hash,
    created_at,
    last_accessed;

-- name: get_user_session(session_id)^
-- One user session, or nothing; does not touch last_accessed. Served by
-- user_sessions_session_id_key.
select
    id,
    session_id,
    import_hash,
    enrich_hash,
    analyze_hash,
    created_at,
    last_accessed
from user_sessions
where session_id = :session_id;

-- name: touch_user_session(session_id)<!
-- Sets last_accessed = now() and returns the session row, or nothing if there is no
-- such session. Served by user_sessions_session_id_key.
update user_sessions
set last_accessed = now()
where session_id = :session_id
returning
    id,
    session_id,
    import_hash,
    enrich_hash,
    analyze_hash,
    created_at,
    last_accessed;

-- name: get_session_entries(import_hash, enrich_hash, analyze_hash)
-- The live entries (stage, input_hash, result_data) of the import entry for
-- :import_hash, the enrich entry for :enrich_hash and the analyze entry for
-- :analyze_hash (a null hash matches nothing): at most one row per stage, by stage.
-- pydal_lite.pipeline_cache.get_session_results reads the session's hashes first
-- (get_user_session) and passes them here. Not a join with user_sessions: on Citus
-- that is a reference table, and a join from it to pipeline_cache (distributed by
-- input_hash) is refused or asks every shard; equalities on the hashes go only to the
-- shards holding them. Served by pipeline_cache_pkey (input_hash leads: one probe per
-- hash).
-- @nullable-params import_hash, enrich_hash, analyze_hash
select
    stage,
    input_hash,
    result_data
from pipeline_cache
where (
    (stage = 'import' and input_hash = :import_hash)
    or (stage = 'enrich' and input_hash = :enrich_hash)
    or (stage = 'analyze' and input_hash = :analyze_hash)
)
and (expires_at is null or expires_at > now())
order by stage;
