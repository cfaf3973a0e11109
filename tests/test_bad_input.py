"""Bad input at the CLI: one clear line on stderr, exit 1, and the database unchanged."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import func, select
from sqlmodel import SQLModel

from tests.conftest import Env, make_env
from tests.servers import fresh_database


def _snapshot(env: Env) -> dict[str, int]:
    import campaigns.models  # noqa: F401

    with env.session() as session:
        return {
            name: session.execute(select(func.count()).select_from(table)).scalar_one()
            for name, table in SQLModel.metadata.tables.items()
        }


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def planned(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Env]:
    """One installation shared by every case: each case checks it is left unchanged."""
    data_dir = tmp_path_factory.mktemp("bad-input")
    if request.param == "sqlite":
        env = make_env(f"sqlite:///{data_dir / 'campaigns.db'}", data_dir)
        env.ok("create", "world-ip-day", "--year", "2019")
        yield env
        return
    with fresh_database(request.getfixturevalue("postgres_server_url")) as url:
        env = make_env(url, data_dir)
        env.ok("create", "world-ip-day", "--year", "2019")
        yield env


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["log", "2019-no-such", "materials", "3", "--at", "2019-04-26"], "unknown campaign"),
        (["log", "2019-world-ip-day", "leaflets", "3", "--at", "2019-04-26"], "unknown metric"),
        (["log", "2019-world-ip-day", "materials", "--at", "2019-04-26", "--", "-3"], "positive"),
        (
            ["log", "2019-world-ip-day", "materials", "abc", "--at", "2019-04-26"],
            "not a whole number",
        ),
        (
            ["log", "2019-world-ip-day", "materials", "1.5", "--at", "2019-04-26"],
            "not a whole number",
        ),
        (["log", "2019-world-ip-day", "materials", "3", "--at", "26th April"], "not a date"),
        (
            ["log", "2019-world-ip-day", "materials", "3", "--at", "2019-05-30"],
            "outside the campaign",
        ),
        (["create", "world-ip-day", "--year", "2019"], "already exists"),
        (
            [
                "create",
                "custom-day",
                "--year",
                "2019",
                "--start",
                "2019-02-30",
                "--end",
                "2019-03-01",
            ],
            "not a date",
        ),
        (["create", "custom-day", "--year", "2019"], "give --start and --end"),
        (
            ["create", "world-ip-day", "--year", "2019", "--id", "x", "--target", "leaflets=3"],
            "unknown metric",
        ),
        (
            ["create", "world-ip-day", "--year", "2019", "--id", "y", "--title", "a\r\nBcc: x@y"],
            "control characters",
        ),
        (["show", "2019-no-such"], "unknown campaign"),
        (["summary", "2019-world-ip-day", "--format", "pdf"], "--format"),
        (["correct", "2019-world-ip-day", "materials", "5", "--reason", " "], "must say why"),
        (["recipients", "add", "not-an-address"], "not an email address"),
        (["list", "--status", "finished"], "--status"),
        (["calendar", "2019", "--sci-tech-week", "2019-05-26:2019-05-19"], "ends before"),
    ],
)
def test_bad_input_is_one_line_exit_1_and_nothing_written(
    planned: Env, args: list[str], expected: str
) -> None:
    before = _snapshot(planned)
    result = planned.run(*args)
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert expected in lines[0]
    assert "Traceback" not in result.stderr
    assert _snapshot(planned) == before


def test_usage_errors_are_one_line_too(planned: Env) -> None:
    result = planned.run("log", "2019-world-ip-day")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Missing argument" in result.stderr


def test_log_without_a_broker_says_how_to_start_one(planned: Env) -> None:
    before = _snapshot(planned)
    result = planned.run("log", "2019-world-ip-day", "materials", "3", "--at", "2019-04-26")
    assert result.returncode == 1
    assert "campaigns serve" in result.stderr
    assert _snapshot(planned) == before


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CAMPAIGNS_YEAR_REPORT_ON", "13-40"),
        ("CAMPAIGNS_SWEEP_AFTER_SECONDS", "-1"),
        ("CAMPAIGNS_DIGEST_TIME", "evening"),
    ],
)
def test_a_bad_setting_is_one_line_naming_it(planned: Env, variable: str, value: str) -> None:
    before = _snapshot(planned)
    planned.vars[variable] = value
    result = planned.run("list")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines == [lines[0]] and lines[0].startswith(f"campaigns: bad setting: {variable}:")
    del planned.vars[variable]
    assert _snapshot(planned) == before
