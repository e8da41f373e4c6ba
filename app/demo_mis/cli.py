"""``misync demo-mis``: run the simulator (``--host``, ``--port``, ``--seed``, ``--pupils``)."""

from __future__ import annotations

import argparse

import uvicorn

from app.demo_mis.app import create_app


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="misync demo-mis",
        description="A local MIS simulator serving Wonde and OneRoster 1.2 on one port (see app.demo_mis).",
    )
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8900, help="port (default 8900)")
    p.add_argument("--seed", type=int, default=1, help="seed of the generated schools (default 1)")
    p.add_argument("--pupils", type=int, default=600, help="pupils per generated school (default 600)")
    return p


def main(argv: list[str] | None = None) -> None:
    """Parse ``argv`` and serve until interrupted."""
    args = parser().parse_args(argv)
    app = create_app(seed=args.seed, default_pupils=args.pupils)
    print(  # the operator wants the connection details
        f"demo MIS on http://{args.host}:{args.port}\n"
        f"  Wonde:     base_url http://{args.host}:{args.port}/v1.0  token {app.state.demo.wonde_token}\n"
        f"  OneRoster: base_url http://{args.host}:{args.port}/ims/oneroster/rostering/v1p2  "
        f"token_url http://{args.host}:{args.port}/oauth/token  "
        f"client {app.state.demo.client_id} / {app.state.demo.client_secret}",
        flush=True,
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level="info", ws="none")


if __name__ == "__main__":
    main()
