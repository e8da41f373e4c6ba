"""Pupil lists as the tidy-up uses them: words in any order, the "Synced?" sort, hand-edited cursors."""

from __future__ import annotations

import base64
import json

import httpx

from tests.conftest import SchoolKeys
from tests.helpers import assert_problem


async def test_search_words_in_any_order_and_sync_status_sort(client: httpx.AsyncClient, school: SchoolKeys) -> None:
    h = school.coordinator
    for forename, surname in (("Zoë", "O'Brien"), ("Zoe", "Smith"), ("Anne-Marie", "de la Cruz")):
        r = await client.post("/v1/pupils", json={"forename": forename, "surname": surname}, headers=h)
        assert r.status_code == 201

    async def surnames(query: str) -> list[str]:
        r = await client.get(f"/v1/pupils?{query}", headers=school.viewer)
        assert r.status_code == 200, r.text
        return [p["surname"] for p in r.json()["items"]]

    assert await surnames("q=obrien zoe") == ["O'Brien"]
    assert await surnames("q=ZOE") == ["O'Brien", "Smith"]
    assert await surnames("q=cruz anne marie") == ["de la Cruz"]
    assert await surnames("q=zoe cruz") == []
    assert await surnames("q=%20%20") == ["de la Cruz", "O'Brien", "Smith"]
    # Within one sync status, by name (all are manual here); descending reverses both.
    assert await surnames("sort=sync_status") == ["de la Cruz", "O'Brien", "Smith"]
    assert await surnames("sort=-sync_status") == ["Smith", "O'Brien", "de la Cruz"]


async def test_a_hand_edited_cursor_is_a_bad_request(client: httpx.AsyncClient, school: SchoolKeys) -> None:
    def cursor(values: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(["surname", values]).encode()).decode().rstrip("=")

    zero = "00000000-0000-0000-0000-000000000000"
    for values in (["a"], ["a", "not-a-uuid"], [{"x": 1}, zero], [5, zero], ["a", "b", zero]):
        assert_problem(await client.get(f"/v1/pupils?cursor={cursor(values)}", headers=school.coordinator), 400)
