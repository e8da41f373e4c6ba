"""Embedded PostgreSQL + Redis (app.embedded): start, reuse data, no orphans, leftovers handled."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import asyncpg
import pytest
import redis.asyncio as aioredis

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # no conftest/pythonpath guaranteed when run as `.venv/bin/pytest FILE`
    sys.path.insert(0, str(REPO_ROOT))

from app.embedded import (  # noqa: E402
    EmbeddedServers,
    EmbeddedServersError,
    _free_port,
    _postgres_bin_dir,
    _proc_alive,
    _read_pid,
    _resolve_service_user,
    start_embedded_for_tests,
)

pytestmark = pytest.mark.slow


def _dsn(database_url: str) -> str:
    return database_url.replace("postgresql+asyncpg://", "postgresql://", 1)


def _wait_gone(pid: int, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _proc_alive(pid):
            return True
        time.sleep(0.05)
    return False


async def test_start_connect_stop_and_reuse_data(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    database_url, redis_url, stop = start_embedded_for_tests(data_dir)
    try:
        assert database_url.startswith("postgresql+asyncpg://misync@127.0.0.1:")
        assert database_url.endswith("/misync")
        assert ":5432/" not in database_url  # the machine's own PostgreSQL is left alone
        assert redis_url.startswith("redis://127.0.0.1:") and ":6379/" not in redis_url

        conn = await asyncpg.connect(_dsn(database_url))
        try:
            assert await conn.fetchval("SELECT 1") == 1
            assert await conn.fetchval("SELECT current_database()") == "misync"
            await conn.execute("CREATE TABLE reuse_probe (id int PRIMARY KEY, note text)")
            await conn.execute("INSERT INTO reuse_probe VALUES (1, 'first run')")
        finally:
            await conn.close()

        client = aioredis.from_url(redis_url)
        try:
            assert await client.ping() is True
            await client.set("misync:probe", "hello")
            assert await client.get("misync:probe") == b"hello"
        finally:
            await client.aclose()

        with pytest.raises(EmbeddedServersError, match="already used"):
            EmbeddedServers(data_dir, postgres_port=None, redis_port=None).start()
    finally:
        stop()
    stop()  # idempotent

    assert (data_dir / "postgres" / "PG_VERSION").exists()
    assert not (data_dir / "postgres" / "postmaster.pid").exists()  # clean shutdown

    database_url, redis_url, stop = start_embedded_for_tests(data_dir)
    try:
        conn = await asyncpg.connect(_dsn(database_url))
        try:
            assert await conn.fetchval("SELECT note FROM reuse_probe WHERE id = 1") == "first run"
        finally:
            await conn.close()
        client = aioredis.from_url(redis_url)
        try:
            assert await client.get("misync:probe") == b"hello"  # append-only file survived
        finally:
            await client.aclose()
    finally:
        stop()


_CHILD = textwrap.dedent(
    """
    import json, sys, time
    from app.embedded import embedded_servers
    with embedded_servers(sys.argv[1], postgres_port=None, redis_port=None) as urls:
        print(json.dumps({"db": urls.database_url, "redis": urls.redis_url}), flush=True)
        time.sleep(600)
    """
)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_parent_signal_leaves_no_orphan_servers(tmp_path: Path, sig: signal.Signals) -> None:
    data_dir = tmp_path / "data"
    proc = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(data_dir)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert json.loads(line)["db"].startswith("postgresql+asyncpg://")
        pg_pid = _read_pid(data_dir / "postgres" / "postmaster.pid")
        redis_pid = _read_pid(data_dir / "redis" / "redis.pid")
        assert pg_pid is not None and _proc_alive(pg_pid)
        assert redis_pid is not None and _proc_alive(redis_pid)

        proc.send_signal(sig)
        proc.wait(30)
        assert _wait_gone(pg_pid), "postgres outlived its parent"
        assert _wait_gone(redis_pid), "redis outlived its parent"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def test_leftover_server_on_data_dir_is_stopped(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    _, _, stop = start_embedded_for_tests(data_dir)
    stop()

    # Simulate a server orphaned by an earlier run: started outside our control, no parent-death signal.
    user = _resolve_service_user()
    extra: dict[str, object] = {}
    if user is not None:
        extra = {"user": user.uid, "group": user.gid, "extra_groups": []}
    argv = [str(_postgres_bin_dir() / "postgres"), "-D", str(data_dir / "postgres"), "-c"]
    argv += [f"port={_free_port()}", "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="]
    leftover = subprocess.Popen(
        argv,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        **extra,  # type: ignore[call-overload]
    )
    try:
        pid_file = data_dir / "postgres" / "postmaster.pid"
        deadline = time.monotonic() + 20
        while _read_pid(pid_file) != leftover.pid and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _read_pid(pid_file) == leftover.pid

        _, _, stop = start_embedded_for_tests(data_dir)
        try:
            assert leftover.wait(30) is not None  # the leftover was shut down
            new_pid = _read_pid(pid_file)
            assert new_pid is not None and new_pid != leftover.pid and _proc_alive(new_pid)
            assert os.path.exists(data_dir / "postgres" / "PG_VERSION")
        finally:
            stop()
    finally:
        if leftover.poll() is None:
            leftover.kill()
            leftover.wait()
