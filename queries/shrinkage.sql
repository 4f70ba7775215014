-- Shrinkage time series (schema/0010_create_shrinkage_timeseries.sql).
-- Every query here runs unchanged on plain PostgreSQL and on TimescaleDB hypertables:
-- buckets come from date_bin with a fixed origin, Monday 2000-01-03 00:00 UTC, the
-- origin time_bucket uses by default, so the buckets are the same as time_bucket's.
-- The *_rollup and gap-filled queries call functions of schema/0014 whose body the
-- migration chose for the server: continuous aggregates and time_bucket_gapfill with
-- TimescaleDB, the raw rows and generate_series without.
-- Bulk writes of calculation_data and coefficients go through COPY in
-- pydal_lite/shrinkage.py, not through these queries.

-- name: insert_material(code, name, kind, unit)<!
-- The new materials row (all columns). materials_code_key rejects a duplicate code.
insert into materials (
    code,
    name,
    kind,
    unit
)
values (
    :code,
    :name,
    :kind,
    :unit
)
returning
    id,
    code,
    name,
    kind,
    unit,
    created_at;

-- name: get_material_by_code(code)^
-- One materials row by its external code, or none. Served by materials_code_key.
select
    id,
    code,
    name,
    kind,
    unit,
    created_at
from materials
where code = :code;

-- name: insert_calculation_method(code, name, description)<!
-- The new calculation_methods row (all columns). calculation_methods_pkey (code) rejects
-- a duplicate code.
insert into calculation_methods (
    code,
    name,
    description
)
values (
    :code,
    :name,
    :description
)
returning
    code,
    name,
    description,
    created_at;

-- name: insert_coefficient_type(code, name, unit, description)<!
-- The new coefficient_types row (all columns). coefficient_types_pkey (code) rejects a
-- duplicate code.
insert into coefficient_types (
    code,
    name,
    unit,
    description
)
values (
    :code,
    :name,
    :unit,
    :description
)
returning
    code,
    name,
    unit,
    description,
    created_at;

-- name: insert_calculation(material_id, method_code, parameters, period_start, period_end, key)<!
-- @nullable-params key
-- The new calculations row (all columns), status pending; nothing when :key, the
-- request_key (null: none), names a calculation already (see get_calculation_retry),
-- with calculations_request_key_idx (partial) as the on conflict arbiter. The foreign keys
-- calculations_material_id_fkey / calculations_method_code_fkey check the parents
-- (through materials_pkey and calculation_methods_pkey).
insert into calculations (
    material_id,
    method_code,
    parameters,
    period_start,
    period_end,
    request_key
)
values (
    :material_id,
    :method_code,
    :parameters::jsonb,
    :period_start::timestamptz,
    :period_end::timestamptz,
    :key::text
)
on conflict (request_key) where request_key is not null do nothing
returning
    id,
    material_id,
    method_code,
    parameters,
    period_start,
    period_end,
    status,
    result,
    error,
    created_at,
    updated_at,
    completed_at;

-- name: get_calculation_retry(key, material_id, method_code, parameters, period_start, period_end)^
-- The id of the calculation created with request_key :key and which create arguments
-- (material_id, method_code, parameters, period_start, period_end) differ from the
-- call's, as an array of names (empty when the call repeats the one that created it).
-- Nothing when no calculation has the key. Served by calculations_request_key_idx
-- (partial).
-- @nonnull differing
select
    id,
    array_remove(
        array[
            case when material_id is distinct from :material_id::bigint then 'material_id' end,
            case when method_code is distinct from :method_code::text then 'method_code' end,
            case when parameters is distinct from :parameters::jsonb then 'parameters' end,
            case
                when period_start is distinct from :period_start::timestamptz
                    then 'period_start'
            end,
            case
                when period_end is distinct from :period_end::timestamptz
                    then 'period_end'
            end
        ],
        null
    ) as differing
from calculations
where request_key = :key::text;

-- name: get_calculation(calculation_id)^
-- One calculations row (all columns), or none. Served by calculations_pkey.
select
    id,
    material_id,
    method_code,
    parameters,
    period_start,
    period_end,
    status,
    result,
    error,
    created_at,
    updated_at,
    completed_at
from calculations
where id = :calculation_id;

-- name: list_material_calculations(material_id)
-- The calculations of one material, newest period first (all columns but parameters,
-- result, error). Served by calculations_material_id_period_start_idx.
select
    id,
    material_id,
    method_code,
    period_start,
    period_end,
    status,
    created_at,
    updated_at,
    completed_at
from calculations
where material_id = :material_id
order by period_start desc;

-- name: update_calculation_status(calculation_id, from_status, status, result, error)<!
-- @nullable-params error
-- The updated calculations row (all columns), or none when the calculation does not
-- exist or its status is not from_status (a lost race or a wrong transition).
-- completed_at is set on completed/failed; result is kept when :result is null.
-- Served by calculations_pkey. now() sits in a subquery, not in a CASE: Citus refuses
-- non-immutable functions inside CASE/COALESCE on its tables (calculations is a
-- reference table there) and evaluates this one once on the coordinator. updated_at is
-- set here, not only by the trigger: on Citus 0017 drops that trigger from reference
-- tables (each node would stamp its own now()).
update calculations
set
    status = :status::text,
    result = coalesce(:result::jsonb, result),
    error = :error::text,
    completed_at = (
        select now()
        where :status::text in ('completed', 'failed')
    ),
    updated_at = now()
where id = :calculation_id
    and status = :from_status::text
returning
    id,
    material_id,
    method_code,
    parameters,
    period_start,
    period_end,
    status,
    result,
    error,
    created_at,
    updated_at,
    completed_at;

-- name: delete_calculation(calculation_id)!
-- Deletes one calculation; its calculation_data rows go with it (on delete cascade).
-- Returns the row count (0 or 1). Served by calculations_pkey, and by
-- calculation_data_pkey for the cascade.
delete from calculations
where id = :calculation_id;

-- name: count_calculation_data(calculation_id)$
-- Number of calculation_data rows of one calculation.
-- Served by calculation_data_pkey (an index-only scan where the visibility map allows).
select count(*) as points
from calculation_data
where calculation_id = :calculation_id;

-- name: list_calculation_data(calculation_id, since, until)
-- The range scan of one calculation: rows (observed_at, metric, value) with
-- since <= observed_at < until, in time then metric order. Served by
-- calculation_data_pkey (calculation_id, observed_at, metric): one index range scan,
-- already in the requested order (per chunk on a hypertable, chunks excluded by time).
select
    observed_at,
    metric,
    value
from calculation_data
where calculation_id = :calculation_id
    and observed_at >= :since::timestamptz
    and observed_at < :until::timestamptz
order by
    observed_at,
    metric;

-- name: list_downsampled_calculation_data(calculation_id, bucket, since, until)
-- @nonnull bucket_start, avg_value, min_value, max_value, last_value
-- Downsampling of one calculation: one row per (bucket_start, metric) with the count,
-- average, minimum, maximum and last value of the bucket, for
-- since <= observed_at < until. Served by calculation_data_pkey (range scan of one
-- calculation).
select
    date_bin(:bucket::interval, observed_at, timestamptz '2000-01-03 00:00:00+00')
        as bucket_start,
    metric,
    count(*) as samples,
    avg(value) as avg_value,
    min(value) as min_value,
    max(value) as max_value,
    (array_agg(value order by observed_at desc))[1] as last_value
from calculation_data
where calculation_id = :calculation_id
    and observed_at >= :since::timestamptz
    and observed_at < :until::timestamptz
group by
    bucket_start,
    metric
order by
    bucket_start,
    metric;

-- name: list_metric_buckets(metric, bucket, since, until)
-- @nonnull bucket_start, avg_value, min_value, max_value
-- Bucketed aggregates of one metric across all calculations, per bucket and material:
-- bucket_start, material_id, calculations, samples, avg/min/max value, for
-- since <= observed_at < until. Served by calculation_data_observed_at_idx (BRIN on
-- plain PostgreSQL; chunk exclusion plus the per-chunk B-tree on TimescaleDB) and
-- calculations_pkey for the join.
select
    date_bin(:bucket::interval, d.observed_at, timestamptz '2000-01-03 00:00:00+00')
        as bucket_start,
    c.material_id,
    count(distinct d.calculation_id) as calculations,
    count(*) as samples,
    avg(d.value) as avg_value,
    min(d.value) as min_value,
    max(d.value) as max_value
from calculation_data as d
join calculations as c
    on c.id = d.calculation_id
where d.metric = :metric
    and d.observed_at >= :since::timestamptz
    and d.observed_at < :until::timestamptz
group by
    bucket_start,
    c.material_id
order by
    bucket_start,
    c.material_id;

-- name: list_downsampled_calculation_data_rollup(calculation_id, bucket, since, until)
-- @nonnull bucket_start, metric, samples, avg_value, min_value, max_value, last_value
-- The rows of list_downsampled_calculation_data for bucket, since and until of whole
-- hours, through calculation_data_rollup (schema/0014). With TimescaleDB it rolls up
-- the continuous aggregate calculation_data_daily (whole UTC days) or
-- calculation_data_hourly, served by their (calculation_id, bucket_start) index, with
-- real-time aggregation for the part not yet materialized; without TimescaleDB the
-- function reads the raw rows through calculation_data_pkey.
select
    bucket_start,
    metric,
    samples,
    avg_value,
    min_value,
    max_value,
    last_value
from calculation_data_rollup(
    :calculation_id,
    :bucket::interval,
    :since::timestamptz,
    :until::timestamptz
);

-- name: list_metric_buckets_rollup(metric, bucket, since, until)
-- @nonnull bucket_start, material_id, calculations, samples, avg_value, min_value, max_value
-- The rows of list_metric_buckets for bucket, since and until of whole hours, through
-- calculation_data_metric_rollup (schema/0014). With TimescaleDB it rolls up
-- calculation_data_daily (whole UTC days) or calculation_data_hourly, served by their
-- (metric, bucket_start) index, and calculations_pkey for the join; without TimescaleDB
-- the function reads the raw rows (calculation_data_observed_at_idx, BRIN).
select
    bucket_start,
    material_id,
    calculations,
    samples,
    avg_value,
    min_value,
    max_value
from calculation_data_metric_rollup(
    :metric,
    :bucket::interval,
    :since::timestamptz,
    :until::timestamptz
);

-- name: list_gapfilled_calculation_data(calculation_id, metric, bucket, since, until)
-- @nonnull bucket_start, samples
-- Every bucket of one calculation's metric over [since, until), empty ones included
-- (samples 0, avg_value and last_value null): avg_interpolated fills a gap linearly
-- between the neighbouring buckets, last_value_locf carries the last value forward
-- (from before since when the range starts in a gap). Through calculation_data_gapfill
-- (schema/0014): time_bucket_gapfill with interpolate/locf on TimescaleDB,
-- generate_series on plain PostgreSQL; both read calculation_data_pkey.
select
    bucket_start,
    samples,
    avg_value,
    avg_interpolated,
    last_value,
    last_value_locf
from calculation_data_gapfill(
    :calculation_id,
    :metric,
    :bucket::interval,
    :since::timestamptz,
    :until::timestamptz
);

-- name: get_coefficient_as_of(material_id, coefficient_code, at)^
-- The coefficient value in force at :at (the newest row with valid_from <= at), or
-- none before the first. Served by coefficients_pkey (material_id, coefficient_code,
-- valid_from) scanned backwards, one row (on a hypertable: ordered chunk append, the
-- newest matching chunk first).
select
    material_id,
    coefficient_code,
    valid_from,
    value
from coefficients
where material_id = :material_id
    and coefficient_code = :coefficient_code
    and valid_from <= :at::timestamptz
order by valid_from desc
limit 1;

-- name: list_coefficients_as_of(material_id, at)
-- Every coefficient of one material as in force at :at, one row per coefficient_code
-- (those with a row at or before :at), by code. One backward probe of coefficients_pkey
-- per coefficient type (a lateral limit 1), so the cost does not grow with the history;
-- coefficient_types is a short reference list.
select
    c.material_id,
    t.code as coefficient_code,
    c.valid_from,
    c.value
from coefficient_types as t
cross join lateral (
    select
        k.material_id,
        k.valid_from,
        k.value
    from coefficients as k
    where k.material_id = :material_id
        and k.coefficient_code = t.code
        and k.valid_from <= :at::timestamptz
    order by k.valid_from desc
    limit 1
) as c
order by t.code;
