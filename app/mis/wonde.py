"""Wonde connector (``https://api.wonde.com/v1.0``, bearer token).

Requests (``{base}`` is the API root including ``/v1.0``):

* ``GET {base}/schools/{ref}/groups?type=REGISTRATION&per_page=200&cursor=true``
* ``GET {base}/schools/{ref}/students?include=education_details,groups&per_page=200&cursor=true``

Both are followed through ``meta.pagination.next`` while ``meta.pagination.more`` is true.
``next`` must stay on the host of ``base_url`` (the bearer token is never sent elsewhere).

Mapping:

* Group year: Wonde's group object has no year field (``id``, ``mis_id``, ``name``, ``code``,
  ``type``, ``description``, ...; see the Group object in Wonde's API reference), so the year
  comes from the group's ``name``, then ``code``, then ``description``, read by
  :func:`app.mis.base.year_from_group_label` ("7A" -> Year 7, "R1" -> Reception). Groups of
  other types (YEAR, HOUSE, ...) are ignored even if the server ignores the ``type`` filter.
* Pupil names: ``forename``/``surname`` are the preferred names, ``legal_forename``/
  ``legal_surname`` the legal ones; a missing preferred name falls back to the legal one.
* ``date_of_birth``: ``{"date": "2012-03-15 00:00:00.000000", ...}`` or null.
* ``education_details.data``: ``upn`` and ``current_nc_year`` ("N1", "R", "7"). Included
  blocks are ``{"data": {...}}``; an empty include may come as ``{"data": []}`` or be absent.
* Year group: ``current_nc_year``; when missing or unreadable, the year of the pupil's
  registration group (read from its name as above).
* ``group_ids``: ids of the pupil's groups whose ``type`` is REGISTRATION.

Validation is hand-written (not pydantic) because it runs 100,000 times per large school and
the benchmark holds the connector to 1.5x the cost of merely downloading and decoding the JSON.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx

from app import year_groups
from app.mis.base import (
    FetchNotes,
    MisFetchError,
    MisGroup,
    MisPupil,
    bad_record,
    normalise_gender,
    normalise_upn,
    opt_str,
    parse_date,
    year_from_group_label,
)
from app.mis.http import HttpOptions, MisHttp, Sleep, json_object

log = logging.getLogger("misync.mis.wonde")

PER_PAGE = 200
_UNSEEN = "\0unseen"


class WondeConnector:
    """Reads one school from Wonde. See the module docstring for the exact mapping."""

    provider = "wonde"

    def __init__(
        self,
        client: httpx.AsyncClient,
        base_url: str,
        school_ref: str,
        credentials: dict[str, str],
        *,
        http_options: HttpOptions | None = None,
        sleep: Sleep | None = None,
        per_page: int = PER_PAGE,
    ) -> None:
        token = credentials.get("token")
        if not token:
            raise MisFetchError("misconfigured", "the Wonde connection has no token")
        self._http = MisHttp(client, self.provider, http_options, sleep=sleep)
        self._base = base_url.rstrip("/")
        self._origin = httpx.URL(self._base).copy_with(path="/", query=None, fragment=None)
        self._school = school_ref
        self._headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        self._per_page = per_page
        self.notes = FetchNotes()
        # Registration group id -> its year group (None when the name does not say), filled
        # by registration_groups() and by the groups included with each pupil.
        self._group_years: dict[str, str | None] = {}
        self._nc_years: dict[str | int, str | None] = {}

    def __repr__(self) -> str:  # never show the token
        return f"WondeConnector(base_url={self._base!r}, school_ref={self._school!r})"

    # -- public -------------------------------------------------------------------------------

    async def registration_groups(self) -> list[MisGroup]:
        """Every registration group of the school, with the year its name implies."""
        groups: list[MisGroup] = []
        async for page_no, items in self._pages("groups", {"type": "REGISTRATION"}, "group"):
            for item in items:
                gid = item["id"]
                try:
                    gtype = item.get("type")
                    if gtype is not None and type(gtype) is not str:
                        raise TypeError("type is not a string")
                    if gtype is not None and gtype.upper() != "REGISTRATION":
                        continue
                    name = opt_str(item.get("name"), "name")
                    code = opt_str(item.get("code"), "code")
                    description = opt_str(item.get("description"), "description")
                except TypeError as exc:
                    raise bad_record("group", gid, str(exc), page_no) from None
                if name is None:
                    name = code or gid
                year = year_from_group_label(name, code, description)
                self._group_years[gid] = year
                groups.append(MisGroup(mis_id=gid, name=name, year_group=year))
        return groups

    async def pupils(self) -> AsyncIterator[list[MisPupil]]:
        """The school's students, one list per Wonde page. The registration groups are read first (one
        short list): they give a year to pupils without education details, and they tell a student's
        registration groups apart when the ``groups`` include leaves out ``type``."""
        if not self._group_years:
            await self.registration_groups()
        params = {"include": "education_details,groups"}
        without_year = 0
        count = 0
        async for page_no, items in self._pages("students", params, "student"):
            page = [self._pupil(item, page_no) for item in items]
            without_year += sum(1 for p in page if p.year_group is None)
            count += len(page)
            yield page
        if without_year:
            self.notes.warnings.append(
                f"{without_year} of {count} pupils have no year group in Wonde "
                "(no current_nc_year and no registration group that names a year)"
            )

    # -- paging -------------------------------------------------------------------------------

    async def _pages(
        self, resource: str, params: dict[str, str], kind: str
    ) -> AsyncIterator[tuple[int, list[dict[str, Any]]]]:
        """Validated pages of ``resource``: each item is a dict with a unique string ``id``."""
        started = time.perf_counter()
        url: str | None = f"{self._base}/schools/{self._school}/{resource}"
        query: dict[str, str | int] | None = {**params, "per_page": self._per_page, "cursor": "true"}
        seen: set[str] = set()
        page_no = 0
        while url is not None:
            page_no += 1
            response = await self._http.get(url, params=query, headers=self._headers)
            body = json_object(response, f"Wonde {resource} page {page_no}")
            items, nxt = self._envelope(body, resource, page_no, response.url)
            url = nxt
            query = None  # ``next`` carries the whole query
            for index, item in enumerate(items):
                if type(item) is not dict:
                    raise MisFetchError(
                        "bad_response", f"Wonde {resource} page {page_no}: item {index} is not an object"
                    )
                rid = item.get("id")
                if type(rid) is not str or not rid:
                    raise bad_record(kind, None, f"item {index} has no string id", page_no)
                if rid in seen:
                    raise MisFetchError(
                        "bad_response", f"Wonde {resource}: {kind} {rid} appears twice (page {page_no})"
                    )
                seen.add(rid)
            yield page_no, items
        log.info(
            "wonde fetch done",
            extra={
                "provider": self.provider,
                "resource": resource,
                "school_ref": self._school,
                "records": len(seen),
                "pages": page_no,
                "ms": round((time.perf_counter() - started) * 1000),
            },
        )

    def _envelope(
        self, body: dict[str, Any], resource: str, page_no: int, page_url: httpx.URL
    ) -> tuple[list[Any], str | None]:
        """``data`` and the next URL from a Wonde page; bad_response when the envelope is wrong."""
        where = f"Wonde {resource} page {page_no}"
        data = body.get("data")
        if type(data) is not list:
            raise MisFetchError("bad_response", f"{where}: no 'data' list in the answer")
        meta = body.get("meta")
        pagination = meta.get("pagination") if type(meta) is dict else None
        if type(pagination) is not dict:
            raise MisFetchError("bad_response", f"{where}: no 'meta.pagination' in the answer")
        more = pagination.get("more")
        nxt = pagination.get("next")
        if type(more) is not bool:
            raise MisFetchError("bad_response", f"{where}: 'meta.pagination.more' is not a boolean")
        if not more:
            return data, None
        if type(nxt) is not str or not nxt:
            raise MisFetchError("bad_response", f"{where}: 'more' is true but there is no 'next' page")
        next_url = page_url.join(nxt)  # a relative link is relative to the page it came with
        if next_url.scheme != self._origin.scheme or next_url.netloc != self._origin.netloc:
            # The bearer token goes with every request: never follow a link off the MIS host.
            raise MisFetchError("bad_response", f"{where}: 'next' points to another host")
        return data, str(next_url)

    # -- records ------------------------------------------------------------------------------

    def _pupil(self, item: dict[str, Any], page_no: int) -> MisPupil:
        sid: str = item["id"]
        try:
            legal_forename = opt_str(item.get("legal_forename"), "legal_forename")
            legal_surname = opt_str(item.get("legal_surname"), "legal_surname")
            forename = opt_str(item.get("forename"), "forename") or legal_forename
            surname = opt_str(item.get("surname"), "surname") or legal_surname
            if forename is None or surname is None:
                raise ValueError("no forename or surname")
            dob = item.get("date_of_birth")
            if dob is None:
                date_of_birth = None
            elif type(dob) is dict and type(dob.get("date")) is str:
                date_of_birth = parse_date(dob["date"], "date_of_birth")
            else:
                raise ValueError("date_of_birth is not a date object")
            upn = nc_year = None
            details = _included_one(item.get("education_details"), "education_details")
            if details is not None:
                upn = normalise_upn(opt_str(details.get("upn"), "upn"))
                raw_year = details.get("current_nc_year")
                if raw_year is not None:
                    if type(raw_year) not in (str, int):
                        raise TypeError("current_nc_year is not a string")
                    nc_year = self._nc_years.get(raw_year, _UNSEEN)
                    if nc_year is _UNSEEN:  # a handful of distinct codes: parse each once
                        nc_year = self._nc_years[raw_year] = year_groups.parse(raw_year)
            group_ids, group_year = self._registration_groups_of(item.get("groups"))
            gender = normalise_gender(opt_str(item.get("gender"), "gender"))
        except (TypeError, ValueError) as exc:
            raise bad_record("student", sid, str(exc), page_no) from None
        return MisPupil(
            mis_id=sid,
            forename=forename,
            surname=surname,
            legal_forename=legal_forename,
            legal_surname=legal_surname,
            date_of_birth=date_of_birth,
            upn=upn,
            gender=gender,
            year_group=nc_year or group_year,
            group_ids=group_ids,
        )

    def _registration_groups_of(self, block: object) -> tuple[tuple[str, ...], str | None]:
        """Registration group ids of a student's ``groups`` include, and the first one's year."""
        groups = _included_many(block, "groups")
        if not groups:
            return (), None
        ids: list[str] = []
        year: str | None = None
        for group in groups:
            if type(group) is not dict:
                raise TypeError("a group is not an object")
            gtype = group.get("type")
            gid = group.get("id")
            if gtype is None and gid in self._group_years:
                pass  # no type on the include, but a known registration group
            elif type(gtype) is not str or gtype.upper() != "REGISTRATION":
                continue
            if type(gid) is not str or not gid:
                raise TypeError("a registration group has no id")
            ids.append(gid)
            if gid in self._group_years:
                gyear = self._group_years[gid]
            else:
                gyear = year_from_group_label(
                    opt_str(group.get("name"), "group name"),
                    opt_str(group.get("code"), "group code"),
                    opt_str(group.get("description"), "group description"),
                )
                self._group_years[gid] = gyear
            year = year or gyear
        return tuple(ids), year


def _included_one(block: object, name: str) -> dict[str, Any] | None:
    """The object of a ``{"data": {...}}`` include; None when absent or empty (``[]``/``{}``)."""
    if block is None:
        return None
    if type(block) is not dict:
        raise TypeError(f"{name} is not an include block")
    data = block.get("data")
    if data is None or data == [] or data == {}:
        return None
    if type(data) is not dict:
        raise TypeError(f"{name}.data is not an object")
    return data


def _included_many(block: object, name: str) -> list[Any] | None:
    """The list of a ``{"data": [...]}`` include; None when absent."""
    if block is None:
        return None
    if type(block) is not dict:
        raise TypeError(f"{name} is not an include block")
    data = block.get("data")
    if data is None:
        return None
    if type(data) is not list:
        raise TypeError(f"{name}.data is not a list")
    return data
