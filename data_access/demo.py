"""Deprecated alias, kept for one release: ``python -m data_access.demo`` runs
``python -m demo`` (the generator moved to the ``demo`` package). Importing
this module does nothing; import from ``demo`` instead."""

if __name__ == "__main__":
    import runpy

    runpy.run_module("demo", run_name="__main__", alter_sys=True)
