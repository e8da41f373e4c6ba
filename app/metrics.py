"""Prometheus metrics, exposed on ``/metrics``."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter("misync_http_requests_total", "HTTP requests answered", ["method", "route", "status"])
HTTP_LATENCY = Histogram("misync_http_request_duration_seconds", "HTTP request latency", ["method", "route"])
JOBS = Counter("misync_sync_jobs_total", "Sync jobs that reached a status", ["kind", "status"])
JOB_DURATION = Histogram(
    "misync_sync_job_duration_seconds",
    "Sync job run time",
    ["kind"],
    buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800),
)
PUPILS_PROCESSED = Counter("misync_pupils_processed_total", "MIS pupils reconciled", ["provider"])
#: One per HTTP attempt (retries count); ``status`` is the HTTP status, or ``timeout`` / ``error``.
MIS_REQUESTS = Counter("misync_mis_requests_total", "MIS HTTP requests by provider and status", ["provider", "status"])
MIS_LATENCY = Histogram(
    "misync_mis_request_duration_seconds",
    "MIS HTTP request latency by provider and status",
    ["provider", "status"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
)
MIS_SLOT_WAIT = Histogram(
    "misync_mis_slot_wait_seconds",
    "Time an MIS request waited for its provider's concurrency limit",
    ["provider"],
    buckets=(0.001, 0.01, 0.05, 0.1, 0.5, 1, 5, 30),
)
SCHEDULED_JOBS = Counter("misync_scheduled_jobs_total", "Pupils jobs created by the nightly schedule", ["mode"])
WORKER_LAST_SEEN = Gauge(
    "misync_worker_last_seen_seconds", "Seconds since a worker last wrote its health check (-1: none seen)"
)
QUEUE_DEPTH = Gauge("misync_queue_depth", "Jobs waiting in the queue (sampled by the sweeper)")
WEBHOOK_DELIVERIES = Counter(
    "misync_webhook_deliveries_total",
    "Webhook delivery attempts by outcome (delivered, failed: retried later, gave_up, disabled: 410)",
    ["outcome"],
)
