"""SQLAlchemy Core definitions of the operational data contract.

This mirrors ``shared/data-contract.md`` exactly: table and column names are
the contract. A site implements these as views over its own system; the demo
generator and the test fixtures create them as tables. The dashboards only
ever read them.

Conventions (from the contract): codes are text; timestamps are naive local
time in the site's time zone; coordinates are decimal degrees in the site's
configured coordinate system; ``NULL`` means "has not happened yet".

``incident`` deliberately has no primary key: real exports contain duplicate
ids, and the data-quality queries count them instead of failing on load.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Double,
    Float,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
)

from data_access.timestamps import Timestamp

metadata = MetaData()

CODE = String(32)
NAME = String(128)

district = Table(
    "district",
    metadata,
    Column("code", String(6), primary_key=True),
    Column("name_zh", NAME, nullable=False),
    Column("name_en", NAME),
)

street = Table(
    "street",
    metadata,
    Column("code", String(9), primary_key=True),
    Column("district_code", String(6), nullable=False),
    Column("name_zh", NAME, nullable=False),
    Column("name_en", NAME),
    Column("population", Integer),
    Column("area_km2", Float),
    Column("lat", Double),
    Column("lon", Double),
)

grid = Table(
    "grid",
    metadata,
    Column("code", CODE, primary_key=True),
    Column("street_code", CODE, nullable=False),
    Column("name_zh", NAME),
    Column("kind", String(16)),
    Index("ix_grid_street", "street_code"),
)

GRID_KINDS = ("community", "building", "market", "village", "dedicated")

venue = Table(
    "venue",
    metadata,
    Column("id", CODE, primary_key=True),
    Column("street_code", CODE),
    Column("name_zh", NAME),
    Column("name_en", NAME),
    Column("lat", Double),
    Column("lon", Double),
    Column("radius_m", Float),
    Column("capacity", Integer),
)

incident = Table(
    "incident",
    metadata,
    Column("id", CODE, nullable=False),
    Column("source", CODE),
    Column("category", CODE),
    Column("street_code", CODE),
    Column("grid_code", CODE),
    Column("lat", Double),
    Column("lon", Double),
    Column("reported_at", Timestamp, nullable=False),
    Column("accepted_at", Timestamp),
    Column("dispatched_at", Timestamp),
    Column("arrived_at", Timestamp),
    Column("closed_at", Timestamp),
    Column("status", String(16)),
    Column("outcome", String(16)),
    Column("address", String(200)),
    Column("reporter_name", String(64)),
    Column("reporter_phone", String(32)),
    Index("ix_incident_reported", "reported_at"),
    Index("ix_incident_street_reported", "street_code", "reported_at"),
    Index("ix_incident_id", "id"),
    # Open cases (the backlog, over all history) are found by status and
    # street; with the id, their ids are read from the index alone.
    Index("ix_incident_status_street", "status", "street_code", "id"),
    # Cases not settled, by time: the rollup's live part ("an unsettled
    # status, reported in the window") reads them without scanning the
    # window; with the id, the rollup's state reads the open ids from the
    # index alone (PostgreSQL preferred this index to the one above, and
    # without the id it fetched 104,000 rows: 0.35 s against 0.09 s); with
    # the street too, the overview's case counts read the open cases from
    # the index alone (a year of the city: 0.8-1.0 s against 0.26 s).
    Index("ix_incident_status_reported", "status", "reported_at", "id", "street_code"),
)

INCIDENT_STATUSES = ("open", "dispatched", "on_site", "closed", "cancelled")
#: The statuses of a case still being handled (the backlog).
OPEN_STATUSES = ("open", "dispatched", "on_site")
INCIDENT_OUTCOMES = ("resolved", "mediated", "unresolved", "referred")
INCIDENT_SOURCES = ("110", "patrol", "camera_ai", "hotline", "walk_in")
#: The handling milestones, in order, after ``reported_at``.
MILESTONES = ("accepted", "dispatched", "arrived", "closed")

crowd_reading = Table(
    "crowd_reading",
    metadata,
    Column("ts", Timestamp, nullable=False),
    Column("cell_id", CODE, nullable=False),
    Column("lat", Double),
    Column("lon", Double),
    Column("street_code", CODE),
    Column("people", Integer),
    PrimaryKeyConstraint("ts", "cell_id"),
    Index("ix_crowd_street_ts", "street_code", "ts"),
)

petition = Table(
    "petition",
    metadata,
    Column("id", CODE, primary_key=True),
    Column("street_code", CODE),
    Column("grid_code", CODE),
    Column("category", CODE),
    Column("received_at", Timestamp, nullable=False),
    Column("due_at", Timestamp),
    Column("closed_at", Timestamp),
    Column("repeat_count", Integer),
    Column("escalated", Boolean),
    Index("ix_petition_street", "street_code"),
)

housing_record = Table(
    "housing_record",
    metadata,
    Column("id", CODE, primary_key=True),
    Column("street_code", CODE),
    Column("grid_code", CODE),
    Column("lat", Double),
    Column("lon", Double),
    Column("last_verified_at", Timestamp),
    Column("risk_grade", String(8)),
    Index("ix_housing_street", "street_code"),
)

warning = Table(
    "warning",
    metadata,
    Column("id", CODE, primary_key=True),
    Column("domain", CODE),
    Column("street_code", CODE),
    Column("grid_code", CODE),
    Column("colour", String(8)),
    Column("raised_at", Timestamp),
    Column("cleared_at", Timestamp),
    Column("note", String(200)),
    Index("ix_warning_street", "street_code"),
)

WARNING_COLOURS = ("red", "yellow", "green")

#: Every contract table, by name, in dependency order.
CONTRACT_TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        district,
        street,
        grid,
        venue,
        incident,
        crowd_reading,
        petition,
        housing_record,
        warning,
    )
}

#: Every contract timestamp column, as ``(table, column)``, in contract order.
TIMESTAMP_COLUMNS: tuple[tuple[str, str], ...] = tuple(
    (name, c.name)
    for name, t in CONTRACT_TABLES.items()
    for c in t.columns
    if isinstance(c.type, Timestamp)
)
