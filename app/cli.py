"""The ``misync`` command.

- ``misync run``: everything on one machine (API, a worker and the demo MIS), with embedded PostgreSQL
  and Redis unless ``MISYNC_DATABASE_URL`` and ``MISYNC_REDIS_URL`` are set. See ``app.local_run``.
- ``misync migrate``: ``alembic upgrade head`` on ``MISYNC_DATABASE_URL``.
- ``misync openapi``: print the OpenAPI document (``make openapi`` writes openapi/openapi.json).
- ``misync demo-mis``: the MIS simulator (``--host --port --seed --pupils``).

Operator commands (``app.ops``; they use ``MISYNC_DATABASE_URL``, ``MISYNC_REDIS_URL``,
``MISYNC_SECRET_KEY`` and ``MISYNC_QUEUE_NAME`` like the service; exit 1 with a message on refusal):

- ``misync create-school``: a school, its MIS connection (``--mis FILE`` or flags), schedule and an API key.
- ``misync jobs``: sync jobs of all schools or one, newest first (``--school --status --kind --limit --json``).
- ``misync retry-job JOB_ID``: a new job like a failed or cancelled one. ``misync cancel-job JOB_ID``.
- ``misync export-audit SCHOOL_ID``: the school's audit log as JSON lines, newest first (``--since --until``).
- ``misync run-retention [--as-of DATE]``: the daily retention run, for a date.
- ``misync worker-health``: exit 0 when a worker wrote its health check lately, else 1 (like ``arq --check``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from collections.abc import Coroutine
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

REPO = Path(__file__).resolve().parents[1]
T = TypeVar("T")


def migrate(database_url: str | None = None) -> None:
    """Upgrade the database to the newest migration."""
    from alembic import command
    from alembic.config import Config

    cfg = Config(str(REPO / "alembic.ini"))
    cfg.set_main_option("script_location", str(REPO / "migrations"))
    if database_url:
        cfg.set_main_option("sqlalchemy.url", database_url)
    command.upgrade(cfg, "head")


def openapi_document() -> str:
    """The API's OpenAPI document as stable, pretty JSON."""
    from app.config import Settings
    from app.main import create_app

    app = create_app(Settings(embedded=True, secret_key="openapi-generation-only-" + "x" * 16))
    return json.dumps(app.openapi(), indent=2, sort_keys=False, ensure_ascii=False) + "\n"


def _add_operator_commands(sub: Any) -> None:
    p = sub.add_parser("create-school", help="create a school (MIS connection, schedule) and an API key")
    p.add_argument("--name", required=True)
    p.add_argument("--urn")
    p.add_argument("--mis", metavar="FILE", help="JSON file ('-': stdin) with the API's `mis` object (credentials)")
    p.add_argument("--provider", choices=("wonde", "oneroster"))
    p.add_argument("--base-url", help="MIS API root including its version path")
    p.add_argument("--school-ref", help="the school's id at the MIS")
    p.add_argument("--token", help="Wonde token (prefer --mis: arguments are visible to other users)")
    p.add_argument("--client-id", help="OneRoster client id")
    p.add_argument("--client-secret", help="OneRoster client secret (prefer --mis)")
    p.add_argument("--token-url", help="OneRoster OAuth 2 token URL")
    p.add_argument("--sync-time", help="nightly sync, HH:MM local time (default: none)")
    p.add_argument("--timezone", default="Europe/London")
    p.add_argument("--key-role", choices=("coordinator", "viewer", "none"), default="coordinator")
    p.add_argument("--key-label")

    p = sub.add_parser("jobs", help="list sync jobs, newest first")
    p.add_argument("--school", type=uuid.UUID, help="only this school's jobs")
    p.add_argument("--status", help="queued, running, awaiting_review, held, applying, succeeded, failed, cancelled")
    p.add_argument("--kind", choices=("registration_groups", "pupils"))
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--json", action="store_true", help="JSON lines instead of a table")

    p = sub.add_parser("retry-job", help="create a new job with the kind, mode and year groups of a failed one")
    p.add_argument("job_id", type=uuid.UUID)
    p = sub.add_parser("cancel-job", help="cancel a job that has not applied anything")
    p.add_argument("job_id", type=uuid.UUID)

    p = sub.add_parser("export-audit", help="a school's audit log as JSON lines, newest first")
    p.add_argument("school_id", type=uuid.UUID)
    p.add_argument("--since", type=date.fromisoformat, help="first day (UTC), YYYY-MM-DD")
    p.add_argument("--until", type=date.fromisoformat, help="last day (UTC), YYYY-MM-DD")

    p = sub.add_parser("run-retention", help="run retention (purge due deletions, anonymise) for a date")
    p.add_argument("--as-of", type=date.fromisoformat, help="YYYY-MM-DD, not after today (default: today, UTC)")

    sub.add_parser("worker-health", help="exit 0 if a worker wrote its health check lately, else 1")


def _school_body(args: argparse.Namespace) -> Any:
    from app.schools.schemas import SchoolCreate

    body: dict[str, Any] = {"name": args.name}
    if args.urn:
        body["urn"] = args.urn
    if args.mis:
        text = sys.stdin.read() if args.mis == "-" else Path(args.mis).read_text()
        body["mis"] = json.loads(text)
    elif args.provider:
        credentials = (
            {"token": args.token}
            if args.provider == "wonde"
            else {"client_id": args.client_id, "client_secret": args.client_secret, "token_url": args.token_url}
        )
        body["mis"] = {
            "provider": args.provider,
            "base_url": args.base_url,
            "school_ref": args.school_ref,
            "credentials": {k: v for k, v in credentials.items() if v is not None},
        }
    if args.sync_time or args.timezone != "Europe/London":
        body["settings"] = {"sync_time": args.sync_time, "timezone": args.timezone}
    return SchoolCreate.model_validate(body)


def _run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def operator_command(args: argparse.Namespace) -> int:
    """Run one operator command; the exit status (0 done, 1 refused or failed)."""
    from pydantic import ValidationError

    from app import ops
    from app.config import ConfigurationError, Settings
    from app.errors import AppError

    settings = Settings()
    out = sys.stdout
    try:
        if args.command == "create-school":
            role = None if args.key_role == "none" else args.key_role
            _run(ops.create_school(settings, _school_body(args), role, args.key_label, out))
        elif args.command == "jobs":
            _run(
                ops.list_jobs(
                    settings,
                    out,
                    school_id=args.school,
                    status=args.status,
                    kind=args.kind,
                    limit=args.limit,
                    as_json=args.json,
                )
            )
        elif args.command == "retry-job":
            _run(ops.retry_job(settings, args.job_id, out))
        elif args.command == "cancel-job":
            _run(ops.cancel_job(settings, args.job_id, out))
        elif args.command == "export-audit":
            _run(ops.export_audit(settings, args.school_id, out, since=args.since, until=args.until))
        elif args.command == "run-retention":
            _run(ops.run_retention(settings, args.as_of, out))
        elif args.command == "worker-health":
            return 0 if _run(ops.worker_health(settings, out)) else 1
    except AppError as exc:
        print(f"misync {args.command}: {exc.detail or exc.title}", file=sys.stderr)
        return 1
    except (ValidationError, ValueError, OSError, ConfigurationError) as exc:
        print(f"misync {args.command}: {exc}", file=sys.stderr)
        return 1
    return 0


OPERATOR_COMMANDS = frozenset(
    {"create-school", "jobs", "retry-job", "cancel-job", "export-audit", "run-retention", "worker-health"}
)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="misync", description="Keeps a school's roster in step with its MIS.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run API, worker and demo MIS (embedded servers unless URLs are set)")
    run.add_argument("--data-dir", default=".misync", help="where embedded data and secrets live (.misync)")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=8000, help="API port (8000)")
    run.add_argument("--demo-port", type=int, default=8900, help="demo MIS port (8900)")
    run.add_argument("--no-demo", action="store_true", help="do not start the demo MIS or the demo school")
    sub.add_parser("migrate", help="alembic upgrade head")
    sub.add_parser("openapi", help="print the OpenAPI document")
    sub.add_parser("demo-mis", help="run the MIS simulator", add_help=False)
    _add_operator_commands(sub)

    if argv[:1] == ["demo-mis"]:
        from app.demo_mis.cli import main as demo_main

        demo_main(argv[1:])
        return
    args = parser.parse_args(argv)
    if args.command in OPERATOR_COMMANDS:
        sys.exit(operator_command(args))
    if args.command == "migrate":
        migrate()
    elif args.command == "openapi":
        sys.stdout.write(openapi_document())
    elif args.command == "run":
        from app.local_run import run_all

        run_all(Path(args.data_dir), host=args.host, port=args.port, demo_port=None if args.no_demo else args.demo_port)


if __name__ == "__main__":
    main()
