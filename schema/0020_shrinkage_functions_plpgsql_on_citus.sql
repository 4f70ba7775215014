-- The shrinkage rollup and gap-fill functions as PL/pgSQL on Citus (issue 11).
--
-- 0014 gives calculation_data_rollup, calculation_data_metric_rollup and
-- calculation_data_gapfill plain SQL bodies when TimescaleDB's continuous aggregates
-- are not there. Citus (never installed together with TimescaleDB here) refuses to run
-- them once 0017 has distributed calculation_data: "parameterized queries for SQL
-- functions referencing distributed tables are not supported". The same body as
-- PL/pgSQL ("return query <select>") is planned by Citus like any query with
-- parameters, so a call keyed by calculation_id routes to the one shard holding it.
--
-- Only where the citus extension exists; on plain PostgreSQL (and with TimescaleDB,
-- whose bodies are PL/pgSQL already) nothing changes: a NOTICE says so. PostgreSQL can
-- inline the SQL bodies into the calling query, which PL/pgSQL would prevent, so they
-- stay SQL there. The conversion keeps each function's arguments, result columns,
-- volatility and comment (create or replace keeps the oid), and the select text itself
-- (prosrc) as 0014 wrote it, so the down part restores it byte for byte.
-- "#variable_conflict use_column": in PL/pgSQL the result columns (bucket_start,
-- samples, ...) become variables; a bare name in the body means the column, as in SQL.
--
-- Down: the functions that this file converted (their body starts with its marker line)
-- get their SQL body back.

-- migrate:up
do $$
declare
    f record;
begin
    if not exists (select 1 from pg_extension where extname = 'citus') then
        raise notice 'no citus extension in this database: the shrinkage functions stay '
            'as 0014 made them';
        return;
    end if;
    for f in
        select p.oid, p.proname, p.prosrc
        from pg_proc as p
        where p.pronamespace = current_schema()::regnamespace
            and p.proname in (
                'calculation_data_rollup', 'calculation_data_metric_rollup',
                'calculation_data_gapfill'
            )
            and p.prolang = (select l.oid from pg_language as l where l.lanname = 'sql')
    loop
        execute format(
            'create or replace function %I(%s) returns %s language plpgsql stable as %L',
            f.proname,
            pg_get_function_arguments(f.oid),
            pg_get_function_result(f.oid),
            E'-- 0020: the SQL body of 0014 as PL/pgSQL for Citus\n'
            || E'#variable_conflict use_column\nbegin\nreturn query\n'
            || f.prosrc  -- 0014's select, unchanged (it has no trailing semicolon)
            || E';\nend\n'
        );
        raise notice 'citus: % is PL/pgSQL now', f.proname;
    end loop;
end
$$;

-- migrate:down
do $$
declare
    f record;
    head constant text := E'-- 0020: the SQL body of 0014 as PL/pgSQL for Citus\n'
        || E'#variable_conflict use_column\nbegin\nreturn query\n';
begin
    for f in
        select p.oid, p.proname, p.prosrc
        from pg_proc as p
        where p.pronamespace = current_schema()::regnamespace
            and p.proname in (
                'calculation_data_rollup', 'calculation_data_metric_rollup',
                'calculation_data_gapfill'
            )
            and starts_with(p.prosrc, head)
    loop
        execute format(
            'create or replace function %I(%s) returns %s language sql stable as %L',
            f.proname,
            pg_get_function_arguments(f.oid),
            pg_get_function_result(f.oid),
            -- the select between the head and the closing ";\nend\n"
            left(substr(f.prosrc, length(head) + 1), -length(E';\nend\n'))
        );
    end loop;
end
$$;
