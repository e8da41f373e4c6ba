"""Authentication and roles (API.md, Conventions).

- ``/v1/admin/*`` takes the operator token (``MISYNC_ADMIN_TOKEN``).
- Everything else school-scoped takes a school API key: ``viewer`` reads, ``coordinator`` does all.
- No or unknown token: 401. Known token of the wrong kind or role: 403.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select
from sqlmodel import col

from app.config import Settings
from app.db import SessionDep
from app.errors import Forbidden, Unauthorized
from app.models import ApiKey
from app.security import API_KEY_PREFIX, LOOKUP_PREFIX_LENGTH, key_matches, tokens_equal
from app.tenancy import Tenant

_bearer = HTTPBearer(auto_error=False, description="A school API key (msk_...) or, for /v1/admin, the operator token.")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def _token(credentials: HTTPAuthorizationCredentials | None) -> str:
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise Unauthorized("Send 'Authorization: Bearer <token>'")
    return credentials.credentials


def _is_admin_token(settings: Settings, token: str) -> bool:
    return settings.admin_token is not None and tokens_equal(token, settings.admin_token.get_secret_value())


async def require_operator(request: Request, credentials: Credentials) -> None:
    """Only the operator token passes."""
    token = _token(credentials)
    settings: Settings = request.app.state.settings
    if _is_admin_token(settings, token):
        return
    if token.startswith(API_KEY_PREFIX):
        raise Forbidden("School API keys cannot use the operator endpoints")
    raise Unauthorized("Invalid token")


async def _tenant(request: Request, session: SessionDep, credentials: Credentials) -> Tenant:
    token = _token(credentials)
    if token.startswith(API_KEY_PREFIX) and len(token) > LOOKUP_PREFIX_LENGTH:
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
            if key_matches(token, key.key_hash):
                request.state.actor = f"key:{key.id}"
                return Tenant(
                    session=session,
                    school_id=key.school_id,
                    actor=f"key:{key.id}",
                    role="coordinator" if key.role == "coordinator" else "viewer",
                )
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
