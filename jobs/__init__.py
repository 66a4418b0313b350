"""Jobs (floor 4) that write derived tables beside the operational data.

:mod:`jobs.refresh_rollups` builds the rollup store (``rollups``) from the
source tables, asking each metric for the SELECT it materialises. A job may
import the metrics and every floor below them, never the UI.
"""
