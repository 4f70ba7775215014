-- Agent runtime (seed 001): conversation sessions, their messages in the OpenAI chat
-- shape, the agent currently handling each session and the history of agent switches.
-- Table, column and seed index names are the seed's (SQLAlchemy models of the
-- agent-runtime service), so its users recognise them; types are PostgreSQL's own
-- (identity keys, timestamptz, boolean, jsonb) and the rules the seed kept in Python are
-- CHECK constraints here. The Python API is pydal_lite/agent_runtime.py, the queries
-- queries/agent_runtime.sql.
--
-- Limits (kept in step with pydal_lite/agent_runtime.py): session_id 1..255 characters,
-- agent names 1..100, message name and tool_call_id 1..255, message content up to
-- 1,000,000 characters, switch reason up to 10,000.

-- migrate:up

/*
 * sessions: one row per conversation. Soft delete sets deleted_at and clears is_active
 * (the seed keeps both columns; the check keeps them in step), hard delete removes the
 * row and, by cascade, its messages, agent context and agent switches.
 */
create table sessions (
    id bigint generated always as identity,
    session_id text not null,
    created_at timestamptz not null default now(),
    last_activity timestamptz not null default now(),
    is_active boolean not null default true,
    deleted_at timestamptz,
    constraint sessions_pkey primary key (id),
    constraint sessions_session_id_key unique (session_id),
    constraint sessions_session_id_length_check check (char_length(session_id) between 1 and 255),
    constraint sessions_is_active_check check (is_active = (deleted_at is null))
);

comment on table sessions is
    'Agent runtime conversations (seed 001). Soft-deleted rows (deleted_at set) are hidden '
    'from load/list operations until restored; hard delete cascades to messages, '
    'agent_contexts and agent_switches.';
comment on column sessions.id is
    'Surrogate key that messages and agent_contexts reference (session_db_id).';
comment on column sessions.session_id is
    'The caller''s session identifier (1..255 characters), unique across live and '
    'soft-deleted sessions.';
comment on column sessions.last_activity is
    'Time of the last save; cleanup_old_sessions soft-deletes live sessions idle longer '
    'than its max_age_hours.';
comment on column sessions.is_active is
    'False exactly when deleted_at is set (sessions_is_active_check); kept for the seed''s '
    'idx_active_sessions.';
comment on column sessions.deleted_at is
    'Soft-delete time, null for live sessions; hard_delete_old_sessions removes sessions '
    'soft-deleted more than days_old days ago.';

-- Seed index. Lookups by session_id are served by sessions_session_id_key; this one adds
-- last_activity for index-only "is this session recent" checks, as in the seed.
create index idx_session_activity on sessions (session_id, last_activity);

-- Seed index: sessions by liveness and age.
create index idx_active_sessions on sessions (is_active, last_activity);

-- Partial index on live sessions only (the rows every API call looks at). Serves
-- list_live_session_ids (order by last_activity desc) and soft_delete_idle_sessions
-- (cleanup_old_sessions: deleted_at is null and last_activity < cutoff).
create index sessions_last_activity_idx on sessions (last_activity)
    where deleted_at is null;

-- Partial index on soft-deleted sessions. Serves delete_expired_sessions
-- (hard_delete_old_sessions: deleted_at < cutoff) without touching live rows.
create index sessions_deleted_at_idx on sessions (deleted_at)
    where deleted_at is not null;

/*
 * messages: the conversation, one row per OpenAI chat message, in the order the caller
 * gave them (seq). save_session appends only the new tail; seq gives a stable order
 * that timestamps cannot (many messages share one transaction time) and a cursor for
 * keyset paging. fingerprint lets save_session compare a given list with the stored one
 * by reading 32 bytes per message instead of re-hashing every stored content.
 */

/*
 * messages_canonical_json: a jsonb value with every number trimmed of trailing
 * fractional zeros (1.0 -> 1, 0.0 -> 0), so values that jsonb equality calls equal
 * also print alike. Part of the message fingerprint; agent_runtime.py reproduces its
 * text (jsonb key order, ", " and ": " separators) on the Python side.
 */
create function messages_canonical_json(value jsonb) returns jsonb
    language sql
    immutable
    strict
    parallel safe
as $$
select case jsonb_typeof(value)
    when 'number' then to_jsonb(trim_scale(value::numeric))
    when 'array' then coalesce(
        (
            select jsonb_agg(messages_canonical_json(e.value) order by e.ord)
            from jsonb_array_elements(value) with ordinality as e(value, ord)
        ),
        '[]'::jsonb
    )
    when 'object' then coalesce(
        (
            select jsonb_object_agg(e.key, messages_canonical_json(e.value))
            from jsonb_each(value) as e(key, value)
        ),
        '{}'::jsonb
    )
    else value
end
$$;

comment on function messages_canonical_json(jsonb) is
    'The jsonb value with numbers trimmed of trailing fractional zeros (trim_scale), so '
    'jsonb-equal values have the same text. Used by messages_fingerprint.';

/*
 * messages_fingerprint: sha256 over tagged sha256 digests (\x01 || digest, or \x00 for
 * null) of role, content, name, tool_call_id (UTF-8) and the text of
 * messages_canonical_json(tool_calls). agent_runtime.py computes the same bytes for a
 * given message (_Message.fingerprint); a test checks both sides agree.
 */
create function messages_fingerprint(
    role text,
    content text,
    name text,
    tool_call_id text,
    tool_calls jsonb
) returns bytea
    language sql
    stable
    parallel safe
as $$
select sha256(
    coalesce('\x01'::bytea || sha256(convert_to(role, 'UTF8')), '\x00'::bytea)
    || coalesce('\x01'::bytea || sha256(convert_to(content, 'UTF8')), '\x00'::bytea)
    || coalesce('\x01'::bytea || sha256(convert_to(name, 'UTF8')), '\x00'::bytea)
    || coalesce('\x01'::bytea || sha256(convert_to(tool_call_id, 'UTF8')), '\x00'::bytea)
    || coalesce(
        '\x01'::bytea
            || sha256(convert_to(messages_canonical_json(tool_calls)::text, 'UTF8')),
        '\x00'::bytea
    )
)
$$;

comment on function messages_fingerprint(text, text, text, text, jsonb) is
    'Digest of what save_session compares (role, content, name, tool_call_id, tool_calls '
    'as canonical jsonb); stored in messages.fingerprint by tg_messages__set_fingerprint.';

create table messages (
    id bigint generated always as identity,
    session_db_id bigint not null,
    seq integer not null,
    role text not null,
    content text,
    timestamp timestamptz not null default now(),
    name text,
    tool_call_id text,
    tool_calls jsonb,
    token_count integer,
    metadata_json jsonb,
    fingerprint bytea not null default '\x'::bytea,
    constraint messages_pkey primary key (id),
    constraint messages_session_db_id_fkey foreign key (session_db_id)
        references sessions (id) on delete cascade,
    constraint messages_session_db_id_seq_key unique (session_db_id, seq),
    constraint messages_seq_check check (seq >= 0),
    constraint messages_role_check
        check (role in ('system', 'developer', 'user', 'assistant', 'tool', 'function')),
    constraint messages_content_check
        check (content is not null or tool_calls is not null),
    constraint messages_content_length_check check (char_length(content) <= 1000000),
    constraint messages_name_length_check check (char_length(name) between 1 and 255),
    constraint messages_tool_call_id_length_check
        check (char_length(tool_call_id) between 1 and 255),
    constraint messages_tool_calls_check check (jsonb_typeof(tool_calls) = 'array'),
    constraint messages_token_count_check check (token_count >= 0),
    constraint messages_metadata_json_check check (jsonb_typeof(metadata_json) = 'object'),
    constraint messages_fingerprint_check check (octet_length(fingerprint) = 32)
);

comment on table messages is
    'Messages of a session in the OpenAI chat shape (role, content, name, tool_call_id, '
    'tool_calls), ordered by seq. Deleted with their session.';
comment on column messages.session_db_id is 'The session (sessions.id) the message belongs to.';
comment on column messages.seq is
    '0-based position of the message in the session''s list; unique per session. Order '
    'and keyset cursor of every message read.';
comment on column messages.role is
    'OpenAI chat role: system, developer, user, assistant, tool or function (legacy).';
comment on column messages.content is
    'Message text, at most 1,000,000 characters; null only for an assistant message that '
    'carries tool_calls instead. Full-text indexed (first 100,000 characters).';
comment on column messages.timestamp is 'When the message was stored (or the time the caller gave).';
comment on column messages.name is 'Optional participant or function name (OpenAI name field).';
comment on column messages.tool_call_id is
    'For role tool: the id of the assistant tool call this message answers.';
comment on column messages.tool_calls is
    'For role assistant: the OpenAI tool_calls array, as given.';
comment on column messages.token_count is
    'Tokens of this message as counted by the caller; null when not counted. Summed by '
    'get_session_stats.';
comment on column messages.metadata_json is 'Caller''s free-form metadata object (message key "metadata").';
comment on column messages.fingerprint is
    'messages_fingerprint() of role, content, name, tool_call_id and tool_calls (32-byte '
    'sha256), set by trigger messages_100_set_fingerprint on every insert and on updates '
    'of those columns (or of fingerprint itself), '
    'whatever the writer gives (the empty default only lets writers omit the column). '
    'save_session compares it with the given messages instead of re-hashing content.';

/*
 * tg_messages__set_fingerprint: keeps messages.fingerprint in step with the columns it
 * digests for every writer (save_session, the SQLite importer's COPY, plain SQL). A
 * trigger, not a generated column: convert_to is only STABLE.
 */
create function tg_messages__set_fingerprint() returns trigger
    language plpgsql
as $$
begin
    new.fingerprint := messages_fingerprint(
        new.role,
        new.content,
        new.name,
        new.tool_call_id,
        new.tool_calls
    );
    return new;
end
$$;

comment on function tg_messages__set_fingerprint() is
    'Trigger function: sets messages.fingerprint from the row (messages_fingerprint).';

create trigger messages_100_set_fingerprint
    before insert or update of role, content, name, tool_call_id, tool_calls, fingerprint
    on messages
    for each row execute function tg_messages__set_fingerprint();

-- Seed index: a session's messages by time. Serves last_message_at in
-- get_session_stats (max(timestamp) per session) and the foreign key's cascade.
create index idx_session_timestamp on messages (session_db_id, timestamp);

-- Seed index: messages by role over time (analytics, e.g. tool messages per day).
create index idx_role_timestamp on messages (role, timestamp);

-- Full-text search over message content: search_messages and search_session_messages
-- (websearch_to_tsquery). The 'simple' configuration neither stems nor drops stop words,
-- so it works for any language (the seed's users write Russian and English). Only the
-- first 100,000 characters are indexed: a tsvector must stay under 1 MB, and longer
-- content (tool output) would otherwise fail to insert. Queries must repeat this exact
-- expression to use the index.
create index messages_content_fts_idx on messages
    using gin (to_tsvector('simple'::regconfig, left(content, 100000)));

/*
 * messages_search_candidates: ids of the newest `candidates` messages of live sessions
 * matching a full-text query, newest first; search_messages ranks only these, so its
 * ts_rank and sort cost is bounded however common the words are. The function pins the
 * plan to the GIN index (messages_content_fts_idx, a bitmap scan): left to itself the
 * planner either walks messages_pkey backwards until it has `candidates` matches, which
 * parses every message when its estimate is wrong (a phrase or "a -b" of common words:
 * 11 s over a million rows), or parses every row in a sequential scan, because it cannot
 * know that a plain GIN tsquery match needs no recheck. The bitmap scan still visits
 * every match, but without parsing content (about 0.5 s for a million matches). ROWS 100
 * (the default is 1000) keeps the caller reading the candidates by messages_pkey rather
 * than hashing all messages when the table is small.
 */
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

/*
 * agent_contexts: which agent currently handles a session, one row per session, with
 * the caller's metadata. Its switch history lives in agent_switches.
 */
create table agent_contexts (
    id bigint generated always as identity,
    session_db_id bigint not null,
    current_agent text not null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    switch_count integer not null default 0,
    metadata_json jsonb not null default '{}'::jsonb,
    constraint agent_contexts_pkey primary key (id),
    constraint agent_contexts_session_db_id_key unique (session_db_id),
    constraint agent_contexts_session_db_id_fkey foreign key (session_db_id)
        references sessions (id) on delete cascade,
    constraint agent_contexts_current_agent_length_check
        check (char_length(current_agent) between 1 and 100),
    constraint agent_contexts_switch_count_check check (switch_count >= 0),
    constraint agent_contexts_metadata_json_check check (jsonb_typeof(metadata_json) = 'object')
);

comment on table agent_contexts is
    'The agent currently handling each session (at most one row per session); deleted '
    'with its session.';
comment on column agent_contexts.session_db_id is 'The session (sessions.id); unique.';
comment on column agent_contexts.current_agent is 'Name of the agent now handling the session.';
comment on column agent_contexts.switch_count is
    'Number of agent switches as reported by the caller (defaults to the length of the '
    'agent_history it saved).';
comment on column agent_contexts.metadata_json is 'Caller''s free-form metadata object.';

-- Seed: current_agent is indexed. Serves list_sessions_by_agent.
create index agent_contexts_current_agent_idx on agent_contexts (current_agent);

create trigger agent_contexts_100_set_updated_at before update on agent_contexts
    for each row execute function set_updated_at();

/*
 * agent_switches: every hand-over from one agent to another within a session, in the
 * order saved (id). from_agent is null for the first assignment.
 */
create table agent_switches (
    id bigint generated always as identity,
    context_db_id bigint not null,
    from_agent text,
    to_agent text not null,
    switched_at timestamptz not null default now(),
    reason text,
    metadata_json jsonb,
    constraint agent_switches_pkey primary key (id),
    constraint agent_switches_context_db_id_fkey foreign key (context_db_id)
        references agent_contexts (id) on delete cascade,
    constraint agent_switches_from_agent_length_check
        check (char_length(from_agent) between 1 and 100),
    constraint agent_switches_to_agent_length_check
        check (char_length(to_agent) between 1 and 100),
    constraint agent_switches_reason_length_check check (char_length(reason) <= 10000),
    constraint agent_switches_metadata_json_check check (jsonb_typeof(metadata_json) = 'object')
);

comment on table agent_switches is
    'History of agent hand-overs per agent context, in the order saved; deleted with the '
    'context (and so with the session).';
comment on column agent_switches.context_db_id is 'The agent context (agent_contexts.id).';
comment on column agent_switches.from_agent is 'Agent handing over; null for the first assignment.';
comment on column agent_switches.switched_at is
    'When the switch happened (the caller''s timestamp, else the time it was saved).';
comment on column agent_switches.metadata_json is 'Caller''s free-form metadata object, if any.';

-- Seed index: a context's switches by time. Serves list_agent_switches
-- (get_agent_switch_history, newest first), list_context_switches and the cascade.
create index idx_context_switched on agent_switches (context_db_id, switched_at);

-- migrate:down
drop table agent_switches;
drop table agent_contexts;
drop function messages_search_candidates(tsquery, integer);
drop table messages;
drop function tg_messages__set_fingerprint();
drop function messages_fingerprint(text, text, text, text, jsonb);
drop function messages_canonical_json(jsonb);
drop table sessions;
