"""Classes: CRUD, unique names, delete only when empty, membership by ids and by filter."""

from __future__ import annotations

import httpx

from tests.conftest import SchoolKeys
from tests.helpers import assert_problem


async def _pupil(client: httpx.AsyncClient, school: SchoolKeys, **fields: object) -> dict[str, object]:
    r = await client.post(
        "/v1/pupils", json={"forename": "Pat", "surname": "Doe", **fields}, headers=school.coordinator
    )
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def test_class_crud_and_duplicate_names(client: httpx.AsyncClient, school: SchoolKeys) -> None:
    h = school.coordinator
    r = await client.post("/v1/classes", json={"name": "7A"}, headers=h)
    assert r.status_code == 201
    cls = r.json()
    assert cls["name"] == "7A" and cls["pupil_count"] == 0 and cls["set_up"] is False and cls["mis_group_id"] is None
    assert_problem(await client.post("/v1/classes", json={"name": " 7a "}, headers=h), 409)
    other = (await client.post("/v1/classes", json={"name": "7B"}, headers=h)).json()
    assert_problem(await client.patch(f"/v1/classes/{other['id']}", json={"name": "7A"}, headers=h), 409)
    r = await client.patch(f"/v1/classes/{other['id']}", json={"name": "7C"}, headers=h)
    assert r.json()["name"] == "7C"
    names = [c["name"] for c in (await client.get("/v1/classes", headers=school.viewer)).json()["items"]]
    assert names == ["7A", "7C"]
    assert (await client.delete(f"/v1/classes/{other['id']}", headers=h)).status_code == 204
    assert_problem(await client.get(f"/v1/classes/{other['id']}", headers=h), 404)


async def test_delete_refuses_a_class_with_pupils(client: httpx.AsyncClient, school: SchoolKeys) -> None:
    h = school.coordinator
    cls = (await client.post("/v1/classes", json={"name": "8X"}, headers=h)).json()
    await _pupil(client, school, class_ids=[cls["id"]])
    await _pupil(client, school, class_ids=[cls["id"]], surname="Roe")
    body = assert_problem(await client.delete(f"/v1/classes/{cls['id']}", headers=h), 409)
    assert body["pupil_count"] == 2
    assert (await client.get(f"/v1/classes/{cls['id']}", headers=h)).json()["pupil_count"] == 2


async def test_membership_by_ids_by_filter_and_removal(client: httpx.AsyncClient, school: SchoolKeys) -> None:
    h = school.coordinator
    a = await _pupil(client, school, year_group="Year 7")
    b = await _pupil(client, school, year_group="7", surname="Brown")
    c = await _pupil(client, school, year_group="Year 8", surname="Cole")
    cls = (await client.post("/v1/classes", json={"name": "Set 1"}, headers=h)).json()
    r = await client.post(f"/v1/classes/{cls['id']}/pupils", json={"pupil_ids": [a["id"], a["id"]]}, headers=h)
    assert r.json() == {"added": 1}
    r = await client.post(f"/v1/classes/{cls['id']}/pupils", json={"filter": {"year_group": "Year 7"}}, headers=h)
    assert r.json() == {"added": 1}  # a was already in
    members = (await client.get(f"/v1/classes/{cls['id']}/pupils", headers=h)).json()
    assert {p["id"] for p in members["items"]} == {a["id"], b["id"]}
    assert members["total"] == 2
    assert_problem(await client.post(f"/v1/classes/{cls['id']}/pupils", json={}, headers=h), 422)
    assert_problem(
        await client.post(f"/v1/classes/{cls['id']}/pupils", json={"pupil_ids": [c["id"]], "filter": {}}, headers=h),
        422,
    )
    assert (await client.delete(f"/v1/classes/{cls['id']}/pupils/{a['id']}", headers=h)).status_code == 204
    assert_problem(await client.delete(f"/v1/classes/{cls['id']}/pupils/{a['id']}", headers=h), 404)
    assert (await client.get(f"/v1/classes/{cls['id']}", headers=h)).json()["pupil_count"] == 1
    # The pupil still exists.
    assert (await client.get(f"/v1/pupils/{a['id']}", headers=h)).status_code == 200


async def test_class_lists_hide_pupils_without_access_by_default(client: httpx.AsyncClient, school: SchoolKeys) -> None:
    h = school.coordinator
    cls = (await client.post("/v1/classes", json={"name": "9Z"}, headers=h)).json()
    shown = await _pupil(client, school, class_ids=[cls["id"]])
    hidden = await _pupil(client, school, class_ids=[cls["id"]], has_access=False, surname="Hidden")
    default = (await client.get(f"/v1/classes/{cls['id']}/pupils", headers=h)).json()
    assert [p["id"] for p in default["items"]] == [shown["id"]]
    everyone = (await client.get(f"/v1/classes/{cls['id']}/pupils?access=all", headers=h)).json()
    assert {p["id"] for p in everyone["items"]} == {shown["id"], hidden["id"]}
    assert (await client.get(f"/v1/classes/{cls['id']}", headers=h)).json()["pupil_count"] == 2


async def test_class_list_pages(client: httpx.AsyncClient, school: SchoolKeys) -> None:
    for name in ("A1", "B2", "C3", "D4", "E5"):
        await client.post("/v1/classes", json={"name": name}, headers=school.coordinator)
    first = (await client.get("/v1/classes?limit=2", headers=school.viewer)).json()
    assert [c["name"] for c in first["items"]] == ["A1", "B2"] and first["total"] == 5
    names = [c["name"] for c in first["items"]]
    cursor = first["next_cursor"]
    while cursor:
        page = (await client.get(f"/v1/classes?limit=2&cursor={cursor}", headers=school.viewer)).json()
        names += [c["name"] for c in page["items"]]
        cursor = page["next_cursor"]
    assert names == ["A1", "B2", "C3", "D4", "E5"]
    assert_problem(await client.get("/v1/classes?limit=0", headers=school.viewer), 422)
    r = await client.delete(f"/v1/classes/{first['items'][0]['id']}", headers=school.coordinator)
    assert r.status_code == 204 and not r.content
