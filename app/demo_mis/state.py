"""The simulator's whole state, usable in-process (tests may drive it without HTTP).

``DemoState`` owns the schools (generated lazily from ``(seed, school_ref)``), the armed faults,
the credentials and the OneRoster access tokens it issued. ``create_app`` wraps one in an ASGI
app; a test can keep a reference to ``app.state.demo`` and call e.g.
``demo.school("S1").rollover()`` directly instead of going through ``/_demo``.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field, replace
from typing import Any

from app.demo_mis.faults import FaultBook
from app.demo_mis.school import ControlError, School, SchoolOptions

SCOPE_CORE = "https://purl.imsglobal.org/spec/or/v1p2/scope/roster-core.readonly"
SCOPE_ROSTER = "https://purl.imsglobal.org/spec/or/v1p2/scope/roster.readonly"
SCOPE_DEMOGRAPHICS = "https://purl.imsglobal.org/spec/or/v1p2/scope/roster-demographics.readonly"
ALL_SCOPES = (SCOPE_CORE, SCOPE_ROSTER, SCOPE_DEMOGRAPHICS)
TOKEN_TTL = 3600
MAX_PUPILS = 1_000_000


@dataclass(slots=True)
class Token:
    scopes: frozenset[str]
    expires_at: float  # time.monotonic()


@dataclass
class DemoState:
    """Schools, faults and credentials of one simulator instance."""

    seed: int = 1
    default_pupils: int = 600
    wonde_token: str = "demo-wonde-token"  # noqa: S105 - a published demo credential
    client_id: str = "demo-client"
    client_secret: str = "demo-secret"  # noqa: S105 - a published demo credential
    schools: dict[str, School] = field(default_factory=dict)
    faults: FaultBook = field(default_factory=FaultBook)
    tokens: dict[str, Token] = field(default_factory=dict)

    # -- schools ------------------------------------------------------------------------------

    def default_options(self) -> SchoolOptions:
        return SchoolOptions(pupils=self.default_pupils, seed=self.seed)

    def school(self, ref: str) -> School:
        """The school ``ref``, generated with the defaults on first use."""
        found = self.schools.get(ref)
        if found is None:
            found = self.schools[ref] = School(ref, self.default_options())
        return found

    def configure(self, ref: str, body: dict[str, Any]) -> School:
        """Create or change a school from ``{"pupils"?, "seed"?, "wonde_education_details"?,
        "wonde_missing_include"?, "oneroster_demographics"?}``; regenerates it when pupils or
        seed change (or it did not exist). Raises ControlError on bad values."""
        current = self.schools.get(ref)
        base = current.options if current is not None else self.default_options()
        try:
            options = replace(
                base,
                pupils=int(body.get("pupils", base.pupils)),
                seed=int(body.get("seed", base.seed)),
                wonde_education_details=bool(body.get("wonde_education_details", base.wonde_education_details)),
                wonde_missing_include=body.get("wonde_missing_include", base.wonde_missing_include),
                oneroster_demographics=body.get("oneroster_demographics", base.oneroster_demographics),
            )
        except (TypeError, ValueError):
            raise ControlError("pupils and seed are integers") from None
        if not 0 <= options.pupils <= MAX_PUPILS:
            raise ControlError(f"pupils must be between 0 and {MAX_PUPILS}")
        if options.wonde_missing_include not in ("omit", "null", "empty"):
            raise ControlError("wonde_missing_include is 'omit', 'null' or 'empty'")
        if options.oneroster_demographics not in ("allowed", "denied", "per_user"):
            raise ControlError("oneroster_demographics is 'allowed', 'denied' or 'per_user'")
        if current is None:
            current = self.schools[ref] = School(ref, options)
        else:
            current.set_options(options)
        return current

    def owner_of(self, record_id: str) -> School | None:
        """The loaded school holding a pupil id (current or gone)."""
        for s in self.schools.values():
            if record_id in s.data.pupils or record_id in s.data.gone:
                return s
        return None

    # -- OneRoster tokens ---------------------------------------------------------------------

    def issue_token(self, requested: str | None) -> tuple[str, frozenset[str]]:
        """A bearer token for the requested scopes (all of them when none is asked)."""
        wanted = frozenset(requested.split()) if requested else frozenset(ALL_SCOPES)
        scopes = frozenset(s for s in wanted if s in ALL_SCOPES) or frozenset(ALL_SCOPES)
        token = secrets.token_urlsafe(24)
        self.tokens[token] = Token(scopes, time.monotonic() + TOKEN_TTL)
        return token, scopes

    def check_token(self, token: str) -> Token | None:
        found = self.tokens.get(token)
        if found is None or found.expires_at <= time.monotonic():
            return None
        return found

    def expire_tokens(self) -> int:
        """Make every issued token expired (the next call with one answers 401)."""
        for t in self.tokens.values():
            t.expires_at = 0.0
        return len(self.tokens)
