"""Settings: one object, read from ``MISYNC_*`` environment variables (API.md, "Processes and configuration")."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

#: Below these lengths a token or key is refused outside the embedded run.
MIN_ADMIN_TOKEN_LENGTH = 24
MIN_SECRET_KEY_LENGTH = 32


class ConfigurationError(RuntimeError):
    """The settings cannot run a production service; the message says what to set."""


class Settings(BaseSettings):
    """Everything misync reads from its environment.

    ``embedded`` is set by ``misync run`` for the local all-in-one run; outside it, a missing or weak
    admin token or secret key stops the process at start-up (``check_secrets``).
    """

    model_config = SettingsConfigDict(env_prefix="MISYNC_", extra="ignore")

    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/misync"
    redis_url: str = "redis://127.0.0.1:6379/0"
    admin_token: SecretStr | None = None
    secret_key: SecretStr | None = None
    webhook_allow_private_urls: bool = False
    embedded: bool = False

    #: Largest request body accepted, in bytes (a 10,000-item result batch fits comfortably).
    max_body_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    #: Timeouts for MIS requests, in seconds.
    mis_connect_timeout: float = 5.0
    mis_read_timeout: float = 30.0
    #: A running job whose heartbeat is older than this (seconds), and whose school's lock is free, is
    #: presumed dead and handed to another worker by the sweeper. Heartbeats come six times as often.
    job_stale_after_s: float = Field(default=30.0, ge=3.0)
    #: The queue arq workers listen on.
    queue_name: str = "misync:queue"
    #: MIS requests in flight at once per provider and MIS host, across all workers (a Redis semaphore);
    #: 0: no limit.
    mis_max_concurrent_fetches_per_provider: int = Field(default=8, ge=0)
    #: Largest per-school delay after a school's scheduled sync time (seconds), so schools scheduled at
    #: the same time do not all start at once.
    schedule_max_jitter_s: int = Field(default=900, ge=0, le=3600)
    #: Jobs one worker process runs at once (arq ``max_jobs``).
    worker_max_jobs: int = Field(default=10, ge=1)
    #: When set, each worker serves its Prometheus metrics (jobs, MIS requests, queue depth) on this port.
    worker_metrics_port: int | None = Field(default=None, ge=0, le=65535)

    def check_secrets(self) -> None:
        """Raise ConfigurationError unless the admin token and secret key are set and strong enough."""
        problems = []
        token = self.admin_token.get_secret_value() if self.admin_token else ""
        key = self.secret_key.get_secret_value() if self.secret_key else ""
        if len(token) < MIN_ADMIN_TOKEN_LENGTH:
            problems.append(
                f"MISYNC_ADMIN_TOKEN must be set to a random string of at least {MIN_ADMIN_TOKEN_LENGTH} "
                "characters (for example: python -c 'import secrets; print(secrets.token_urlsafe(32))')"
            )
        if len(key) < MIN_SECRET_KEY_LENGTH:
            problems.append(
                f"MISYNC_SECRET_KEY must be set to a random string of at least {MIN_SECRET_KEY_LENGTH} "
                "characters; it encrypts MIS credentials and webhook secrets at rest"
            )
        if len(set(token)) < 8 and token:
            problems.append("MISYNC_ADMIN_TOKEN is too repetitive to be a secret")
        if len(set(key)) < 8 and key:
            problems.append("MISYNC_SECRET_KEY is too repetitive to be a secret")
        if problems:
            raise ConfigurationError("misync will not start: " + "; ".join(problems))

    def secret_key_bytes(self) -> bytes:
        """The secret key as bytes (ConfigurationError when unset)."""
        if self.secret_key is None:
            raise ConfigurationError("MISYNC_SECRET_KEY is not set")
        return self.secret_key.get_secret_value().encode()


@lru_cache
def get_settings() -> Settings:
    """Settings read once per process from the environment."""
    return Settings()
