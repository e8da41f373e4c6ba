"""OneRoster 1.2 rostering connector (``https://host/ims/oneroster/rostering/v1p2``).

Authentication: OAuth 2 client credentials (RFC 6749 4.4, as the OneRoster 1.2 REST binding
requires): ``POST token_url`` with HTTP Basic ``client_id:client_secret`` and the form
``grant_type=client_credentials`` (plus ``scope`` when the connection sets one). The token is
cached until shortly before ``expires_in`` (300 s assumed when the server omits it). A 401 from
the API refreshes the token once; a second 401 fails with ``credentials_rejected``.

Requests (``{base}`` is the API root including ``/v1p2``), all paged with ``limit``/``offset``
and the stable order ``sort=sourcedId&orderBy=asc``:

* ``schools/{ref}/classes`` -> ``{"classes": [...]}``: registration groups are the classes with
  ``classType == "homeroom"``.
* ``schools/{ref}/enrollments`` -> ``{"enrollments": [...]}``: ``role == "student"`` in a
  homeroom class gives membership (``user.sourcedId`` -> ``class.sourcedId``).
* ``schools/{ref}/students`` -> ``{"users": [...]}``: the pupils.
* ``demographics`` -> ``{"demographics": [...]}``: ``birthDate`` and ``sex`` by ``sourcedId``
  (the user's). When the list answers 404, ``demographics/{id}`` per pupil (8 at a time).
  When either answers 403 (the separate demographics permission is missing), pupils come
  without dates of birth and ``notes`` says so.

Every list is checked against ``X-Total-Count``: a page shorter than ``limit`` before the total
is reached, more items than the total, a total that changes between pages, or a sourcedId seen
twice fail the fetch with ``bad_response``. Records whose ``status`` is ``tobedeleted`` are gone
and skipped (they still count towards the total, which covers every record the server holds).
The page size defaults to 100, the binding's default limit, which every server must honour; a
larger ``page_size`` is faster where the server allows it.

Mapping of a user:

* names: preferred ``preferredFirstName``/``preferredLastName`` when present, else
  ``givenName``/``familyName``; legal names ``givenName``/``familyName``.
* UPN: the first ``userIds`` entry whose ``type`` is "UPN" in any case; otherwise a
  ``metadata`` key named ``upn`` in any case, optionally namespaced (``ext:upn``, ``uk.upn``).
* year group: the user's first ``grades`` code through the grade map, else the grade of the
  pupil's homeroom class (its first ``grades`` code, else a year read from its ``title``).
* ``enabledUser`` is a string ``"true"``/``"false"`` (checked, not used: a disabled login is
  still on roll).

Default grade map (override any code per school with ``grade_map``)::

    PR -> Nursery 1, PK -> Nursery 2, TK -> Reception, KG -> Reception,
    01 .. 14 (and 1 .. 14) -> Year 1 .. Year 14

Why: OneRoster grades are CEDS codes, but UK publishers of OneRoster (SIMS, Arbor and Bromcom
through their OneRoster feeds) put the National Curriculum year number in them, so "07" means
Year 7, not US grade 7 (which would be Year 8). The early-years codes follow the same ages
(pre-kindergarten is the year before Reception). A school whose feed uses US-style grades sets
e.g. ``{"KG": "Year 1", "01": "Year 2", ...}``. Codes not in the map are read by
:func:`app.year_groups.parse` ("Year 7", "R", "N1"); codes still unknown are reported in
``notes`` (codes and counts only).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import date
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

log = logging.getLogger("misync.mis.oneroster")

PAGE_SIZE = 100
DEMOGRAPHICS_CONCURRENCY = 8
DEFAULT_TOKEN_LIFETIME = 300.0

DEFAULT_GRADE_MAP: dict[str, str] = {
    "PR": year_groups.NURSERY_1,
    "PK": year_groups.NURSERY_2,
    "TK": year_groups.RECEPTION,
    "KG": year_groups.RECEPTION,
    **{f"{n:02d}": f"Year {n}" for n in range(1, 15)},
    **{str(n): f"Year {n}" for n in range(1, 10)},
}

NO_DEMOGRAPHICS_WARNING = (
    "the OneRoster connection may not read demographics (HTTP 403): pupils were fetched "
    "without dates of birth, so matching uses the rules that need none"
)


class _Refused(Exception):
    """A status the caller allowed (e.g. 403/404 on demographics) answered a list request."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


@dataclass(slots=True)
class _Homeroom:
    title: str
    year_group: str | None


@dataclass(slots=True)
class _Demo:
    birth_date: date | None
    gender: str | None


def build_grade_map(custom: Mapping[str, str] | None) -> dict[str, str]:
    """The default grade map with ``custom`` on top; keys upper-cased, values canonical.

    Raises MisFetchError(misconfigured) when a value is not a year group.
    """
    merged = dict(DEFAULT_GRADE_MAP)
    for code, value in (custom or {}).items():
        canonical = year_groups.parse(value)
        if canonical is None:
            raise MisFetchError("misconfigured", f"grade_map: {value!r} (for {code!r}) is not a year group")
        merged[code.strip().upper()] = canonical
    return merged


class OneRosterConnector:
    """Reads one school from a OneRoster 1.2 server. See the module docstring for the mapping."""

    provider = "oneroster"

    def __init__(
        self,
        client: httpx.AsyncClient,
        base_url: str,
        school_ref: str,
        credentials: dict[str, str],
        *,
        grade_map: Mapping[str, str] | None = None,
        http_options: HttpOptions | None = None,
        sleep: Sleep | None = None,
        clock: Callable[[], float] = time.monotonic,
        page_size: int = PAGE_SIZE,
        demographics_concurrency: int = DEMOGRAPHICS_CONCURRENCY,
    ) -> None:
        missing = [k for k in ("client_id", "client_secret", "token_url") if not credentials.get(k)]
        if missing:
            raise MisFetchError("misconfigured", f"the OneRoster connection lacks {', '.join(missing)}")
        self._http = MisHttp(client, self.provider, http_options, sleep=sleep)
        self._base = base_url.rstrip("/")
        self._school = school_ref
        self._client_auth = (credentials["client_id"], credentials["client_secret"])
        self._client_form = {"client_id": credentials["client_id"], "client_secret": credentials["client_secret"]}
        self._token_url = credentials["token_url"]
        self._scope = credentials.get("scope")
        self._clock = clock
        self._page_size = page_size
        self._concurrency = demographics_concurrency
        self._grade_map = build_grade_map(grade_map)
        self._grade_cache: dict[str, str | None] = {}
        self._token: str | None = None
        self._token_expires = 0.0
        self._token_lock = asyncio.Lock()
        self.notes = FetchNotes()

    def __repr__(self) -> str:  # never show the credentials
        return f"OneRosterConnector(base_url={self._base!r}, school_ref={self._school!r})"

    # -- public -------------------------------------------------------------------------------

    async def registration_groups(self) -> list[MisGroup]:
        """The school's live homeroom classes."""
        homerooms = await self._homerooms()
        return [MisGroup(mis_id=cid, name=h.title, year_group=h.year_group) for cid, h in homerooms.items()]

    async def pupils(self) -> AsyncIterator[list[MisPupil]]:
        """The school's live students, one list per OneRoster page of users."""
        homerooms = await self._homerooms()
        membership = await self._memberships(homerooms)
        demographics = await self._demographics_list()  # None: look up one by one
        unknown_grades: dict[str, int] = {}
        async for page_no, items in self._list(f"schools/{self._school}/students", "users", "user"):
            rows = [row for item in items if (row := self._user(item, page_no, unknown_grades)) is not None]
            if demographics is None:
                found = await self._demographics_each([row[0] for row in rows])
            else:
                found = demographics
            page: list[MisPupil] = []
            for uid, forename, surname, legal_forename, legal_surname, upn, year in rows:
                groups = membership.get(uid, ())
                if year is None:
                    year = next((homerooms[g].year_group for g in groups if homerooms[g].year_group), None)
                demo = found.get(uid)
                page.append(
                    MisPupil(
                        mis_id=uid,
                        forename=forename,
                        surname=surname,
                        legal_forename=legal_forename,
                        legal_surname=legal_surname,
                        date_of_birth=demo.birth_date if demo else None,
                        upn=upn,
                        gender=demo.gender if demo else None,
                        year_group=year,
                        group_ids=tuple(groups),
                    )
                )
            yield page
        if unknown_grades:
            codes = ", ".join(f"{code!r} ({n})" for code, n in sorted(unknown_grades.items()))
            self.notes.warnings.append(f"grade codes not in the grade map (pupils): {codes}")

    # -- auth ---------------------------------------------------------------------------------

    async def _access_token(self) -> str:
        async with self._token_lock:  # one token request even when demographics run in parallel
            if self._token is not None and self._clock() < self._token_expires:
                return self._token
            form = {"grant_type": "client_credentials", **({"scope": self._scope} if self._scope else {})}
            # RFC 6749 2.3.1: HTTP Basic first; a server that only takes the client in the form
            # (client_secret_post) answers 400/401, and gets that on a second try.
            response = await self._http.request(
                "POST",
                self._token_url,
                data=form,
                auth=self._client_auth,
                headers={"Accept": "application/json"},
                allow=(400, 401),
            )
            if response.status_code in (400, 401):
                response = await self._http.request(
                    "POST",
                    self._token_url,
                    data={**form, **self._client_form},
                    headers={"Accept": "application/json"},
                    allow=(400, 401),
                )
            if response.status_code in (400, 401):  # invalid_client, in either form
                raise MisFetchError(
                    "credentials_rejected",
                    f"credentials rejected by the MIS (HTTP {response.status_code} from the token endpoint)",
                    response.status_code,
                )
            body = json_object(response, "OneRoster token")
            token = body.get("access_token")
            if type(token) is not str or not token:
                raise MisFetchError("bad_response", "OneRoster token: no access_token in the answer")
            lifetime = body.get("expires_in", DEFAULT_TOKEN_LIFETIME)
            if type(lifetime) not in (int, float) or lifetime <= 0:
                lifetime = DEFAULT_TOKEN_LIFETIME
            # Renew a little early so a token never expires between our check and the request.
            self._token = token
            self._token_expires = self._clock() + lifetime - min(60.0, lifetime * 0.1)
            log.info("oneroster token obtained", extra={"provider": self.provider, "expires_in": lifetime})
            return token

    async def _get(self, url: str, params: Mapping[str, str | int] | None, allow: Collection[int]) -> httpx.Response:
        """GET with the bearer token; on 401 renew the token and try once more."""
        for renewed in (False, True):
            token = await self._access_token()
            response = await self._http.get(
                url,
                params=params,
                headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
                allow=(401, *allow),
            )
            if response.status_code != 401 or 401 in allow:
                return response
            if renewed:
                break
            async with self._token_lock:
                if self._token == token:  # another task may have renewed it already
                    self._token = None
        raise MisFetchError(
            "credentials_rejected",
            f"credentials rejected by the MIS (HTTP 401 on GET {httpx.URL(url).path})",
            401,
        )

    # -- paging -------------------------------------------------------------------------------

    async def _list(
        self, path: str, key: str, kind: str, allow: Collection[int] = (), strict: bool = True
    ) -> AsyncIterator[tuple[int, list[dict[str, Any]]]]:
        """Validated pages of a OneRoster collection (each item a dict with a unique sourcedId).

        Raises _Refused for a status in ``allow``, MisFetchError for anything untrustworthy. With
        ``strict=False`` (demographics: a server-wide list that other schools' changes move while we
        page through it, and only an enrichment of the roster), a changing total, a repeated record or
        an early last page end or thin the list instead of failing the fetch; ``notes`` says so.
        """
        started = time.perf_counter()
        url = f"{self._base}/{path}"
        limit = self._page_size
        seen: set[str] = set()
        total: int | None = None
        offset = 0
        page_no = 0
        while True:
            page_no += 1
            where = f"OneRoster {path} page {page_no}"
            params: dict[str, str | int] = {
                "limit": limit,
                "offset": offset,
                "sort": "sourcedId",
                "orderBy": "asc",
            }
            response = await self._get(url, params, allow)
            if response.status_code in allow:
                raise _Refused(response.status_code)
            body = json_object(response, where)
            items = body.get(key)
            if type(items) is not list:
                raise MisFetchError("bad_response", f"{where}: no '{key}' list in the answer")
            page_total = _total_count(response, where)
            if total is None:
                total = page_total
            elif page_total is not None and page_total != total and not strict:
                self._loose(path, "its total changed during the fetch")
                total = page_total
            elif page_total is not None and page_total != total:
                raise MisFetchError(
                    "bad_response",
                    f"{where}: X-Total-Count changed from {total} to {page_total} during the fetch",
                )
            kept: list[dict[str, Any]] = []
            for index, item in enumerate(items):
                if type(item) is not dict:
                    raise MisFetchError("bad_response", f"{where}: item {index} is not an object")
                rid = item.get("sourcedId")
                if type(rid) is not str or not rid:
                    raise bad_record(kind, None, f"item {index} has no string sourcedId", page_no)
                if rid in seen and not strict:
                    self._loose(path, f"{kind} records appeared twice")
                    continue
                if rid in seen:
                    raise MisFetchError(
                        "bad_response", f"OneRoster {path}: {kind} {rid} appears twice (page {page_no})"
                    )
                seen.add(rid)
                kept.append(item)
            yield page_no, kept
            offset += len(items)
            if total is None:
                if len(items) < limit:
                    break
                continue
            if offset > total and strict:
                raise MisFetchError("bad_response", f"{where}: {offset} items received, X-Total-Count says {total}")
            if offset >= total:
                break
            if len(items) < limit and not strict:
                self._loose(path, "the list ended before its total")
                break
            if len(items) < limit:
                raise MisFetchError(
                    "bad_response",
                    f"{where}: {len(items)} items, fewer than the limit {limit}, "
                    f"but only {offset} of X-Total-Count {total} received (truncated answer)",
                )
        log.info(
            "oneroster fetch done",
            extra={
                "provider": self.provider,
                "resource": path,
                "records": len(seen),
                "pages": page_no,
                "ms": round((time.perf_counter() - started) * 1000),
            },
        )

    # -- records ------------------------------------------------------------------------------

    async def _homerooms(self) -> dict[str, _Homeroom]:
        homerooms: dict[str, _Homeroom] = {}
        async for page_no, items in self._list(f"schools/{self._school}/classes", "classes", "class"):
            for item in items:
                cid = item["sourcedId"]
                try:
                    if _gone(item):
                        continue
                    class_type = opt_str(item.get("classType"), "classType")
                    if class_type is None or class_type.lower() != "homeroom":
                        continue
                    title = opt_str(item.get("title"), "title") or cid
                    year = self._grade(_first_grade(item.get("grades"))) or year_from_group_label(title)
                except (TypeError, ValueError) as exc:
                    raise bad_record("class", cid, str(exc), page_no) from None
                homerooms[cid] = _Homeroom(title, year)
        return homerooms

    async def _memberships(self, homerooms: Mapping[str, _Homeroom]) -> dict[str, list[str]]:
        """User sourcedId -> the homeroom classes they are enrolled in as a student."""
        members: dict[str, list[str]] = {}
        async for page_no, items in self._list(f"schools/{self._school}/enrollments", "enrollments", "enrollment"):
            for item in items:
                try:
                    if _gone(item):
                        continue
                    role = opt_str(item.get("role"), "role")
                    if role is None or role.lower() != "student":
                        continue
                    class_id = _ref(item.get("class"), "class")
                    if class_id not in homerooms:
                        continue  # teaching sets, clubs: not registration groups
                    user_id = _ref(item.get("user"), "user")
                except (TypeError, ValueError) as exc:
                    raise bad_record("enrollment", item["sourcedId"], str(exc), page_no) from None
                groups = members.setdefault(user_id, [])
                if class_id not in groups:
                    groups.append(class_id)
        return members

    def _user(
        self, item: dict[str, Any], page_no: int, unknown_grades: dict[str, int]
    ) -> tuple[str, str, str, str | None, str | None, str | None, str | None] | None:
        """(id, forename, surname, legal forename, legal surname, UPN, year) or None if gone."""
        uid: str = item["sourcedId"]
        try:
            if _gone(item):
                return None
            given = opt_str(item.get("givenName"), "givenName")
            family = opt_str(item.get("familyName"), "familyName")
            forename = opt_str(item.get("preferredFirstName"), "preferredFirstName") or given
            surname = opt_str(item.get("preferredLastName"), "preferredLastName") or family
            if forename is None or surname is None:
                raise ValueError("no givenName or familyName")
            enabled = item.get("enabledUser")
            if enabled is not None and not (type(enabled) is bool or str(enabled).lower() in ("true", "false")):
                raise ValueError('enabledUser is not "true" or "false"')
            upn = normalise_upn(_upn(item))
            code = _first_grade(item.get("grades"))
            year = self._grade(code)
            if code is not None and year is None:
                unknown_grades[code] = unknown_grades.get(code, 0) + 1
        except (TypeError, ValueError) as exc:
            raise bad_record("user", uid, str(exc), page_no) from None
        return uid, forename, surname, given, family, upn, year

    def _grade(self, code: str | None) -> str | None:
        if code is None:
            return None
        if code not in self._grade_cache:
            key = code.strip().upper()
            self._grade_cache[code] = self._grade_map.get(key) or year_groups.parse(code)
        return self._grade_cache[code]

    # -- demographics -------------------------------------------------------------------------

    async def _demographics_list(self) -> dict[str, _Demo] | None:
        """Dates of birth by user id from the list endpoint; None when only per-user exists."""
        found: dict[str, _Demo] = {}
        try:
            async for page_no, items in self._list(
                "demographics", "demographics", "demographics", allow=(403, 404), strict=False
            ):
                for item in items:
                    demo = _demographics(item, page_no)
                    if demo is not None:
                        found[item["sourcedId"]] = demo
        except _Refused as refused:
            if refused.status == 404:
                log.info("oneroster demographics list absent: per user", extra={"provider": self.provider})
                return None
            self._no_demographics()
            return {}
        return found

    async def _demographics_each(self, user_ids: list[str]) -> dict[str, _Demo]:
        """``demographics/{id}`` for each user, a few at a time. 404: none; 403: stop, warn."""
        found: dict[str, _Demo] = {}
        if NO_DEMOGRAPHICS_WARNING in self.notes.warnings:
            return found
        gate = asyncio.Semaphore(self._concurrency)

        async def one(uid: str) -> None:
            async with gate:
                if NO_DEMOGRAPHICS_WARNING in self.notes.warnings:
                    return
                response = await self._get(f"{self._base}/demographics/{uid}", None, (403, 404))
                if response.status_code == 404:
                    return
                if response.status_code == 403:
                    self._no_demographics()
                    return
                body = json_object(response, f"OneRoster demographics/{uid}")
                # The binding's single-record envelope is "demographics" (SingleDemographicsDType);
                # "demographic" is accepted too, as some servers (the demo MIS among them) use it.
                item = body.get("demographics", body.get("demographic"))
                if type(item) is not dict:
                    raise MisFetchError("bad_response", f"OneRoster demographics/{uid}: no 'demographics' object")
                demo = _demographics(item, 1)
                if demo is not None:
                    found[uid] = demo

        tasks = [asyncio.ensure_future(one(uid)) for uid in user_ids]
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            # A failed lookup fails the fetch: stop the others rather than leave them running.
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        return found

    def _loose(self, path: str, what: str) -> None:
        """Note once per list that a lenient list was inconsistent (some dates of birth may be missing)."""
        note = f"the OneRoster {path} list changed while it was read ({what}); some dates of birth may be missing"
        if note not in self.notes.warnings:
            self.notes.warnings.append(note)
            log.warning("oneroster list inconsistent", extra={"provider": self.provider, "path": path})

    def _no_demographics(self) -> None:
        if NO_DEMOGRAPHICS_WARNING not in self.notes.warnings:
            log.warning("oneroster demographics forbidden", extra={"provider": self.provider, "status": 403})
            self.notes.warnings.append(NO_DEMOGRAPHICS_WARNING)


def _total_count(response: httpx.Response, where: str) -> int | None:
    raw = response.headers.get("x-total-count")
    if raw is None:
        return None
    try:
        total = int(raw)
    except ValueError:
        raise MisFetchError("bad_response", f"{where}: X-Total-Count is not a number") from None
    if total < 0:
        raise MisFetchError("bad_response", f"{where}: X-Total-Count is negative")
    return total


def _gone(item: dict[str, Any]) -> bool:
    status = item.get("status")
    if status == "active" or status is None:  # the common case, without further checks
        return False
    if type(status) is not str:
        raise TypeError("status is not a string")
    return status.lower() == "tobedeleted"


def _first_grade(grades: object) -> str | None:
    if grades is None:
        return None
    if type(grades) is not list:
        raise TypeError("grades is not a list")
    for grade in grades:
        if type(grade) is not str:
            raise TypeError("a grade is not a string")
        if grade.strip():
            return grade
    return None


def _ref(value: object, field: str) -> str:
    """The sourcedId of a GUIDRef such as an enrollment's ``user`` or ``class``."""
    if type(value) is not dict or type(value.get("sourcedId")) is not str or not value["sourcedId"]:
        raise TypeError(f"{field} is not a reference with a sourcedId")
    sourced_id: str = value["sourcedId"]
    return sourced_id


def _upn(item: dict[str, Any]) -> str | None:
    user_ids = item.get("userIds")
    if user_ids is not None:
        if type(user_ids) is not list:
            raise TypeError("userIds is not a list")
        for entry in user_ids:
            if type(entry) is not dict:
                raise TypeError("a userIds entry is not an object")
            kind = entry.get("type")
            if type(kind) is str and kind.casefold() == "upn":
                return opt_str(entry.get("identifier"), "userIds identifier")
    metadata = item.get("metadata")
    if metadata is None:
        return None
    if type(metadata) is not dict:
        raise TypeError("metadata is not an object")
    for key, value in metadata.items():
        # "upn", "UPN", "ext:upn", "uk.upn": the name after any namespace prefix.
        if key.rsplit(":", 1)[-1].rsplit(".", 1)[-1].casefold() == "upn" and value is not None:
            return opt_str(value, f"metadata {key}")
    return None


def _demographics(item: dict[str, Any], page_no: int) -> _Demo | None:
    """Date of birth and sex of one demographics record; None when it is gone."""
    try:
        if _gone(item):
            return None
        raw_date = opt_str(item.get("birthDate"), "birthDate")
        birth_date = parse_date(raw_date, "birthDate") if raw_date else None
        gender = normalise_gender(opt_str(item.get("sex"), "sex"))
    except (TypeError, ValueError) as exc:
        raise bad_record("demographics", item.get("sourcedId"), str(exc), page_no) from None
    return _Demo(birth_date, gender)
