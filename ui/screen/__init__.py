"""The command-room big screen (指挥大屏): a 16:9 wall that runs unattended.

Layout: one screen of fixed rows (:mod:`ui.screen.theme`): the header
(title, clock, "data as of"), the link notices when there are any, the
panels (headline figures on the left, the playlist's current view in the
centre: crowd map, incident map, the stages table, red warnings; the best
and worst streets on the right) taking the height that is left, and the
alert strip at the bottom (:mod:`ui.screen.tiles`, :mod:`ui.screen.stage`,
:mod:`ui.screen.views`). Sizes are in ``vh``/``vw`` so the same page fills
1920x1080 and 3840x2160. Every tile is an ``st.fragment`` that reruns on its
own timer (``screen.refresh_s``) and reads through
:func:`ui.screen.loading.screen_load`, a cache that keeps a result a second
less than that interval, so every refresh shows what has arrived since. A tile
keeps its last good data in ``st.session_state``: when a query fails it shows
that data with how stale it is, retries with exponential backoff
(``refresh_s``, doubled per failure, at most ``screen.max_backoff_s``), and
recovers by itself (:mod:`ui.screen.runner`). No error text reaches the
screen; failures are logged on the server. The pure parts (URL parsing,
rotation, backoff, staleness) take plain values and are tested without
Streamlit (:mod:`ui.screen.params`, :mod:`ui.screen.runner`). What
``pages/command-screen.py`` calls is here: the wall's views and scale from its
URL, the theme, the header, the notices (rows of the layout), and the tiles
with :func:`live` and the stage's interval.
"""

from __future__ import annotations

from ui.screen.params import WALL_SCALE, left_out, views_from_params, wall_scale
from ui.screen.runner import live, stage_every
from ui.screen.stage import stage_tile
from ui.screen.theme import inject_theme, notices
from ui.screen.tiles import alert_tile, header, headline_tile, ranking_tile

__all__ = [
    "WALL_SCALE",
    "alert_tile",
    "header",
    "headline_tile",
    "inject_theme",
    "left_out",
    "live",
    "notices",
    "ranking_tile",
    "stage_every",
    "stage_tile",
    "views_from_params",
    "wall_scale",
]
