"""The tile runner: every tile of the wall fetches, keeps its last good
data and backs off on its own.

A tile's state (last good data, failures, next try) lives in
``st.session_state``; a failed query keeps the data up with how stale it is
and retries after ``refresh_s``, doubled per failure, at most
``screen.max_backoff_s``. No error text reaches the screen; failures are
logged on the server. :func:`live` makes a tile a fragment on its own timer.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import streamlit as st

from data_access.config import ScreenConfig
from ui.data import site_config
from ui.i18n import t
from ui.screen.blocks import _e

_log = logging.getLogger(__name__)
#: Wall clock (seconds) for staleness, backoff and rotation; tests replace it.
clock: Callable[[], float] = time.time
TILE_STATE = "_screen_tiles"
#: Most seconds the playlist's view may overrun its slot before it rotates.
STAGE_TICK_S = 10


@dataclass(frozen=True)
class TileState:
    """A tile's last good data and retry schedule (wall-clock seconds)."""

    data: Any = None
    ok_at: float | None = None
    failures: int = 0
    next_try_at: float = 0.0


def backoff_s(failures: int, base_s: float, cap_s: float) -> float:
    """Wait before the next try after ``failures`` failures in a row:
    ``base_s``, doubled per further failure, at most ``cap_s``."""
    if failures <= 0:
        return 0.0
    return float(min(cap_s, base_s * 2 ** min(failures - 1, 30)))


def due(state: TileState | None, now_s: float) -> bool:
    """Whether the tile should query now (always, unless backing off)."""
    return state is None or now_s >= state.next_try_at


def succeeded(data: Any, now_s: float) -> TileState:
    return TileState(data=data, ok_at=now_s, failures=0, next_try_at=now_s)


def failed(state: TileState | None, now_s: float, base_s: float, cap_s: float) -> TileState:
    """The state after a failed query: last data kept, next try backed off."""
    prev = state or TileState()
    n = prev.failures + 1
    return replace(prev, failures=n, next_try_at=now_s + backoff_s(n, base_s, cap_s))


def stale_minutes(state: TileState | None, now_s: float) -> str | None:
    """How stale the shown data is, in whole minutes (``"<1"`` under a
    minute), or ``None`` while the last query succeeded."""
    if state is None or state.failures == 0 or state.ok_at is None:
        return None
    age = max(0.0, now_s - state.ok_at)
    return "<1" if age < 60 else str(int(age // 60))


def run_tile(
    key: str,
    fetch: Callable[[], Any],
    draw: Callable[[Any], None],
    now_s: float | None = None,
) -> TileState:
    """Fetch (unless backing off), remember good data, draw the last good data,
    and say how stale it is. Never raises and never shows error text."""
    cfg = site_config().screen
    now_s = clock() if now_s is None else now_s
    states: dict[str, TileState] = st.session_state.setdefault(TILE_STATE, {})
    state = states.get(key)
    if due(state, now_s):
        try:
            state = succeeded(fetch(), now_s)
        except Exception as exc:  # the database is down or slow, or a bad row
            _log.warning("screen tile %s failed: %s: %s", key, type(exc).__name__, exc)
            state = failed(state, now_s, cfg.refresh_s, cfg.max_backoff_s)
        states[key] = state
    assert state is not None
    if state.data is None:
        st.html(f'<div class="scr-wait">{_e(t("screen.waiting"))}</div>')
    else:
        try:
            draw(state.data)
        except Exception:
            _log.exception("screen tile %s could not draw", key)
            st.html(f'<div class="scr-wait">{_e(t("screen.waiting"))}</div>')
    minutes = stale_minutes(state, now_s)
    if minutes is not None:
        st.html(
            f'<div class="scr-stale" data-tile-stale="{_e(key)}">'
            f"{_e(t('screen.stale', minutes=minutes))}</div>"
        )
    return state


def live(fn: Callable[..., None], seconds: float) -> Callable[..., None]:
    """``fn`` as a fragment that reruns by itself every ``seconds``."""
    return st.fragment(fn, run_every=seconds)


def stage_every(cfg: ScreenConfig) -> float:
    """The centre's rerun interval: often enough to rotate on time."""
    return float(min(cfg.refresh_s, STAGE_TICK_S))
