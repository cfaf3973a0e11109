"""Hypothesis-generated import files through the real CLI and a real worker: every run ends
in a clean import or a clear error, and the database holds exactly what it held before plus
the rows the generator knows to be acceptable. Nothing partial, nothing twice. Long tables
(a row per tally) and wide 统计表 sheets (a row per activity: titles, 填报单位 lines, blank
rows, empty and "-" cells, 合计 rows right, wrong or as formulas, merged cells, footers)."""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
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


# --- wide sheets ------------------------------------------------------------------------------

# (header, what one unit of a cell is in the stored unit)
WIDE_METRICS = [
    ("发放宣传资料（份）", 1),
    ("展板", 1),
    ("咨询人次", 1),
    ("参加人次", 1),
    ("经费（万元）", 10_000),
]
NO_VALUE = ["", "-", "—", "/"]


@dataclass(frozen=True)
class Activity:
    cells: tuple[object, ...]  # one per metric column
    when: str
    venue: str
    good: tuple[int, ...]  # the stored figure of each good cell (0: none)
    bad: bool


@st.composite
def activity(draw: st.DrawFn, scales: tuple[int, ...]) -> Activity:
    cells: list[object] = []
    good: list[int] = []
    bad = False
    for scale in scales:
        kind = draw(st.sampled_from(["none", "zero", "int", "text", "int", "int", "bad"]))
        if kind == "none":
            cells.append(draw(st.sampled_from(NO_VALUE)))
            good.append(0)
        elif kind == "zero":
            cells.append(draw(st.sampled_from([0, "0"])))
            good.append(0)
        elif kind == "bad":
            cells.append(draw(st.sampled_from(["很多", -3, "-3", "1.2.3", "五百"])))
            good.append(0)
            bad = True
        elif scale == 1:
            number = draw(st.integers(1, 10**6))
            cells.append(number if kind == "int" else f"{number:,}")
            good.append(number)
        else:  # 万元 to the yuan
            yuan = draw(st.integers(1, 10**7))
            cells.append(str(Decimal(yuan) / scale) if kind == "text" else yuan / scale)
            good.append(yuan)
    when = draw(
        st.sampled_from(["2019-04-20", "2019/4/22", "2019年4月26日", "", "2019-05-30", "next week"])
    )
    late = when in ("2019-05-30", "next week")
    # A row with nothing counted is no activity: its date is not checked.
    bad = bad or (late and any(good))
    return Activity(tuple(cells), when, f"广场{_key()}", tuple(good), bad)


@dataclass(frozen=True)
class WideSheet:
    rows: list[list[object]]
    merged: list[str]
    activities: list[Activity]
    total: str  # "none", "right", "wrong", "formula"


@st.composite
def wide_sheet(draw: st.DrawFn, *, workbook: bool) -> WideSheet:
    chosen = draw(st.lists(st.sampled_from(WIDE_METRICS), min_size=1, max_size=5, unique=True))
    scales = tuple(scale for _, scale in chosen)
    header: list[object] = ["序号", "活动日期", "活动地点", *(name for name, _ in chosen), "备注"]
    rows: list[list[object]] = []
    merged: list[str] = []
    last = chr(ord("A") + len(header) - 1)
    if draw(st.booleans()):
        rows.append(["2019年世界知识产权日宣传活动情况统计表"])
        merged.append(f"A1:{last}1")
    if draw(st.booleans()):
        rows.append(["填报单位：浚县司法局（盖章）", "", "", "填报日期：2019年4月27日"])
    if draw(st.booleans()):
        rows.append([])
    rows.append(header)
    header_row = len(rows)
    activities = draw(st.lists(activity(scales), max_size=10))
    merged_down = False
    for number, one in enumerate(activities, 1):
        if draw(st.booleans()) and draw(st.booleans()):
            rows.append([])  # a blank row between activities
        rows.append([number, one.when, one.venue, *one.cells, draw(st.sampled_from(["", "上午"]))])
        # A 备注 merged over two rows (never two such ranges overlapping).
        merge = workbook and not merged_down and draw(st.booleans()) and draw(st.booleans())
        if merge:
            merged.append(f"{last}{len(rows)}:{last}{len(rows) + 1}")
            if number == len(activities):
                rows.append([])
        merged_down = merge
    total = draw(st.sampled_from(["none", "right", "wrong", *(["formula"] if workbook else [])]))
    if total != "none":
        sums: list[object] = []
        for column, scale in enumerate(scales):
            stored = sum(one.good[column] for one in activities if not one.bad)
            if total == "wrong" and column == 0:
                stored += scale
            figure = Decimal(stored) / scale
            if total == "formula":
                letter = chr(ord("D") + column)
                sums.append(f"=SUM({letter}{header_row + 1}:{letter}{len(rows)})")
            elif scale == 1:
                sums.append(int(figure))
            else:
                sums.append(float(figure) if workbook else str(figure))
        rows.append(["合计", "", "", *sums, ""])
    if draw(st.booleans()):
        rows.append(["填表人：王五", "", "审核人：赵六", "", "联系电话：0392-5512345"])
    return WideSheet(rows, merged, activities, total)


def _write_wide(path: Path, sheet: WideSheet, *, fmt: str) -> None:
    if fmt == "xlsx":
        book = Workbook()
        page = book.active
        assert page is not None
        for line in sheet.rows:
            page.append(line)
        for cells in sheet.merged:
            page.merge_cells(cells)
        book.save(path)
        return
    buffer = io.StringIO()
    csv.writer(buffer).writerows(sheet.rows)
    path.write_bytes(buffer.getvalue().encode("gb18030" if fmt == "gb18030" else "utf-8-sig"))


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    data=st.data(),
    fmt=st.sampled_from(["xlsx", "xlsx", "bom", "gb18030"]),
    skip_invalid=st.booleans(),
    trust_rows=st.booleans(),
)
def test_generated_wide_sheet_imports_exactly_or_fails_cleanly(
    installed: Env,
    tmp_path_factory: pytest.TempPathFactory,
    data: st.DataObject,
    fmt: str,
    skip_invalid: bool,
    trust_rows: bool,
) -> None:
    env = installed
    sheet = data.draw(wide_sheet(workbook=fmt == "xlsx"))
    path = tmp_path_factory.mktemp("wide") / ("统计表.xlsx" if fmt == "xlsx" else "统计表.csv")
    _write_wide(path, sheet, fmt=fmt)
    before = _stored(env)
    args = ["import", CAMPAIGN, str(path), "--wait", "--timeout", "120"]
    if skip_invalid:
        args.append("--skip-invalid")
    if trust_rows:
        args.append("--trust-rows")
    result = env.run(*args)
    assert "Traceback" not in result.stderr + result.stdout
    after = _stored(env)
    good = [n for one in sheet.activities if not one.bad for n in one.good if n]
    bad = any(one.bad for one in sheet.activities)
    # A 合计 is checked only when no row of the sheet failed; a formula has no value here.
    mismatch = sheet.total == "wrong" and not bad and not trust_rows
    if not sheet.activities or (bad and not skip_invalid) or mismatch or (bad and not good):
        assert result.returncode == 1, result.stdout
        lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
        assert lines and all(line.startswith("campaigns: ") for line in lines), result.stderr
        if mismatch and sheet.activities:
            assert "合计" in result.stderr and "--trust-rows" in result.stderr
        assert after == before
        return
    assert result.returncode == 0, result.stderr
    assert (after[0] - before[0], after[1] - before[1]) == (len(good), sum(good))
    if sheet.total == "formula" and good and not bad:
        assert "not checked" in result.stdout
    if good:
        again = env.run(*args)  # the same file again adds nothing
        assert again.returncode == 0, again.stderr
        assert _stored(env) == after


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
