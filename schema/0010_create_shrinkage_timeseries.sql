-- Shrinkage time series: the time-series core of the shrinkage-calculation system
-- ("усушка": the drying/natural loss of stored materials and goods) that moves from
-- SQLite to PostgreSQL, with TimescaleDB where the server has it.
--
-- Design
-- ------
-- Three small reference tables (materials, calculation_methods, coefficient_types),
-- one ordinary table of calculations, and two time series:
--
--   materials ─┬─< calculations ──< calculation_data      (time: observed_at)
--              └─< coefficients >── coefficient_types      (time: valid_from)
--   calculation_methods ─< calculations
--
-- * calculation_data holds the measured inputs and intermediate series of one
--   calculation in long format (calculation_id, observed_at, metric, value): mass,
--   temperature, humidity ... are rows, not columns, so a new measured quantity needs no
--   DDL and every metric shares one index and one compression layout.
-- * coefficients holds the normative and measured coefficients per material as a
--   history: a value is valid from valid_from until the next row of the same
--   (material, coefficient). "The value as of time t" is the newest row with
--   valid_from <= t, served by coefficients_pkey scanned backwards.
-- * Both time series have no surrogate id: their primary keys are the natural keys and
--   include the time column, which TimescaleDB requires of every unique index of a
--   hypertable. The same DDL is therefore valid with and without TimescaleDB.
-- * Foreign keys go only from the time series to ordinary tables (allowed on
--   hypertables); there is none between the two time series (TimescaleDB forbids a
--   hypertable referencing a hypertable, and none is needed).
--
-- With TimescaleDB (already created in the database, or installed, preloaded and
-- creatable by the migrating role) the DO block below creates the extension if it is not
-- there yet (lacking the privilege is a NOTICE, not an error), turns both time series into
-- hypertables and sets their compression layout (TSL build only; the Apache-only build
-- gets a NOTICE instead). Without it both stay ordinary tables with a time index, and a
-- NOTICE says so. Either way the tables, columns, keys and index names are the same, so
-- queries/shrinkage.sql runs unchanged on both (it buckets with date_bin, which gives the
-- same buckets as time_bucket for fixed intervals).
--
-- Chunk intervals
-- * calculation_data: 7 days. Calculations cover days to weeks, and their series are
--   read per calculation over its period; a week keeps the number of chunks a typical
--   range scan touches at one or two, while a week of sensor data for a few hundred
--   calculations (millions of rows, a few hundred MB with indexes) still fits easily in
--   memory, which is TimescaleDB's sizing rule for the active chunk. It is also the
--   compression unit: chunks older than 30 days are compressed by the policy.
-- * coefficients: 365 days. Coefficients change rarely (natural-loss norms change per
--   season, i.e. about twice a year per material), so the table stays small; one chunk
--   per year keeps the chunk count low and an as-of lookup touches one or two chunks.
--
-- Time index without TimescaleDB
-- * calculation_data_observed_at_idx is a BRIN index. Rows arrive by COPY in roughly
--   time order and are not updated, so physical order follows observed_at and BRIN's
--   block ranges prune well; it is a few pages per GB and costs COPY almost nothing,
--   where a B-tree on a many-million-row series would be about as large as the heap's
--   key columns and slow the ingest. Reads of one calculation do not need it: they use
--   calculation_data_pkey (calculation_id, observed_at, metric). It serves the
--   time-range scans across all calculations (bucketed aggregates).
--   With TimescaleDB the same name is a B-tree on (observed_at desc) per chunk, the
--   index TimescaleDB itself creates by default: chunk exclusion already does BRIN's
--   coarse pruning there.
-- * coefficients_valid_from_idx is a B-tree in both cases: the table is small and
--   filled per material, not in time order, so BRIN would not prune.
--
-- Down: drops the five tables (with a hypertable, its chunks and compression settings
-- go with it). The extension is dropped only if this migration created it (the up part
-- marks it with a comment on the extension) and no other hypertable is left; otherwise
-- it stays, because other objects may depend on it and dropping it would drop their
-- chunks too.

-- migrate:up

/* The materials and storage objects whose shrinkage is calculated. */
create table materials (
    id bigint generated always as identity
        constraint materials_pkey primary key,
    code text not null
        constraint materials_code_key unique
        constraint materials_code_check check (code ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$'),
    name text not null,
    kind text not null default 'material'
        constraint materials_kind_check check (kind in ('material', 'object')),
    unit text not null,
    created_at timestamptz not null default now()
);

comment on table materials is
    'Materials and storage objects whose shrinkage (natural loss) is calculated';
comment on column materials.code is
    'Stable external key (e.g. the code in the SQLite system), used by imports';
comment on column materials.kind is
    'material: a substance or good whose quantity shrinks; object: a storage object '
    '(warehouse, tank, stack) tracked as a whole';
comment on column materials.unit is
    'Unit of quantity for this material, e.g. kg, t, m3';

/* How a calculation was computed: the catalogue of calculation methods. */
create table calculation_methods (
    code text
        constraint calculation_methods_pkey primary key
        constraint calculation_methods_code_check check (code ~ '^[a-z][a-z0-9_]{0,62}$'),
    name text not null,
    description text not null default '',
    created_at timestamptz not null default now()
);

comment on table calculation_methods is
    'Catalogue of shrinkage calculation methods (e.g. normative natural loss, measured '
    'balance); calculations.method_code refers to it';

/* What a coefficient means and its unit, so a typo cannot start a new series. */
create table coefficient_types (
    code text
        constraint coefficient_types_pkey primary key
        constraint coefficient_types_code_check check (code ~ '^[a-z][a-z0-9_]{0,62}$'),
    name text not null,
    unit text not null,
    description text not null default '',
    created_at timestamptz not null default now()
);

comment on table coefficient_types is
    'Catalogue of coefficients kept as time series in coefficients (meaning and unit)';
comment on column coefficient_types.unit is
    'Unit of the coefficient value, e.g. percent, ratio, percent per day';

/* One shrinkage calculation: what was computed, for which material, how, and its state. */
create table calculations (
    id bigint generated always as identity
        constraint calculations_pkey primary key,
    material_id bigint not null
        constraint calculations_material_id_fkey references materials (id),
    method_code text not null
        constraint calculations_method_code_fkey references calculation_methods (code),
    parameters jsonb not null default '{}'
        constraint calculations_parameters_check check (jsonb_typeof(parameters) = 'object'),
    period_start timestamptz not null,
    period_end timestamptz not null,
    status text not null default 'pending'
        constraint calculations_status_check
            check (status in ('pending', 'running', 'completed', 'failed')),
    result jsonb,
    error text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    completed_at timestamptz,
    constraint calculations_period_check check (period_end > period_start),
    constraint calculations_completed_at_check
        check ((status in ('completed', 'failed')) = (completed_at is not null))
);

create index calculations_material_id_period_start_idx
    on calculations (material_id, period_start desc);

create index calculations_method_code_idx
    on calculations (method_code);

create index calculations_status_idx
    on calculations (status, created_at)
    where status in ('pending', 'running');

create trigger calculations_100_set_updated_at
    before update on calculations
    for each row
    execute function set_updated_at();

comment on table calculations is
    'One shrinkage calculation of a material over a period: method, parameters, status '
    'and result; its input series are in calculation_data';
comment on column calculations.parameters is
    'Method parameters as a JSON object (norms used, storage conditions, options)';
comment on column calculations.period_start is
    'Start of the period the calculation covers (inclusive)';
comment on column calculations.period_end is
    'End of the period the calculation covers (exclusive)';
comment on column calculations.status is
    'pending -> running -> completed | failed';
comment on column calculations.result is
    'Outcome as a JSON object (e.g. loss in units and percent); null until completed';
comment on column calculations.error is
    'Why the calculation failed; null unless status = failed';
comment on column calculations.completed_at is
    'When the calculation reached completed or failed; null before';

/* The time series of one calculation: measured inputs and intermediate values. */
create table calculation_data (
    calculation_id bigint not null
        constraint calculation_data_calculation_id_fkey
            references calculations (id) on delete cascade,
    observed_at timestamptz not null,
    metric text not null
        constraint calculation_data_metric_check check (metric ~ '^[a-z][a-z0-9_]{0,62}$'),
    value double precision not null,
    constraint calculation_data_pkey primary key (calculation_id, observed_at, metric)
);

comment on table calculation_data is
    'Time series of a calculation in long format, one row per (time, metric); a '
    'TimescaleDB hypertable (7-day chunks) where the server has TimescaleDB';
comment on column calculation_data.observed_at is
    'When the value was measured or computed (the time column)';
comment on column calculation_data.metric is
    'What the value is, e.g. mass_kg, temperature_c, humidity_pct';

/* The history of each coefficient per material: a value holds from valid_from on. */
create table coefficients (
    material_id bigint not null
        constraint coefficients_material_id_fkey references materials (id),
    coefficient_code text not null
        constraint coefficients_coefficient_code_fkey references coefficient_types (code),
    valid_from timestamptz not null,
    value double precision not null,
    constraint coefficients_pkey primary key (material_id, coefficient_code, valid_from)
);

create index coefficients_valid_from_idx
    on coefficients (valid_from desc);

comment on table coefficients is
    'Coefficient values per material as a history: each value holds from valid_from until '
    'the next row of the same coefficient; a TimescaleDB hypertable (365-day chunks) '
    'where the server has TimescaleDB';
comment on column coefficients.valid_from is
    'From when the value applies (the time column); the value as of t is the newest row '
    'with valid_from <= t';

do $$
declare
    hypertables boolean := exists (select 1 from pg_extension where extname = 'timescaledb');
    -- Preloaded means its loader's settings exist. shared_preload_libraries itself is
    -- hidden from roles that are not superusers, and creating the extension without the
    -- preload fails in a way no exception handler catches.
    preloaded boolean := exists (
        select 1 from pg_settings where name = 'timescaledb.disable_load'
    );
begin
    if not hypertables
        and preloaded
        and exists (select 1 from pg_available_extensions where name = 'timescaledb')
    then
        -- the role may still lack the privilege (an untrusted extension, not the owner)
        begin
            create extension timescaledb;
            comment on extension timescaledb is
                'created by pydal_lite migration 0010_create_shrinkage_timeseries';
            hypertables := true;
        exception
            when others then
                raise notice 'TimescaleDB is preloaded but this role cannot create it (%); '
                    'have a superuser run create extension timescaledb first', sqlerrm;
        end;
    end if;

    if not hypertables then
        create index calculation_data_observed_at_idx
            on calculation_data using brin (observed_at);
        raise notice 'no TimescaleDB (installed: %, preloaded: %): calculation_data and '
            'coefficients stay ordinary tables; calculation_data_observed_at_idx is a BRIN '
            'index', exists (select 1 from pg_available_extensions where name = 'timescaledb'),
            preloaded;
        return;
    end if;

    create index calculation_data_observed_at_idx
        on calculation_data (observed_at desc);
    perform create_hypertable(
        'calculation_data',
        'observed_at',
        chunk_time_interval => interval '7 days',
        create_default_indexes => false
    );
    perform create_hypertable(
        'coefficients',
        'valid_from',
        chunk_time_interval => interval '365 days',
        create_default_indexes => false
    );

    -- Compression needs the TSL build; the Apache-only build raises feature_not_supported.
    begin
        alter table calculation_data set (
            timescaledb.compress,
            timescaledb.compress_segmentby = 'calculation_id',
            timescaledb.compress_orderby = 'metric, observed_at desc'
        );
        alter table coefficients set (
            timescaledb.compress,
            timescaledb.compress_segmentby = 'material_id',
            timescaledb.compress_orderby = 'coefficient_code, valid_from desc'
        );
        perform add_compression_policy('calculation_data', interval '30 days');
    exception
        when feature_not_supported then
            raise notice 'TimescaleDB compression is not available here (%): the hypertables '
                'stay uncompressed', sqlerrm;
    end;

    raise notice 'TimescaleDB %: calculation_data (7-day chunks) and coefficients '
        '(365-day chunks) are hypertables',
        (select extversion from pg_extension where extname = 'timescaledb');
end
$$;

-- migrate:down
drop table coefficients;
drop table calculation_data;
drop table calculations;
drop table coefficient_types;
drop table calculation_methods;
drop table materials;

do $$
begin
    if not exists (
        select 1
        from pg_extension
        where extname = 'timescaledb'
            and obj_description(oid, 'pg_extension')
                = 'created by pydal_lite migration 0010_create_shrinkage_timeseries'
    ) then
        return;
    end if;
    if exists (select 1 from timescaledb_information.hypertables) then
        raise notice 'timescaledb was created by 0010 but other hypertables remain: kept';
        return;
    end if;
    drop extension timescaledb;
end
$$;
