"""Failover: the primary dies under load, the standby is promoted, no acknowledged write is lost.

Each test starts its own primary and synchronous streaming standby (tests/pgcluster.py)
on loopback ports, writes from several threads through one pool whose DSN lists both
hosts, kills the primary (``pg_ctl stop -m immediate``, a crash as clients see it),
promotes the standby and checks on the new primary: every write whose commit was
acknowledged is there, no write reported as ``ConnectionLost`` is there, and the pool
works against the new primary. The figures (acknowledged, lost, unknown outcomes,
reconnect time) are printed; run with ``-s`` to see them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import psycopg
import pytest
from pgcluster import Cluster, unavailable_reason

from pydal_lite import (
    CommitOutcomeUnknown,
    ConnectionLost,
    PoolExhausted,
    Settings,
    create_pool,
    run_transaction,
)
from pydal_lite.connection import Connection
from pydal_lite.pools import Pool

pytestmark = pytest.mark.failover

LOAD_BEFORE = 1.0  # seconds of writes before the primary dies
LOAD_AFTER = 0.5  # seconds of writes after the first one acknowledged by the new primary
RECONNECT_LIMIT = 20.0  # seconds the pool may take to write again


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    reason = unavailable_reason()
    if reason:
        pytest.skip(f"cannot start PostgreSQL servers here: {reason}")
    c = Cluster.create()
    try:
        primary = c.init_primary()
        c.start("primary")
        c.add_standby()
        c.start("standby")
        c.wait_streaming()
        with psycopg.connect(primary.dsn(), autocommit=True) as conn:
            conn.execute(
                "create table ledger (writer int not null, seq int not null,"
                " primary key (writer, seq))"
            )
        yield c
    finally:
        c.destroy()


def multi_host_dsn(c: Cluster) -> str:
    p, s = c.nodes["primary"], c.nodes["standby"]
    return f"host=127.0.0.1,127.0.0.1 port={p.port},{s.port} user=postgres dbname=postgres"


@dataclass
class Tally:
    """What the writers were told, per (writer, seq)."""

    acked: dict[tuple[int, int], float] = field(default_factory=dict)  # -> time acknowledged
    lost: set[tuple[int, int]] = field(default_factory=set)  # ConnectionLost: not committed
    unknown: set[tuple[int, int]] = field(default_factory=set)  # CommitOutcomeUnknown
    pool_timeouts: int = 0
    unexpected: list[BaseException] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def raw_writer(pool: Pool, writer: int, tally: Tally, stop: threading.Event) -> None:
    """One insert per transaction; every outcome recorded as the caller was told it."""
    seq = 0
    while not stop.is_set():
        seq += 1
        key = (writer, seq)
        try:
            with pool.connection() as conn:
                conn.execute("insert into ledger (writer, seq) values (%s, %s)", key)
            with tally.lock:
                tally.acked[key] = time.monotonic()
        except CommitOutcomeUnknown:
            with tally.lock:
                tally.unknown.add(key)
        except ConnectionLost:
            with tally.lock:
                tally.lost.add(key)
        except PoolExhausted:
            with tally.lock:
                tally.pool_timeouts += 1
        except Exception as exc:
            with tally.lock:
                tally.unexpected.append(exc)
            return


def retrying_writer(pool: Pool, writer: int, tally: Tally, stop: threading.Event) -> None:
    """The documented recipe: a caller-chosen key, an idempotent insert, run_transaction;
    after an unknown outcome the same key is written again, so each key lands once."""

    def insert(key: tuple[int, int]) -> None:
        def work(conn: Connection) -> None:
            conn.execute(
                "insert into ledger (writer, seq) values (%s, %s) on conflict do nothing", key
            )

        run_transaction(pool, work, attempts=8, backoff=0.05)

    seq = 0
    while not stop.is_set():
        seq += 1
        key = (writer, seq)
        while True:
            try:
                insert(key)
                break
            except (CommitOutcomeUnknown, ConnectionLost, PoolExhausted):
                continue  # same key again: the insert is idempotent
            except Exception as exc:
                with tally.lock:
                    tally.unexpected.append(exc)
                return
        with tally.lock:
            tally.acked[key] = time.monotonic()


# the default pool runs by default; checking connections on checkout (a second cluster
# and writers loading both cores for seconds) in the slow line
@pytest.mark.parametrize(
    "check",
    [False, pytest.param(True, marks=pytest.mark.slow)],
    ids=["no-check", "check-on-checkout"],
)
def test_promoting_the_standby_under_load_loses_no_acknowledged_write(
    cluster: Cluster, check: bool
) -> None:
    settings = Settings(
        dsn=multi_host_dsn(cluster),
        application_name="failover-test",
        min_size=4,
        max_size=4,
        pool_timeout=RECONNECT_LIMIT,
        connect_timeout=2,
        check=check,
    )
    tally, stop = Tally(), threading.Event()
    with create_pool(settings) as pool:
        pool.wait(10)
        with pool.connection() as conn:
            assert conn.info.port == cluster.nodes["primary"].port
        threads = [
            threading.Thread(target=raw_writer, args=(pool, w, tally, stop)) for w in (1, 2)
        ] + [threading.Thread(target=retrying_writer, args=(pool, w, tally, stop)) for w in (3, 4)]
        for t in threads:
            t.start()
        try:
            time.sleep(LOAD_BEFORE)
            killed = time.monotonic()
            cluster.stop("primary", "immediate")
            cluster.promote("standby")
            promoted = time.monotonic()
            deadline = killed + RECONNECT_LIMIT
            while time.monotonic() < deadline and not tally.unexpected:
                with tally.lock:
                    after = [t for t in tally.acked.values() if t > promoted]
                if after:
                    break
                time.sleep(0.01)
            time.sleep(LOAD_AFTER)
        finally:
            stop.set()
            for t in threads:
                t.join(RECONNECT_LIMIT + 5)
        assert not tally.unexpected, tally.unexpected
        first_after = min((t for t in tally.acked.values() if t > promoted), default=None)
        assert first_after is not None, "no write was acknowledged after the promotion"

        new_primary = cluster.nodes["standby"]
        with pool.connection() as conn:  # the pool now lands on the promoted standby
            row = conn.execute("select pg_is_in_recovery() as standby").fetchone()
            assert conn.info.port == new_primary.port
            assert row == {"standby": False}

    with psycopg.connect(new_primary.dsn()) as conn:
        stored = {(w, s) for w, s in conn.execute("select writer, seq from ledger")}
    acked = set(tally.acked)
    lost_acked = acked - stored
    committed_unknown = tally.unknown & stored
    print(
        f"\nfailover (check={check}): {len(acked)} writes acknowledged, "
        f"{len(lost_acked)} of them lost; {len(tally.lost)} reported ConnectionLost "
        f"({len(tally.lost & stored)} of them stored); {len(tally.unknown)} "
        f"CommitOutcomeUnknown ({len(committed_unknown)} had committed); "
        f"{tally.pool_timeouts} pool timeouts; first write on the new primary "
        f"{first_after - killed:.2f} s after the kill, {first_after - promoted:.2f} s "
        f"after the promotion (promotion took {promoted - killed:.2f} s)"
    )
    assert len(acked) > 50  # the pool really was under load
    assert lost_acked == set()
    assert tally.lost & stored == set()  # ConnectionLost means nothing was committed
    assert first_after - killed < RECONNECT_LIMIT
