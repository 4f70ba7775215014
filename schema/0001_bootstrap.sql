-- Bootstrap: the extensions the domain migrations use where the server has them,
-- and the one trigger function every table with an updated_at column shares.
--
-- pg_trgm (trigram indexes for LIKE/ILIKE search) and btree_gin (scalar columns in
-- GIN indexes) are optional: a server without them gets a NOTICE, not a failure.
-- Later migrations must check pg_extension before relying on either.
-- TimescaleDB is not created here: the time-series migration detects it itself.

-- migrate:up
do $$
declare
    ext text;
begin
    foreach ext in array array['pg_trgm', 'btree_gin'] loop
        if exists (select 1 from pg_available_extensions where name = ext) then
            execute format('create extension if not exists %I', ext);
        else
            raise notice 'extension % is not available on this server; skipped', ext;
        end if;
    end loop;
end
$$;

create function set_updated_at() returns trigger
    language plpgsql
as $$
begin
    new.updated_at := now();
    return new;
end
$$;

comment on function set_updated_at() is
    'BEFORE UPDATE trigger function: stamps updated_at with the transaction time. '
    'Attach as: create trigger <table>_100_set_updated_at before update on <table> '
    'for each row execute function set_updated_at();';

-- migrate:down
drop function set_updated_at();
drop extension if exists btree_gin;
drop extension if exists pg_trgm;
