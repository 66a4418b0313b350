"""The global filters (district, streets, dates, language), kept in the URL.

On a session's first run the widgets are seeded from the URL query
parameters (``district``, ``streets``, ``start``, ``end``, ``lang``); an
invalid parameter falls back to its default (or, for one among several
street codes, is left out) and a notice says which and what became of it. After
that the widgets are the truth, and every run writes them back to the URL,
so the address bar is always a link to the current view.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field, replace
from datetime import date, timedelta

import pandas as pd
import streamlit as st

from data_access.config import SiteConfig
from data_access.filters import EARLIEST_DATE, MAX_WINDOW_DAYS, AreaFilter
from ui.i18n import DEFAULT_LANG, LANGS, current_lang, t

ALL = ""
_SEEDED = "_filters_seeded"
_NOTICES = "_filter_notices"
#: URL values naming a district or street that exists but is outside the
#: user's scope: ``(name, value)`` pairs, refused with their own notice.
SCOPE_REFUSED = "_filter_scope_refused"


@dataclass(frozen=True)
class UrlState:
    """Filter values parsed from the URL, with the names of rejected params."""

    lang: str = DEFAULT_LANG
    district: str | None = None
    streets: tuple[str, ...] = ()
    start: date | None = None
    end: date | None = None
    rejected: tuple[tuple[str, str], ...] = field(default=())


def _parse_date(value: str) -> date | None:
    try:
        parsed = date.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed >= EARLIEST_DATE else None


def parse_url_params(
    params: dict[str, str], district_codes: set[str], street_codes: dict[str, str], today: date
) -> UrlState:
    """Validate URL parameters against the database's districts and streets.

    ``street_codes`` maps street code -> district code. Pure: no Streamlit.
    """
    rejected: list[tuple[str, str]] = []
    lang = params.get("lang", DEFAULT_LANG)
    if lang not in LANGS:
        rejected.append(("lang", lang))
        lang = DEFAULT_LANG
    district = params.get("district") or None
    if district is not None and district not in district_codes:
        rejected.append(("district", district))
        district = None
    streets: list[str] = []
    raw_streets = params.get("streets", "")
    for code in filter(None, raw_streets.split(",")):
        if code in street_codes and (district is None or street_codes[code] == district):
            streets.append(code)
        else:
            rejected.append(("streets", code))
    start = _parse_date(params["start"]) if "start" in params else None
    end = _parse_date(params["end"]) if "end" in params else None
    if "start" in params and start is None:
        rejected.append(("start", params["start"]))
    if "end" in params and end is None:
        rejected.append(("end", params["end"]))
    if start and end and (end < start or (end - start).days + 1 > MAX_WINDOW_DAYS):
        rejected.append(("start", params["start"]))
        rejected.append(("end", params["end"]))
        start = end = None
    if (start and start > today) or (end and end > today + timedelta(days=1)):
        rejected.append(("end", params.get("end", "")))
        start = end = None
    return UrlState(lang, district, tuple(streets), start, end, tuple(rejected))


def default_window(cfg: SiteConfig, today: date) -> tuple[date, date]:
    return today - timedelta(days=cfg.default_window_days - 1), today


def seed_from_url(
    cfg: SiteConfig,
    districts: pd.DataFrame,
    streets: pd.DataFrame,
    today: date,
    all_streets: pd.DataFrame | None = None,
) -> None:
    """On the session's first run, put URL values (or defaults) into widget
    state. ``districts``/``streets``: those the user may see; a URL value
    that is a street or district of ``all_streets`` but not of those is
    refused as outside the scope (:data:`SCOPE_REFUSED`)."""
    if st.session_state.get(_SEEDED):
        _restore_kept()
        return
    params = {k: st.query_params.get(k, "") for k in st.query_params}
    state = parse_url_params(
        params,
        set(districts["code"]),
        dict(zip(streets["code"], streets["district_code"], strict=True)),
        today,
    )
    if all_streets is not None:
        exists = {
            "district": set(all_streets["district_code"]),
            "streets": set(all_streets["code"]),
        }
        outside = [(n, v) for n, v in state.rejected if v in exists.get(n, set())]
        st.session_state[SCOPE_REFUSED] = outside
        state = replace(state, rejected=tuple(r for r in state.rejected if r not in outside))
    default_district = (
        cfg.default_district if cfg.default_district in set(districts["code"]) else ALL
    )
    start, end = default_window(cfg, today)
    st.session_state["lang"] = state.lang
    if state.district:
        st.session_state["f_district"] = state.district
    elif params.get("district") == ALL and "district" in params:  # an explicit "all districts"
        st.session_state["f_district"] = ALL
    else:
        st.session_state["f_district"] = default_district
    st.session_state["f_streets"] = list(state.streets)
    st.session_state["f_dates"] = (state.start or start, state.end or (state.start and end) or end)
    st.session_state[_NOTICES] = list(state.rejected)
    st.session_state[_SEEDED] = True


#: The filters' and language's last values, outside the widgets' own keys.
_KEPT = "_ops_filters_kept"
_KEPT_KEYS = ("lang", "f_district", "f_streets", "f_dates")


def keep_filters() -> None:
    """Remember the filters and language as this run left them. Streamlit
    drops a widget's value from the session when a run does not draw the
    widget: a run stopped early (the database away, a refused page) lost
    them, and the overview came back from an outage on the whole city in
    the default window."""
    st.session_state[_KEPT] = {k: st.session_state[k] for k in _KEPT_KEYS if k in st.session_state}


#: Session key: the last run stopped before drawing the filters.
_NOT_DRAWN = "_ops_filters_not_drawn"


def filters_not_drawn() -> None:
    """Say that this run stops before the filters (the database away): the
    browser clears their widgets, and sends no values for them with the
    next run."""
    st.session_state[_NOT_DRAWN] = True


def _restore_kept() -> None:
    """Put back the values :func:`keep_filters` remembered, before the
    widgets are drawn again: those a run without the widgets dropped, and
    all of them after a run that stopped before them (the browser, whose
    sidebar that run cleared, sends no values for them: the overview came
    back from an outage on the whole city, tests/test_deploy.py)."""
    cleared = st.session_state.pop(_NOT_DRAWN, False)
    for key, value in st.session_state.get(_KEPT, {}).items():
        if cleared or key not in st.session_state:
            st.session_state[key] = value


def language_switch() -> None:
    """中文 / English: a radio, so a language is always selected."""
    if st.session_state.get("lang") not in LANGS:
        st.session_state["lang"] = DEFAULT_LANG
    st.sidebar.radio(
        t("app.language"),
        options=list(LANGS),
        key="lang",
        horizontal=True,
        format_func=lambda code: {"zh": "中文", "en": "English"}[code],
    )


def area_filter_widgets(
    cfg: SiteConfig, districts: pd.DataFrame, streets: pd.DataFrame, today: date
) -> AreaFilter:
    """Sidebar widgets for district, streets and dates; returns the filter."""
    lang = st.session_state.get("lang", DEFAULT_LANG)
    name_col = "name_en" if lang == "en" else "name_zh"
    district_names = dict(
        zip(districts["code"], districts[name_col].fillna(districts["name_zh"]), strict=True)
    )
    street_names = dict(
        zip(streets["code"], streets[name_col].fillna(streets["name_zh"]), strict=True)
    )

    st.sidebar.subheader(t("filter.heading"))
    options = [ALL, *districts["code"].tolist()]
    if len(options) == 2:  # a scope within one district: no "all districts"
        options = options[1:]
    if st.session_state.get("f_district") not in options:
        st.session_state["f_district"] = options[0]
    district = st.sidebar.selectbox(
        t("filter.district"),
        options,
        key="f_district",
        format_func=lambda c: t("filter.all_districts") if c == ALL else district_names.get(c, c),
    )
    street_options = streets.loc[
        streets["district_code"] == district if district else slice(None), "code"
    ].tolist()
    st.session_state["f_streets"] = [
        s for s in st.session_state.get("f_streets", []) if s in street_options
    ]
    chosen = st.sidebar.multiselect(
        t("filter.streets"),
        street_options,
        key="f_streets",
        format_func=lambda c: street_names.get(c, c),
        placeholder=t("filter.all_streets"),
    )
    dates = st.sidebar.date_input(
        t("filter.dates"),
        key="f_dates",
        max_value=today + timedelta(days=1),
        min_value=EARLIEST_DATE,
    )
    start, end = _date_pair(dates, default_window(cfg, today))
    if (end - start).days + 1 > MAX_WINDOW_DAYS:
        start = end - timedelta(days=MAX_WINDOW_DAYS - 1)
    keep_filters()
    return AreaFilter(start=start, end=end, district=district or None, streets=tuple(chosen))


def scoped_area(f: AreaFilter, streets: pd.DataFrame, scope: tuple[str, ...] | None) -> AreaFilter:
    """``f`` within ``scope`` (the user's street codes; ``None`` = all),
    naming the scope's streets when it covers only part of the chosen area
    so that every title says what the figures are of. ``streets``: every
    street (``code``, ``district_code``)."""
    if scope is None:
        return f
    allowed = set(scope)
    if f.streets:
        chosen = tuple(s for s in f.streets if s in allowed)
        return replace(f, streets=chosen, scope=scope)
    area = streets if not f.district else streets.loc[streets["district_code"] == f.district]
    codes = set(area["code"])
    inside = tuple(sorted(codes & allowed))
    if inside and set(inside) == codes and f.district:
        return replace(f, scope=scope)  # the whole district: its name is honest
    return replace(f, streets=inside, scope=scope)


def _date_pair(value: object, fallback: tuple[date, date]) -> tuple[date, date]:
    if isinstance(value, tuple | list):
        if len(value) == 2:
            return value[0], value[1]
        if len(value) == 1:  # the user has picked a start and not yet an end
            return value[0], value[0]
        return fallback
    if isinstance(value, date):
        return value, value
    return fallback


def write_url(f: AreaFilter) -> None:
    """Mirror the current view into the URL (only what differs from the page's path)."""
    wanted = {
        "lang": st.session_state.get("lang", DEFAULT_LANG),
        "start": f.start.isoformat(),
        "end": f.end.isoformat(),
    }
    wanted["district"] = f.district or ALL
    if f.streets:
        wanted["streets"] = ",".join(f.streets)
    current = {k: st.query_params.get(k) for k in st.query_params}
    keep = {
        k: v for k, v in current.items() if k not in ("lang", "district", "streets", "start", "end")
    }
    target = {**keep, **wanted}
    if current != target:
        st.query_params.from_dict(target)


#: Link parameters whose bad value is only left out (the rest of the link
#: still applies, e.g. one unknown street code among good ones); any other
#: rejected value is replaced by its default (district, dates, language).
LEFT_OUT = frozenset({"streets", "cycle"})


def notice_text(rejected: list[tuple[str, str]], left_out: Collection[str] = ()) -> str | None:
    """What happened to the rejected URL parameters, in one text: those in
    :data:`LEFT_OUT` or ``left_out`` (a page's own) "not recognised, ignored",
    the others "not valid, the default is used"; ``None`` when none."""
    ignored_names = LEFT_OUT | set(left_out)
    ignored = [(n, v) for n, v in rejected if n in ignored_names]
    defaulted = [(n, v) for n, v in rejected if n not in ignored_names]
    sep = "，" if current_lang() == "zh" else ", "
    parts = []
    for pairs, one, many in (
        (ignored, "filter.ignored_param", "filter.ignored_params"),
        (defaulted, "filter.invalid_param", "filter.invalid_params"),
    ):
        if len(pairs) == 1:
            parts.append(t(one, name=pairs[0][0], value=pairs[0][1]))
        elif pairs:
            parts.append(t(many, items=sep.join(f"{n}={v}" for n, v in pairs)))
    if not parts:
        return None
    return ("" if current_lang() == "zh" else " ").join(parts)


def pending_notices(
    more: list[tuple[str, str]] | None = None, left_out: Collection[str] = ()
) -> list[tuple[str, str]]:
    """The notices to show once, on the first page shown: ``("warning",
    text)`` for the rejected URL parameters (with a page's own, ``more``,
    in the same text) and ``("error", text)`` for each refused as outside
    the user's scope. Taken from the session: a second call returns only
    ``more``'s."""
    out = []
    text = notice_text([*st.session_state.pop(_NOTICES, []), *(more or [])], left_out)
    if text:
        out.append(("warning", text))
    for name, value in st.session_state.pop(SCOPE_REFUSED, []):
        out.append(("error", t("auth.outside_scope_param", name=name, value=value)))
    return out


def show_notices(more: list[tuple[str, str]] | None = None, left_out: Collection[str] = ()) -> int:
    """Say which URL parameters were rejected and what became of them
    (:func:`pending_notices`): one box for the rejected ones (several
    boxes would push a page's figures down), one per refusal. Returns the
    number of boxes shown."""
    notices = pending_notices(more, left_out)
    for kind, text in notices:
        if kind == "error":
            st.error(text, icon=":material/block:")
        else:
            st.warning(text, icon=":material/link:")
    return len(notices)
