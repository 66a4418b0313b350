"""The importer: from a CSV/Excel export of a case platform to the contract's tables.

``python -m importer load FILE... --mapping M.toml --db URL`` reads the
export (:mod:`importer.read`), turns its columns into contract columns as
the mapping file says (:mod:`importer.mapping`, :mod:`importer.transform`),
checks every row with the data-quality page's rules (:mod:`importer.validate`)
and upserts the good rows into a staging database it owns
(:mod:`importer.load`), which the dashboards then read (``OPS_DB_URL``).

Floor 4: it writes through the contract's schema (``data_access``) and checks
with the metrics' rules, and imports no Streamlit and no other service.
"""
