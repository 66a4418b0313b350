"""The rollup tables: their definitions and nothing else.

What each table holds is written in :mod:`rollups` (the package's docstring);
:mod:`jobs.refresh_rollups` fills them, :mod:`rollups.snapshot` says whether
they may be read, :mod:`rollups.read` and :mod:`rollups.cases` read them.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
)

from data_access.schema import CODE, MILESTONES, incident

rollup_metadata = MetaData()

rollup_case = Table(
    "rollup_case",
    rollup_metadata,
    *(Column(c.name, c.type, nullable=c.nullable) for c in incident.columns),
    # Each milestone's minutes from reported_at and in-order flag
    # (area.stage_columns): the throughput figures' per-row arithmetic.
    *(Column(f"ela_{m}", Float) for m in MILESTONES),
    *(Column(f"ord_{m}", Boolean) for m in MILESTONES),
    Index("ix_rollup_case_reported", "reported_at"),
    Index("ix_rollup_case_street_reported", "street_code", "reported_at"),
    Index("ix_rollup_case_id", "id"),
)

#: The count columns of ``rollup_case_day`` (besides ``street_code`` and ``day``).
DAY_COUNTS = (
    "cases",
    "closed",
    "cancelled",
    "camera_ai_cases",
    "camera_ai_cancelled",
    "excluded_cases",
    "unmapped",
    *(f"{m}_{k}" for m in MILESTONES for k in ("on_time", "late", "excluded")),
)

rollup_case_day = Table(
    "rollup_case_day",
    rollup_metadata,
    Column("street_code", incident.c.street_code.type, primary_key=True),
    Column("day", String(10), primary_key=True),  # local date, ISO (sqlfn.day_bucket)
    *(Column(c, Integer, nullable=False) for c in DAY_COUNTS),
    Index("ix_rollup_case_day_day", "day"),
)

#: The groupings of a breakdown the per-week tables also hold.
KINDS = ("category", "source")
#: Most distinct codes of one kind the stage arrays' ``<u2`` indices hold.
MAX_CODES = 65535

rollup_kind_week = Table(
    "rollup_kind_week",
    rollup_metadata,
    Column("kind", String(16), nullable=False),  # one of KINDS
    Column("code", CODE),  # the case's category or source, NULL as in the source
    Column("street_code", incident.c.street_code.type, nullable=False),
    Column("week", String(10), nullable=False),  # the Monday, ISO date
    *(Column(c, Integer, nullable=False) for c in DAY_COUNTS if c != "unmapped"),
    Index("ix_rollup_kind_week", "kind", "week"),
)

rollup_stage_week = Table(
    "rollup_stage_week",
    rollup_metadata,
    Column("street_code", incident.c.street_code.type, primary_key=True),
    Column("week", String(10), primary_key=True),  # the Monday, ISO date
    Column("stage", String(16), primary_key=True),  # a milestone
    Column("n", Integer, nullable=False),
    Column("payload", LargeBinary(length=2**24), nullable=False),  # sorted <f8 values
    # Per value, the case's category and source: <i2 indices into rollup_code.
    *(Column(f"{k}_ix", LargeBinary(length=2**24), nullable=False) for k in KINDS),
)

rollup_code = Table(
    "rollup_code",
    rollup_metadata,
    Column("kind", String(16), primary_key=True),  # one of KINDS
    Column("ix", Integer, primary_key=True),
    Column("code", CODE),  # NULL: no category (source) recorded
)

rollup_cell_week = Table(
    "rollup_cell_week",
    rollup_metadata,
    Column("cell_m", String(32), primary_key=True),  # repr() of the cell size
    Column("week", String(10), primary_key=True),  # the Monday, ISO date
    Column("street_code", incident.c.street_code.type, primary_key=True),
    Column("gx", Integer, primary_key=True),
    Column("gy", Integer, primary_key=True),
    Column("cases", Integer, nullable=False),
    Column("sum_lat", Float(precision=53), nullable=False),
    Column("sum_lon", Float(precision=53), nullable=False),
)

rollup_crowd_quality_day = Table(
    "rollup_crowd_quality_day",
    rollup_metadata,
    Column("street_code", CODE, primary_key=True),  # as recorded; "" = NULL
    Column("day", String(10), primary_key=True),
    Column("readings", Integer, nullable=False),
    Column("missing_coordinates", Integer, nullable=False),
    Column("negative_count", Integer, nullable=False),
)

rollup_incident_quality_day = Table(
    "rollup_incident_quality_day",
    rollup_metadata,
    Column("street_code", CODE, primary_key=True),  # as recorded; "" = NULL
    Column("day", String(10), primary_key=True),
    # Rows before the seal whose street code is no known street (any status).
    Column("unknown_street", Integer, nullable=False),
    # The rolled-up cases' (rollup_case) per-row checks, under the map bounds
    # of the targets' fingerprint.
    Column("missing_coordinates", Integer, nullable=False),
    Column("out_of_area", Integer, nullable=False),
    Column("out_of_order", Integer, nullable=False),
)

rollup_dup_id = Table(
    "rollup_dup_id",
    rollup_metadata,
    Column("id", incident.c.id.type, primary_key=True),
)

rollup_open_id = Table(
    "rollup_open_id",
    rollup_metadata,
    Column("id", incident.c.id.type, primary_key=True),
)

rollup_review = Table(
    "rollup_review",
    rollup_metadata,
    Column("week", String(8), primary_key=True),
    Column("area", String(6), primary_key=True),  # district code, "" = every district
    Column("name", String(16), primary_key=True),  # the review table's name
    Column("fingerprint", String(64), nullable=False),
    Column("payload", LargeBinary(length=2**24), nullable=False),  # Parquet
)

rollup_meta = Table(
    "rollup_meta",
    rollup_metadata,
    Column("name", String(16), primary_key=True),
    Column("sealed_until", DateTime, nullable=False),
    Column("refreshed_at", DateTime, nullable=False),
    Column("rows", Integer, nullable=False),
    Column("seconds", Float, nullable=False),
    # Longest reported-to-closed time of a rolled-up closed case, minutes:
    # a rolled-up case reported longer ago than this before an instant was
    # closed by then (the weekly backlog reads only the rows near each week).
    Column("max_closed_min", Float),
    # targets_fingerprint() of the configuration the sums were computed under.
    Column("day_targets", String(64)),
    # The first Monday after the last week in rollup_stage_week (NULL: none).
    Column("stage_weeks_until", DateTime),
    # The cell sizes rollup_cell_week holds, repr()s joined by spaces.
    Column("cell_levels", String(200)),
)
