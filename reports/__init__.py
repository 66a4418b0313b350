"""The weekly pack (floor 4), for people who take paper away from a meeting:
``python -m reports weekly --week 2026-W47 --out DIR`` writes the PDF and the
Excel workbook of :func:`metrics.weekly.review_tables`. It reads the metrics
and the catalogue (``i18n``), never Streamlit, and no other service."""
