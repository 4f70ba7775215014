-- Vendor search indexes (seed 003, "v1.1.0 - Vendor table performance indexes").
--
-- vendors is a live table the planner reads and vendor managers write, so the indexes
-- are built with create index concurrently: no lock that blocks inserts or updates.
-- concurrently cannot run inside a transaction, hence transaction:false on both
-- markers: the runner sends each statement on its own in autocommit.
--
-- If a build fails (deadlock, cancelled, unique violation ...) PostgreSQL leaves an
-- INVALID index behind, and statements before it stay applied. Recovery: look at
--   select indexrelid::regclass, indisvalid from pg_index
--   where indrelid = 'vendors'::regclass;
-- drop index concurrently the ones this file creates, then run the migration again.
-- (No "if not exists" here: it would silently keep an invalid index.)
--
-- Served queries (queries/event_planning.sql):
--   list_vendors: active vendors of one service type in one city, best rated first
--     -> vendors_service_type_location_city_rating_name_idx (partial: is_active only; the
--        expression lower(location_city) makes the city match case-insensitive;
--        rating desc nulls last, name give the query's order without a sort)
--   get_vendor_by_name: case-insensitive exact name lookup
--     -> vendors_name_idx on lower(name)

-- migrate:up transaction:false
create index concurrently vendors_service_type_location_city_rating_name_idx
    on vendors (service_type, lower(location_city), rating desc nulls last, name)
    where is_active;

comment on index vendors_service_type_location_city_rating_name_idx is
    'list_vendors: active vendors by service type and city (lower), best rated first';

create index concurrently vendors_name_idx
    on vendors (lower(name));

comment on index vendors_name_idx is
    'get_vendor_by_name: case-insensitive name lookup';

-- migrate:down transaction:false
drop index concurrently vendors_name_idx;
drop index concurrently vendors_service_type_location_city_rating_name_idx;
