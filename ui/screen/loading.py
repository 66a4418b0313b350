"""Cached loading for the wall's tiles: a result is kept a second less
than ``screen.refresh_s``, so a tile's next refresh never gets its own last
result back (it reads the database, and shows what arrived since). The
tiles ask at :func:`ui.data.local_now`, which moves by the second: the
screens of a wall share a result read within the same second."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pandas as pd
import streamlit as st

from data_access.filters import AreaFilter
from metrics import overview, warnings
from metrics.warning_rules import WarningRulesError, load_warning_rules
from ui.data import cache_key_url, run_query, scoped_arguments, session_scope, site_config


def screen_ttl_s() -> float:
    """Seconds a tile's result is kept: ``screen.refresh_s`` less one, at least one."""
    return float(max(1, site_config().screen.refresh_s - 1))


@st.cache_data(ttl=screen_ttl_s(), max_entries=256, show_spinner=False)
def _screen_cached(
    db_key: str, fn_path: str, args: tuple[Any, ...], kwargs: tuple[tuple[str, Any], ...]
) -> Any:
    return run_query(fn_path, args, kwargs)


def screen_load(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Like ``ui.data.load`` (the session's scope stamped in), cached for
    :func:`screen_ttl_s` seconds."""
    args, kw = scoped_arguments(fn, args, kwargs, session_scope())
    kwargs = kw
    path = f"{fn.__module__}:{fn.__qualname__}"
    return _screen_cached(cache_key_url(), path, args, tuple(sorted(kwargs.items())))


def red_counts(f: AreaFilter, now: datetime) -> pd.DataFrame:
    """Red items per domain, the same figure as the overview's (``domain``,
    ``red``); other systems' reds only, if the rules file is broken."""
    try:
        rules = load_warning_rules()
    except WarningRulesError:
        return screen_load(overview.active_red_warnings, f, now)  # type: ignore[no-any-return]
    return screen_load(warnings.red_counts, f, now, rules)  # type: ignore[no-any-return]


def clear_cache() -> None:
    _screen_cached.clear()
