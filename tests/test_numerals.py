"""Figures in the official style: every figure of the 2019 reference report, the 万 boundaries,
rounding both ways, and properties (never overstated; exact round-trips) over 0..10**9."""

from __future__ import annotations

import re
from decimal import Decimal
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from campaigns.summaries.numerals import (
    DUO_FIGURES,
    VAGUE_BANDS,
    exact_zh,
    official_en,
    official_zh,
)

# (value, unit, money, expected)
REFERENCE_ZH = [
    # Section 七.
    (12, "场", False, "10多场"),
    (108, "次", False, "100多次"),
    (10240, "册", False, "10000余册"),
    (9870, "人次", False, "近10000人次"),
    (103, "家", False, "100多家"),
    (120, "块", False, "100多块"),
    (103000, "元", True, "10多万元"),
    (20, "人", False, "20人"),
    (2, "块", False, "2块"),
    (312, "份", False, "300余份"),
    (615, "人次", False, "600余人次"),
    # Elsewhere in the report.
    (520, "份", False, "500余份"),
    (195, "项", False, "近200项"),
    (23, "项", False, "20多项"),
    (490, "个", False, "近500个"),
    (34, "次", False, "30多次"),
    (83, "家", False, "80余家"),
    (19, "个", False, "近20个"),
    (96, "项", False, "近100项"),  # the report's 近百项, in digits like 近10000人次
]

ROUNDING_ZH = [
    # Small counts and exact round figures stay exact.
    (0, "份", False, "0份"),
    (1, "块", False, "1块"),
    (9, "场", False, "9场"),
    (10, "场", False, "10场"),
    (40, "人", False, "40人"),
    (300, "份", False, "300份"),
    (2000, "册", False, "2000册"),
    # Down to the round figure below, with 余 or 多.
    (11, "场", False, "10多场"),
    (18, "场", False, "10多场"),
    (25, "项", False, "20多项"),
    (45, "人", False, "40余人"),
    (150, "次", False, "100多次"),
    (210, "份", False, "200余份"),
    (1234, "份", False, "1000余份"),
    (1899, "人次", False, "1000余人次"),
    # Up to the next round figure with 近, only from 95% of it.
    (1900, "人次", False, "近2000人次"),
    (99, "人", False, "近100人"),
    (94, "人", False, "90余人"),
    (284, "份", False, "200余份"),
    (285, "份", False, "近300份"),
    (284_000_000, "人次", False, "200000000余人次"),
    (999_999_999, "人次", False, "近1000000000人次"),
    # 万 boundaries, not money: digits throughout.
    (9999, "份", False, "近10000份"),
    (10000, "份", False, "10000份"),
    (10001, "份", False, "10000余份"),
    (12000, "份", False, "10000余份"),
    (99999, "份", False, "近100000份"),
    (100000, "份", False, "100000份"),
    (123456, "人次", False, "100000余人次"),
    # 万 boundaries, money.
    (9499, "元", True, "9000余元"),
    (9999, "元", True, "近1万元"),
    (10000, "元", True, "1万元"),
    (10001, "元", True, "1万余元"),
    (15000, "元", True, "1万余元"),
    (19500, "元", True, "近2万元"),
    (99999, "元", True, "近10万元"),
    (100000, "元", True, "10万元"),
    (120000, "元", True, "10多万元"),
    (350000, "元", True, "30多万元"),
    (2500000, "元", True, "200余万元"),
    (1050000, "元", True, "100多万元"),
    (30000000, "元", True, "3000万元"),
    (35000000, "元", True, "3000余万元"),
    (150, "元", True, "100多元"),
    (3500, "元", True, "3000余元"),
    (0, "元", True, "0元"),
    # Negative totals (after corrections) are never rounded.
    (-5, "份", False, "-5份"),
    (-312, "份", False, "-312份"),
    (-103000, "元", True, "-10.3万元"),
    (-500, "元", True, "-500元"),
    # No unit (a since-deleted custom metric).
    (312, "", False, "300余"),
]

EXACT_ZH = [
    (312, "份", False, "312份"),
    (10240, "册", False, "10240册"),
    (9870, "人次", False, "9870人次"),
    (12, "场", False, "12场"),
    (123456, "人次", False, "123456人次"),
    (9999, "元", True, "9999元"),
    (10000, "元", True, "1万元"),
    (10001, "元", True, "1.0001万元"),
    (99999, "元", True, "9.9999万元"),
    (100000, "元", True, "10万元"),
    (103000, "元", True, "10.3万元"),
    (2500000, "元", True, "250万元"),
    (52495700, "元", True, "5249.57万元"),  # the report's 交易额达到5249.57万元
    (0, "份", False, "0份"),
    (-7, "份", False, "-7份"),
]

VAGUE_ZH = [
    (350, "人", False, "数百人"),  # the report's 培训干部群众数百人
    (150, "人", False, "上百人"),
    (45, "人", False, "数十人"),
    (1500, "份", False, "上千份"),
    (5000, "份", False, "数千份"),
    (12000, "人次", False, "上万人次"),
    (25000, "元", True, "数万元"),
    (3_000_000, "元", True, "数百万元"),
    # Outside the bands the ordinary rules apply.
    (12, "场", False, "10多场"),
    (5, "块", False, "5块"),
    (150000, "人次", False, "100000余人次"),
    (-300, "人", False, "-300人"),
]


@pytest.mark.parametrize(("value", "unit", "money", "expected"), REFERENCE_ZH + ROUNDING_ZH)
def test_official_zh(value: int, unit: str, money: bool, expected: str) -> None:
    assert official_zh(value, unit, money=money) == expected


@pytest.mark.parametrize(("value", "unit", "money", "expected"), EXACT_ZH)
def test_exact_zh(value: int, unit: str, money: bool, expected: str) -> None:
    assert official_zh(value, unit, exact=True, money=money) == expected
    assert exact_zh(value, unit, money=money) == expected


@pytest.mark.parametrize(("value", "unit", "money", "expected"), VAGUE_ZH)
def test_vague_zh(value: int, unit: str, money: bool, expected: str) -> None:
    assert official_zh(value, unit, money=money, vague=True) == expected


EN = [
    (312, "copies", False, False, "over 300 copies"),
    (9870, "visits", False, False, "nearly 10,000 visits"),
    (12, "sessions", False, False, "over 10 sessions"),
    (2, "boards", False, False, "2 boards"),
    (103000, "yuan", True, False, "over 100,000 yuan"),
    (312, "copies", False, True, "312 copies"),
    (10240, "copies", False, False, "over 10,000 copies"),
    (10000, "copies", False, False, "10,000 copies"),
    (9999, "yuan", True, False, "nearly 10,000 yuan"),
    (2500000, "yuan", True, False, "over 2,000,000 yuan"),
    (52495700, "yuan", True, True, "52,495,700 yuan"),
    (1, "boards", False, False, "1 board"),
    (1, "people", False, True, "1 person"),
    (-1, "copies", False, False, "-1 copy"),
    (0, "copies", False, False, "0 copies"),
    (-1234, "copies", False, False, "-1,234 copies"),
    (615, "people", False, False, "over 600 people"),
    (195, "organisations", False, False, "nearly 200 organisations"),
    (3, "widgets", False, False, "3 widgets"),  # custom units pass through
    (1, "series", False, False, "1 series"),  # unknown plural is not guessed at
    (312, "", False, False, "over 300"),
]


@pytest.mark.parametrize(("value", "unit", "money", "exact", "expected"), EN)
def test_official_en(value: int, unit: str, money: bool, exact: bool, expected: str) -> None:
    assert official_en(value, unit, exact=exact, money=money) == expected


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        (350, "people", "several hundred people"),
        (150, "people", "over a hundred people"),
        (25000, "yuan", "tens of thousands of yuan"),
        (25000, "", "tens of thousands"),
        (12, "sessions", "over 10 sessions"),
    ],
)
def test_vague_en(value: int, unit: str, expected: str) -> None:
    assert official_en(value, unit, vague=True) == expected


def test_exact_and_vague_together_is_refused() -> None:
    with pytest.raises(ValueError, match="exact and vague"):
        official_zh(350, "人", exact=True, vague=True)
    with pytest.raises(ValueError, match="exact and vague"):
        official_en(350, "people", exact=True, vague=True)


@pytest.mark.parametrize("bad", [True, 3.0, "3"])
def test_non_integers_are_refused(bad: object) -> None:
    with pytest.raises(TypeError):
        official_zh(bad, "份")  # type: ignore[arg-type]


def test_vague_bands_tile_without_overlap() -> None:
    for earlier, later in pairwise(VAGUE_BANDS):
        assert earlier.high <= later.low
    # 上X runs from X to twice X, 数X from twice X to ten times X.
    for band in VAGUE_BANDS:
        assert band.high == band.low * {"上": 2, "数": 5}[band.zh[0]]


def test_duo_figures_are_the_reports() -> None:
    assert frozenset({10, 20, 30, 100}) == DUO_FIGURES


# --- properties -------------------------------------------------------------

_ZH = re.compile(r"^(近)?(-?\d+(?:\.\d+)?)(余|多)?(万)?(余)?(.*)$")
_EN = re.compile(r"^(over |nearly )?(-?[\d,]+)(?: (.*))?$")


WAN_D = Decimal(10000)


def _parse_zh(text: str, unit: str) -> tuple[str, Decimal]:
    match = _ZH.match(text)
    assert match is not None, text
    nearly, digits, over_before, wan, over_after, rest = match.groups()
    assert rest == unit, text
    assert not (over_before and over_after), text
    stated = Decimal(digits) * (WAN_D if wan else 1)
    qualifier = "nearly" if nearly else "over" if (over_before or over_after) else "exact"
    return qualifier, stated


counts = st.integers(min_value=0, max_value=10**9 - 1)


def _assert_never_overstates(n: int, qualifier: str, stated: Decimal) -> None:
    if qualifier == "exact":
        assert stated == n
    elif qualifier == "over":
        assert stated < n
    else:
        assert n < stated
        assert n * 20 >= stated * 19


@given(n=counts, money=st.booleans())
def test_zh_never_overstates(n: int, money: bool) -> None:
    unit = "元" if money else "人次"
    qualifier, stated = _parse_zh(official_zh(n, unit, money=money), unit)
    _assert_never_overstates(n, qualifier, stated)


@given(n=st.integers(min_value=-(10**9), max_value=10**9), money=st.booleans())
def test_exact_zh_round_trips(n: int, money: bool) -> None:
    unit = "元" if money else "份"
    assert _parse_zh(official_zh(n, unit, exact=True, money=money), unit) == ("exact", Decimal(n))
    assert exact_zh(n, unit, money=money) == official_zh(n, unit, exact=True, money=money)


@given(n=counts, money=st.booleans())
def test_en_states_what_zh_states(n: int, money: bool) -> None:
    match = _EN.match(official_en(n, "visits", money=money))
    assert match is not None
    prefix, digits, _unit = match.groups()
    qualifier = {None: "exact", "over ": "over", "nearly ": "nearly"}[prefix]
    stated = Decimal(digits.replace(",", ""))
    unit = "元" if money else "人次"
    assert (qualifier, stated) == _parse_zh(official_zh(n, unit, money=money), unit)
    _assert_never_overstates(n, qualifier, stated)


@given(n=counts)
def test_vague_words_never_overstate(n: int) -> None:
    text = official_zh(n, "人", vague=True)
    band = next((b for b in VAGUE_BANDS if text == f"{b.zh}人"), None)
    if band is None:
        _assert_never_overstates(n, *_parse_zh(text, "人"))
    else:
        assert band.low <= n < band.high
