"""What the demo generator's modules share: the row type every table builder
returns, the seeded random streams (``_rng(seed, table, street)``: one per
table and street, so one table's draws never shift another's), timestamps as
the datetime text SQLAlchemy binds on SQLite, coordinates rounded to six
digits, and the pool of Chinese surnames and given names (reporters, shops).
"""

from __future__ import annotations

import math
import zlib
from datetime import datetime
from typing import Any

import numpy as np

#: A table's rows, Python values only, in the contract's column order.
Rows = list[tuple[Any, ...]]

SURNAMES = list(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢金汪"
)
GIVEN = list(
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建国文辉力斌宇浩凯佳欣怡晨雪琳婷波鹏飞燕俊峰亮成林海东琴云"
)


def _rng(seed: int, *keys: str) -> np.random.Generator:
    return np.random.default_rng([seed, *(zlib.crc32(k.encode()) for k in keys)])


def _ts_strings(base: datetime, secs: np.ndarray) -> list[str | None]:
    """Seconds after ``base`` (NaN = NULL) as SQLAlchemy's SQLite datetime text.

    ``YYYY-MM-DD HH:MM:SS.000000`` is what SQLAlchemy binds on SQLite, so text
    comparisons there agree; PostgreSQL and MariaDB parse it as well.
    """
    secs = np.asarray(secs, dtype=np.float64)
    out = np.full(secs.shape, None, dtype=object)
    ok = ~np.isnan(secs)
    if ok.any():
        dt = np.datetime64(base, "s") + secs[ok].astype(np.int64).astype("timedelta64[s]")
        text = np.char.add(
            np.char.replace(np.datetime_as_string(dt, unit="s"), "T", " "), ".000000"
        )
        out[ok] = text
    return list(out.tolist())


def _floats(values: np.ndarray, digits: int = 6) -> list[float | None]:
    arr = np.round(np.asarray(values, dtype=np.float64), digits)
    return [None if math.isnan(v) else v for v in arr.tolist()]
