"""An SDK generated from openapi/openapi.json with openapi-python-client drives a running server."""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.config import Settings
from app.demo_mis.server import DemoMisServer
from app.main import create_app
from tests.conftest import ADMIN_TOKEN
from tests.fixtures.servers import REPO


@pytest.fixture(scope="module")
def sdk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    out = tmp_path_factory.mktemp("sdk")
    exe = shutil.which("openapi-python-client", path=str(Path(sys.executable).parent))
    assert exe, "openapi-python-client is a dev dependency"
    subprocess.run(
        [
            exe,
            "generate",
            "--path",
            str(REPO / "openapi" / "openapi.json"),
            "--output-path",
            str(out / "misync_client"),
            "--meta",
            "none",
        ],
        check=True,
        capture_output=True,
        cwd=out,
    )
    sys.path.insert(0, str(out))
    try:
        yield importlib.import_module("misync_client")
    finally:
        sys.path.remove(str(out))
        for name in [m for m in sys.modules if m.startswith("misync_client")]:
            del sys.modules[name]


def test_generated_client_creates_and_lists_pupils(sdk: object, settings: Settings) -> None:
    from misync_client import AuthenticatedClient  # type: ignore[import-not-found]
    from misync_client.api.pupils import create_pupil, list_pupils  # type: ignore[import-not-found]
    from misync_client.models import PupilCreate  # type: ignore[import-not-found]

    with DemoMisServer(create_app(settings), lifespan="on") as server:  # a real uvicorn server for the API
        admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        school = httpx.post(f"{server.url}/v1/admin/schools", json={"name": "SDK School"}, headers=admin).json()
        key = httpx.post(
            f"{server.url}/v1/admin/schools/{school['id']}/api-keys", json={"role": "coordinator"}, headers=admin
        ).json()["key"]
        with AuthenticatedClient(base_url=server.url, token=key) as client:
            created = create_pupil.sync(
                client=client, body=PupilCreate(forename="Zoë", surname="O'Brien", year_group="Year 4")
            )
            assert created is not None and created.surname == "O'Brien" and created.year_group == "Year 4"
            page = list_pupils.sync(client=client, q="zoe")
            assert page is not None and [p.id for p in page.items] == [created.id]
            assert page.total == 1
