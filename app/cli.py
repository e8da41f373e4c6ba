"""The ``misync`` command.

- ``misync run``: everything on one machine (API, a worker and the demo MIS), with embedded PostgreSQL
  and Redis unless ``MISYNC_DATABASE_URL`` and ``MISYNC_REDIS_URL`` are set. See ``app.local_run``.
- ``misync migrate``: ``alembic upgrade head`` on ``MISYNC_DATABASE_URL``.
- ``misync openapi``: print the OpenAPI document (``make openapi`` writes openapi/openapi.json).
- ``misync demo-mis``: the MIS simulator (``--host --port --seed --pupils``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


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

    if argv[:1] == ["demo-mis"]:
        from app.demo_mis.cli import main as demo_main

        demo_main(argv[1:])
        return
    args = parser.parse_args(argv)
    if args.command == "migrate":
        migrate()
    elif args.command == "openapi":
        sys.stdout.write(openapi_document())
    elif args.command == "run":
        from app.local_run import run_all

        run_all(Path(args.data_dir), host=args.host, port=args.port, demo_port=None if args.no_demo else args.demo_port)


if __name__ == "__main__":
    main()
