"""Deprecated alias, kept for one release: ``python -m data_access.rollups``
runs ``python -m jobs.refresh_rollups`` (the job moved to ``jobs``, the
tables to ``rollups``). Importing this module does nothing; import from
``rollups`` or ``jobs.refresh_rollups`` instead."""

if __name__ == "__main__":
    import runpy

    runpy.run_module("jobs.refresh_rollups", run_name="__main__", alter_sys=True)
