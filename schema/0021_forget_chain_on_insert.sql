-- Messages inserted beyond a session's recorded list make its digest unknown (issue 10).
--
-- save_session recognises the stored list from one row: sessions.message_count and
-- message_chain (0012). The triggers of 0012 null the digest when a statement updates,
-- deletes or truncates messages; an insert by another writer (plain SQL, the importer's
-- COPY) was caught by save_session reading max(seq) in a statement of its own, one more
-- round trip on every save. This trigger catches it on the server instead: after an
-- insert statement, a session whose messages now reach past message_count gets a null
-- digest, so its next save compares fingerprints and records the digest again.
--
-- save_session's own inserts do not trip it: its last batch (append_messages) records
-- the new message_count in the same statement, which the AFTER STATEMENT trigger sees;
-- an earlier batch of a long save does trip it, and the last one records the digest.
--
-- Not on Citus: there the trigger would run on the shards and update a reference table
-- from there, which Citus refuses (0017 drops 0012's triggers for the same reason).
-- Writers other than pydal_lite that change messages on Citus must null the digest
-- themselves (docs/scaling.md, "What changes on Citus").

-- migrate:up
create function tg_messages__forget_chain_on_insert() returns trigger
    language plpgsql
as $$
begin
    update sessions as s
    set message_chain = null
    from (
        select
            session_db_id,
            max(seq) + 1 as next_seq
        from new_rows
        group by session_db_id
    ) as n
    where s.id = n.session_db_id
        and s.message_chain is not null
        and n.next_seq > s.message_count;
    return null;
end
$$;

comment on function tg_messages__forget_chain_on_insert() is
    'Trigger function: sets sessions.message_chain to null for the sessions whose messages '
    'an insert statement extended past sessions.message_count.';

do $$
begin
    if exists (select 1 from pg_extension where extname = 'citus') then
        raise notice 'citus: messages_200_forget_chain_on_insert is not created (see 0017)';
        return;
    end if;
    create trigger messages_200_forget_chain_on_insert
        after insert on messages
        referencing new table as new_rows
        for each statement execute function tg_messages__forget_chain_on_insert();
end
$$;

-- migrate:down
drop trigger if exists messages_200_forget_chain_on_insert on messages;
drop function tg_messages__forget_chain_on_insert();
