"""Authentication and roles (API.md, Conventions).

- ``/v1/admin/*`` takes the operator token (``MISYNC_ADMIN_TOKEN``).
- Everything else school-scoped takes a school API key: ``viewer`` reads, ``coordinator`` does all.
- No or unknown token: 401. Known token of the wrong kind or role: 403.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.config import Settings
from app.db import SessionDep
from app.errors import Forbidden, Unauthorized
from app.models import ApiKey
from app.security import API_KEY_PREFIX, LOOKUP_PREFIX_LENGTH, hash_api_key, tokens_equal
from app.tenancy import Role, Tenant

_bearer = HTTPBearer(auto_error=False, description="A school API key (msk_...) or, for /v1/admin, the operator token.")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def _token(credentials: HTTPAuthorizationCredentials | None) -> str:
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise Unauthorized("Send 'Authorization: Bearer <token>'")
    return credentials.credentials


def _is_admin_token(settings: Settings, token: str) -> bool:
    return settings.admin_token is not None and tokens_equal(token, settings.admin_token.get_secret_value())


async def require_operator(request: Request, session: SessionDep, credentials: Credentials) -> None:
    """Only the operator token passes; a live school key gets 403, any other token 401."""
    token = _token(credentials)
    settings: Settings = request.app.state.settings
    if _is_admin_token(settings, token):
        return
    # Only a real key has a role to refuse: an unknown token is unauthenticated, whatever it looks like.
    if (
        token.startswith(API_KEY_PREFIX)
        and len(token) > LOOKUP_PREFIX_LENGTH
        and await _lookup(request, session, token) is not None
    ):
        raise Forbidden("School API keys cannot use the operator endpoints")
    raise Unauthorized("Invalid token")


@dataclass(frozen=True, slots=True)
class _KnownKey:
    school_id: uuid.UUID
    key_id: uuid.UUID
    role: Role
    expires: float


class KeyCache:
    """Recently verified API keys, by hash, for ``ttl`` seconds: a busy client does not cost a query per
    request. A key's removal takes effect within ``ttl``."""

    def __init__(self, ttl: float = 10.0, size: int = 10_000) -> None:
        self.ttl, self.size = ttl, size
        self._keys: dict[str, _KnownKey] = {}

    def get(self, key_hash: str) -> _KnownKey | None:
        known = self._keys.get(key_hash)
        return known if known is not None and known.expires > time.monotonic() else None

    def put(self, key_hash: str, key: ApiKey) -> _KnownKey:
        if len(self._keys) >= self.size:
            self._keys.clear()
        known = _KnownKey(
            key.school_id, key.id, "coordinator" if key.role == "coordinator" else "viewer", time.monotonic() + self.ttl
        )
        self._keys[key_hash] = known
        return known


async def _lookup(request: Request, session: AsyncSession, token: str) -> _KnownKey | None:
    cache: KeyCache = request.app.state.key_cache
    digest = hash_api_key(token)
    if (known := cache.get(digest)) is not None:
        return known
    rows = (
        (
            await session.execute(
                select(ApiKey).where(
                    col(ApiKey.prefix) == token[:LOOKUP_PREFIX_LENGTH], col(ApiKey.revoked_at).is_(None)
                )
            )
        )
        .scalars()
        .all()
    )
    for key in rows:
        if tokens_equal(digest, key.key_hash):
            return cache.put(digest, key)
    return None


async def _tenant(request: Request, session: SessionDep, credentials: Credentials) -> Tenant:
    token = _token(credentials)
    if token.startswith(API_KEY_PREFIX) and len(token) > LOOKUP_PREFIX_LENGTH:
        known = await _lookup(request, session, token)
        if known is not None:
            actor = f"key:{known.key_id}"
            request.state.actor = actor
            return Tenant(session=session, school_id=known.school_id, actor=actor, role=known.role)
    if _is_admin_token(request.app.state.settings, token):
        raise Forbidden("The operator token does not act for a school; use a school API key")
    raise Unauthorized("Invalid token")


async def require_viewer(tenant: Annotated[Tenant, Depends(_tenant)]) -> Tenant:
    """Any valid school key (read access)."""
    return tenant


async def require_coordinator(tenant: Annotated[Tenant, Depends(_tenant)]) -> Tenant:
    """A coordinator key (write access)."""
    if tenant.role != "coordinator":
        raise Forbidden("This needs a coordinator key; viewer keys are read-only")
    return tenant


Reader = Annotated[Tenant, Depends(require_viewer)]
Coordinator = Annotated[Tenant, Depends(require_coordinator)]
