"""The rollup store (floor 2): the settled, deduplicated cases, materialised.

This package holds the rollup tables (:mod:`rollups.tables`), whether and as
of what they may be read (:mod:`rollups.snapshot`), and the helpers that read
them (:mod:`rollups.read`, :mod:`rollups.cases`). It knows no metric: each
metric in ``metrics/`` builds its own SELECT over these tables, and the job
that fills them (:mod:`jobs.refresh_rollups`) asks each metric for the
SELECT it materialises. It imports ``data_access`` only.

Every case query reads "clean" incidents (:func:`rollups.cases.clean_incidents`):
one row per id, the earliest copy kept. Deduplicating a year of the city's
cases (2.5 M rows) costs PostgreSQL 4-6 s per query before any figure is
computed, on every page. The rollup does that work once:

``rollup_case``
    Every incident row, with all its columns, that at refresh time was
    *settled* (status ``closed`` or ``cancelled``), reported before the
    *sealed* instant (midnight starting the refresh day, local time), of a
    known street, and the only row with its id.
``rollup_dup_id``
    Ids that occurred more than once at refresh time (their rows are never
    rolled up).
``rollup_open_id``
    Ids that had a row not settled at refresh time: a case settled then and
    reopened since is found without probing every open case, and a case
    open then and settled since (in no rolled-up table, and no longer
    unsettled) is read live by its id.
``rollup_case_day``
    ``rollup_case`` summed per street and local day: case, status and
    camera counts, and each milestone's on-time / late / excluded
    judgements under the site's targets at refresh time (settled cases are
    never pending, so ``now`` does not change them). Queries without a
    category, source or status filter read a year of the city from its
    ~70,000 rows instead of 2.5 M cases; the targets' fingerprint is
    recorded, and a site whose targets changed since reads the cases.
``rollup_stage_week``
    Per street, ISO week and stage, the sorted stage minutes (float64,
    little-endian) of the rolled-up cases whose time counts (live, the
    milestone recorded and in order), for every week that ended before the
    seal. Exact medians and P90s cannot be summed from parts; these let a
    query take them over a year of the city from 40,000 stored arrays
    (~80 MB) instead of sorting 10 M durations in the database (3.8 s).
    Each array has, per value, its case's category and source index
    (``<u2``) into ``rollup_code``: a breakdown by category or source splits
    the same arrays.
``rollup_kind_week``
    ``rollup_case`` counted per category (and per source), street and ISO
    week, for the weeks ``rollup_stage_week`` holds: the counts of
    ``rollup_case_day`` (without ``unmapped``). The throughput page's
    category and source tabs read a year of the city from its ~300,000
    rows instead of 2.5 M cases (8.5 s).
``rollup_code``
    The category and source codes the stage arrays' indices stand for.
``rollup_cell_week``
    The incident map's cells of the rolled-up cases per street and ended
    week, at the cell sizes the whole city and each district are drawn at:
    cases, and the sums of their coordinates (a year of the city was a
    2 s pass over 2.5 M cases).
``rollup_crowd_quality_day``
    The data-quality page's crowd checks over every reading before the
    seal, per recorded street code and day: readings, missing coordinates,
    negative counts (a year of the city's 10 M readings was 1.7 s a query).
``rollup_incident_quality_day``
    The data-quality page's incident checks per street and day: missing
    coordinates, outside the map's bounds and milestones out of order of
    the rolled-up cases (under the fingerprinted bounds), and the rows
    before the seal whose street code is no known street (any status, per
    recorded code; ``""`` = NULL). A page takes the rolled-up counts, less
    those of ids changed since, plus the live part's rows (a year of the
    city was a 1.6-1.8 s pass over its 2.5 M rows).
``rollup_meta``
    One row: ``sealed_until``, ``refreshed_at``, rows, seconds, the
    longest reported-to-closed time of a rolled-up case, and the
    fingerprint of the targets ``rollup_case_day`` was judged under.
``rollup_review``
    The weekly reviews (:func:`metrics.weekly.review_tables`) of the
    last ended weeks for every district and the whole city, one Parquet
    payload per table, keyed by a fingerprint of the code version, the site
    configuration and the warning rules (:func:`stored_review`).

Queries then read clean incidents as the rollup's rows (none is a
duplicate, so they need no deduplication) plus a *live* part from the
source table, deduplicated as before: every row reported since the seal,
every row not settled (open cases change), every copy of a rolled-up
duplicate, every copy of an id that has a live row (a new copy of a
rolled-up case, or a reopened one: its rolled-up copy is then left out),
and every copy of an id that was open at refresh time and is settled now.
The two parts are disjoint and give the raw query's figures exactly, as
of the refresh: ``tests/test_rollups.py`` compares every case query both
ways on all three backends, with rows added after the refresh.

What the rollup cannot see (documented in docs/benchmarks.md): a settled
row reported before the seal that is changed, deleted or inserted after
the refresh, and any change after the refresh to the rows a stored weekly
review read. They show at the next refresh, so run the job at least daily
(after midnight) and after back-filling old cases:

    python -m jobs.refresh_rollups refresh [--url URL] [--now ISO] [--reviews N]

The job writes, so it needs a database user that may create and fill these
tables; the dashboards keep their read-only connection. A refresh
replaces the contents in one transaction (readers keep the old contents
until it commits, on PostgreSQL and MariaDB). ``python -m
jobs.refresh_rollups drop`` removes them; without them every query reads
the source table (the fallback), and so it does while
``database.use_rollups`` is false or when the page's "now" is before the seal.
"""

from rollups.cases import clean_incidents, disjoint_spans, live_parts
from rollups.read import (
    REVIEW_VERSION,
    from_parquet,
    is_live,
    net_sums,
    review_fingerprint,
    stage_arrays,
    stored_review,
    stream_payloads,
    to_parquet,
)
from rollups.snapshot import (
    MAX_LISTED_IDS,
    SETTLED,
    STATE_TTL_S,
    RollupState,
    disable,
    forget,
    state,
    targets_fingerprint,
)
from rollups.tables import (
    DAY_COUNTS,
    rollup_case,
    rollup_case_day,
    rollup_cell_week,
    rollup_code,
    rollup_crowd_quality_day,
    rollup_dup_id,
    rollup_incident_quality_day,
    rollup_kind_week,
    rollup_meta,
    rollup_metadata,
    rollup_open_id,
    rollup_review,
    rollup_stage_week,
)

__all__ = [
    "DAY_COUNTS",
    "MAX_LISTED_IDS",
    "REVIEW_VERSION",
    "SETTLED",
    "STATE_TTL_S",
    "RollupState",
    "clean_incidents",
    "disable",
    "disjoint_spans",
    "forget",
    "from_parquet",
    "is_live",
    "live_parts",
    "net_sums",
    "review_fingerprint",
    "rollup_case",
    "rollup_case_day",
    "rollup_cell_week",
    "rollup_code",
    "rollup_crowd_quality_day",
    "rollup_dup_id",
    "rollup_incident_quality_day",
    "rollup_kind_week",
    "rollup_meta",
    "rollup_metadata",
    "rollup_open_id",
    "rollup_review",
    "rollup_stage_week",
    "stage_arrays",
    "state",
    "stored_review",
    "stream_payloads",
    "targets_fingerprint",
    "to_parquet",
]
