"""A connector for a school's stored MIS connection."""

from __future__ import annotations

from app.mis.base import MisConnector, MisFetchError
from app.mis.factory import build_connector
from app.mis.http import HttpOptions
from app.mis.limiter import RedisSemaphore
from app.models import School
from app.schools.service import mis_credentials
from app.sync.runner import Services


def connector_for(school: School, services: Services) -> MisConnector:
    """Build the school's connector with the worker's shared HTTP client."""
    if not school.mis_provider:
        raise MisFetchError("misconfigured", "the school has no MIS connection")
    try:
        credentials = mis_credentials(school, services.cipher)
    except ValueError as exc:
        raise MisFetchError("misconfigured", str(exc)) from None
    connection = {
        "provider": school.mis_provider,
        "base_url": school.mis_base_url,
        "school_ref": school.mis_school_ref,
        "credentials": credentials,
        "grade_map": school.mis_options.get("grade_map"),
    }
    settings = services.settings
    limit = settings.mis_max_concurrent_fetches_per_provider
    options = HttpOptions(
        connect_timeout=settings.mis_connect_timeout,
        read_timeout=settings.mis_read_timeout,
        # A slot outlives any one request (connect + read timeouts, with margin) before it expires.
        limiter=RedisSemaphore(
            services.redis, limit, ttl_s=max(60.0, 4 * (settings.mis_connect_timeout + settings.mis_read_timeout))
        )
        if limit > 0
        else None,
    )
    return build_connector(connection, services.http, http_options=options)
