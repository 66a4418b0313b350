"""Map legends: what a map's colours mean, with the scale's numbers, and
the keys of what it draws under the data (water, rivers, street outlines),
as HTML beside the deck; and the captions under a map."""

from __future__ import annotations

import html

import streamlit as st

from data_access.config import SiteConfig
from ui.i18n import t
from ui.maps import THEMES, Basemap, heat_fill

LEGEND_CSS = (
    ".map-legend{display:flex;flex-wrap:wrap;align-items:center;gap:.25em .9em;margin:.3em 0;"
    "font-size:.85rem;line-height:1.5}.map-legend .chips{display:inline-flex}"
    ".map-legend .chip{display:inline-block;min-width:3.4em;padding:0 .35em;text-align:center;"
    "font-variant-numeric:tabular-nums}.map-legend .key{display:inline-flex;align-items:center;"
    "gap:.35em}.map-legend .swatch{display:inline-block;width:1.6em;height:.9em;border-radius:2px}"
)


def _css(rgba: list[int]) -> str:
    return f"rgba({rgba[0]},{rgba[1]},{rgba[2]},{rgba[3] / 255:.2f})"


def scale_chips(top: float, steps: int = 5) -> list[tuple[str, list[int]]]:
    """The legend's chips of the fixed heat scale ``0..top``: label and
    colour; the last reads "≥top" (values above it take its colour)."""
    steps = max(1, min(steps, int(top))) if top >= 1 else 1
    chips = []
    for i in range(steps + 1):
        value = top * i / steps
        label = f"≥{value:,.0f}" if i == steps else f"{value:,.0f}"
        chips.append((label, heat_fill(value, top, 255)))
    return chips


def legend_html(
    top: float, unit: str, steps: int = 5, theme: str = "light", base: Basemap | None = None
) -> str:
    """The legend of a coloured map, in the page's language: the heat scale
    ``0..top`` in ``unit``; with the map's ``base``, the keys of what it
    draws under the data (water, rivers, street outlines)."""
    colours = THEMES[theme]
    chips = scale_chips(top, steps)
    spans = "".join(
        f'<span class="chip" style="background:{_css(rgba)};'
        f'color:{"#fff" if i >= len(chips) - 2 else "#222"}">{html.escape(label)}</span>'
        for i, (label, rgba) in enumerate(chips)
    )
    keys = [f'<span class="chips">{spans}</span><span class="unit">{html.escape(unit)}</span>']
    drawn = base.drawn() if base is not None else set()
    swatches = (
        ("ref-water", "maps.legend_water", f"background:{_css(colours['water'])}"),
        ("ref-rivers", "maps.legend_river", f"height:.3em;background:{_css(colours['river'])}"),
        ("streets", "maps.legend_outline", f"border:1px solid {_css(colours['outline'])}"),
    )
    for layer_id, key, style in swatches:
        if layer_id in drawn:
            keys.append(
                f'<span class="key" data-key="{layer_id}"><i class="swatch" style="{style}"></i>'
                f"{html.escape(t(key))}</span>"
            )
    return (
        f"<style>{LEGEND_CSS}</style>"
        f'<div class="map-legend" data-key="map-legend">{"".join(keys)}</div>'
    )


def map_notes(cfg: SiteConfig, base: Basemap, approx: bool = True) -> None:
    """The captions under a map: outlines approximate (when they are and
    ``approx``), and where the water and rivers drawn come from."""
    if approx and cfg.streets_approximate:
        st.caption(":material/info: " + t("maps.approx"))
    if base.drawn() & {"ref-water", "ref-rivers"}:
        st.caption(":material/water: " + t("maps.reference_source"))
