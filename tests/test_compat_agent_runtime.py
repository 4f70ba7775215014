"""pydal_lite.compat.agent_runtime.Database runs seed 001's README calls unchanged.

The application's module ``app/services/database.py`` becomes a one-line re-export; the
calls below are the README's, in its order, with the values its callers pass (naive
``datetime.now()``).
"""

from __future__ import annotations

import sys
import warnings
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from psycopg.conninfo import conninfo_to_dict

from pydal_lite import validate
from pydal_lite.compat.agent_runtime import LegacyDatabaseUrlWarning
from pydal_lite.connection import connect
from pydal_lite.errors import InvalidInput


@pytest.fixture
def app(dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The seed application's module, switched to pydal_lite by its one import line."""
    services = tmp_path / "app" / "services"
    services.mkdir(parents=True)
    (tmp_path / "app" / "__init__.py").write_text("")
    (services / "__init__.py").write_text("")
    (services / "database.py").write_text(
        "from pydal_lite.compat.agent_runtime import Database, get_database  # noqa: F401\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", dsn)
    for name in [m for m in sys.modules if m == "app" or m.startswith("app.")]:
        monkeypatch.delitem(sys.modules, name)
    yield
    from pydal_lite.compat import agent_runtime

    if agent_runtime._default is not None:
        agent_runtime._default.close()
        agent_runtime._default = None


def test_seed_readme_calls_unchanged(app: Any, dsn: str) -> None:
    session_id = "readme-session"
    messages = [
        {"role": "system", "content": "Ты помощник"},
        {"role": "user", "content": "Привет"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function"}]},
        {"role": "tool", "content": "ok", "tool_call_id": "c1", "name": "fs"},
    ] + [{"role": "user", "content": f"m{i}"} for i in range(21)]
    last_activity = datetime.now()  # naive, as the seed's callers pass it
    current_agent = "coder"
    agent_history = [
        {
            "from": "orchestrator",
            "to": "coder",
            "reason": "User requested code changes",
            "timestamp": datetime.now().isoformat(),
        },
    ]

    # -- the README, "API (обратная совместимость)" --
    from app.services.database import Database

    db = Database()

    # Сохранение сессии (как раньше)
    db.save_session(session_id, messages, last_activity)

    # Загрузка сессии (как раньше)
    session = db.load_session(session_id)

    # Сохранение контекста агента (как раньше)
    db.save_agent_context(session_id, current_agent, agent_history)

    # Загрузка контекста агента (как раньше)
    context = db.load_agent_context(session_id)

    assert session is not None
    assert session["session_id"] == session_id
    assert [m["content"] for m in session["messages"]][:2] == ["Ты помощник", "Привет"]
    assert session["messages"][2] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"id": "c1", "type": "function"}],
    }
    # the naive now() was read as local time: the same instant
    assert session["last_activity"] == last_activity.astimezone()
    assert context is not None and context["current_agent"] == "coder"
    assert context["agent_history"][0]["reason"] == "User requested code changes"

    # -- "Новые методы" --
    messages = db.get_messages_paginated(session_id, page=1, page_size=20)
    assert len(messages) == 20 and messages[0]["content"] == "Ты помощник"
    messages = db.get_messages_paginated(session_id, page=2, page_size=20)
    assert [m["content"] for m in messages] == [f"m{i}" for i in range(16, 21)]

    stats = db.get_session_stats(session_id)
    assert stats is not None
    assert stats["message_count"] == 25 and stats["session_id"] == session_id

    switches = db.get_agent_switch_history(session_id, limit=100)
    assert [(s["from_agent"], s["to_agent"]) for s in switches] == [("orchestrator", "coder")]
    assert switches[0]["metadata"] == {}

    assert db.list_all_contexts() == [session_id]

    # Мягкое удаление (по умолчанию)
    db.delete_session(session_id, soft=True)
    assert db.load_session(session_id) is None
    assert db.list_all_contexts() == []

    # Список активных сессий (без удаленных)
    sessions = db.list_all_sessions(include_deleted=False)
    # Список всех сессий (включая удаленные)
    all_sessions = db.list_all_sessions(include_deleted=True)
    assert sessions == [] and all_sessions == [session_id]

    # Жесткое удаление
    db.delete_session(session_id, soft=False)
    assert db.list_all_sessions(include_deleted=True) == []

    # -- "Очистка старых данных" --
    db.save_session("old", [{"role": "user", "content": "x"}], datetime.now() - timedelta(hours=30))
    db.save_session("new", [{"role": "user", "content": "y"}], datetime.now())
    cleaned = db.cleanup_old_sessions(max_age_hours=24)
    assert cleaned == 1 and db.list_all_sessions() == ["new"]
    with connect(dsn) as c:  # pretend the soft delete happened 31 days ago
        c.execute(
            "update sessions set deleted_at = now() - interval '31 days' where session_id = 'old'"
        )
    deleted = db.hard_delete_old_sessions(days_old=30)
    assert deleted == 1

    # -- "Context Manager для транзакций" --
    with db.session_scope() as session:
        db.save_session("scoped", [{"role": "user", "content": "a"}], datetime.now())
        db.save_agent_context("scoped", "coder", [])
    assert db.load_agent_context("scoped") is not None
    with pytest.raises(RuntimeError), db.session_scope() as session:
        db.save_session("rolled-back", [{"role": "user", "content": "a"}])
        raise RuntimeError("boom")
    assert db.load_session("rolled-back") is None
    assert session is not None

    db.close()

    # -- "Поддержка PostgreSQL" --
    db = Database(db_url=_url(dsn))
    assert db.list_all_sessions() == ["scoped", "new"]
    db.close()


def _url(dsn: str) -> str:
    """The test DSN as the postgresql:// URL the README passes."""
    p = conninfo_to_dict(dsn)
    host = quote(str(p.get("host", "")), safe="")  # a socket directory is a path
    return f"postgresql://{p.get('user', '')}@{host}:{p.get('port', 5432)}/{p['dbname']}"


def test_legacy_sqlite_url_warns_once_and_uses_database_url(app: Any) -> None:
    from app.services.database import Database, get_database

    with pytest.warns(LegacyDatabaseUrlWarning, match="PostgreSQL now") as caught:
        db = Database(db_url="sqlite:///data/agent_runtime.db")
    assert len(caught) == 1 and "\n" not in str(caught[0].message)
    db.save_session("s", [{"role": "user", "content": "x"}], datetime.now().isoformat())
    assert db.list_all_sessions() == ["s"]
    assert get_database() is get_database()
    assert get_database().list_all_sessions() == ["s"]
    db.close()


def test_unknown_session_context_is_logged_as_the_seed_did(app: Any, caplog: Any) -> None:
    from app.services.database import Database

    db = Database()
    assert db.save_agent_context("ghost", "coder", []) is None
    assert "ghost" in caplog.text and "not found" in caplog.text
    db.close()


def test_bad_urls_and_the_refusing_policy(app: Any) -> None:
    from app.services.database import Database

    with pytest.raises(InvalidInput, match="db_url must be a postgresql:// URL"):
        Database(db_url="mysql://u:secret@h/db")
    db = Database()
    with validate.naive_timezone_as(None), pytest.raises(InvalidInput, match="naive"):
        db.save_session("n", [{"role": "user", "content": "x"}], datetime.now())
    db.close()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Database(db_url="postgresql+psycopg://user@localhost/db").close()
