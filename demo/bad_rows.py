"""The deliberately wrong rows (``bad_rows=True``, the default), each with
exactly one defect, so the data-quality figures have something to find:
incidents with an unknown street, NULL coordinates, a point in the sea,
milestones out of order, a time after ``end``, duplicate ids; crowd readings
with NULL coordinates or an unknown street. Their exact counts come back
under ``bad_*`` keys.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np

from data_access import schema
from demo.common import Rows, _rng

UNKNOWN_STREET = "330199999"
SEA_POINT = (122.5, 30.0)  # GCJ-02, East China Sea


def _fmt_dt(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%d %H:%M:%S.000000")


def _bad_incidents(
    seed: int, rows: Rows, n_ids: int, t0: datetime, end: datetime, horizon: float
) -> tuple[Rows, dict[str, int]]:
    """Deliberately wrong rows, each with exactly one defect, and their counts."""
    rng = _rng(seed, "bad-incidents")
    col = {c.name: i for i, c in enumerate(schema.incident.columns)}
    per_kind = max(2, round(len(rows) * 0.0007))
    old_cut = _fmt_dt(end - timedelta(days=3))
    closed_old = [
        i
        for i, r in enumerate(rows)
        if r[col["status"]] == "closed" and r[col["reported_at"]] < old_cut
    ]
    if not closed_old:
        closed_old = [i for i, r in enumerate(rows) if r[col["status"]] == "closed"] or list(
            range(len(rows))
        )
    if not rows:
        return [], {}
    next_id = n_ids

    def fresh(i: int) -> list[Any]:
        nonlocal next_id
        next_id += 1
        r = list(rows[i])
        r[col["id"]] = f"E{str(r[col['reported_at']])[:10].replace('-', '')}{next_id:07d}"
        return r

    def shift(text: str, minutes: float) -> str:
        dt = datetime.strptime(text[:19], "%Y-%m-%d %H:%M:%S") + timedelta(minutes=minutes)
        return _fmt_dt(dt)

    def pick(k: int) -> list[int]:
        return [closed_old[j] for j in rng.integers(0, len(closed_old), k).tolist()]

    out: Rows = []
    for i in pick(per_kind):
        r = fresh(i)
        r[col["street_code"]] = UNKNOWN_STREET
        r[col["grid_code"]] = None
        out.append(tuple(r))
    for i in pick(per_kind):
        r = fresh(i)
        r[col["lat"]] = None
        r[col["lon"]] = None
        out.append(tuple(r))
    for i in pick(per_kind):
        r = fresh(i)
        r[col["lon"]] = round(SEA_POINT[0] + float(rng.normal(0, 0.05)), 6)
        r[col["lat"]] = round(SEA_POINT[1] + float(rng.normal(0, 0.05)), 6)
        out.append(tuple(r))
    n_acc = (per_kind + 1) // 2
    for i in pick(n_acc):  # accepted before reported
        r = fresh(i)
        r[col["accepted_at"]] = shift(r[col["reported_at"]], -float(rng.uniform(2, 30)))
        out.append(tuple(r))
    for i in pick(per_kind - n_acc):  # arrived before dispatched (still after reported)
        r = fresh(i)
        rep = datetime.strptime(r[col["reported_at"]][:19], "%Y-%m-%d %H:%M:%S")
        disp = datetime.strptime(r[col["dispatched_at"]][:19], "%Y-%m-%d %H:%M:%S")
        back = min(float(rng.uniform(1, 5)), (disp - rep).total_seconds() / 60 - 0.2)
        r[col["arrived_at"]] = shift(r[col["dispatched_at"]], -max(back, 0.1))
        out.append(tuple(r))
    for i in pick(per_kind):  # reported after ``end``
        r = fresh(i)
        r[col["reported_at"]] = _fmt_dt(end + timedelta(minutes=float(rng.uniform(15, 2880))))
        r[col["id"]] = f"E{r[col['reported_at']][:10].replace('-', '')}{next_id:07d}"
        for m in ("accepted_at", "dispatched_at", "arrived_at", "closed_at", "outcome"):
            r[col[m]] = None
        r[col["status"]] = "open"
        out.append(tuple(r))
    dup_src = rng.choice(len(rows), size=min(per_kind, len(rows)), replace=False)
    for i in sorted(dup_src.tolist()):
        out.append(rows[i])
    counts = {
        "bad_incident_unknown_street": per_kind,
        "bad_incident_null_coords": per_kind,
        "bad_incident_out_of_area": per_kind,
        "bad_incident_accepted_before_reported": n_acc,
        "bad_incident_arrived_before_dispatched": per_kind - n_acc,
        "bad_incident_out_of_order": per_kind,
        "bad_incident_future": per_kind,
        "bad_incident_duplicate_id": int(dup_src.size),
    }
    counts["bad_incident_total"] = len(out)
    return out, counts


def _bad_crowd(
    rng: np.random.Generator, ts_text: list[str | None], street: str, lat: float, lon: float
) -> tuple[Rows, dict[str, int]]:
    """Crowd readings at the last (up to) 8 instants: one with NULL coordinates
    in ``street``, one at ``lat``/``lon`` in an unknown street; and their counts."""
    k = min(8, len(ts_text))
    out: Rows = []
    for t in ts_text[-k:]:
        out.append((t, "g9999_0", None, None, street, int(rng.integers(50, 500))))
        out.append((t, "g9999_1", lat, lon, UNKNOWN_STREET, int(rng.integers(50, 500))))
    return out, {"bad_crowd_null_coords": k, "bad_crowd_unknown_street": k}
