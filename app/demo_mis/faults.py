"""Fault injection: per school (or every school, ``"*"``), per provider, per endpoint.

A fault is armed with ``{"mode", "count"?, "after"?, "delay_ms"?, "retry_after"?, "provider"?,
"endpoint"?}``. It lets ``after`` matching requests through untouched, then hits the next
``count`` matching requests (``count`` omitted or null: every one from then on), then
disarms. So "the next 2 requests give 500, then normal" is ``{"mode": "server_error", "count":
2}`` and "always" is ``{"mode": "server_error"}``. A request matches when its provider
(``wonde`` | ``oneroster``) and endpoint (``students``, ``groups``, ``deletions``, ``classes``,
``enrollments``, ``demographics``, ``token``) match the fault's, when those are given. When
several faults are due, the oldest one hits; faults still waiting out ``after`` count the
request anyway.

Modes (aliases in brackets):

* ``server_error`` (500): HTTP 500.
* ``rate_limited`` (429): HTTP 429 with ``Retry-After: <retry_after, default 1>``.
* ``unauthorized`` (401) / ``forbidden`` (403): credentials rejected.
* ``slow``: waits ``delay_ms`` (default 1000) and then answers normally.
* ``empty``: a valid envelope with no items (Wonde ``more: false``; OneRoster
  ``X-Total-Count: 0``).
* ``no_envelope``: 200 whose body is a bare JSON array of the page's items.
* ``truncated``: Wonde answers ``more: true`` with ``next: null``; OneRoster leaves out the last
  tenth of the list (at least one record) while ``X-Total-Count`` still counts it.
* ``duplicate_ids``: the page's last item is replaced by the item just before the page (or,
  on a first page, by the page's first item), so an id appears twice.
* ``malformed_record``: the page's first item loses its id and gets values of the wrong type.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

MODES = {
    "server_error": "server_error",
    "500": "server_error",
    "error": "server_error",
    "rate_limited": "rate_limited",
    "429": "rate_limited",
    "rate_limit": "rate_limited",
    "unauthorized": "unauthorized",
    "401": "unauthorized",
    "forbidden": "forbidden",
    "403": "forbidden",
    "slow": "slow",
    "empty": "empty",
    "no_envelope": "no_envelope",
    "truncated": "truncated",
    "duplicate_ids": "duplicate_ids",
    "duplicates": "duplicate_ids",
    "malformed_record": "malformed_record",
    "malformed": "malformed_record",
}
#: Modes answered before the handler runs (the handler never sees them).
EARLY = {"server_error", "rate_limited", "unauthorized", "forbidden"}
PROVIDERS = {"wonde", "oneroster"}


@dataclass(slots=True)
class Fault:
    """One armed fault. ``remaining`` None means "always"."""

    mode: str
    remaining: int | None = None
    after: int = 0
    delay_ms: int = 1000
    retry_after: int = 1
    provider: str | None = None
    endpoint: str | None = None
    hits: int = 0

    @classmethod
    def parse(cls, body: dict[str, Any]) -> Fault:
        """A fault from a control request body; ValueError with a readable message otherwise."""
        mode = MODES.get(str(body.get("mode", "")).lower())
        if mode is None:
            raise ValueError(f"unknown fault mode {body.get('mode')!r}; one of {sorted(set(MODES.values()))}")
        provider = body.get("provider")
        if provider is not None and provider not in PROVIDERS:
            raise ValueError("provider is 'wonde', 'oneroster' or null")
        try:
            count = body.get("count")
            fault = cls(
                mode=mode,
                remaining=None if count is None else int(count),
                after=int(body.get("after", 0)),
                delay_ms=int(body.get("delay_ms", 1000)),
                retry_after=int(body.get("retry_after", 1)),
                provider=provider,
                endpoint=body.get("endpoint"),
            )
        except (TypeError, ValueError):
            raise ValueError("count, after, delay_ms and retry_after are integers") from None
        if (fault.remaining is not None and fault.remaining < 1) or fault.after < 0 or fault.delay_ms < 0:
            raise ValueError("count must be >= 1; after and delay_ms >= 0")
        return fault

    def matches(self, provider: str, endpoint: str) -> bool:
        return (self.provider in (None, provider)) and (self.endpoint in (None, endpoint))

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["count"] = out.pop("remaining")
        return out


@dataclass
class FaultBook:
    """Armed faults and request counters, keyed by school ref (``"*"`` for every school)."""

    faults: dict[str, list[Fault]] = field(default_factory=dict)
    requests: dict[tuple[str, str, str], int] = field(default_factory=dict)

    def arm(self, ref: str, fault: Fault) -> None:
        self.faults.setdefault(ref, []).append(fault)

    def clear(self, ref: str) -> None:
        self.faults.pop(ref, None)

    def take(self, ref: str, provider: str, endpoint: str) -> Fault | None:
        """Count the request and return the fault that hits it, if any (see module docstring)."""
        key = (ref, provider, endpoint)
        self.requests[key] = self.requests.get(key, 0) + 1
        hit: Fault | None = None
        for owner in (ref,) if ref == "*" else (ref, "*"):
            armed = self.faults.get(owner, [])
            for fault in list(armed):
                if not fault.matches(provider, endpoint):
                    continue
                if fault.after > 0:
                    fault.after -= 1
                    continue
                if hit is not None:
                    continue
                hit = fault
                fault.hits += 1
                if fault.remaining is not None:
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        armed.remove(fault)
        return hit

    def describe(self, ref: str) -> dict[str, Any]:
        """Armed faults and per provider/endpoint request counts for one school."""
        return {
            "faults": [f.as_dict() for f in self.faults.get(ref, [])],
            "requests": {f"{p}:{e}": n for (r, p, e), n in sorted(self.requests.items()) if r == ref},
        }
