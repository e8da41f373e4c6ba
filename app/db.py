"""Database engine, session factory and the request-scoped session.

One owner per transaction: a request (through ``request_session``) or a job opens a session and
commits; services and repositories only ``flush()``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine


def create_engine(database_url: str, *, pool_size: int = 10) -> AsyncEngine:
    """An asyncpg engine. No pre-ping (it costs a round trip per request): after a PostgreSQL restart the
    first request on a dead connection fails with a 503, SQLAlchemy then discards the whole pool, and the
    following requests reconnect."""
    return create_async_engine(
        database_url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_timeout=10,
        connect_args={"timeout": 5, "command_timeout": 300},
    )


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded objects usable after commit (responses are built after it)."""
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


async def request_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A session for one request: committed when the endpoint returns, rolled back when it raises."""
    factory: async_sessionmaker[AsyncSession] = request.app.state.session_factory
    async with factory() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


#: Commits before the response is sent (scope="function"), so a client never sees an uncommitted write.
SessionDep = Annotated[AsyncSession, Depends(request_session, scope="function")]
