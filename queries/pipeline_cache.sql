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
-- user_sessions_session_id_key (the conflict target).
-- @nullable-params import_hash, enrich_hash, analyze_hash
insert into user_sessions (
    session_id,
    import_hash,
    enrich_hash,
    analyze_hash
)
values (
    :session_id,
    :import_hash,
    :enrich_hash,
    :analyze_hash
)
on conflict (session_id) do update
set
    import_hash = coalesce(excluded.import_hash, user_sessions.import_hash),
    enrich_hash = coalesce(excluded.enrich_hash, user_sessions.enrich_hash),
    analyze_hash = coalesce(excluded.analyze_hash, user_sessions.analyze_hash),
    last_accessed = now()
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

-- name: get_session_results(session_id)^
-- The session's latest hashes with the live cached result of each (import_result,
-- enrich_result, analyze_result; null when the entry is missing or expired), or
-- nothing if there is no such session. Served by user_sessions_session_id_key and
-- pipeline_cache_stage_input_hash_key (three lookups).
select
    us.session_id,
    us.import_hash,
    us.enrich_hash,
    us.analyze_hash,
    us.last_accessed,
    ci.result_data as import_result,
    ce.result_data as enrich_result,
    ca.result_data as analyze_result
from user_sessions as us
left join pipeline_cache as ci
    on ci.stage = 'import'
        and ci.input_hash = us.import_hash
        and (ci.expires_at is null or ci.expires_at > now())
left join pipeline_cache as ce
    on ce.stage = 'enrich'
        and ce.input_hash = us.enrich_hash
        and (ce.expires_at is null or ce.expires_at > now())
left join pipeline_cache as ca
    on ca.stage = 'analyze'
        and ca.input_hash = us.analyze_hash
        and (ca.expires_at is null or ca.expires_at > now())
where us.session_id = :session_id;
