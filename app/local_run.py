"""``misync run``: the whole service on one machine, for trying misync out and for development.

With ``MISYNC_DATABASE_URL`` and ``MISYNC_REDIS_URL`` unset it starts embedded PostgreSQL and Redis in
the data folder (``.misync/``); a second run reuses their data. It generates an admin token and secret
key on first run (kept in ``.misync/secrets.json``) unless they are set, migrates, then starts the API,
one worker and the demo MIS as child processes. On first run it creates a demo school connected to the
demo MIS and prints its API key with a few ``curl`` lines. Ctrl-C stops everything.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from app.cli import migrate


def _secrets(data_dir: Path) -> dict[str, str]:
    path = data_dir / "secrets.json"
    if path.exists():
        stored: dict[str, str] = json.loads(path.read_text())
        return stored
    values = {"admin_token": secrets.token_urlsafe(32), "secret_key": secrets.token_urlsafe(48)}
    path.write_text(json.dumps(values))
    path.chmod(0o600)
    return values


def _wait_for_port(host: str, port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.2)
    raise RuntimeError(f"nothing listens on {host}:{port} after {timeout:.0f}s")


@contextlib.contextmanager
def _servers(data_dir: Path) -> Iterator[tuple[str, str]]:
    db, redis = os.environ.get("MISYNC_DATABASE_URL"), os.environ.get("MISYNC_REDIS_URL")
    if db and redis:
        yield db, redis
        return
    from app.embedded import embedded_servers

    print("starting embedded PostgreSQL and Redis in", data_dir, flush=True)
    with embedded_servers(data_dir) as urls:
        yield db or urls.database_url, redis or urls.redis_url


def _ensure_demo_school(api: str, admin_token: str, demo_url: str, data_dir: Path) -> dict[str, Any]:
    path = data_dir / "demo-school.json"
    if path.exists():
        stored: dict[str, Any] = json.loads(path.read_text())
        return stored
    admin = {"Authorization": f"Bearer {admin_token}"}
    with httpx.Client(base_url=api, timeout=30) as client:
        school = client.post(
            "/v1/admin/schools",
            headers=admin,
            json={
                "name": "Demo Academy",
                "mis": {
                    "provider": "wonde",
                    "base_url": f"{demo_url}/v1.0",
                    "school_ref": "A1000000001",
                    "credentials": {"token": "demo-wonde-token"},
                },
            },
        )
        school.raise_for_status()
        school_id = school.json()["id"]
        key = client.post(
            f"/v1/admin/schools/{school_id}/api-keys", headers=admin, json={"role": "coordinator", "label": "demo"}
        )
        key.raise_for_status()
    demo = {"school_id": school_id, "api_key": key.json()["key"]}
    path.write_text(json.dumps(demo))
    path.chmod(0o600)
    return demo


def _banner(api: str, admin_token: str, demo: dict[str, Any] | None, demo_url: str | None) -> str:
    lines = ["", f"misync is running: API {api}  (docs {api}/docs)", f"  operator token: {admin_token}"]
    if demo and demo_url:
        k = demo["api_key"]
        lines += [
            f"  demo MIS: {demo_url} (Wonde and OneRoster 1.2)",
            f"  demo school {demo['school_id']}, coordinator key: {k}",
            "",
            "Try:",
            f"  curl -s -H 'Authorization: Bearer {k}' {api}/v1/school",
            f"  curl -s -X POST -H 'Authorization: Bearer {k}' -H 'Content-Type: application/json' "
            f'-d \'{{"kind": "registration_groups"}}\' {api}/v1/sync-jobs',
            f"  curl -s -H 'Authorization: Bearer {k}' {api}/v1/mis/registration-groups",
            f"  curl -s -H 'Authorization: Bearer {k}' '{api}/v1/pupils?limit=5'",
        ]
    lines += ["", "Ctrl-C stops everything.", ""]
    return "\n".join(lines)


def run_all(data_dir: Path, *, host: str = "127.0.0.1", port: int = 8000, demo_port: int | None = 8900) -> None:
    """Run until interrupted. Embedded servers start from this (main) thread, as they must."""
    data_dir.mkdir(parents=True, exist_ok=True)
    stored = _secrets(data_dir)
    admin_token = os.environ.get("MISYNC_ADMIN_TOKEN") or stored["admin_token"]
    secret_key = os.environ.get("MISYNC_SECRET_KEY") or stored["secret_key"]
    with _servers(data_dir) as (database_url, redis_url):
        env = {
            **os.environ,
            "MISYNC_DATABASE_URL": database_url,
            "MISYNC_REDIS_URL": redis_url,
            "MISYNC_ADMIN_TOKEN": admin_token,
            "MISYNC_SECRET_KEY": secret_key,
            "MISYNC_EMBEDDED": "true",
            "MISYNC_WEBHOOK_ALLOW_PRIVATE_URLS": os.environ.get("MISYNC_WEBHOOK_ALLOW_PRIVATE_URLS", "true"),
        }
        print("migrating the database", flush=True)
        migrate(database_url)
        exe = sys.executable
        commands = {
            "api": [exe, "-m", "uvicorn", "app.main:app", "--host", host, "--port", str(port), "--no-access-log"],
            "worker": [exe, "-m", "arq", "workers.settings.WorkerSettings"],
        }
        if demo_port is not None:
            commands["demo-mis"] = [exe, "-m", "app.demo_mis.cli", "--host", host, "--port", str(demo_port)]
        procs: dict[str, subprocess.Popen[bytes]] = {}
        try:
            for name, cmd in commands.items():
                procs[name] = subprocess.Popen(cmd, env=env)  # noqa: S603 (our own fixed argv)
            api = f"http://{host}:{port}"
            _wait_for_port(host, port)
            demo, demo_url = None, None
            if demo_port is not None:
                demo_url = f"http://{host}:{demo_port}"
                _wait_for_port(host, demo_port)
                demo = _ensure_demo_school(api, admin_token, demo_url, data_dir)
            print(_banner(api, admin_token, demo, demo_url), flush=True)
            while all(p.poll() is None for p in procs.values()):
                time.sleep(0.5)
            dead = [n for n, p in procs.items() if p.poll() is not None]
            print(f"stopping: {', '.join(dead)} exited", flush=True)
        except KeyboardInterrupt:
            print("\nstopping", flush=True)
        finally:
            for p in procs.values():
                if p.poll() is None:
                    p.send_signal(signal.SIGINT)
            for p in procs.values():
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    p.kill()
