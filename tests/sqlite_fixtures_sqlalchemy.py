"""SQLite files written through SQLAlchemy models, with the quirks the seed systems had.

``Enum(TaskStatus)`` stores member names (``'PENDING'``); ``Boolean`` stores 0/1 (and
hand-written code left ``'true'``/``'false'`` text); ``DateTime`` drops the zone, so
``datetime.now()`` columns hold local wall time and ``utcnow()`` columns UTC wall time;
``JSON`` stores json.dumps text. Each builder writes through an ORM session and returns
the rows the target must hold afterwards (target column names, the values psycopg reads
back), for an every-row, every-column comparison.
"""

from __future__ import annotations

import enum
import json
import sqlite3
import uuid
from datetime import datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    create_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

UTC = timezone.utc
MSK = ZoneInfo("Europe/Moscow")
T0 = datetime(2024, 3, 1, 9, 30, 0, 123456, tzinfo=UTC)

Expected = dict[str, list[dict[str, Any]]]


def wall(instant: datetime, zone: tzinfo) -> datetime:
    """The naive wall time ``datetime.now()`` gives on a server in ``zone``."""
    return instant.astimezone(zone).replace(tzinfo=None)


def _engine(path: Path) -> Any:
    return create_engine(f"sqlite:///{path}")


# -- seed 002: background tasks with Enum names, nullable user_session ------------------------


class TaskStatus(enum.Enum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class _TasksBase(DeclarativeBase):
    pass


class BackgroundTask(_TasksBase):
    """Seed 002's model as its authors wrote it (local created_at, utc completed_at)."""

    __tablename__ = "background_tasks"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[str] = mapped_column(String(36), unique=True)
    user_session: Mapped[str | None] = mapped_column(String(255), nullable=True)
    task_type: Mapped[str] = mapped_column(String(50))
    status: Mapped[TaskStatus] = mapped_column(Enum(TaskStatus))
    input_data: Mapped[Any] = mapped_column(JSON, nullable=True)
    progress: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime)  # datetime.now(): local
    completed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)  # utcnow()
    use_cache: Mapped[bool] = mapped_column(Boolean)
    use_llm: Mapped[bool] = mapped_column(Boolean)


def build_background_tasks(
    path: Path, *, n: int = 6, null_sessions: tuple[int, ...] = ()
) -> Expected:
    """Tasks written on a UTC+3 server: created_at local (MSK), completed_at UTC."""
    statuses = [TaskStatus.PENDING, TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED]
    rows: list[dict[str, Any]] = []
    engine = _engine(path)
    _TasksBase.metadata.create_all(engine)
    with Session(engine) as s:
        for k in range(n):
            status = statuses[k % len(statuses)]
            created = T0 + timedelta(hours=k)
            done = created + timedelta(minutes=3) if status is not TaskStatus.PENDING else None
            task_id = uuid.uuid5(uuid.NAMESPACE_URL, f"sa-task-{k}")
            s.add(
                BackgroundTask(
                    id=k + 1,
                    task_id=str(task_id),
                    user_session=None if k in null_sessions else f"user-{k}",
                    task_type="ics_processing",
                    status=status,
                    input_data={"k": k},
                    progress=100 if status is TaskStatus.COMPLETED else 0,
                    created_at=wall(created, MSK),
                    completed_at=wall(done, UTC) if done else None,
                    use_cache=k % 2 == 0,
                    use_llm=k % 3 == 0,
                )
            )
            rows.append(
                {
                    "id": k + 1,
                    "task_id": task_id,
                    "user_session": "unknown" if k in null_sessions else f"user-{k}",
                    "task_type": "ics_processing",
                    "status": status.value,
                    "input_data": {"k": k},
                    "progress": 100 if status is TaskStatus.COMPLETED else 0,
                    "created_at": created,
                    "completed_at": done,
                    "use_cache": k % 2 == 0,
                    "use_llm": k % 3 == 0,
                }
            )
        s.commit()
    engine.dispose()
    return {"background_tasks": rows}


# -- seed 000: runs without a status column, a legacy subtask vocabulary ----------------------


class Mode(enum.Enum):
    SINGLE_AGENT = "single-agent"
    MULTI_AGENT = "multi-agent"


class _PlanningBase(DeclarativeBase):
    pass


class TaskExecution(_PlanningBase):
    """An older collector's run: no status column; mode as an Enum; success as Boolean."""

    __tablename__ = "poc_task_executions"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    task_id: Mapped[str] = mapped_column(String(100))
    mode: Mapped[Mode] = mapped_column(Enum(Mode))
    started_at: Mapped[datetime] = mapped_column(DateTime)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    success: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class ExecutionPlan(_PlanningBase):
    __tablename__ = "poc_execution_plans"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    task_execution_id: Mapped[str] = mapped_column(ForeignKey("poc_task_executions.id"))
    plan_id: Mapped[str] = mapped_column(String(100))
    original_task: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    is_complete: Mapped[bool] = mapped_column(Boolean)


class SubtaskExecution(_PlanningBase):
    __tablename__ = "poc_subtask_executions"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    plan_id: Mapped[str] = mapped_column(ForeignKey("poc_execution_plans.id"))
    subtask_id: Mapped[str] = mapped_column(String(100))
    sequence_number: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(Text)
    agent: Mapped[str] = mapped_column(String(50))
    status: Mapped[str] = mapped_column(String(50))  # the collector wrote 'in_progress'
    started_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


def _uid(n: int, salt: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_OID, f"sa-{salt}-{n}"))


def build_planning_legacy(path: Path, *, runs: int = 6) -> Expected:
    """Runs (finished, failed, running) with no status column; subtasks 'in_progress'."""
    exp: Expected = {
        "poc_task_executions": [],
        "poc_execution_plans": [],
        "poc_subtask_executions": [],
    }
    engine = _engine(path)
    _PlanningBase.metadata.create_all(engine)
    with Session(engine) as s:
        for i in range(runs):
            started = T0 + timedelta(hours=i)
            kind = ("completed", "failed", "running")[i % 3]
            done = started + timedelta(minutes=5) if kind != "running" else None
            mode = Mode.SINGLE_AGENT if i % 2 else Mode.MULTI_AGENT
            error = "boom" if kind == "failed" else None
            s.add(
                TaskExecution(
                    id=_uid(i, "run"),
                    task_id=f"task_{i}",
                    mode=mode,
                    started_at=wall(started, UTC),
                    completed_at=wall(done, UTC) if done else None,
                    success=(kind == "completed") if done else None,
                    error=error,
                )
            )
            s.add(
                ExecutionPlan(
                    id=_uid(i, "plan"),
                    task_execution_id=_uid(i, "run"),
                    plan_id=f"p{i}",
                    original_task=f"задача {i}",
                    created_at=wall(started, UTC),
                    completed_at=wall(done, UTC) if done else None,
                    is_complete=done is not None,
                )
            )
            exp["poc_task_executions"].append(
                {
                    "id": _uid(i, "run"),
                    "task_id": f"task_{i}",
                    "mode": mode.value,
                    "status": kind,
                    "started_at": started,
                    "completed_at": done,
                    "success": (kind == "completed") if done else None,
                    "error": error,
                }
            )
            exp["poc_execution_plans"].append(
                {
                    "id": _uid(i, "plan"),
                    "task_execution_id": _uid(i, "run"),
                    "plan_id": f"p{i}",
                    "original_task": f"задача {i}",
                    "created_at": started,
                    "completed_at": done,
                    "is_complete": done is not None,
                }
            )
            for j, status in enumerate(("completed", "in_progress", "pending")):
                began = started + timedelta(seconds=j) if status != "pending" else None
                ended = began + timedelta(seconds=1) if status == "completed" and began else None
                s.add(
                    SubtaskExecution(
                        id=_uid(i * 10 + j, "sub"),
                        plan_id=_uid(i, "plan"),
                        subtask_id=f"s{j}",
                        sequence_number=j,
                        description=f"step {j}",
                        agent="coder",
                        status=status,
                        started_at=wall(began, UTC) if began else None,
                        completed_at=wall(ended, UTC) if ended else None,
                    )
                )
                exp["poc_subtask_executions"].append(
                    {
                        "id": _uid(i * 10 + j, "sub"),
                        "plan_id": _uid(i, "plan"),
                        "subtask_id": f"s{j}",
                        "sequence_number": j,
                        "description": f"step {j}",
                        "agent": "coder",
                        "status": "running" if status == "in_progress" else status,
                        "started_at": began,
                        "completed_at": ended,
                    }
                )
        s.commit()
    engine.dispose()
    # hand-written code of the same system left booleans as text
    with sqlite3.connect(path) as db:
        db.execute("update poc_execution_plans set is_complete = 'true' where is_complete = 1")
        db.execute("update poc_execution_plans set is_complete = 'false' where is_complete = 0")
    db.close()
    return exp


# -- seed 004: a wide calculation_data ---------------------------------------------------------


class _WideBase(DeclarativeBase):
    pass


class Material(_WideBase):
    __tablename__ = "materials"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(20))
    unit: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(DateTime)


class Method(_WideBase):
    __tablename__ = "calculation_methods"
    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class Calculation(_WideBase):
    __tablename__ = "calculations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    material_id: Mapped[int] = mapped_column(ForeignKey("materials.id"))
    method_code: Mapped[str] = mapped_column(ForeignKey("calculation_methods.code"))
    parameters: Mapped[Any] = mapped_column(JSON)
    period_start: Mapped[datetime] = mapped_column(DateTime)
    period_end: Mapped[datetime] = mapped_column(DateTime)
    status: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class WideData(_WideBase):
    """One row per observation, one column per measured quantity (NULL: not measured)."""

    __tablename__ = "measurements"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    calc_id: Mapped[int] = mapped_column(ForeignKey("calculations.id"))
    ts: Mapped[datetime] = mapped_column(DateTime)
    mass: Mapped[float | None] = mapped_column(Float, nullable=True)
    moisture: Mapped[float | None] = mapped_column(Float, nullable=True)
    temperature: Mapped[float | None] = mapped_column(Float, nullable=True)


WIDE_METRICS = {"mass_kg": "mass", "moisture_pct": "moisture", "temperature_c": "temperature"}


def build_wide_shrinkage(path: Path, *, calcs: int = 2, points: int = 5) -> Expected:
    """Parents as ours, calculation data wide; the expected long rows."""
    exp: Expected = {"calculation_data": []}
    engine = _engine(path)
    _WideBase.metadata.create_all(engine)
    with Session(engine) as s:
        s.add(Method(code="normative", name="Нормы", description="", created_at=wall(T0, UTC)))
        s.add(
            Material(
                id=7, code="M-7", name="Зерно", kind="material", unit="t", created_at=wall(T0, UTC)
            )
        )
        s.flush()
        for c in range(1, calcs + 1):
            s.add(
                Calculation(
                    id=c,
                    material_id=7,
                    method_code="normative",
                    parameters={"d": c},
                    period_start=wall(T0, UTC),
                    period_end=wall(T0 + timedelta(days=9), UTC),
                    status="completed",
                    created_at=wall(T0, UTC),
                    updated_at=wall(T0, UTC),
                    completed_at=wall(T0 + timedelta(days=9), UTC),
                )
            )
            s.flush()
            for p in range(points):
                at = T0 + timedelta(days=p)
                values = {
                    "mass": 100.0 - p,
                    "moisture": 12.5 + p if p % 2 else None,
                    "temperature": None if p == 3 else -1.5 * p,
                }
                s.add(WideData(calc_id=c, ts=wall(at, UTC), **values))
                for metric, column in WIDE_METRICS.items():
                    if values[column] is not None:
                        exp["calculation_data"].append(
                            {
                                "calculation_id": c,
                                "observed_at": at,
                                "metric": metric,
                                "value": values[column],
                            }
                        )
        s.commit()
    engine.dispose()
    return exp


WIDE_OPTIONS = {
    "source_timezone": "UTC",
    "wide": [
        {
            "source": "measurements",
            "target": "calculation_data",
            "keys": {"calculation_id": "calc_id", "observed_at": "ts"},
            "metrics": WIDE_METRICS,
        }
    ],
}


def write_options(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path
