"""The metrics (floor 3): every figure a page, the wall, the pack or an alert shows.

One module per subject: case throughput against the 1-3-5 targets
(:mod:`metrics.throughput`), heat maps of crowds and cases
(:mod:`metrics.heatmap`), warning colours (:mod:`metrics.warnings`, rules in
:mod:`metrics.warning_rules`), the weekly review (:mod:`metrics.weekly`, its
parts in the ``metrics.weekly_*`` modules beside it), data quality
(:mod:`metrics.quality`), the overview's and the command screen's headline
figures (:mod:`metrics.overview`, :mod:`metrics.screen`)
and what the alert rules measure (:mod:`metrics.alerting`). Each function
takes a SQLAlchemy ``Connection`` and a frozen filter and returns a
documented ``pandas.DataFrame``; the SQL that computes a figure is in the
function the page calls. Metrics read the operational store
(``data_access``) and the rollup store (``rollups``) only: never Streamlit,
never the app-state database, never a job or the UI.
"""
