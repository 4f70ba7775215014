"""Event planning event plans and vendors: create a plan, add and find vendors."""

from __future__ import annotations

from datetime import date
from typing import TypeAlias

from .. import sql
from .. import validate as v
from ..errors import InvalidInput
from ..runtime import Steps, operation
from ..runtime.steps import present
from .limits import SERVICE_TYPES, check_limit

EventPlan: TypeAlias = sql.event_planning.InsertEventPlanRow
"""An ``event_plans`` row (:func:`create_event_plan`)."""
Vendor: TypeAlias = sql.event_planning.InsertVendorRow
"""A ``vendors`` row with every column (:func:`add_vendor`)."""
VendorMatch: TypeAlias = sql.event_planning.ListVendorsRow
"""A vendor found by :func:`find_vendors`: without ``is_active`` and the times."""


@operation
def create_event_plan(title: str, *, event_date: date | None = None) -> Steps[EventPlan]:
    """Create an event plan; returns its row (``id`` is a UUID)."""
    v.text(title, "title", blank=False)
    if event_date is not None and not isinstance(event_date, date):
        raise InvalidInput(f"event_date must be a date or None, got {event_date!r}")
    row = yield from sql.event_planning.insert_event_plan(title=title, event_date=event_date)
    return present(row, "insert_event_plan")


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
