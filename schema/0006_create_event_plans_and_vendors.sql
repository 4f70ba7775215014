-- Event planning parents: the event plans the Task Management Agent works on, and the
-- vendors the planner searches (seed 003, Event Planning Agent v2). The seed only
-- references these tables; they are kept minimal here but real: keys, constraints,
-- comments and updated_at triggers. Later versions build on them:
-- 0007 the LangGraph checkpoint tables, 0008 the vendor search indexes, 0009 the task
-- management tables (task_management_runs.event_id references event_plans).

-- migrate:up

/*
 * event_plans: one event being planned (a wedding, a conference). Every task management
 * run belongs to one plan and disappears with it.
 */
create table event_plans (
    id uuid not null default gen_random_uuid(),
    title text not null,
    event_date date,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint event_plans_pkey primary key (id),
    constraint event_plans_title_check check (title <> '')
);

comment on table event_plans is
    'One event being planned; parent of task_management_runs (seed 003)';
comment on column event_plans.event_date is
    'Day of the event; null while the client has not fixed it';

create trigger event_plans_100_set_updated_at
    before update on event_plans
    for each row
    execute function set_updated_at();

/*
 * vendors: suppliers the planner can book (venues, caterers, photographers ...).
 * The planner's hot query is "active vendors of one service type in one city, best
 * rated first"; 0008 adds the indexes for it without blocking writes.
 */
create table vendors (
    id uuid not null default gen_random_uuid(),
    name text not null,
    service_type text not null,
    location_city text not null,
    rating numeric(2, 1),
    price_from numeric(12, 2),
    is_active boolean not null default true,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint vendors_pkey primary key (id),
    constraint vendors_name_check check (name <> ''),
    constraint vendors_service_type_check check (
        service_type in ('venue', 'caterer', 'photographer', 'decorator', 'makeup_artist', 'other')
    ),
    constraint vendors_rating_check check (rating between 0 and 5),
    constraint vendors_price_from_check check (price_from >= 0)
);

comment on table vendors is
    'Suppliers the event planner can book; searched by service type and city (seed 003)';
comment on column vendors.service_type is
    'What the vendor supplies: venue, caterer, photographer, decorator, makeup_artist, other';
comment on column vendors.location_city is
    'City the vendor serves, as entered; searches compare lower(location_city)';
comment on column vendors.rating is
    'Average client rating from 0.0 to 5.0; null until the vendor has been rated';
comment on column vendors.price_from is
    'Lowest price quoted, in the account currency; null when unknown';
comment on column vendors.is_active is
    'False for vendors no longer bookable; searches only look at active vendors';

create trigger vendors_100_set_updated_at
    before update on vendors
    for each row
    execute function set_updated_at();

-- migrate:down
drop table vendors;
drop table event_plans;
