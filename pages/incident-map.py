"""事件热力 Incident heat map: cases per cell, the cases of a picked cell, repeat hot spots."""

from __future__ import annotations

from dataclasses import replace

import streamlit as st

from data_access.schema import INCIDENT_STATUSES, MILESTONES
from metrics import heatmap
from ui import map_legend, maps
from ui import tables as ui_tables
from ui.auth import allowed
from ui.data import load, page_guard
from ui.i18n import t
from ui.map_view import PAGE_PANEL
from ui.phone import map_panel
from ui.reveal import reveal_form
from ui.shell import context, footer, page_header

ctx = context()
cfg = ctx.cfg
page_header(t("incident_map.heading", area=ctx.area_name()), ctx, feeds=("incident",))


def category_name(code: str) -> str:
    return cfg.display_name("category", code, ctx.lang)


def source_name(code: str) -> str:
    return cfg.display_name("source", code, ctx.lang)


def status_name(code: str) -> str:
    return t(f"incident_map.status_name.{code}") if code in INCIDENT_STATUSES else str(code)


with page_guard():
    c1, c2, c3 = st.columns(3)
    f = replace(
        ctx.area,
        categories=tuple(
            c1.multiselect(
                t("incident_map.category"),
                [c for c, _, _ in cfg.categories],
                format_func=category_name,
                placeholder=t("incident_map.all"),
                key="im_categories",
            )
        ),
        sources=tuple(
            c2.multiselect(
                t("incident_map.source"),
                [c for c, _, _ in cfg.sources],
                format_func=source_name,
                placeholder=t("incident_map.all"),
                key="im_sources",
            )
        ),
        statuses=tuple(
            c3.multiselect(
                t("incident_map.status"),
                list(INCIDENT_STATUSES),
                format_func=status_name,
                placeholder=t("incident_map.all"),
                key="im_statuses",
            )
        ),
    )
    cells = load(heatmap.incident_cells, f, ctx.now, cfg)
    unmapped = int(load(heatmap.incident_unmapped, f, ctx.now, cfg)["rows"].iloc[0])
    m1, m2 = st.columns(2)
    m1.metric(t("incident_map.cases"), f"{int(cells['cases'].sum()) + unmapped:,}")
    m2.metric(t("incident_map.cells"), f"{len(cells):,}")

    base_m = cfg.map.incident_cell_m
    cell_m = float(cells["cell_m"].iloc[0]) if len(cells) else base_m
    # Every street of the area is drawn, with cases or without.
    codes = maps.area_codes(ctx.streets, ctx.area)
    names = {c: ctx.street_name(c) for c in codes | set(cells["street_code"])}
    cells["street"] = cells["street_code"].map(names)
    density = cells["cases"] * (base_m / cell_m) ** 2  # cases per base cell
    top = cfg.map.incident_max_cases_per_cell
    rows = maps.cell_rows(cfg, cells, density, top, ["gx", "gy", "cases", "open", "street"])
    panel = map_panel(PAGE_PANEL)  # a phone's screen, else the page's width
    base = maps.area_basemap(cfg, codes, names, panel=panel)
    layers = base.stack(maps.cell_layer(rows, "incident-cells", cell_m / 2))
    tip = "{street} " + t("incident_map.tooltip_cell", cases="{cases}", open="{open}")
    deck = maps.offline_deck(layers, base.view, {"text": tip}, cfg=cfg)
    event = st.pydeck_chart(
        deck,
        height=panel.height,
        on_select="rerun",
        selection_mode="single-object",
        key="im_map",
    )
    legend = t("maps.legend_cases", cell=f"{base_m:g}")
    st.markdown(map_legend.legend_html(top, legend, base=base), unsafe_allow_html=True)
    if cell_m > base_m:
        st.caption(t("maps.aggregated", cell=f"{cell_m:g}", base=f"{base_m:g}"))
    if unmapped:
        st.caption(":material/location_off: " + t("maps.unmapped", rows=f"{unmapped:,}"))
    map_legend.map_notes(cfg, base)

    # The map's selection, else a cell chosen elsewhere ("im_cell": (gx, gy)).
    picked = maps.picked_object(event, "incident-cells") or st.session_state.get("im_cell")
    if not picked:
        st.info(t("incident_map.pick"), icon=":material/touch_app:")
    else:
        gx, gy = (picked["gx"], picked["gy"]) if isinstance(picked, dict) else picked
        args = (int(gx), int(gy), cell_m)
        cases = load(heatmap.cell_cases, f, ctx.now, cfg, *args)
        st.subheader(t("incident_map.cases_title", n=len(cases)))
        if len(cases) >= cfg.row_cap:
            st.caption(t("incident_map.capped", cap=cfg.row_cap))
        cases = cases.assign(
            street_code=cases["street_code"].map(lambda c: names.get(c) or ctx.street_name(c)),
            category=cases["category"].map(category_name),
            source=cases["source"].map(source_name),
            status=cases["status"].map(status_name),
        )
        minutes = {
            f"{m}_min": ui_tables.minutes(t("incident_map.col_min", milestone=t(f"milestone.{m}")))
            for m in MILESTONES
        }
        case_config = {
            "id": ui_tables.text(t("reveal.case")) if allowed("unmask") else None,
            "reported_at": ui_tables.when(t("incident_map.col_time")),
            "category": ui_tables.text(t("incident_map.col_category")),
            "source": ui_tables.text(t("incident_map.col_source")),
            "status": ui_tables.text(t("incident_map.col_status")),
            "street_code": ui_tables.text(t("col.street")),
            **minutes,
            "address": ui_tables.text(t("incident_map.col_address")),
            "reporter_name": ui_tables.text(t("incident_map.col_name")),
            "reporter_phone": ui_tables.text(t("incident_map.col_phone")),
        }
        ui_tables.show(cases, case_config, [c for c, v in case_config.items() if v is not None])
        reveal_form(cases["id"], f, key="im_reveal")

    hs = cfg.hotspots
    st.subheader(
        t("incident_map.hotspots_title", days=hs.within_days, n=hs.min_cases, grid=f"{hs.grid_m:g}")
    )
    spots = load(heatmap.repeat_hotspots, f, ctx.now, cfg)
    if spots.empty:
        st.caption(t("incident_map.no_hotspots"))
    else:
        spots = spots.assign(
            category=spots["category"].map(category_name),
            street_code=spots["street_code"].map(lambda c: names.get(c) or ctx.street_name(c)),
        )
        ui_tables.show(
            spots[["category", "street_code", "address", "cases", "first_at", "last_at"]],
            {
                "category": ui_tables.text(t("incident_map.col_category")),
                "street_code": ui_tables.text(t("col.street")),
                "address": ui_tables.text(t("incident_map.col_address")),
                "cases": ui_tables.count(t("col.cases")),
                "first_at": ui_tables.when(t("incident_map.col_first")),
                "last_at": ui_tables.when(t("incident_map.col_last")),
            },
        )

footer(ctx)
