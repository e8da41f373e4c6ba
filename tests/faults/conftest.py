"""Embedded PostgreSQL and Redis of the fault tests' own, which they stop and start again at will.

They never touch the session's servers (the machine's, in CI): other tests and other sessions use
those. A restart keeps the data directory and the ports, as a real server restart would.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.embedded import EmbeddedServers, EmbeddedUrls
from tests.fixtures.servers import alembic_config


class Restartable:
    """An embedded PostgreSQL + Redis pair on one data dir that can be stopped and started again."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._servers = EmbeddedServers(data_dir, postgres_port=None, redis_port=None, handle_sigterm=False)
        self.urls: EmbeddedUrls = self._servers.start()
        self.running = True

    def stop(self) -> None:
        """Stop both servers (PostgreSQL: fast shutdown; Redis: AOF synced, then exit)."""
        self._servers.stop()
        self.running = False

    def start(self) -> None:
        """Start both again on the same data dir and ports."""
        self._servers = EmbeddedServers(
            self.data_dir,
            postgres_port=self.urls.postgres_port,
            redis_port=self.urls.redis_port,
            handle_sigterm=False,
        )
        urls = self._servers.start()
        assert (urls.postgres_port, urls.redis_port) == (self.urls.postgres_port, self.urls.redis_port)
        self.running = True


@pytest.fixture(scope="package")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Restartable]:
    """Embedded servers for this package's tests (started and stopped from the main thread: the
    servers die with the thread that started them), with the schema migrated."""
    from alembic import command

    servers = Restartable(tmp_path_factory.mktemp("fault-servers"))
    try:
        command.upgrade(alembic_config(servers.urls.database_url), "heads")
        yield servers
    finally:
        servers.stop()
