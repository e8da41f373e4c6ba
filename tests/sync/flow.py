"""Steps of a sync as a school does them, through the API, for the sync tests."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from app.demo_mis.server import DemoMisServer
from tests.conftest import SchoolKeys, make_school, wonde_connection
from tests.helpers import wait_for_job


@dataclass
class MisSchool:
    """A misync school connected to its own school on the demo MIS."""

    keys: SchoolKeys
    ref: str
    demo: DemoMisServer
    client: httpx.AsyncClient

    @property
    def h(self) -> dict[str, str]:
        return self.keys.coordinator

    def demo_call(self, method: str, path: str, **kw: Any) -> Any:
        r = httpx.request(method, f"{self.demo.url}/_demo/schools/{self.ref}{path}", timeout=30, **kw)
        assert r.status_code < 400, r.text
        return r.json() if r.content else None

    def plain_mis_pupil(self, **where: Any) -> dict[str, Any]:
        """An MIS pupil with a date of birth and no twin (so near misses of them are unambiguous)."""
        return next(
            p
            for p in self.truth()["pupils"]
            if p["date_of_birth"] and not p["twin_of"] and all(check(p) for check in where.values())
        )

    async def add_by_hand(self, forename: str, surname: str, **fields: Any) -> dict[str, Any]:
        """Add a pupil by hand (``manual``); returns it."""
        r = await self.client.post(
            "/v1/pupils", json={"forename": forename, "surname": surname, **fields}, headers=self.h
        )
        assert r.status_code == 201, r.text
        return r.json()  # type: ignore[no-any-return]

    def truth(self) -> dict[str, Any]:
        return self.demo_call("GET", "/truth")  # type: ignore[no-any-return]

    async def job(self, body: dict[str, Any], until: frozenset[str] | None = None) -> dict[str, Any]:
        r = await self.client.post("/v1/sync-jobs", json=body, headers=self.h)
        assert r.status_code == 202, r.text
        if until is None:
            return await wait_for_job(self.client, self.h, r.json()["id"])
        return await wait_for_job(self.client, self.h, r.json()["id"], until=until)

    async def fetch_groups(self) -> list[dict[str, Any]]:
        job = await self.job({"kind": "registration_groups"})
        assert job["status"] == "succeeded", job
        r = await self.client.get("/v1/mis/registration-groups?limit=1000", headers=self.h)
        return r.json()["items"]  # type: ignore[no-any-return]

    async def map_by_name(self, skip: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        """Fetch groups and set up every live group on the class of its name (created when missing)."""
        groups = await self.fetch_groups()
        classes = {
            c["name"]: c["id"]
            for c in (await self.client.get("/v1/classes?limit=1000", headers=self.h)).json()["items"]
        }
        mappings = [
            {"mis_group_id": g["mis_group_id"], "class_id": classes.get(g["name"]), "set_up": g["name"] not in skip}
            for g in groups
            if not g["stale"]
        ]
        r = await self.client.put("/v1/class-mappings", json={"mappings": mappings}, headers=self.h)
        assert r.status_code == 200, r.text

    async def preview(self, **extra: Any) -> dict[str, Any]:
        return await self.job({"kind": "pupils", "mode": "preview", **extra})

    async def items(self, job_id: str, tag: str | None = None) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        cursor = None
        while True:
            params = {"limit": 1000, **({"tag": tag} if tag else {}), **({"cursor": cursor} if cursor else {})}
            page = (await self.client.get(f"/v1/sync-jobs/{job_id}/items", params=params, headers=self.h)).json()
            out.extend(page["items"])
            cursor = page["next_cursor"]
            if cursor is None:
                return out

    async def apply(self, job_id: str, body: dict[str, Any] | None = None, status: int = 202) -> dict[str, Any]:
        r = await self.client.post(f"/v1/sync-jobs/{job_id}/apply", json=body or {}, headers=self.h)
        assert r.status_code == status, r.text
        if status != 202:
            return r.json()  # type: ignore[no-any-return]
        return await wait_for_job(self.client, self.h, job_id)

    async def pupils(self, **params: Any) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        cursor = None
        while True:
            q = {"limit": 1000, **params, **({"cursor": cursor} if cursor else {})}
            page = (await self.client.get("/v1/pupils", params=q, headers=self.h)).json()
            out.extend(page["items"])
            cursor = page["next_cursor"]
            if cursor is None:
                return out

    async def classes(self) -> dict[str, dict[str, Any]]:
        return {c["name"]: c for c in (await self.client.get("/v1/classes?limit=1000", headers=self.h)).json()["items"]}


async def mis_school(
    client: httpx.AsyncClient, admin_headers: dict[str, str], demo: DemoMisServer, pupils: int = 300, seed: int = 5
) -> MisSchool:
    ref = f"S-{uuid.uuid4().hex[:10]}"
    r = httpx.put(f"{demo.url}/_demo/schools/{ref}", json={"pupils": pupils, "seed": seed}, timeout=60)
    assert r.status_code < 400, r.text
    keys = await make_school(client, admin_headers, mis=wonde_connection(demo, ref))
    return MisSchool(keys, ref, demo, client)
