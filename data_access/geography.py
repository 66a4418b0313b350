"""Districts and streets: the hierarchy the filters and labels are built from."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Connection, func, select

from data_access.schema import district, street

DISTRICT_COLUMNS = ["code", "name_zh", "name_en", "streets"]
STREET_COLUMNS = [
    "code",
    "district_code",
    "name_zh",
    "name_en",
    "population",
    "area_km2",
    "lat",
    "lon",
]


def districts(conn: Connection) -> pd.DataFrame:
    """Districts that have at least one street, by code.

    Columns: ``code`` (6 digits), ``name_zh``, ``name_en``, ``streets`` (count).
    """
    n = func.count(street.c.code).label("streets")
    q = (
        select(district.c.code, district.c.name_zh, district.c.name_en, n)
        .join(street, street.c.district_code == district.c.code)
        .group_by(district.c.code, district.c.name_zh, district.c.name_en)
        .order_by(district.c.code)
    )
    return pd.DataFrame(conn.execute(q).all(), columns=DISTRICT_COLUMNS)


def streets(conn: Connection, district_code: str | None = None) -> pd.DataFrame:
    """Streets (街道/镇), optionally of one district, by code.

    Columns: ``code`` (9 digits), ``district_code``, ``name_zh``, ``name_en``,
    ``population`` (people), ``area_km2``, ``lat``/``lon`` (label point,
    site coordinate system; may be NULL).
    """
    q = select(*(street.c[c] for c in STREET_COLUMNS)).order_by(street.c.code)
    if district_code:
        q = q.where(street.c.district_code == district_code)
    return pd.DataFrame(conn.execute(q).all(), columns=STREET_COLUMNS)
