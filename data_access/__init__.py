"""The operational store (floor 1): the site's read-only database and its contract.

The connection and its read-only guards (:mod:`data_access.connection`),
the contract's tables (:mod:`data_access.schema`, timestamp storage forms
in :mod:`data_access.timestamps`), the site configuration
(:mod:`data_access.config`), filters and areas (:mod:`data_access.filters`,
:mod:`data_access.area`: the SQL building blocks every metric shares),
dialect helpers (:mod:`data_access.sqlfn`), coordinates
(:mod:`data_access.coords`), privacy masking (:mod:`data_access.privacy`)
and access scopes (:mod:`data_access.access`). It imports nothing else of
the project and no Streamlit: every floor above builds on it.
"""
