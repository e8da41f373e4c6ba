"""Build the right connector for a school's MIS connection.

The connection is the ``mis`` object of ``POST /v1/admin/schools`` (API.md), with the
credentials already decrypted::

    {"provider": "wonde", "base_url": "https://api.wonde.com/v1.0", "school_ref": "A123",
     "credentials": {"token": "..."}}
    {"provider": "oneroster", "base_url": "https://host/ims/oneroster/rostering/v1p2",
     "school_ref": "org-1", "credentials": {"client_id": "...", "client_secret": "...",
     "token_url": "https://host/oauth/token"}, "grade_map": {"KG": "Reception"}}

Optional keys: ``grade_map`` (OneRoster only, see :mod:`app.mis.oneroster`) and ``page_size``.
The caller owns ``client``; connectors never close it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from app.mis.base import MisConnector, MisFetchError
from app.mis.http import HttpOptions, Sleep
from app.mis.oneroster import OneRosterConnector
from app.mis.wonde import WondeConnector

PROVIDERS = ("wonde", "oneroster")


def build_connector(
    connection: Mapping[str, Any],
    client: httpx.AsyncClient,
    *,
    http_options: HttpOptions | None = None,
    sleep: Sleep | None = None,
) -> MisConnector:
    """A connector for ``connection``. Raises MisFetchError(misconfigured) when it is incomplete."""
    provider = connection.get("provider")
    base_url = connection.get("base_url")
    school_ref = connection.get("school_ref")
    credentials = connection.get("credentials")
    if provider not in PROVIDERS:
        raise MisFetchError("misconfigured", f"unknown MIS provider {provider!r} (expected wonde or oneroster)")
    if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
        raise MisFetchError("misconfigured", "the MIS connection has no http(s) base_url")
    if not isinstance(school_ref, str) or not school_ref:
        raise MisFetchError("misconfigured", "the MIS connection has no school_ref")
    if not isinstance(credentials, Mapping):
        raise MisFetchError("misconfigured", "the MIS connection has no credentials")
    creds = {str(k): str(v) for k, v in credentials.items() if v is not None}
    extra: dict[str, Any] = {}
    if connection.get("page_size"):
        extra["page_size" if provider == "oneroster" else "per_page"] = int(connection["page_size"])
    if provider == "wonde":
        return WondeConnector(client, base_url, school_ref, creds, http_options=http_options, sleep=sleep, **extra)
    return OneRosterConnector(
        client,
        base_url,
        school_ref,
        creds,
        grade_map=connection.get("grade_map"),
        http_options=http_options,
        sleep=sleep,
        **extra,
    )
