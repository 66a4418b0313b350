"""Names and printed figures of the weekly pack, shared by the PDF, the
workbook and the weekly review page: display names of codes, comparison
labels, significance marks, figures with thousands separators, the data
source named without its URL."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from data_access.config import SiteConfig
from data_access.filters import AreaFilter
from data_access.schema import MILESTONES
from metrics import weekly_summary
from metrics.exports import is_missing
from metrics.warning_rules import WarningRules
from metrics.weekly_model import records


def tr_for(lang: str) -> Callable[..., str]:
    """``tr(key, **fmt)`` in ``lang``."""
    from i18n import translate

    def tr(key: str, **kwargs: Any) -> str:
        return translate(key, lang, **kwargs)

    return tr


def display_names(
    districts: pd.DataFrame,
    streets: pd.DataFrame,
    cfg: SiteConfig,
    rules: WarningRules | None,
    lang: str,
) -> dict[str, str]:
    """Code -> display name for districts and streets (frames of
    :mod:`data_access.geography`), categories, sources, milestones and
    warning domains, in ``lang``."""
    tr = tr_for(lang)
    names: dict[str, str] = {}
    for frame in (districts, streets):
        for rec in records(frame):
            en = rec.name_en if isinstance(rec.name_en, str) and rec.name_en else rec.name_zh
            names[str(rec.code)] = en if lang == "en" else rec.name_zh
    for code, zh, en in (*cfg.categories, *cfg.sources):
        names[code] = en if lang == "en" else zh
    for m in MILESTONES:
        names[m] = tr(f"milestone.{m}")
    names["petition"] = tr("warnings.domain_petition")
    names["housing"] = tr("warnings.domain_housing")
    if rules is not None:
        for d in rules.warning_domains:
            names[d.code] = d.name_en if lang == "en" else d.name_zh
    return names


def area_label(f: AreaFilter, names: dict[str, str], cfg: SiteConfig, lang: str) -> str:
    """The area a review covers: its streets, its district or the site."""
    if f.streets:
        return ("、" if lang == "zh" else ", ").join(names.get(s, s) for s in f.streets)
    if f.district:
        return names.get(f.district, f.district)
    return cfg.name_en if lang == "en" else cfg.name_zh


def metric_label(section: str, metric: str, code: str, names: dict[str, str], tr: Any) -> str:
    """The label of a comparison row (e.g. "类别：违停", "到场按时率", "信访件 · 红")."""
    del section
    name = names.get(code, code)
    if metric in ("category", "source", "ontime_share", "red", "yellow", "green"):
        return str(tr(f"weekly.metric.{metric}", name=name))
    return str(tr(f"weekly.metric.{metric}"))


def figure_text(value: Any, fmt: str, grouped: bool = False) -> str:
    """:func:`metrics.weekly_summary.format_figure`, with thousands
    separators in counts when ``grouped`` (12,161; +1,204)."""
    if grouped and fmt in ("int", "signed") and not is_missing(value):
        v = round(float(value))
        return f"{v:+,d}" if fmt == "signed" else f"{v:,d}"
    return weekly_summary.format_figure(value, fmt)


def value_text(value: Any, kind: str, change: bool = False, grouped: bool = False) -> str:
    """A comparison cell as printed: counts as integers (with thousands
    separators when ``grouped``), shares as percents, share changes in
    signed percentage points."""
    if kind == "share":
        return weekly_summary.format_figure(value, "pp" if change else "pct")
    return figure_text(value, "signed" if change else "int", grouped)


def mark_text(z: Any, is_significant: bool, tr: Any) -> str:
    """Icon + label of a significance mark (never colour alone)."""
    if z is None or (isinstance(z, float) and math.isnan(z)):
        return ""
    z_text = weekly_summary.format_figure(z, "z")
    if not is_significant:
        return f"{tr('weekly.sig_none')} ({z_text})"
    icon, key = ("▲", "weekly.sig_up") if z > 0 else ("▼", "weekly.sig_down")
    return f"{icon} {tr(key)} ({z_text})"


def mover_text(mover: Any, tr: Any) -> str:
    if not isinstance(mover, str) or not mover:
        return ""
    return ("▲ " if mover == "improved" else "▼ ") + tr(f"weekly.mover_{mover}")


def source_text(db: str, tr: Any) -> str:
    """The data source as printed for people: the kind of database and its
    name (a SQLite file's stem), never its URL, host, user or path; the
    embedded demo database by that name."""
    if not db:
        return ""
    try:
        from sqlalchemy.engine import make_url

        from data_access import connection

        url = make_url(db)
    except Exception:  # not a URL: a label given as is
        return db
    backend = url.get_backend_name()
    if backend == "sqlite":
        path = Path(url.database or "")
        if url.database and path.resolve() == connection.demo_path().resolve():
            return str(tr("export.source_demo"))
        return f"SQLite · {path.stem or 'memory'}"
    kind = {"postgresql": "PostgreSQL", "mysql": "MySQL/MariaDB", "mariadb": "MySQL/MariaDB"}
    return f"{kind.get(backend, backend)} · {url.database or ''}".rstrip(" ·")


def local_now(tz: str | None) -> datetime:
    """The wall clock in ``tz`` (the site's zone), else the machine's, aware."""
    if tz:
        from zoneinfo import ZoneInfo

        return datetime.now(ZoneInfo(tz))
    return datetime.now().astimezone()
