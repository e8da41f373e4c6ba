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
MIS_REQUESTS = Counter("misync_mis_requests_total", "MIS HTTP requests", ["provider", "status"])
MIS_LATENCY = Histogram("misync_mis_request_duration_seconds", "MIS HTTP request latency", ["provider"])
QUEUE_DEPTH = Gauge("misync_queue_depth", "Jobs waiting in the queue (sampled by the sweeper)")
