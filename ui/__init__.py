"""Streamlit-facing helpers shared by the pages: i18n, palette, filters, data, maps."""
