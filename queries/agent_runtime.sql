-- Agent runtime (seed 001): sessions, messages, agent contexts and agent switches.
-- Used by pydal_lite/agent_runtime.py; schema in schema/0002_create_agent_runtime.sql.
-- "Live" means not soft-deleted (deleted_at is null).

-- name: upsert_session(session_id, last_activity)<!
-- Creates the session or stamps last_activity on a live one (now() when null) and
-- returns id, session_id, created_at, last_activity, message_count and message_chain
-- (the digest of the stored list, null when a writer other than save_session changed
-- it: the triggers of 0012 and 0021 on plain PostgreSQL). The row stays locked until
-- commit, so concurrent saves of one session take turns. Returns nothing when the
-- session exists but is soft-deleted.
-- Served by sessions_session_id_key.
insert into sessions (
    session_id,
    last_activity
)
values (
    :session_id,
    coalesce(:last_activity::timestamptz, now())
)
on conflict (session_id) do update
set last_activity = excluded.last_activity
where sessions.deleted_at is null
returning
    id,
    session_id,
    created_at,
    last_activity,
    message_count,
    message_chain;

-- name: get_session(session_id, include_deleted)^
-- One session row (id, session_id, created_at, last_activity, is_active, deleted_at),
-- or nothing when unknown or soft-deleted (unless include_deleted).
-- Served by sessions_session_id_key.
select
    id,
    session_id,
    created_at,
    last_activity,
    is_active,
    deleted_at
from sessions
where session_id = :session_id
    and (:include_deleted::boolean or deleted_at is null);

-- name: list_message_fingerprints(session_db_id)
-- Every stored message of a session as (seq, fingerprint), in seq order: fingerprint is
-- the stored messages.fingerprint (messages_fingerprint of role, content, name,
-- tool_call_id and canonical tool_calls, set on insert), which agent_runtime.py
-- recomputes for the given list. Reads 32 bytes per message, never content, so the cost
-- does not grow with the stored text. Served by messages_session_db_id_seq_key.
select
    seq,
    fingerprint
from messages
where session_db_id = :session_db_id::bigint
order by seq;

-- name: delete_messages_from(session_db_id, from_seq)!
-- Deletes a session's messages at and after position from_seq; returns the row count.
-- Served by messages_session_db_id_seq_key.
delete from messages
where session_db_id = :session_db_id::bigint
    and seq >= :from_seq::integer;

-- name: insert_messages(session_db_id, rows)!
-- Inserts a batch of messages given as one JSON array of objects (seq, role, content,
-- timestamp, name, tool_call_id, tool_calls, token_count, metadata, fingerprint as hex)
-- in one statement; a missing timestamp means now(); a missing fingerprint is set by the
-- trigger messages_100_set_fingerprint (save_session sends the one it computed, the
-- same function, so the server does not hash the content again). Returns the row count.
-- Checked by messages_session_db_id_seq_key (a duplicate seq fails the whole batch).
insert into messages (
    session_db_id,
    seq,
    role,
    content,
    timestamp,
    name,
    tool_call_id,
    tool_calls,
    token_count,
    metadata_json,
    fingerprint
)
select
    :session_db_id::bigint,
    m.seq,
    m.role,
    m.content,
    coalesce(m.timestamp, now()) as timestamp,
    m.name,
    m.tool_call_id,
    m.tool_calls,
    m.token_count,
    m.metadata,
    coalesce(decode(m.fingerprint, 'hex'), '\x'::bytea) as fingerprint
from jsonb_to_recordset(:rows::jsonb) as m (
    seq integer,
    role text,
    content text,
    timestamp timestamptz,
    name text,
    tool_call_id text,
    tool_calls jsonb,
    token_count integer,
    metadata jsonb,
    fingerprint text
)
order by m.seq;

-- name: append_messages(session_db_id, rows, message_count, message_chain)!
-- insert_messages for the last batch of a save, in the same statement recording on the
-- session the length and digest of its stored list (message_count, message_chain), so
-- the next save compares one row instead of every fingerprint. Returns the row count
-- of the session update (1). Served by sessions_pkey; checked by
-- messages_session_db_id_seq_key.
with inserted as (
    insert into messages (
        session_db_id,
        seq,
        role,
        content,
        timestamp,
        name,
        tool_call_id,
        tool_calls,
        token_count,
        metadata_json,
        fingerprint
    )
    select
        :session_db_id::bigint,
        m.seq,
        m.role,
        m.content,
        coalesce(m.timestamp, now()) as timestamp,
        m.name,
        m.tool_call_id,
        m.tool_calls,
        m.token_count,
        m.metadata,
        coalesce(decode(m.fingerprint, 'hex'), '\x'::bytea) as fingerprint
    from jsonb_to_recordset(:rows::jsonb) as m (
        seq integer,
        role text,
        content text,
        timestamp timestamptz,
        name text,
        tool_call_id text,
        tool_calls jsonb,
        token_count integer,
        metadata jsonb,
        fingerprint text
    )
    order by m.seq
)
update sessions
set
    message_count = :message_count::integer,
    message_chain = :message_chain::bytea
where id = :session_db_id::bigint;

-- name: set_session_chain(session_db_id, message_count, message_chain)!
-- Records the length and digest of a session's stored list after a save that inserted
-- nothing (or found the recorded digest out of date). Returns 1. Served by sessions_pkey.
update sessions
set
    message_count = :message_count::integer,
    message_chain = :message_chain::bytea
where id = :session_db_id::bigint;

-- name: list_session_messages(session_db_id)
-- All messages of a session in the OpenAI chat shape (role, content, name, tool_call_id,
-- tool_calls), in seq order. Served by messages_session_db_id_seq_key.
select
    role,
    content,
    name,
    tool_call_id,
    tool_calls
from messages
where session_db_id = :session_db_id::bigint
order by seq;

-- name: list_session_messages_page(session_db_id, page_size, page_offset)
-- One page of a session's messages (role, content, name, tool_call_id, tool_calls) in
-- seq order, skipping page_offset rows: cost grows with the offset (see
-- list_session_messages_after). The caller found the live session first (get_session).
-- Served by messages_session_db_id_seq_key.
select
    role,
    content,
    name,
    tool_call_id,
    tool_calls
from messages
where session_db_id = :session_db_id::bigint
order by seq
limit :page_size::integer
offset :page_offset::integer;

-- name: list_session_messages_after(session_db_id, after_seq, row_limit)
-- Keyset page: up to row_limit messages of a session with seq > after_seq, in seq
-- order, with seq, timestamp, token_count and metadata. An index range scan that starts
-- at the cursor, so the cost does not grow with depth. The caller found the live session
-- first (get_session). Served by messages_session_db_id_seq_key.
select
    seq,
    role,
    content,
    name,
    tool_call_id,
    tool_calls,
    timestamp,
    token_count,
    metadata_json as metadata
from messages
where session_db_id = :session_db_id::bigint
    and seq > :after_seq::integer
order by seq
limit :row_limit::integer;

-- name: get_message_stats(session_db_id)^
-- @nonnull message_count, total_tokens
-- A session's message_count, total_tokens (sum of token_count, 0 when none) and
-- last_message_at (newest message timestamp, null when none); always one row. Reads
-- the session's rows through any index that leads with session_db_id (messages_pkey,
-- messages_session_db_id_seq_key, idx_session_timestamp: the planner picks).
select
    count(*) as message_count,
    coalesce(sum(token_count), 0)::bigint as total_tokens,
    max(timestamp) as last_message_at
from messages
where session_db_id = :session_db_id::bigint;

-- name: list_live_session_ids(row_limit)
-- @nullable-params row_limit
-- session_id of every live session, most recently active first (row_limit null = all).
-- Served by sessions_last_activity_idx (partial, live rows only; backward scan).
select session_id
from sessions
where deleted_at is null
order by last_activity desc, id desc
limit :row_limit::bigint;

-- name: list_all_session_ids(row_limit)
-- @nullable-params row_limit
-- session_id of every session, live and soft-deleted, most recently active first
-- (row_limit null = all). A full scan and sort, as listing everything needs.
select session_id
from sessions
order by last_activity desc, id desc
limit :row_limit::bigint;

-- name: soft_delete_session(session_id)!
-- Marks a session soft-deleted (keeps an earlier deleted_at so the retention clock is not
-- reset: least() ignores a null, and unlike coalesce() Citus accepts now() in it);
-- returns 1 when the session exists, else 0. Served by sessions_session_id_key.
update sessions
set
    is_active = false,
    deleted_at = least(deleted_at, now())
where session_id = :session_id;

-- name: delete_session(session_id)!
-- Deletes a session (live or soft-deleted) and, by cascade, its messages, agent context
-- and agent switches; returns 1 or 0. Served by sessions_session_id_key.
delete from sessions
where session_id = :session_id;

-- name: restore_session(session_id)!
-- Makes a soft-deleted session live again and stamps last_activity with now() (so the
-- next cleanup does not delete it at once); returns 1 when restored, 0 when unknown or
-- already live. Served by sessions_session_id_key.
update sessions
set
    is_active = true,
    deleted_at = null,
    last_activity = now()
where session_id = :session_id
    and deleted_at is not null;

-- name: soft_delete_idle_sessions(max_age_hours)!
-- Soft-deletes live sessions whose last_activity is older than max_age_hours (may be
-- fractional); returns how many. Served by sessions_last_activity_idx (partial, live).
update sessions
set
    is_active = false,
    deleted_at = now()
where deleted_at is null
    and last_activity < now() - :max_age_hours::double precision * interval '1 hour';

-- name: delete_expired_sessions(days_old)!
-- Hard-deletes sessions soft-deleted more than days_old days ago (with their messages,
-- contexts and switches, by cascade); returns how many sessions.
-- Served by sessions_deleted_at_idx (partial, soft-deleted rows only).
delete from sessions
where deleted_at is not null
    and deleted_at < now() - :days_old::double precision * interval '1 day';

-- name: upsert_agent_context(session_db_id, current_agent, created_at, switch_count, metadata)<!
-- @nonnull id
-- Creates or updates the agent context of a session (the caller found it live with
-- get_session) and returns its id. created_at (now() when null) is only used on
-- creation. Arbiter: agent_contexts_session_db_id_key.
insert into agent_contexts (
    session_db_id,
    current_agent,
    created_at,
    switch_count,
    metadata_json
)
values (
    :session_db_id::bigint,
    :current_agent,
    coalesce(:created_at::timestamptz, now()),
    :switch_count::integer,
    :metadata::jsonb
)
on conflict (session_db_id) do update
set
    current_agent = excluded.current_agent,
    switch_count = excluded.switch_count,
    metadata_json = excluded.metadata_json
returning id;

-- name: list_context_switches(session_db_id)
-- Every switch of a session's agent context (id, from_agent, to_agent, reason) in the
-- order saved (id). Served by agent_switches_pkey (session_db_id, id).
select
    id,
    from_agent,
    to_agent,
    reason
from agent_switches
where session_db_id = :session_db_id::bigint
order by id;

-- name: delete_switches_from(session_db_id, from_id)!
-- Deletes a session's agent switches with id >= from_id; returns the row count.
-- Served by agent_switches_pkey (session_db_id, id).
delete from agent_switches
where session_db_id = :session_db_id::bigint
    and id >= :from_id::bigint;

-- name: insert_switches(session_db_id, context_db_id, rows)!
-- Inserts a batch of switches of a session's agent context given as one JSON array of
-- objects (from_agent, to_agent, switched_at, reason, metadata, ord) in one statement,
-- in ord order; a missing switched_at means now(). Returns the row count. No index read.
insert into agent_switches (
    session_db_id,
    context_db_id,
    from_agent,
    to_agent,
    switched_at,
    reason,
    metadata_json
)
select
    :session_db_id::bigint,
    :context_db_id::bigint,
    w.from_agent,
    w.to_agent,
    coalesce(w.switched_at, now()) as switched_at,
    w.reason,
    w.metadata
from jsonb_to_recordset(:rows::jsonb) as w (
    ord integer,
    from_agent text,
    to_agent text,
    switched_at timestamptz,
    reason text,
    metadata jsonb
)
order by w.ord;

-- name: get_agent_context(session_db_id)^
-- The agent context of a session (id, current_agent, created_at, updated_at,
-- switch_count, metadata), or nothing; the caller found the live session first
-- (get_session). Served by agent_contexts_session_db_id_key.
select
    id,
    current_agent,
    created_at,
    updated_at,
    switch_count,
    metadata_json as metadata
from agent_contexts
where session_db_id = :session_db_id::bigint;

-- name: list_context_history(session_db_id)
-- A session's agent switches as the seed's agent_history (from_agent, to_agent, reason,
-- switched_at) in the order saved (id). Served by agent_switches_pkey (session_db_id, id).
select
    from_agent,
    to_agent,
    reason,
    switched_at
from agent_switches
where session_db_id = :session_db_id::bigint
order by id;

-- name: list_agent_switches(session_db_id, row_limit)
-- Up to row_limit switches of a session's agent context, newest first (id, from_agent,
-- to_agent, switched_at, reason, metadata); the caller found the live session first
-- (get_session). Served by agent_switches_pkey (session_db_id, id): a session has one
-- context, and its few switches are sorted by time.
select
    id,
    from_agent,
    to_agent,
    switched_at,
    reason,
    coalesce(metadata_json, '{}'::jsonb) as metadata
from agent_switches
where session_db_id = :session_db_id::bigint
order by switched_at desc, id desc
limit :row_limit::integer;

-- name: list_sessions_by_agent(current_agent)
-- session_id of every live session whose context's current agent is current_agent,
-- most recently active first. Served by agent_contexts_current_agent_idx.
select s.session_id
from agent_contexts as c
join sessions as s
    on s.id = c.session_db_id
where c.current_agent = :current_agent
    and s.deleted_at is null
order by s.last_activity desc, s.id desc;

-- name: search_messages(query, candidates, row_limit)
-- Full-text search over the messages of all live sessions: up to row_limit matches
-- (session_id, seq, role, content, timestamp, rank), best rank first. The query uses web
-- search syntax ("quoted phrase", or, -not) with the 'simple' configuration.
-- Bounded cost: only the newest `candidates` matches (by messages.id, from
-- messages_search_candidates) are ranked and sorted, so ts_rank runs at most
-- `candidates` times however common the words are; the trade-off is that the result is
-- the best matches among the newest candidates, and an older message that would rank
-- higher is not seen. Served by messages_content_fts_idx (GIN bitmap scan inside
-- messages_search_candidates), then messages_pkey and sessions_pkey per candidate.
-- The candidates are a materialized CTE so that on Citus the function runs once on the
-- coordinator (its own query fans out to every shard) instead of being pushed into
-- each shard's query; this is a global, fan-out call there.
with candidates as materialized (
    select
        c.session_db_id,
        c.id
    from messages_search_candidates(
        websearch_to_tsquery('simple'::regconfig, :query), :candidates::integer
    ) as c
)

select
    s.session_id,
    m.seq,
    m.role,
    m.content,
    m.timestamp,
    ts_rank(
        to_tsvector('simple'::regconfig, left(m.content, 100000)),
        websearch_to_tsquery('simple'::regconfig, :query)
    ) as rank
from candidates as c
join messages as m
    on
        m.session_db_id = c.session_db_id
        and m.id = c.id
join sessions as s
    on s.id = m.session_db_id
order by rank desc, s.session_id, m.seq
limit :row_limit::integer;

-- name: search_session_messages(session_db_id, query, candidates, row_limit)
-- Full-text search within one session (the caller found it live with get_session): up to
-- row_limit matches (session_id, seq, role, content, timestamp, rank), best rank first;
-- web search syntax, 'simple' configuration. Bounded cost as in search_messages: only
-- the session's newest `candidates` matches (by seq) are ranked, so the result is the
-- best among them. Served by messages_content_fts_idx (GIN) combined with the session's
-- messages_session_db_id_seq_key range, whichever the planner finds cheaper.
select
    c.session_id,
    c.seq,
    c.role,
    c.content,
    c.timestamp,
    ts_rank(to_tsvector('simple'::regconfig, left(c.content, 100000)), c.query) as rank
from (
    select
        s.session_id,
        m.seq,
        m.role,
        m.content,
        m.timestamp,
        q.query
    from messages as m
    cross join websearch_to_tsquery('simple'::regconfig, :query) as q (query)
    join sessions as s
        on s.id = m.session_db_id
    where to_tsvector('simple'::regconfig, left(m.content, 100000)) @@ q.query
        and m.session_db_id = :session_db_id::bigint
    order by m.seq desc
    limit :candidates::integer
) as c
order by rank desc, c.seq
limit :row_limit::integer;
