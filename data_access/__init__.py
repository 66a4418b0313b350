"""Everything that touches the operational database.

Query modules import no Streamlit: every function takes a SQLAlchemy
``Connection`` and a small frozen filter object and returns a documented
``pandas.DataFrame``. The Streamlit wiring lives in ``ui/``.
"""
