"""Migrations on a real SQLite file and a real PostgreSQL database: the schema reaches one
head, and the rollup split (0007) carries the old (day, venue) totals over, both ways."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text

from campaigns.db import MIGRATIONS_DIR, make_engine
from tests.conftest import insert_campaign


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def _migrate(url: str, target: str, *, down: bool = False) -> None:
    engine = make_engine(url)
    config = _config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        if down:
            command.downgrade(config, target)
        else:
            command.upgrade(config, target)
    engine.dispose()


def test_one_head() -> None:
    assert ScriptDirectory.from_config(_config()).get_heads() == ["0010"]


OLD_ROLLUPS = [
    # metric, day, venue, is_correction, total, tallies
    ("materials", "2019-04-15", "东城", False, 300, 2),
    ("materials", "2019-04-15", "西城", False, 200, 1),
    ("materials", "2019-04-16", "东城", False, 50, 1),
    ("materials", "2019-04-16", "", True, -20, 1),
    ("attendance", "2019-04-15", "西城", False, 1200, 4),
]


def test_rollup_split_keeps_every_total(database_url: str) -> None:
    # The old layout: every branch up to the revisions the split merges.
    for revision in ("0003", "0004", "0005", "0006"):
        _migrate(database_url, revision)
    engine = make_engine(database_url)
    with engine.begin() as connection:
        insert_campaign(connection, "c")
        for metric, day, venue, is_correction, total, tallies in OLD_ROLLUPS:
            connection.execute(
                text(
                    "INSERT INTO tally_rollup (campaign_id, metric, day, venue, is_correction,"
                    " total, tallies) VALUES ('c', :m, :d, :v, :c, :t, :n)"
                ),
                {"m": metric, "d": day, "v": venue, "c": is_correction, "t": total, "n": tallies},
            )
    engine.dispose()
    _migrate(database_url, "heads")
    engine = make_engine(database_url)
    with engine.connect() as connection:
        days = connection.execute(
            text(
                "SELECT metric, CAST(day AS TEXT), is_correction, total, tallies"
                " FROM tally_day_rollup ORDER BY 1, 2, 3"
            )
        ).all()
        venues = connection.execute(
            text("SELECT metric, venue, total, tallies FROM tally_venue_rollup ORDER BY 1, 2")
        ).all()
    engine.dispose()
    assert [tuple(r) for r in days] == [
        ("attendance", "2019-04-15", False, 1200, 4),
        ("materials", "2019-04-15", False, 500, 3),
        ("materials", "2019-04-16", False, 50, 1),
        ("materials", "2019-04-16", True, -20, 1),
    ]
    assert [tuple(r) for r in venues] == [
        ("attendance", "西城", 1200, 4),
        ("materials", "", -20, 1),
        ("materials", "东城", 350, 3),
        ("materials", "西城", 200, 1),
    ]


def test_rollup_split_down_recounts_the_rows(database_url: str) -> None:
    _migrate(database_url, "heads")
    engine = make_engine(database_url)
    with engine.begin() as connection:
        insert_campaign(connection, "c")
        for n, (venue, quantity) in enumerate([("东城", 5), ("东城", 7), (None, 11)]):
            connection.execute(
                text(
                    "INSERT INTO tally (campaign_id, metric, quantity, venue, occurred_at, day,"
                    " key, is_correction, source, created_at) VALUES ('c', 'boards', :q, :v,"
                    " '2019-04-15 02:00:00', '2019-04-15', :k, :c, 't', '2019-04-15 02:00:00')"
                ),
                {"q": quantity, "v": venue, "k": f"k{n}", "c": False},
            )
    engine.dispose()
    _migrate(database_url, "0006", down=True)
    engine = make_engine(database_url)
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT metric, venue, total, tallies FROM tally_rollup ORDER BY venue")
        ).all()
    engine.dispose()
    assert [tuple(r) for r in rows] == [("boards", "", 11, 1), ("boards", "东城", 12, 2)]


def test_migrated_schema_is_the_models(database_url: str) -> None:
    """What the migrations build is what the models declare (tables, columns, indexes,
    constraints), and the newest migration goes down and up again cleanly."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    import campaigns.models  # noqa: F401  (registers the tables)

    _migrate(database_url, "head")
    _migrate(database_url, "0009", down=True)
    _migrate(database_url, "head")
    engine = make_engine(database_url)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        differences = compare_metadata(context, SQLModel.metadata)
    engine.dispose()
    assert differences == []


def test_units_migration_carries_totals_into_the_unit_rollup(database_url: str) -> None:
    _migrate(database_url, "0009")
    engine = make_engine(database_url)
    with engine.begin() as connection:
        insert_campaign(connection, "c")
        for metric, day, total, tallies in (
            ("materials", "2019-04-15", 300, 2),
            ("materials", "2019-04-16", -20, 1),
            ("attendance", "2019-04-15", 1200, 4),
        ):
            connection.execute(
                text(
                    "INSERT INTO tally_day_rollup (campaign_id, metric, day, is_correction,"
                    " total, tallies) VALUES ('c', :m, :d, false, :t, :n)"
                ),
                {"m": metric, "d": day, "t": total, "n": tallies},
            )
    engine.dispose()
    _migrate(database_url, "head")
    engine = make_engine(database_url)
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT metric, unit, total, tallies FROM tally_unit_rollup ORDER BY metric")
        ).all()
    engine.dispose()
    assert [tuple(r) for r in rows] == [("attendance", "", 1200, 4), ("materials", "", 280, 3)]
