"""Hypothesis-generated import files through the real CLI and a real worker: every run ends
in a clean import or a clear error, and the database holds exactly what it held before plus
the rows the generator knows to be acceptable. Nothing partial, nothing twice."""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook
from sqlalchemy import func, select

from campaigns.models import Tally
from tests.conftest import Env, make_env
from tests.servers import fresh_database

CAMPAIGN = "2019-world-ip-day"  # 20–26 April 2019, Asia/Shanghai
HEADERS = {
    "en": ["key", "metric", "quantity", "venue", "occurred_at"],
    "zh": ["编号", "指标", "数量", "地点", "时间"],
}
_keys = itertools.count()


@dataclass(frozen=True)
class Row:
    cells: tuple[object, ...]
    valid: bool


def _key() -> str:
    return f"h{next(_keys)}"


good_metric = st.sampled_from(["materials", "宣传资料", "attendance", "咨询", "boards", "Lectures"])
good_quantity = st.one_of(
    st.integers(1, 10**6),
    st.integers(1000, 10**6).map(lambda n: f"{n:,}"),
    st.integers(1, 10**6).map(str),
)
good_when = st.one_of(
    st.just(""),
    st.sampled_from(
        [
            "2019-04-20",
            "2019-04-26 23:59",
            "2019/4/22",
            "2019年4月23日",
            "2019-04-21T10:30:00+08:00",
        ]
    ),
)
good_venue = st.one_of(
    st.just(""),
    st.sampled_from(["新世纪广场", "=SUM(A1:A3)", "@venue", "市民中心"]),
    st.text(alphabet="科技馆社区abc 123", max_size=30),
)


@st.composite
def good_row(draw: st.DrawFn) -> Row:
    return Row(
        (_key(), draw(good_metric), draw(good_quantity), draw(good_venue), draw(good_when)),
        valid=True,
    )


@st.composite
def bad_row(draw: st.DrawFn) -> Row:
    defect = draw(
        st.sampled_from(
            [
                ("metric", "leaflets"),
                ("quantity", "-3"),
                ("quantity", "0"),
                ("quantity", "abc"),
                ("quantity", "NaN"),
                ("quantity", "inf"),
                ("quantity", "1.5"),
                ("quantity", str(10**13)),
                ("quantity", ""),
                ("quantity", "=1+1"),
                ("when", "yesterday"),
                ("when", "2019-05-30"),
                ("when", "2019-04-19 23:00"),
                ("venue", "a\x07b"),
                ("venue", "长" * 600),
            ]
        )
    )
    cells = {"metric": "materials", "quantity": "5", "venue": "", "when": ""}
    cells[defect[0]] = defect[1]
    return Row(
        (_key(), cells["metric"], cells["quantity"], cells["venue"], cells["when"]), valid=False
    )


def _write(path: Path, rows: list[Row], *, fmt: str, lang: str) -> None:
    table = [HEADERS[lang], *[[("" if c is None else c) for c in r.cells] for r in rows]]
    if fmt == "xlsx":
        book = Workbook()
        sheet = book.active
        assert sheet is not None
        for line in table:
            sheet.append(list(line))
        book.save(path)
        return
    buffer = io.StringIO()
    csv.writer(buffer).writerows(table)
    text = buffer.getvalue()
    encoded = {
        "utf-8": text.encode(),
        "bom": b"\xef\xbb\xbf" + text.encode(),
        "gb18030": text.encode("gb18030"),
    }[fmt]
    path.write_bytes(encoded)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def installed(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Env]:
    data_dir = tmp_path_factory.mktemp("bad-files")
    broker = request.getfixturevalue("redis_server_url").rsplit("/", 1)[0] + "/14"
    if request.param == "sqlite":
        env = make_env(f"sqlite:///{data_dir / 'campaigns.db'}", data_dir)
        yield from _running(env, broker)
        return
    with fresh_database(request.getfixturevalue("postgres_server_url")) as url:
        yield from _running(make_env(url, data_dir), broker)


def _running(env: Env, broker: str) -> Iterator[Env]:
    import redis

    redis.Redis.from_url(broker).flushdb()
    env.vars["CAMPAIGNS_BROKER_URL"] = broker
    env.ok("create", "world-ip-day", "--year", "2019")
    env.ok("create", "national-security-day", "--year", "2019")
    env.ok("cancel", "2019-national-security-day", "--reason", "test")
    env.start("worker", "--concurrency", "1", ready="ready.")
    try:
        yield env
    finally:
        env.stop_all()


def _stored(env: Env) -> tuple[int, int]:
    with env.session() as session:
        rows, total = session.execute(
            select(func.count(), func.coalesce(func.sum(Tally.quantity), 0))
        ).one()
    return int(rows), int(total)


def _quantity(cell: object) -> int:
    return int(str(cell).replace(",", ""))


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    rows=st.lists(st.one_of(good_row(), good_row(), bad_row()), min_size=0, max_size=25),
    fmt=st.sampled_from(["utf-8", "bom", "gb18030", "xlsx"]),
    lang=st.sampled_from(["en", "zh"]),
    skip_invalid=st.booleans(),
    repeat=st.booleans(),
)
def test_generated_file_imports_cleanly_or_fails_cleanly(
    installed: Env,
    tmp_path_factory: pytest.TempPathFactory,
    rows: list[Row],
    fmt: str,
    lang: str,
    skip_invalid: bool,
    repeat: bool,
) -> None:
    env = installed
    # A workbook cannot hold control characters at all (openpyxl refuses to write them).
    assume(fmt != "xlsx" or not any("\x07" in str(cell) for r in rows for cell in r.cells))
    if repeat and rows:
        rows = [*rows, rows[0]]  # the same key twice in one file: the second is refused
        rows[-1] = Row(rows[-1].cells, valid=False)
    path = tmp_path_factory.mktemp("file") / ("tallies.xlsx" if fmt == "xlsx" else "tallies.csv")
    _write(path, rows, fmt=fmt, lang=lang)
    before = _stored(env)
    args = ["import", CAMPAIGN, str(path), "--wait", "--timeout", "120"]
    if skip_invalid:
        args.append("--skip-invalid")
    result = env.run(*args)
    assert "Traceback" not in result.stderr + result.stdout
    good = [r for r in rows if r.valid]
    expected_new = (len(good), sum(_quantity(r.cells[2]) for r in good))
    after = _stored(env)
    if not rows:
        assert result.returncode == 1, "an empty file is an error"
        assert after == before
    elif len(good) == len(rows) or (skip_invalid and good):
        assert result.returncode == 0, result.stderr
        assert (after[0] - before[0], after[1] - before[1]) == expected_new
        again = env.run(*args)  # the same file again adds nothing
        assert again.returncode == 0, again.stderr
        assert _stored(env) == after
    else:
        assert result.returncode == 1, result.stdout
        assert result.stderr.strip(), "a failed import says why"
        assert all(
            line.startswith("campaigns: ")
            for line in result.stderr.strip().splitlines()
            if line.strip()
        ), result.stderr
        assert after == before


@pytest.mark.parametrize(
    ("campaign", "expected"),
    [("2019-no-such", "unknown campaign"), ("2019-national-security-day", "cancelled")],
)
def test_import_into_unknown_or_cancelled_campaign_is_refused(
    installed: Env, tmp_path: Path, campaign: str, expected: str
) -> None:
    path = tmp_path / "ok.csv"
    _write(path, [Row((_key(), "materials", 5, "", ""), valid=True)], fmt="utf-8", lang="en")
    before = _stored(installed)
    result = installed.run("import", campaign, str(path), "--wait")
    assert result.returncode == 1
    assert expected in result.stderr
    assert _stored(installed) == before


@pytest.mark.parametrize(
    "content", [b"", b"\xef\xbb\xbf", b"\x00\xff\xfe garbage \x81", b"metric\n"]
)
def test_empty_or_garbage_files_are_refused(installed: Env, tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    before = _stored(installed)
    result = installed.run("import", CAMPAIGN, str(path), "--wait")
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) >= 1 and "Traceback" not in result.stderr
    assert _stored(installed) == before
