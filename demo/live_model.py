"""What the live source writes, window by window: the generator's own
streams (:mod:`demo.incidents`, :mod:`demo.crowds`, :mod:`demo.warnings`)
drawn for a short stretch of time instead of the build's whole window.

Every feed is drawn for a window ``(a, b]`` with a random stream of its own
(seeded by the feed and ``a``), so windows are independent and their union
is the generator's process: a day's cases are drawn as the build draws them
(per street, source and category, on the hourly rhythm) and those reported
inside the window are kept, which thins the day's Poisson counts to the
window's share of them (the repeat hot spots likewise, at their own
rates). A case is drawn with its whole life
(:func:`demo.incidents.case_life`); the writer inserts it as it stands at
``b`` and applies each later milestone when its time comes
(:func:`demo.incidents.as_of`). Petitions and warnings come with the day
they are closed or cleared, applied likewise; crowd readings come per
reading interval, once it has ended (:func:`demo.crowds.crowd_people`, with
the fireworks evening on every Saturday).

Housing records are a snapshot in the build; here the oldest record still
verified within ``GREEN_DAYS`` is checked again, at each street's own
rate (its recently verified records per ``GREEN_DAYS``), so the green
share stays what the build made it.

Times are seconds since :data:`BASE` (a midnight, so ``t % 86400`` is the
time of day the generator's hourly rules read).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from data_access import schema
from data_access.timestamps import Timestamp
from demo.common import Rows, _rng
from demo.crowds import STEP_S, _Cells, _crowd_cells, crowd_people, crowd_rows, place_venues
from demo.geography import StreetExtras, StreetGeo
from demo.incidents import (
    HOT_SPOTS,
    SOURCES,
    _concat,
    _hotspot_incidents,
    _incident_rows,
    _incidents_for_street,
    _take,
    as_of,
    case_life,
)
from demo.warnings import (
    _on_day,
    build_petitions,
    build_warnings,
    petition_closes,
    warning_clears,
)

BASE = datetime(2000, 1, 1)
#: The build's default window: the per-window means of the warning
#: generator are calibrated on it (25 enforcement warnings a street in 90 days).
RATE_DAYS = 90
#: A housing record verified within this many days is green (the shipped rule).
GREEN_DAYS = 182
#: Tries of the conditional redraw of a life cut by the end of the data.
RESUME_TRIES = 20
LIFE_KEYS = ("accepted", "dispatched", "arrived", "closed", "cancelled_at")
FAR = timedelta(days=3650)


def secs(t: datetime) -> float:
    return (t - BASE).total_seconds()


def at(s: float) -> datetime:
    return BASE + timedelta(seconds=round(s))


def midnight(t: datetime) -> datetime:
    return t.replace(hour=0, minute=0, second=0, microsecond=0)


def parse_ts(text: str | None) -> datetime | None:
    """The generator's timestamp text as a datetime (None stays None)."""
    return None if text is None else datetime.strptime(text[:19], "%Y-%m-%d %H:%M:%S")


def seed_for(seed: int, feed: str, a: datetime) -> int:
    return zlib.crc32(f"{seed}|{feed}|{a.isoformat()}".encode())


def _days_touched(a: datetime, b: datetime) -> int:
    """Calendar days ``(a, b]`` overlaps, as the generator's placement counts them."""
    lead = (a - midnight(a)).total_seconds()
    return max(1, math.ceil(((b - a).total_seconds() + lead) / 86400.0))


@dataclass
class CaseBatch:
    """New cases: their rows as of the window's end, and each one's life
    (seconds since :data:`BASE`; ``outcome`` the final one)."""

    rows: list[dict[str, Any]]
    lives: dict[str, dict[str, Any]]


@dataclass
class EventBatch:
    """New petitions or warnings: rows as of the window's end, and when each
    one still to be closed or cleared will be (seconds since :data:`BASE`)."""

    rows: list[dict[str, Any]]
    later: dict[str, float]


def _dicts(table: Any, rows: Rows) -> list[dict[str, Any]]:
    names = [c.name for c in table.columns]
    stamps = {c.name for c in table.columns if isinstance(c.type, Timestamp)}
    return [
        {k: parse_ts(v) if k in stamps else v for k, v in zip(names, r, strict=True)} for r in rows
    ]


def life_state(lives: Sequence[dict[str, Any]], t: float) -> dict[str, Any]:
    """:func:`demo.incidents.as_of` for lives kept one per case."""
    life = {k: np.array([x[k] for x in lives], dtype=np.float64) for k in LIFE_KEYS}
    life["outcome"] = np.array([x["outcome"] for x in lives], dtype=object)
    return as_of(life, t)


def next_event(life: dict[str, Any], t: float) -> float | None:
    """The first time after ``t`` something happens to the case, if any."""
    later = [v for k in LIFE_KEYS if not math.isnan(v := life[k]) and v > t]
    return min(later) if later else None


def case_updates(lives: dict[str, dict[str, Any]], t: float) -> list[dict[str, Any]]:
    """UPDATE parameters bringing the cases ``lives`` to their state at ``t``."""
    ids = list(lives)
    state = life_state([lives[i] for i in ids], t)
    out = []
    for j, case_id in enumerate(ids):
        row: dict[str, Any] = {"b_id": case_id}
        for m in schema.MILESTONES:
            v = state[m][j]
            row[f"{m}_at"] = None if math.isnan(v) else at(v)
        row["status"] = state["status"][j]
        row["outcome"] = state["outcome"][j]
        out.append(row)
    return out


class Model:
    """The generator's streams for the demo's streets (see the module docstring)."""

    def __init__(
        self,
        seed: int,
        scale: float,
        streets: Sequence[StreetGeo],
        district_names: dict[str, str],
        extras: dict[str, StreetExtras],
        crowd_cells: Sequence[str] | None = None,
    ) -> None:
        self.seed, self.scale = seed, scale
        self.streets = list(streets)
        self.by_code = {s.code: s for s in self.streets}
        self.district_names, self.extras = district_names, extras
        self.venues = place_venues(self.streets)
        specs = [v for v, *_ in self.venues]
        if crowd_cells:  # the database's own cells (a superset at scale 1, then filtered)
            cells = _crowd_cells(seed, self.streets, specs, 1.0)
            self.cells = _subset(cells, np.isin(np.array(cells.ids), list(crowd_cells)))
        else:
            self.cells = _crowd_cells(seed, self.streets, specs, scale)
        self.housing_rate: dict[str, float] = {}

    # -- incidents ---------------------------------------------------------

    def cases(self, a: datetime, b: datetime, first_seq: int) -> CaseBatch:
        """Cases reported in ``(a, b]``, numbered from ``first_seq``."""
        day0 = midnight(a)
        horizon = (b - day0).total_seconds()
        dates = [day0 + timedelta(days=i) for i in range((b.date() - day0.date()).days + 1)]
        seed = seed_for(self.seed, "incident", a)
        frames = []
        for s in self.streets:
            f = _incidents_for_street(
                seed,
                s,
                self.district_names[s.district_code],
                self.extras[s.code],
                dates,
                day0,
                horizon,
                self.scale,
                cut=False,
                since=(a - day0).total_seconds(),
            )
            if len(f):
                frames.append(f)
        frames += self._hot_spot_cases(a, b, day0)
        if not frames:
            return CaseBatch([], {})
        frame = _concat(frames)
        frame = _take(frame, np.lexsort((np.arange(len(frame)), frame.reported)))
        shift = secs(day0)
        ids = [
            f"E{(day0 + timedelta(seconds=float(r))):%Y%m%d}{first_seq + i:07d}"
            for i, r in enumerate(frame.reported.tolist())
        ]
        lives = {}
        for i, case_id in enumerate(ids):
            life: dict[str, Any] = {k: float(getattr(frame, k)[i]) + shift for k in LIFE_KEYS}
            life["outcome"] = frame.outcome[i]
            lives[case_id] = life
        now = as_of(
            {
                **{k: getattr(frame, k) for k in LIFE_KEYS},
                "outcome": np.array(frame.outcome, dtype=object),
            },
            horizon,
        )
        cut = replace(
            frame,
            **{m: now[m] for m in schema.MILESTONES},
            status=now["status"],
            outcome=now["outcome"],
        )
        return CaseBatch(_dicts(schema.incident, _incident_rows(cut, day0, ids)), lives)

    def _hot_spot_cases(self, a: datetime, b: datetime, day0: datetime) -> list[Any]:
        """The repeat hot spots' cases in ``(a, b]`` (times after ``day0``):
        a day's worth at each spot's rate, on its hours, those inside kept."""
        out = []
        rng = _rng(seed_for(self.seed, "hotspot-count", a))
        for spot in HOT_SPOTS:
            n = int(rng.poisson(spot.per_day * _days_touched(a, b)))
            if spot.street not in self.by_code or n == 0:
                continue
            f = _hotspot_incidents(
                seed_for(self.seed, "hotspot", a),
                spot,
                self.by_code[spot.street],
                self.extras[spot.street],
                _days_touched(a, b),
                day0 - timedelta(days=1),  # its days start the midnight after this
                float(FAR.total_seconds()),  # no time moved back, lives whole
                n,
            )
            shift = 86400.0  # its times are after day0 - 1 day
            keep = np.flatnonzero(
                (f.reported - shift > (a - day0).total_seconds())
                & (f.reported - shift <= (b - day0).total_seconds())
            )
            if keep.size:
                f = _take(f, keep)
                out.append(
                    replace(
                        f,
                        **{k: getattr(f, k) - shift for k in ("reported", *LIFE_KEYS)},
                    )
                )
        return out

    def resume_cases(self, open_rows: Sequence[dict[str, Any]], until: float) -> dict[str, Any]:
        """Lives for cases still open at ``until`` (the end of the data):
        each case's remaining milestones redrawn from the generator's model,
        shifted to follow its last recorded one, and accepted only when the
        next comes after ``until`` (or never: a stalled case stays stalled).
        A case whose draws all contradict its record (e.g. open for weeks)
        is left as it is."""
        lives: dict[str, dict[str, Any]] = {}
        by_street: dict[str, list[dict[str, Any]]] = {}
        for r in open_rows:
            if r["street_code"] in self.by_code and r["source"] in SOURCES:
                by_street.setdefault(r["street_code"], []).append(r)
        for code, rows in sorted(by_street.items()):
            rows = list({r["id"]: r for r in rows}.values())  # a duplicated id once
            rng = _rng(self.seed, "resume", code, f"{until:.0f}")
            rec = np.array(
                [
                    [
                        secs(r["reported_at"]),
                        *(
                            np.nan if r[f"{m}_at"] is None else secs(r[f"{m}_at"])
                            for m in schema.MILESTONES[:3]
                        ),
                    ]
                    for r in rows
                ]
            )
            last = np.array([max(k for k in range(4) if not np.isnan(x[k])) for x in rec])
            source = np.array([SOURCES.index(r["source"]) for r in rows])
            category = [r["category"] for r in rows]
            todo = np.ones(len(rows), dtype=bool)
            for _ in range(RESUME_TRIES):
                if not todo.any():
                    break
                life = case_life(rng, self.by_code[code], rec[:, 0], source, category)
                cand = np.column_stack(
                    [
                        rec[:, 0],
                        life["accepted"],
                        life["dispatched"],
                        life["arrived"],
                        life["closed"],
                    ]
                )
                for i in np.flatnonzero(todo):
                    k = last[i]
                    if not np.isnan(life["cancelled_at"][i]) or np.isnan(cand[i, k]):
                        continue
                    shifted = cand[i] + (rec[i, k] - cand[i, k])
                    nxt = shifted[k + 1]
                    if not np.isnan(nxt) and nxt <= until:
                        continue  # would have happened already: not this case's life
                    times = np.where(np.arange(5) <= k, np.append(rec[i], np.nan), shifted)
                    lives[rows[i]["id"]] = {
                        "accepted": float(times[1]),
                        "dispatched": float(times[2]),
                        "arrived": float(times[3]),
                        "closed": float(times[4]),
                        "cancelled_at": math.nan,
                        "outcome": life["outcome"][i],
                    }
                    todo[i] = False
        return lives

    # -- crowd -------------------------------------------------------------

    def crowd(self, first: datetime, n_steps: int) -> list[dict[str, Any]]:
        """Readings of ``n_steps`` intervals from ``first``, one calendar day at a time."""
        out: list[dict[str, Any]] = []
        if not self.cells.ids or n_steps <= 0:
            return out
        t, left = first, n_steps
        while left > 0:
            in_day = min(left, int((midnight(t) + timedelta(days=1) - t).total_seconds()) // STEP_S)
            in_day = max(in_day, 1)
            show = midnight(t) if t.weekday() == 5 else None
            rng = _rng(seed_for(self.seed, "crowd", t), "crowd")
            people, _fw, _spread = crowd_people(rng, self.cells, self.venues, t, in_day, show)
            ints = np.rint(people).astype(np.int64)
            out.extend(_dicts(schema.crowd_reading, crowd_rows(self.cells, t, ints)))
            t += timedelta(seconds=STEP_S * in_day)
            left -= in_day
        return out

    # -- petitions, warnings, housing checks ------------------------------

    def petitions(self, a: datetime, b: datetime, first_seq: int) -> EventBatch:
        """Petitions received in ``(a, b]`` (the build's per-day rate)."""
        span = (b - a).total_seconds() / 86400.0
        scale = self.scale * _days_touched(a, b) / max(span, 1e-9)
        rows = build_petitions(
            seed_for(self.seed, "petition", a), self.streets, self.extras, a, b, scale, a + FAR
        )
        return self._events(schema.petition, rows, "P", 7, first_seq, "closed_at", b)

    def warnings(self, a: datetime, b: datetime, first_seq: int) -> EventBatch:
        """Warnings raised in ``(a, b]`` (the build's rate over :data:`RATE_DAYS`)."""
        scale = self.scale * _days_touched(a, b) / RATE_DAYS
        rows = build_warnings(
            seed_for(self.seed, "warning", a), self.streets, self.extras, a, b, scale, a + FAR
        )
        return self._events(schema.warning, rows, "W", 6, first_seq, "cleared_at", b)

    @staticmethod
    def _events(
        table: Any, rows: Rows, prefix: str, width: int, first: int, column: str, b: datetime
    ) -> EventBatch:
        dicts = _dicts(table, rows)
        later: dict[str, float] = {}
        for i, d in enumerate(dicts):
            d["id"] = f"{prefix}{first + i:0{width}d}"
            when = d[column]
            if when is not None and when > b:
                later[d["id"]] = secs(when)
                d[column] = None
        return EventBatch(dicts, later)

    def resume_petitions(self, rows: Sequence[dict[str, Any]], until: float) -> dict[str, float]:
        """When each petition open at ``until`` will close (the generator's
        handling time, redrawn until it falls after ``until``); never for
        those the draws do not let close later."""
        rows = [r for r in rows if r["due_at"] is not None]
        if not rows:
            return {}
        received = np.array([secs(r["received_at"]) for r in rows])
        limit = np.array([(r["due_at"] - r["received_at"]).total_seconds() / 86400 for r in rows])
        rng = _rng(self.seed, "resume-petition", f"{until:.0f}")
        return _redraw(
            [r["id"] for r in rows], until, lambda: petition_closes(rng, received, limit, math.inf)
        )

    def resume_warnings(self, rows: Sequence[dict[str, Any]], until: float) -> dict[str, float]:
        """When each warning not cleared at ``until`` will be (likewise)."""
        rows = [r for r in rows if r["colour"] in schema.WARNING_COLOURS and r["raised_at"]]
        if not rows:
            return {}
        raised = np.array([secs(r["raised_at"]) for r in rows])
        colour = np.array([schema.WARNING_COLOURS.index(r["colour"]) for r in rows])
        rng = _rng(self.seed, "resume-warning", f"{until:.0f}")
        return _redraw(
            [r["id"] for r in rows], until, lambda: warning_clears(rng, raised, colour, math.inf)
        )

    def learn_housing(self, records: Sequence[dict[str, Any]], until: float) -> None:
        """Each street's rate of checks: its records verified within
        :data:`GREEN_DAYS` before ``until``, per :data:`GREEN_DAYS`."""
        green = until - GREEN_DAYS * 86400.0
        counts: dict[str, int] = {}
        for r in records:
            v = r["last_verified_at"]
            if v is not None and secs(v) > green:
                counts[r["street_code"]] = counts.get(r["street_code"], 0) + 1
        self.housing_rate = {code: n / GREEN_DAYS for code, n in counts.items()}

    def housing_checks(
        self, a: datetime, b: datetime, records: dict[str, list[list[Any]]]
    ) -> list[dict[str, Any]]:
        """Checks in ``(a, b]``: per street, Poisson at its rate, in office
        hours, each of the record still green the longest. ``records``:
        per street, ``[id, last verified (seconds)]``, updated in place."""
        out: list[dict[str, Any]] = []
        horizon = (b - a).total_seconds()
        days = _days_touched(a, b)
        green = secs(b) - GREEN_DAYS * 86400.0
        for code in sorted(self.housing_rate):
            rng = _rng(seed_for(self.seed, "housing", a), code)
            n = int(rng.poisson(self.housing_rate[code] * days))
            when = np.sort(_on_day(rng, a, horizon, rng.uniform(8.5, 18, n)))
            for t in (secs(a) + when).tolist():
                due = [r for r in records.get(code, []) if r[1] is not None and r[1] > green]
                if not due:
                    break
                oldest = min(due, key=lambda r: (r[1], r[0]))
                oldest[1] = round(t)
                out.append({"b_id": oldest[0], "last_verified_at": at(t)})
        return out


def _redraw(ids: list[str], until: float, draw: Any) -> dict[str, float]:
    """Conditional redraws: per id the first draw that is NaN (never) or
    after ``until``; ids whose every draw came before are left out."""
    out: dict[str, float] = {}
    todo = np.ones(len(ids), dtype=bool)
    for _ in range(RESUME_TRIES):
        if not todo.any():
            break
        when = draw()
        ok = todo & (np.isnan(when) | (when > until))
        for i in np.flatnonzero(ok):
            if not math.isnan(when[i]):
                out[ids[i]] = float(when[i])
        todo &= ~ok
    return out


def _subset(cells: _Cells, keep: np.ndarray) -> _Cells:
    idx = np.flatnonzero(keep).tolist()
    values: dict[str, Any] = {}
    for f in fields(cells):
        v = getattr(cells, f.name)
        values[f.name] = v[keep] if isinstance(v, np.ndarray) else [v[i] for i in idx]
    return _Cells(**values)
