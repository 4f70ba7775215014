"""Event planning event plans and vendors: create a plan, add and find vendors."""

from __future__ import annotations

import logging
import uuid
from datetime import date
from typing import TypeAlias

from .. import sql
from .. import validate as v
from ..errors import InvalidInput, NotFound
from ..runtime import Steps, operation
from ..runtime.steps import present
from .limits import SERVICE_TYPES, check_limit

log = logging.getLogger("pydal_lite.event_planning")

EventPlan: TypeAlias = sql.event_planning.InsertEventPlanRow
"""An ``event_plans`` row (:func:`create_event_plan`)."""
Vendor: TypeAlias = sql.event_planning.InsertVendorRow
"""A ``vendors`` row with every column (:func:`add_vendor`)."""
VendorMatch: TypeAlias = sql.event_planning.ListVendorsRow
"""A vendor found by :func:`find_vendors`: without ``is_active`` and the times."""


@operation
def create_event_plan(
    title: str, *, event_date: date | None = None, event_id: uuid.UUID | str | None = None
) -> Steps[EventPlan]:
    """Create an event plan; returns its row (``id`` is a UUID).

    ``event_id`` is the plan's id, a new UUID when omitted. A caller that chooses it can
    retry the call after an unknown outcome (``CommitOutcomeUnknown``): when a plan with
    that id exists, the call returns it if ``title`` and ``event_date`` are those it was
    created with, and raises InvalidInput naming the id otherwise. Nothing is written
    twice either way.
    """
    v.text(title, "title", blank=False)
    if event_date is not None and not isinstance(event_date, date):
        raise InvalidInput(f"event_date must be a date or None, got {v.shown(event_date)}")
    key = None if event_id is None else v.uuid_value(event_id, "event_id")
    row = yield from sql.event_planning.insert_event_plan(
        id=key, title=title, event_date=event_date
    )
    if row is not None or key is None:
        return present(row, "insert_event_plan")
    # the id was taken: a retry of the call that created it, or a clash
    differing = yield from sql.event_planning.get_event_plan_for_retry(
        id=key, title=title, event_date=event_date
    )
    if differing is None:
        raise NotFound(f"event plan {str(key)!r} existed but was deleted while this call ran")
    if differing:
        raise InvalidInput(
            f"event_id {str(key)!r} names an event plan created with a different "
            f"{' and '.join(differing)}"
        )
    existing = yield from sql.event_planning.get_event_plan(event_id=key)
    log.info("create_event_plan repeated for event plan %s: existing row returned", key)
    return present(existing, "get_event_plan")


@operation
def add_vendor(
    name: str,
    service_type: str,
    location_city: str,
    *,
    rating: float | None = None,
    price_from: float | None = None,
) -> Steps[Vendor]:
    """Add an active vendor; returns its row."""
    v.text(name, "name", blank=False)
    v.one_of(service_type, "service_type", SERVICE_TYPES)
    v.text(location_city, "location_city", blank=False)
    if rating is not None:
        v.number(rating, "rating", lo=0, hi=5)
    if price_from is not None:
        v.number(price_from, "price_from", lo=0)
    row = yield from sql.event_planning.insert_vendor(
        name=name,
        service_type=service_type,
        location_city=location_city,
        rating=rating,
        price_from=price_from,
    )
    return present(row, "insert_vendor")


@operation
def find_vendors(service_type: str, city: str, *, limit: int = 20) -> Steps[list[VendorMatch]]:
    """Active vendors of ``service_type`` in ``city`` (any case), best rated first."""
    v.one_of(service_type, "service_type", SERVICE_TYPES)
    v.text(city, "city", min_len=0)
    rows = yield from sql.event_planning.list_vendors(
        service_type=service_type, city=city, limit=check_limit(limit)
    )
    return rows
