"""One alert service per app-state database: the evaluator's lease."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

import appstate
from alerts import lease
from tests.conftest import BACKEND_PARAMS, scratch_database

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
TTL = timedelta(seconds=180)


@pytest.fixture(scope="module", params=BACKEND_PARAMS)
def state_engine(request, tmp_path_factory):
    url, drop = scratch_database(request.param, tmp_path_factory)
    engine = appstate.make_engine(url)
    yield engine
    engine.dispose()
    if drop:
        drop()


def test_one_holder_at_a_time_until_it_expires_or_releases(state_engine):
    a, b = "host-a:1:x", "host-b:2:y"
    first = lease.acquire(state_engine, a, T0, TTL)
    assert first.held and first.expires_at == (T0 + TTL).replace(tzinfo=None)
    # A second service stands by and is told who holds it, until when.
    other = lease.acquire(state_engine, b, T0 + timedelta(seconds=30), TTL)
    assert not other.held and other.holder == a and other.expires_at == first.expires_at
    # The holder renews within the same second too (MariaDB's DATETIME
    # has whole seconds: an unchanged row must still count as renewed).
    assert lease.acquire(state_engine, a, T0, TTL).held
    renewed = lease.acquire(state_engine, a, T0 + timedelta(seconds=60), TTL)
    assert renewed.held
    assert not lease.acquire(state_engine, b, T0 + timedelta(seconds=200), TTL).held
    # The holder stops renewing (killed): once expired the other takes over.
    taken = lease.acquire(state_engine, b, T0 + timedelta(seconds=241), TTL)
    assert taken.held and taken.holder == b
    assert not lease.acquire(state_engine, a, T0 + timedelta(seconds=242), TTL).held
    # A clean stop releases it at once; a release by a non-holder does nothing.
    lease.release(state_engine, a)
    assert not lease.acquire(state_engine, a, T0 + timedelta(seconds=243), TTL).held
    lease.release(state_engine, b)
    assert lease.acquire(state_engine, a, T0 + timedelta(seconds=244), TTL).held
    lease.release(state_engine, a)


def test_a_dead_local_holder_is_taken_over_at_once(state_engine):
    """A service restarted after a kill -9 on the same host need not wait
    for the expiry; a live local process, or one of another host, it waits for."""
    import os
    import socket
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    dead = f"{socket.gethostname()}:{done.stdout.strip()}:dead"
    alive = f"{socket.gethostname()}:{os.getpid()}:alive"
    remote = "another-host:1:x"
    me = lease.new_holder()
    for holder, taken in ((alive, False), (remote, False), (dead, True)):
        assert lease.acquire(state_engine, holder, T0, TTL).held
        got = lease.acquire(state_engine, me, T0 + timedelta(seconds=1), TTL)
        assert got.held is taken, holder
        lease.release(state_engine, holder)
        lease.release(state_engine, me)
