"""Masking of personal data (reporter name, phone, precise address).

The contract marks ``address``, ``reporter_name`` and ``reporter_phone`` as
personal data: never shown unmasked to a role that is not allowed to see
them. Masking happens in the data layer, before a frame reaches a page, so a
page cannot forget it.
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

_DIGITS = re.compile(r"\d")
#: Where a Chinese address stops being an area and starts being a door:
#: keep up to the last road/lane/estate name (so a repeat hot spot's estate
#: stays recognisable), mask every number in it and everything after it.
_ADDRESS_CUT = re.compile(r"^(.*(?:路|街|道|巷|弄|村|苑|园|小区|大厦|广场|中心))")


def mask_name(name: object) -> str | None:
    """``张伟`` -> ``张*``, ``欧阳娜娜`` -> ``欧***``, ``Li Wei`` -> ``L*****``."""
    if name is None or (isinstance(name, float) and pd.isna(name)):
        return None
    text = str(name).strip()
    if not text:
        return ""
    return text[0] + "*" * max(1, len(text) - 1)


def mask_phone(phone: object) -> str | None:
    """``13812345678`` -> ``138****5678``; other lengths keep only the last 4 digits."""
    if phone is None or (isinstance(phone, float) and pd.isna(phone)):
        return None
    digits = "".join(_DIGITS.findall(str(phone)))
    if len(digits) == 11:
        return f"{digits[:3]}****{digits[-4:]}"
    if len(digits) <= 4:
        return "*" * len(digits)
    return "*" * (len(digits) - 4) + digits[-4:]


def mask_address(address: object) -> str | None:
    """Keep the road or estate, mask the door and every number.

    ``拱墅区莫干山路123号5幢`` -> ``拱墅区莫干山路***``;
    ``河庄街道云上澜苑3幢501`` -> ``河庄街道云上澜苑***``;
    ``文三路90号东部软件园1号楼`` -> ``文三路**号东部软件园***``.
    """
    if address is None or (isinstance(address, float) and pd.isna(address)):
        return None
    text = str(address).strip()
    m = _ADDRESS_CUT.match(text)
    if m:
        kept = _DIGITS.sub("*", m.group(1))
        return kept + "***" if len(m.group(1)) < len(text) else kept
    return text[: max(1, len(text) // 2)] + "***"


def mask_personal(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` with ``reporter_name``, ``reporter_phone`` and
    ``address`` masked wherever those columns are present."""
    out = frame.copy()
    for column, fn in (
        ("reporter_name", mask_name),
        ("reporter_phone", mask_phone),
        ("address", mask_address),
    ):
        if column in out.columns:
            out[column] = out[column].map(fn).astype("object")
    return out


REVEAL_COLUMNS = ["id", "street_code", "reported_at", "reporter_name", "reporter_phone", "address"]


class RevealRefused(LookupError):
    """The case is not there, or not within the user's scope: nothing is read."""


def reveal_case(conn: Any, case_id: str, scope: tuple[str, ...] | None = None) -> pd.DataFrame:
    """One case's personal data, unmasked: the copy :func:`data_access.
    rollups.clean_incidents` keeps (the earliest reported) of incident
    ``case_id``, only when its street is within ``scope`` (a user's street
    codes; ``None`` = every street). One row, columns :data:`REVEAL_COLUMNS`;
    :class:`RevealRefused` when there is none. Never cached: callers write
    the audit row (:func:`appstate.audit.record`) before showing it."""
    from sqlalchemy import select

    from data_access.schema import incident

    case_id = str(case_id).strip()
    if not case_id or len(case_id) > 64:
        raise RevealRefused("no such case")
    c = incident.c
    q = (
        select(c.id, c.street_code, c.reported_at, c.reporter_name, c.reporter_phone, c.address)
        .where(c.id == case_id)
        .order_by(c.reported_at, c.accepted_at)
        .limit(1)
    )
    if scope is not None:
        q = q.where(c.street_code.in_(scope))
    rows = conn.execute(q).all()
    if not rows:
        raise RevealRefused("no such case within your scope")
    frame = pd.DataFrame(rows, columns=REVEAL_COLUMNS)
    frame["reported_at"] = pd.to_datetime(frame["reported_at"])
    return frame
