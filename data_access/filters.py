"""The frozen, validated filter objects every query function takes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

_DISTRICT = re.compile(r"^\d{6}$")
_STREET = re.compile(r"^\d{9}$")
_CODE = re.compile(r"^[A-Za-z0-9_.\-]{1,32}$")

#: The widest window a query accepts, in days.
MAX_WINDOW_DAYS = 3 * 366
#: The earliest date the filters offer (an imported export may be years old).
EARLIEST_DATE = date(2000, 1, 1)


class FilterError(ValueError):
    """A filter value that is not allowed; the message names the field."""


@dataclass(frozen=True)
class AreaFilter:
    """Where and when: the global filter every page honours.

    ``district``: 6-digit code, or ``None`` for every district.
    ``streets``: 9-digit street codes; empty means every street of the district.
    ``start``/``end``: local dates, both inclusive.
    ``categories``/``sources``/``statuses``: incident codes; empty means all.
    ``known_streets``: the codes of the area's streets as the ``street``
    table lists them (:func:`data_access.area.resolve_streets`), or None.
    When set, the queries name them as a literal list, which MariaDB's
    planner can use as index ranges where it cannot use a subquery on
    ``street``; the figures are the same.
    ``scope``: the street codes the user may see (row-level security, see
    :mod:`data_access.access`), ``None`` for every street. Every query
    restricted by area is restricted to it in SQL
    (:func:`data_access.area.area_streets`); ``known_streets`` is cut to it.
    """

    start: date
    end: date
    district: str | None = None
    streets: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    known_streets: tuple[str, ...] | None = None
    scope: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.district is not None and not _DISTRICT.match(self.district):
            raise FilterError(f"district: expected a 6-digit code, got {self.district!r}")
        for s in self.streets:
            if not _STREET.match(s):
                raise FilterError(f"streets: expected 9-digit codes, got {s!r}")
            if self.district and not s.startswith(self.district):
                raise FilterError(f"streets: {s} is not in district {self.district}")
        for name in ("categories", "sources", "statuses"):
            for code in getattr(self, name):
                if not _CODE.match(code):
                    raise FilterError(f"{name}: not a valid code: {code!r}")
        if not isinstance(self.start, date) or not isinstance(self.end, date):
            raise FilterError("start/end: expected dates")
        if self.end < self.start:
            raise FilterError(f"end: {self.end} is before start {self.start}")
        if (self.end - self.start).days + 1 > MAX_WINDOW_DAYS:
            raise FilterError(f"start/end: window longer than {MAX_WINDOW_DAYS} days")
        if self.known_streets is not None:
            for s in self.known_streets:
                if not _STREET.match(s):
                    raise FilterError(f"known_streets: expected 9-digit codes, got {s!r}")
            object.__setattr__(self, "known_streets", tuple(sorted(set(self.known_streets))))
        if self.scope is not None:
            for s in self.scope:
                if not _STREET.match(s):
                    raise FilterError(f"scope: expected 9-digit codes, got {s!r}")
            object.__setattr__(self, "scope", tuple(sorted(set(self.scope))))
            if self.known_streets is not None:
                allowed = set(self.scope)
                kept = tuple(s for s in self.known_streets if s in allowed)
                object.__setattr__(self, "known_streets", kept)
        # Normalise order so equal filters hash (and cache) equally.
        for name in ("streets", "categories", "sources", "statuses"):
            object.__setattr__(self, name, tuple(sorted(set(getattr(self, name)))))

    @property
    def start_ts(self) -> datetime:
        """First instant of the window (naive local time)."""
        return datetime.combine(self.start, time.min)

    @property
    def end_ts(self) -> datetime:
        """First instant after the window (exclusive bound, naive local time)."""
        return datetime.combine(self.end + timedelta(days=1), time.min)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1
