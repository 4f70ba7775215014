-- Time-series aggregates of the shrinkage series (issue 13, section 4): continuous
-- aggregates, the policies TimescaleDB users expect, and the functions the bucket and
-- gap-filled queries of queries/shrinkage.sql call.
--
-- With TimescaleDB (calculation_data is a hypertable since 0010, and the TSL build that
-- has continuous aggregates):
-- * calculation_data_hourly and calculation_data_daily: continuous aggregates per
--   (calculation_id, metric, bucket) with samples, sum, min, max, the last value and its
--   time, so any bucket that is a whole number of hours (days) rolls up from them
--   exactly: avg = sum(sum_value) / sum(samples), last = the last_value with the greatest
--   last_at. Real-time aggregation is on (timescaledb.materialized_only = false): rows
--   newer than the materialized part are aggregated from calculation_data at query time.
--   TimescaleDB indexes each on (calculation_id, bucket_start) and (metric,
--   bucket_start), which serve the per-calculation and the per-metric queries.
--   Created WITH NO DATA, so this file runs in one transaction (only WITH DATA must run
--   outside one); until the first refresh the real-time part answers from raw rows.
-- * Refresh policies: hourly every 30 minutes, daily every hour, each over the whole
--   history (start_offset null), leaving the newest, still filling bucket to real-time
--   aggregation (end_offset one bucket). The whole history because this system backfills:
--   a calculation covers a past period and imports bring old data; a refresh only
--   re-materializes the ranges that were written to (TimescaleDB's invalidation log), so
--   a wide window costs nothing where nothing changed. Rows written into an already
--   materialized range show in the aggregate-backed queries after the next refresh (at
--   most 30 minutes / 1 hour later), or at once after
--     call refresh_continuous_aggregate('calculation_data_hourly', from, to);
-- * Compression policy on coefficients (0010 set its layout but only calculation_data got a
--   policy): chunks compress once their whole 365-day range is more than 365 days old.
--   As-of lookups still work on compressed chunks (segmentby material_id).
-- * Retention on calculation_data: OFF by default. Seed 004 moves an existing SQLite
--   system with its data and backups to PostgreSQL; nothing in it ages data out, and
--   shrinkage (natural loss) calculations are the basis of write-offs that are audited
--   years later, so their input series are kept. A deployment that wants retention sets
--   the interval before migrating, as a database setting or in the runner's session:
--     alter database app set pydal_lite.calculation_data_retention = '5 years';
--     PGOPTIONS='-c pydal_lite.calculation_data_retention=5 years' pydal-migrate up
--   and this file adds add_retention_policy('calculation_data', that interval). Later
--   changes are remove_retention_policy / add_retention_policy by hand. The continuous
--   aggregates keep their rows for dropped raw chunks (the refresh only re-materializes
--   invalidated ranges), so the hourly/daily history outlives the raw rows.
--   coefficients get no retention: dropping old rows would change as-of answers.
--
-- Without TimescaleDB there is nothing to aggregate continuously: no views, no policies,
-- a NOTICE says so. Only the three functions are created, with plain PostgreSQL bodies
-- (date_bin over the raw rows, generate_series for the gap filling) that return the same
-- rows, because every named query must prepare on every server: the migration checks the
-- catalog once and installs the body that fits, and the Python code calls the same query
-- on both.
--
-- Functions (called by queries/shrinkage.sql; STABLE, they only read):
--   calculation_data_rollup(calculation_id, bucket, since, until)
--       per (bucket_start, metric): samples, avg, min, max, last value
--   calculation_data_metric_rollup(metric, bucket, since, until)
--       per (bucket_start, material_id): calculations, samples, avg, min, max
--   calculation_data_gapfill(calculation_id, metric, bucket, since, until)
--       every bucket of [since, until): samples (0 in a gap), avg, interpolated avg,
--       last value, last value carried forward (from before since if need be)
-- The rollups on TimescaleDB read calculation_data_daily when bucket, since and until
-- are whole UTC days, else calculation_data_hourly; they refuse ranges that are not
-- whole hours (the Python side sends those to the raw date_bin queries instead).
--
-- Down: drops the functions and, with TimescaleDB, the retention policy if any, the
-- coefficients compression policy and both continuous aggregates (with their policies).

-- migrate:up
do $$
declare
    continuous boolean := exists (select 1 from pg_extension where extname = 'timescaledb')
        and current_setting('timescaledb.license', true) = 'timescale';
    retention interval := nullif(
        current_setting('pydal_lite.calculation_data_retention', true), ''
    )::interval;
begin
    if continuous then
        continuous := exists (
            select 1
            from timescaledb_information.hypertables
            where hypertable_schema = current_schema()
                and hypertable_name = 'calculation_data'
        );
    end if;

    if not continuous then
        -- Plain PostgreSQL: the same functions over the raw rows.
        create function calculation_data_rollup(
            p_calculation_id bigint,
            p_bucket interval,
            p_since timestamptz,
            p_until timestamptz
        )
        returns table (
            bucket_start timestamptz,
            metric text,
            samples bigint,
            avg_value double precision,
            min_value double precision,
            max_value double precision,
            last_value double precision
        )
        language sql
        stable
        as $fn$
            select
                date_bin(p_bucket, d.observed_at, timestamptz '2000-01-03 00:00:00+00'),
                d.metric,
                count(*),
                avg(d.value),
                min(d.value),
                max(d.value),
                (array_agg(d.value order by d.observed_at desc))[1]
            from calculation_data as d
            where d.calculation_id = p_calculation_id
                and d.observed_at >= p_since
                and d.observed_at < p_until
            group by 1, 2
            order by 1, 2
        $fn$;

        create function calculation_data_metric_rollup(
            p_metric text,
            p_bucket interval,
            p_since timestamptz,
            p_until timestamptz
        )
        returns table (
            bucket_start timestamptz,
            material_id bigint,
            calculations bigint,
            samples bigint,
            avg_value double precision,
            min_value double precision,
            max_value double precision
        )
        language sql
        stable
        as $fn$
            select
                date_bin(p_bucket, d.observed_at, timestamptz '2000-01-03 00:00:00+00'),
                c.material_id,
                count(distinct d.calculation_id),
                count(*),
                avg(d.value),
                min(d.value),
                max(d.value)
            from calculation_data as d
            join calculations as c
                on c.id = d.calculation_id
            where d.metric = p_metric
                and d.observed_at >= p_since
                and d.observed_at < p_until
            group by 1, 2
            order by 1, 2
        $fn$;

        -- Every bucket from generate_series, the data left-joined; the carried-forward
        -- and interpolated values come from the nearest non-empty bucket before/after
        -- (grouped by the running count of non-empty buckets in each direction).
        create function calculation_data_gapfill(
            p_calculation_id bigint,
            p_metric text,
            p_bucket interval,
            p_since timestamptz,
            p_until timestamptz
        )
        returns table (
            bucket_start timestamptz,
            samples bigint,
            avg_value double precision,
            avg_interpolated double precision,
            last_value double precision,
            last_value_locf double precision
        )
        language sql
        stable
        as $fn$
            with buckets as (
                select b
                from generate_series(
                    date_bin(p_bucket, p_since, timestamptz '2000-01-03 00:00:00+00'),
                    p_until,
                    p_bucket
                ) as b
                where b < p_until
            ),
            data as (
                select
                    date_bin(p_bucket, d.observed_at, timestamptz '2000-01-03 00:00:00+00')
                        as b,
                    count(*) as samples,
                    avg(d.value) as avg_value,
                    (array_agg(d.value order by d.observed_at desc))[1] as last_value
                from calculation_data as d
                where d.calculation_id = p_calculation_id
                    and d.metric = p_metric
                    and d.observed_at >= p_since
                    and d.observed_at < p_until
                group by 1
            ),
            marked as (
                select
                    buckets.b,
                    data.samples,
                    data.avg_value,
                    data.last_value,
                    count(data.b) over (order by buckets.b) as before_group,
                    count(data.b) over (order by buckets.b desc) as after_group
                from buckets
                left join data
                    on data.b = buckets.b
            ),
            near as (
                select
                    m.*,
                    first_value(m.last_value) over before_w as prev_last,
                    first_value(m.avg_value) over before_w as prev_avg,
                    first_value(case when m.samples is not null then m.b end) over before_w
                        as prev_b,
                    first_value(m.avg_value) over after_w as next_avg,
                    first_value(case when m.samples is not null then m.b end) over after_w
                        as next_b
                from marked as m
                window
                    before_w as (partition by m.before_group order by m.b),
                    after_w as (partition by m.after_group order by m.b desc)
            )
            select
                n.b,
                coalesce(n.samples, 0),
                n.avg_value,
                case
                    when n.samples is not null then n.avg_value
                    when n.prev_b is not null and n.next_b is not null then
                        n.prev_avg + (n.next_avg - n.prev_avg)
                            * extract(epoch from n.b - n.prev_b)::double precision
                            / extract(epoch from n.next_b - n.prev_b)::double precision
                end,
                n.last_value,
                coalesce(
                    n.prev_last,
                    (
                        select d.value
                        from calculation_data as d
                        where d.calculation_id = p_calculation_id
                            and d.metric = p_metric
                            and d.observed_at < p_since
                        order by d.observed_at desc
                        limit 1
                    )
                )
            from near as n
            order by n.b
        $fn$;

        raise notice 'no TimescaleDB continuous aggregates here (extension: %, license: %): '
            'no continuous aggregates or policies; calculation_data_rollup, '
            'calculation_data_metric_rollup and calculation_data_gapfill read the raw rows',
            coalesce((select extversion from pg_extension where extname = 'timescaledb'),
                'none'),
            coalesce(current_setting('timescaledb.license', true), 'none');
        return;
    end if;

    -- TimescaleDB -------------------------------------------------------------------
    create materialized view calculation_data_hourly
    with (timescaledb.continuous, timescaledb.materialized_only = false) as
    select
        calculation_id,
        metric,
        time_bucket(interval '1 hour', observed_at) as bucket_start,
        count(*) as samples,
        sum(value) as sum_value,
        min(value) as min_value,
        max(value) as max_value,
        last(value, observed_at) as last_value,
        max(observed_at) as last_at
    from calculation_data
    group by
        calculation_id,
        metric,
        bucket_start
    with no data;

    create materialized view calculation_data_daily
    with (timescaledb.continuous, timescaledb.materialized_only = false) as
    select
        calculation_id,
        metric,
        time_bucket(interval '1 day', observed_at) as bucket_start,
        count(*) as samples,
        sum(value) as sum_value,
        min(value) as min_value,
        max(value) as max_value,
        last(value, observed_at) as last_value,
        max(observed_at) as last_at
    from calculation_data
    group by
        calculation_id,
        metric,
        bucket_start
    with no data;

    comment on view calculation_data_hourly is
        'Continuous aggregate of calculation_data per calculation, metric and hour '
        '(real-time); read by calculation_data_rollup and calculation_data_metric_rollup';
    comment on view calculation_data_daily is
        'Continuous aggregate of calculation_data per calculation, metric and UTC day '
        '(real-time); read by the rollup functions for ranges of whole days';

    perform add_continuous_aggregate_policy(
        'calculation_data_hourly',
        start_offset => null,
        end_offset => interval '1 hour',
        schedule_interval => interval '30 minutes'
    );
    perform add_continuous_aggregate_policy(
        'calculation_data_daily',
        start_offset => null,
        end_offset => interval '1 day',
        schedule_interval => interval '1 hour'
    );
    perform add_compression_policy('coefficients', compress_after => interval '365 days');
    if retention is not null then
        perform add_retention_policy('calculation_data', drop_after => retention);
    end if;

    create function calculation_data_rollup(
        p_calculation_id bigint,
        p_bucket interval,
        p_since timestamptz,
        p_until timestamptz
    )
    returns table (
        bucket_start timestamptz,
        metric text,
        samples bigint,
        avg_value double precision,
        min_value double precision,
        max_value double precision,
        last_value double precision
    )
    language plpgsql
    stable
    as $fn$
    begin
        -- the view's name comes from this allow-list of two, never from the caller
        return query execute format(
            $q$
            select
                time_bucket($2, a.bucket_start),
                a.metric,
                sum(a.samples)::bigint,
                sum(a.sum_value) / sum(a.samples),
                min(a.min_value),
                max(a.max_value),
                last(a.last_value, a.last_at)
            from %I as a
            where a.calculation_id = $1
                and a.bucket_start >= $3
                and a.bucket_start < $4
            group by 1, 2
            order by 1, 2
            $q$,
            calculation_data_grain(p_bucket, p_since, p_until)
        )
        using p_calculation_id, p_bucket, p_since, p_until;
    end
    $fn$;

    create function calculation_data_metric_rollup(
        p_metric text,
        p_bucket interval,
        p_since timestamptz,
        p_until timestamptz
    )
    returns table (
        bucket_start timestamptz,
        material_id bigint,
        calculations bigint,
        samples bigint,
        avg_value double precision,
        min_value double precision,
        max_value double precision
    )
    language plpgsql
    stable
    as $fn$
    begin
        return query execute format(
            $q$
            select
                time_bucket($2, a.bucket_start),
                c.material_id,
                count(distinct a.calculation_id),
                sum(a.samples)::bigint,
                sum(a.sum_value) / sum(a.samples),
                min(a.min_value),
                max(a.max_value)
            from %I as a
            join calculations as c
                on c.id = a.calculation_id
            where a.metric = $1
                and a.bucket_start >= $3
                and a.bucket_start < $4
            group by 1, 2
            order by 1, 2
            $q$,
            calculation_data_grain(p_bucket, p_since, p_until)
        )
        using p_metric, p_bucket, p_since, p_until;
    end
    $fn$;

    -- Which aggregate a rollup of bucket over [since, until) can read exactly.
    create function calculation_data_grain(
        p_bucket interval,
        p_since timestamptz,
        p_until timestamptz
    )
    returns text
    language plpgsql
    immutable
    as $fn$
    begin
        if time_bucket(interval '1 day', p_since) = p_since
            and time_bucket(interval '1 day', p_until) = p_until
            and extract(epoch from p_bucket)::bigint % 86400 = 0
        then
            return 'calculation_data_daily';
        end if;
        if time_bucket(interval '1 hour', p_since) = p_since
            and time_bucket(interval '1 hour', p_until) = p_until
            and extract(epoch from p_bucket)::bigint % 3600 = 0
        then
            return 'calculation_data_hourly';
        end if;
        raise exception 'a rollup needs whole hours: bucket %, since %, until %',
            p_bucket, p_since, p_until
            using errcode = 'invalid_parameter_value';
    end
    $fn$;

    create function calculation_data_gapfill(
        p_calculation_id bigint,
        p_metric text,
        p_bucket interval,
        p_since timestamptz,
        p_until timestamptz
    )
    returns table (
        bucket_start timestamptz,
        samples bigint,
        avg_value double precision,
        avg_interpolated double precision,
        last_value double precision,
        last_value_locf double precision
    )
    language plpgsql
    stable
    as $fn$
    begin
        return query
        select
            g.b,
            coalesce(g.samples, 0),
            g.avg_value,
            g.avg_interpolated,
            g.last_value,
            g.last_value_locf
        from (
            select
                time_bucket_gapfill(p_bucket, d.observed_at, p_since, p_until) as b,
                count(*) as samples,
                avg(d.value) as avg_value,
                interpolate(avg(d.value)) as avg_interpolated,
                last(d.value, d.observed_at) as last_value,
                locf(
                    last(d.value, d.observed_at),
                    (
                        select p.value
                        from calculation_data as p
                        where p.calculation_id = p_calculation_id
                            and p.metric = p_metric
                            and p.observed_at < p_since
                        order by p.observed_at desc
                        limit 1
                    )
                ) as last_value_locf
            from calculation_data as d
            where d.calculation_id = p_calculation_id
                and d.metric = p_metric
                and d.observed_at >= p_since
                and d.observed_at < p_until
            group by 1
        ) as g
        order by g.b;
    end
    $fn$;

    comment on function calculation_data_grain(interval, timestamptz, timestamptz) is
        'calculation_data_daily or calculation_data_hourly: the aggregate a rollup of '
        'bucket over [since, until) reads exactly; an error unless whole hours';

    raise notice 'TimescaleDB %: continuous aggregates calculation_data_hourly and '
        'calculation_data_daily (real-time, refreshed every 30 min / 1 h), compression '
        'policy on coefficients, retention on calculation_data: %',
        (select extversion from pg_extension where extname = 'timescaledb'),
        coalesce(retention::text, 'off');
end
$$;

comment on function calculation_data_rollup(bigint, interval, timestamptz, timestamptz) is
    'Per (bucket_start, metric) of one calculation: samples, avg, min, max, last value; '
    'from the continuous aggregates with TimescaleDB, from raw rows without';
comment on function calculation_data_metric_rollup(text, interval, timestamptz, timestamptz) is
    'Per (bucket_start, material_id) of one metric: calculations, samples, avg, min, max; '
    'from the continuous aggregates with TimescaleDB, from raw rows without';
comment on function calculation_data_gapfill(bigint, text, interval, timestamptz, timestamptz) is
    'Every bucket of one calculation and metric over [since, until), empty ones included: '
    'time_bucket_gapfill/locf/interpolate with TimescaleDB, generate_series without';

-- migrate:down
drop function calculation_data_gapfill(bigint, text, interval, timestamptz, timestamptz);
drop function calculation_data_metric_rollup(text, interval, timestamptz, timestamptz);
drop function calculation_data_rollup(bigint, interval, timestamptz, timestamptz);

do $$
begin
    if to_regclass('calculation_data_hourly') is null then
        return;
    end if;
    drop function calculation_data_grain(interval, timestamptz, timestamptz);
    perform remove_retention_policy('calculation_data', if_exists => true);
    perform remove_compression_policy('coefficients', if_exists => true);
    drop materialized view calculation_data_daily;
    drop materialized view calculation_data_hourly;
end
$$;
