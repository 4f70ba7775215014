"""Test databases and connections: one shared migrated database, clones on request.

``schema/`` is migrated once per session into a template database by the real runner.

- ``conn`` / ``aconn`` (the default): a dict-row connection, not autocommit, to ONE
  shared clone of the template, inside a transaction that is rolled back after the test.
  psycopg refuses ``conn.commit()`` and ``conn.rollback()`` inside it; code that opens
  ``conn.transaction()`` gets a savepoint. Recover from an expected server error with
  ``with pytest.raises(...), conn.transaction(): ...``. Everything a test does runs in
  one transaction, so ``now()`` does not move.
- ``dsn``: the DSN of a fresh clone of the template, dropped after the test. A test that
  asks for ``dsn``, or is marked ``own_db``, gets ``conn`` / ``aconn`` on that clone
  instead: a plain connection that may commit, roll back and be joined by others. Use it
  for tests that commit, need ``now()`` to move, use several connections, look at other
  backends, or run the migration runner. A clone whose test only wrote rows is emptied
  and serves the next such test (:mod:`recycle` checks it matches a fresh one: rows,
  sequences, catalogs); any other is dropped.
- ``empty_dsn`` / ``new_database``: fresh databases with nothing migrated, or from any
  template.
- ``module_dsn``: a clone shared by one module's tests, for data sets built once (commit
  them in a module-scoped fixture; open connections with :func:`rolled_back`).

After each module the shared database is checked: a test that committed into it fails
there, naming the tables that changed.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import clones
import psycopg
import pytest
import recycle
from fix_server import Server, get_server
from psycopg import sql
from recycle import contents

from pydal_lite import migrate
from pydal_lite.connection import AsyncConnection, Connection, aconnect, connect
from pydal_lite.dsn import with_database

RUN_ID = clones.RUN_ID
OWN_DB_HINT = (
    "conn/aconn are on the shared database and rolled back after the test: "
    "recover from an expected error with `with pytest.raises(...), conn.transaction():`, "
    "or mark the test @pytest.mark.own_db (or ask for `dsn`) to commit in its own clone"
)


def admin() -> psycopg.Connection[Any]:
    """An autocommit connection to the server's maintenance database."""
    return psycopg.connect(get_server().dsn, autocommit=True)


def create_database(name: str, template: str = "template0") -> str:
    """Create database ``name`` from ``template`` now; return its DSN."""
    clones.create_database(get_server().dsn, name, template)
    return with_database(get_server().dsn, name)


def drop_database(name: str) -> None:
    clones.drop_database(get_server().dsn, name)


@contextmanager
def rolled_back(dsn: str) -> Iterator[Connection]:
    """A dict-row connection to ``dsn`` inside a transaction rolled back at the end."""
    with connect(dsn) as c, c.transaction(force_rollback=True):
        yield c


@asynccontextmanager
async def arolled_back(dsn: str) -> AsyncIterator[AsyncConnection]:
    """The async twin of :func:`rolled_back`."""
    c = await aconnect(dsn)
    try:
        async with c.transaction(force_rollback=True):
            yield c
    finally:
        await c.close()


# -- the shared database's guard --------------------------------------------------


_shared: dict[str, Any] = {}


@pytest.fixture(scope="module", autouse=True)
def _shared_database_unchanged() -> Iterator[None]:
    yield
    if "dsn" not in _shared:
        return
    now = contents(_shared["dsn"])
    if now != _shared["contents"]:
        changed = sorted(
            k for k in now.keys() | _shared["contents"].keys()
            if now.get(k) != _shared["contents"].get(k)
        )  # fmt: skip
        _shared["contents"] = now  # report it once
        pytest.fail(f"a test of this module committed into the shared database: {changed}")


# -- databases ----------------------------------------------------------------------


@pytest.fixture(scope="session")
def template_db(server: Server) -> Iterator[str]:
    """Name of a database migrated to the newest version by the real runner."""
    name = f"pydal_tmpl_{RUN_ID}"
    dsn = create_database(name)
    try:
        migrate.up(dsn)
        # Clones need a template nobody is connected to; TimescaleDB's scheduler
        # reconnects to every database that has the extension, so lock it out.
        with admin() as conn:
            conn.execute(
                sql.SQL("alter database {} with allow_connections false").format(
                    sql.Identifier(name)
                )
            )
            conn.execute(
                "select pg_terminate_backend(pid) from pg_stat_activity"
                " where datname = %s and pid <> pg_backend_pid()",
                (name,),
            )
        yield name
    finally:
        drop_database(name)


@pytest.fixture(scope="session")
def shared_dsn(_clones: clones.Clones, template_db: str) -> Iterator[str]:
    """DSN of the session's one migrated database; never commit into it."""
    if os.environ.get("PYDAL_TEST_SHARED_DSN"):
        # A database migrated beforehand, e.g. on a Citus coordinator (docs/scaling.md,
        # "Testing on Citus"): the rolled-back tests run there, the rest as usual.
        yield os.environ["PYDAL_TEST_SHARED_DSN"]
        return
    name = _clones.take(template_db)
    dsn = with_database(get_server().dsn, name)
    _shared.update(dsn=dsn, contents=contents(dsn))
    try:
        yield dsn
    finally:
        _shared.clear()
        _clones.give_back(name)


@pytest.fixture(scope="session")
def _clones(template_db: str) -> Iterator[clones.Clones]:
    # Set up after (so closed before) the template it clones; the clones of every
    # scope go back to it, so the drops left at the end of the run go out together.
    pool = clones.Clones(get_server().dsn)
    try:
        yield pool
    finally:
        pool.close()
    if pool.errors:
        pytest.fail("; ".join(pool.errors))


_baselines: dict[str, recycle.State] = {}  # template -> a fresh clone's state


@pytest.fixture
def new_database(_clones: clones.Clones, template_db: str) -> Iterator[Callable[..., str]]:
    """Factory: ``new_database(template)`` returns the DSN of a new database, dropped after
    (made ahead of time and dropped in the background by :class:`clones.Clones`). A clone
    of the migrated template that :func:`recycle.reset` puts back to the template's state
    serves the next test instead (the same rows, sequences and catalogs)."""
    made: list[str] = []

    def make(template: str = "template0") -> str:
        name = _clones.take(template)
        made.append(name)
        dsn = with_database(get_server().dsn, name)
        if template == template_db and template not in _baselines:
            _baselines[template] = recycle.baseline(dsn)  # a fresh clone, not yet used
        return dsn

    yield make
    for name in made:
        template = _clones.template_of(name)
        base = _baselines.get(template or "")
        if template == template_db and base and recycle.reset(_dsn_of(name), base):
            _clones.put_back(template, name)
        else:
            _clones.give_back(name)


def _dsn_of(name: str) -> str:
    return with_database(get_server().dsn, name)


@pytest.fixture
def empty_dsn(new_database: Callable[..., str]) -> str:
    """A fresh database with nothing migrated."""
    return new_database()


@pytest.fixture
def dsn(new_database: Callable[..., str], template_db: str) -> str:
    """A fresh clone of the migrated template database: the test may commit there."""
    return new_database(template_db)


@pytest.fixture(scope="module")
def module_dsn(_clones: clones.Clones, template_db: str) -> Iterator[str]:
    """A clone of the migrated template shared by one module's tests (its data sets)."""
    name = _clones.take(template_db)
    try:
        yield with_database(get_server().dsn, name)
    finally:
        _clones.give_back(name)


# -- connections --------------------------------------------------------------------


def _own_dsn(request: pytest.FixtureRequest) -> str | None:
    if request.node.get_closest_marker("own_db") or "dsn" in request.fixturenames:
        return str(request.getfixturevalue("dsn"))
    return None


@pytest.fixture
def conn(request: pytest.FixtureRequest) -> Iterator[Connection]:
    """A dict-row connection (not autocommit); see the module docstring for where."""
    own = _own_dsn(request)
    if own is not None:
        with connect(own) as c:
            yield c
        return
    with rolled_back(request.getfixturevalue("shared_dsn")) as c:
        yield c


@pytest.fixture
async def aconn(request: pytest.FixtureRequest) -> AsyncIterator[AsyncConnection]:
    """An async dict-row connection; the async twin of ``conn``."""
    own = _own_dsn(request)
    if own is not None:
        c = await aconnect(own)
        try:
            yield c
        finally:
            await c.close()
        return
    async with arolled_back(request.getfixturevalue("shared_dsn")) as c:
        yield c


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    exc = call.excinfo.value if call.excinfo else None
    if isinstance(exc, psycopg.ProgrammingError) and "within a Transaction context" in str(exc):
        report.sections.append(("pydal_lite test harness", OWN_DB_HINT))
    return report
