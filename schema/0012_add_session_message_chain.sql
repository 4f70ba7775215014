-- save_session costs O(new messages) (issue 10): each session records the length and a
-- digest of its stored message list, so a save checks "is the stored list a prefix of
-- the given one" against one row instead of reading one fingerprint per stored message.
-- The digest is sha256 over the messages' messages_chain_part() in seq order (their
-- compared fields, length-prefixed: one hash per list, not two per message as the
-- fingerprint needs); agent_runtime/messages.py computes the same for the given list. Writers other than
-- save_session that change or delete messages (plain SQL, the cascade of a session
-- delete) make the digest unknown (null) through statement triggers, and an insert
-- beyond message_count shows in save_session's max(seq) probe, so the next save falls
-- back to comparing fingerprints one by one and records the digest again.

-- migrate:up

/*
 * messages_chain_part: what a message adds to its session's digest: each of role, content,
 * name, tool_call_id and the text of messages_canonical_json(tool_calls) as \x00 (null)
 * or \x01, the length of its UTF-8 bytes (int4, big-endian) and those bytes. The same
 * fields as messages_fingerprint, so a change it detects the digest detects too.
 */
create function messages_chain_part(
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
select coalesce('\x01'::bytea || int4send(octet_length(convert_to(role, 'UTF8')))
        || convert_to(role, 'UTF8'), '\x00'::bytea)
    || coalesce('\x01'::bytea || int4send(octet_length(convert_to(content, 'UTF8')))
        || convert_to(content, 'UTF8'), '\x00'::bytea)
    || coalesce('\x01'::bytea || int4send(octet_length(convert_to(name, 'UTF8')))
        || convert_to(name, 'UTF8'), '\x00'::bytea)
    || coalesce('\x01'::bytea || int4send(octet_length(convert_to(tool_call_id, 'UTF8')))
        || convert_to(tool_call_id, 'UTF8'), '\x00'::bytea)
    || coalesce(
        '\x01'::bytea
            || int4send(octet_length(convert_to(messages_canonical_json(tool_calls)::text, 'UTF8')))
            || convert_to(messages_canonical_json(tool_calls)::text, 'UTF8'),
        '\x00'::bytea
    )
$$;

comment on function messages_chain_part(text, text, text, text, jsonb) is
    'A message''s part of sessions.message_chain (its compared fields, length-prefixed); '
    'agent_runtime/messages.py encode() gives the same bytes.';

-- sha256() is immutable: PostgreSQL 11+ stores the default once, with no table rewrite.
-- The CHECKs scan sessions once while this file runs (the runner's lock timeout bounds
-- the wait); the table is small next to messages.
alter table sessions add column message_count bigint not null default 0;
-- squawk-ignore adding-field-with-default
alter table sessions add column message_chain bytea default sha256(''::bytea);
-- squawk-ignore constraint-missing-not-valid
alter table sessions add constraint sessions_message_count_check check (message_count >= 0);
-- squawk-ignore constraint-missing-not-valid
alter table sessions add constraint sessions_message_chain_check
check (octet_length(message_chain) = 32);
comment on constraint sessions_message_chain_check on sessions is
    'message_chain is a sha256 digest (32 bytes) when known, null when unknown';

comment on column sessions.message_count is
    'How many messages (seq 0 .. message_count - 1) message_chain covers, as save_session '
    'last wrote them.';
comment on column sessions.message_chain is
    'sha256 of the concatenated messages_chain_part() of the session''s messages in seq '
    'order, as save_session last wrote them (sha256 of nothing for none); null when '
    'another writer changed or deleted messages since. save_session compares it with the '
    'given list instead of reading every stored fingerprint.';

-- Backfill: every session's digest from its stored messages.
update sessions as s
set
    message_count = c.messages,
    message_chain = c.chain
from (
    select
        session_db_id,
        count(*) as messages,
        sha256(
            string_agg(
                messages_chain_part(role, content, name, tool_call_id, tool_calls),
                ''::bytea
                order by seq
            )
        ) as chain
    from messages
    group by session_db_id
) as c
where s.id = c.session_db_id;

/*
 * tg_messages__forget_chain: a statement changed or deleted messages outside
 * save_session's bookkeeping, so the digest of their sessions is no longer known.
 * One UPDATE per statement (transition tables), not one per row.
 */
create function tg_messages__forget_chain() returns trigger
    language plpgsql
as $$
begin
    if tg_op = 'TRUNCATE' then
        update sessions
        set message_chain = null
        where message_chain is not null;
    elsif tg_op = 'UPDATE' then
        update sessions
        set message_chain = null
        where message_chain is not null
            and id in (
                select session_db_id from old_rows
                union
                select session_db_id from new_rows
            );
    else
        update sessions
        set message_chain = null
        where message_chain is not null
            and id in (select session_db_id from old_rows);
    end if;
    return null;
end
$$;

comment on function tg_messages__forget_chain() is
    'Trigger function: sets sessions.message_chain to null for the sessions whose messages '
    'a statement updated, deleted or truncated.';

create trigger messages_200_forget_chain_on_update
    after update on messages
    referencing old table as old_rows new table as new_rows
    for each statement execute function tg_messages__forget_chain();

create trigger messages_200_forget_chain_on_delete
    after delete on messages
    referencing old table as old_rows
    for each statement execute function tg_messages__forget_chain();

create trigger messages_200_forget_chain_on_truncate
    after truncate on messages
    for each statement execute function tg_messages__forget_chain();

/*
 * The insert trigger runs only for writers that leave the fingerprint out (the SQLite
 * importer's COPY, plain SQL): save_session sends the fingerprint it computed with the
 * same function (a test checks both sides agree), which saves the server about a fifth
 * of a message insert. A wrong fingerprint given on insert can only make a later save
 * rewrite that message; updates still always recompute it.
 */
drop trigger messages_100_set_fingerprint on messages;

create trigger messages_100_set_fingerprint
    before insert on messages
    for each row
    when (new.fingerprint is null or octet_length(new.fingerprint) <> 32)
    execute function tg_messages__set_fingerprint();

create trigger messages_100_set_fingerprint_on_update
    before update of role, content, name, tool_call_id, tool_calls, fingerprint
    on messages
    for each row execute function tg_messages__set_fingerprint();

comment on column messages.fingerprint is
    'messages_fingerprint() of role, content, name, tool_call_id and tool_calls (32-byte '
    'sha256): set on insert by trigger messages_100_set_fingerprint unless the writer gives '
    '32 bytes (save_session gives the one it computed with the same function), and on every '
    'update of those columns (or of fingerprint itself) by '
    'messages_100_set_fingerprint_on_update, whatever the writer gives. save_session '
    'compares it with the given messages when the session digest does not match.';

-- migrate:down
drop trigger messages_100_set_fingerprint_on_update on messages;
drop trigger messages_100_set_fingerprint on messages;
create trigger messages_100_set_fingerprint
    before insert or update of role, content, name, tool_call_id, tool_calls, fingerprint
    on messages
    for each row execute function tg_messages__set_fingerprint();
comment on column messages.fingerprint is
    'messages_fingerprint() of role, content, name, tool_call_id and tool_calls (32-byte '
    'sha256), set by trigger messages_100_set_fingerprint on every insert and on updates '
    'of those columns (or of fingerprint itself), whatever the writer gives; no default: '
    'writers omit it. save_session compares it with the given messages instead of '
    're-hashing content.';
drop trigger messages_200_forget_chain_on_truncate on messages;
drop trigger messages_200_forget_chain_on_delete on messages;
drop trigger messages_200_forget_chain_on_update on messages;
drop function tg_messages__forget_chain();
drop function messages_chain_part(text, text, text, text, jsonb);
alter table sessions
    drop column message_chain,
    drop column message_count;
