"""``misync demo-mis``: a local MIS simulator serving Wonde and OneRoster 1.2 on one port.

Used by tests, benchmarks and ``make run``. Start it with ``misync demo-mis --port 8900
--seed 1 --pupils 600`` (see :mod:`app.demo_mis.cli`), in-process with
``app.demo_mis.app.create_app(...)``, or under real uvicorn on a free port with
``app.demo_mis.server.DemoMisServer`` (a context manager; ``server.url``, ``server.state``).

Connections (defaults; change them with ``create_app`` arguments):

* Wonde: ``base_url`` ``http://HOST:PORT/v1.0``, token ``demo-wonde-token``
  (``Authorization: Bearer ...``). Shape: :mod:`app.demo_mis.wonde`.
* OneRoster 1.2: ``base_url`` ``http://HOST:PORT/ims/oneroster/rostering/v1p2``, ``token_url``
  ``http://HOST:PORT/oauth/token``, client ``demo-client`` / ``demo-secret``.
  Shape: :mod:`app.demo_mis.oneroster`.

Any ``school_ref`` works: the school is generated on first use from ``(seed, school_ref)`` with
the default number of pupils (:mod:`app.demo_mis.data` says what the data contains). The same
pupil has the same id in both providers (Wonde ``id`` == OneRoster ``sourcedId``).

Control API (JSON; no auth; errors are ``{"error": "..."}`` with 400 or 404):

=========================================  ==================================================
``GET /_demo/health``                      ``{"ok": true}``
``GET /_demo/schools``                     summaries of the loaded schools
``PUT /_demo/schools/{ref}``               ``{"pupils"?, "seed"?, "wonde_education_details"?,
                                           "wonde_missing_include"?: "omit"|"null"|"empty",
                                           "oneroster_demographics"?: "allowed"|"denied"|
                                           "per_user"}``; regenerates when pupils/seed change
``GET /_demo/schools/{ref}``               summary (counts, version, academic year)
``DELETE /_demo/schools/{ref}``            forget the school and its faults (204)
``POST /_demo/schools/{ref}/reset``        back to the generated state
``POST /_demo/schools/{ref}/rollover``     new academic year: ``{"left", "joined",
                                           "group_map", "academic_year"}``
``POST /_demo/schools/{ref}/mis-change``   new ids for every pupil and group:
                                           ``{"pupil_map", "group_map"}``
``POST /_demo/schools/{ref}/pupils``       add ``{"forename", "surname", "legal_forename"?,
                                           "legal_surname"?, "middle_names"?, "gender"?,
                                           "date_of_birth"?, "upn"?, "group_id"? | "group"?
                                           | "year"?}``: 201 with the pupil (truth form)
``PATCH /_demo/schools/{ref}/pupils/{id}`` edit names, ``date_of_birth``, ``upn``; move with
                                           ``group_id`` or ``group`` (name, e.g. "8B")
``DELETE /_demo/schools/{ref}/pupils/{id}`` the pupil leaves (204)
``POST /_demo/schools/{ref}/groups``       add an empty registration group ``{"name", "year"}``
``POST /_demo/schools/{ref}/faults``       arm ``{"mode", "count"?, "after"?, "delay_ms"?,
                                           "retry_after"?, "provider"?, "endpoint"?}``
                                           (:mod:`app.demo_mis.faults`); ``ref`` ``*`` = all
                                           schools and the token endpoint
``GET /_demo/schools/{ref}/faults``        armed faults and request counts per endpoint
``DELETE /_demo/schools/{ref}/faults``     disarm all (204)
``GET /_demo/schools/{ref}/truth``         current pupils (ids, names, legal names, DOB, UPN
                                           and ``upn_valid``, ``nc_year``, ``year_group``,
                                           ``grade``, registration group id and name, house,
                                           teaching groups, ``twin_of``), groups (with
                                           ``pupil_count``) and ``gone`` records
``POST /_demo/oauth/expire``               expire every issued OneRoster token
=========================================  ==================================================
"""

from app.demo_mis.app import create_app
from app.demo_mis.state import DemoState

__all__ = ["DemoState", "create_app"]
