"""Figures written the way official Chinese reports write them, and their English equivalents.

The style guide is the 2019 rule-of-law report (section 七 and the rest): 500余份, 近200项,
20多项, 近500个, 10000余册, 近10000人次, 数百人, 100多次, 10多场, 100多家, 10多万元,
300余份, 600余人次, 展板2块, 干部职工20人, 80余家, 30多次, 近20个, 5249.57万元.

Rules, in the order they are applied to an exact integer n (money is still counted in 元):

| case                        | stated figure       | zh             | en               |
|-----------------------------|---------------------|----------------|------------------|
| exact=True, or n < 0        | n                   | -5份           | -5 copies        |
| 0 <= n < 10                 | n                   | 2块            | 2 boards         |
| n == its round figure R     | n                   | 20人, 300份    | 20 people        |
| 0.95 * R' <= n < R'         | R' (next one up)    | 近10000人次    | nearly 10,000 .. |
| otherwise                   | R (round one below) | 300余份, 10多场 | over 300 copies  |

The round figure R of n is n cut to its first significant digit (312 -> 300, 10240 -> 10000,
103000 -> 100000); R' is the next one up (312 -> 400, 9870 -> 10000). Chinese 余/多 mean
"R and then some, short of R'", so one significant digit is the idiom (一百多 covers 100-199).

余 or 多: the report picks by figure, not classifier (80余家 but 100多家). Every 多 in it follows
10, 20, 30 or 100 (10多场, 20多项, 30多次, 100多次/家/块, 10多万元); every 余 follows another
figure (80余家, 300余份, 500余份, 600余人次, 10000余册). Hence `DUO_FIGURES`: 多 after those
figures as displayed (10多万元 is 10 of 万), 余 after every other one.

近 always writes digits (近100项 where the report once wrote 近百项) to match 近10000人次.

Non-money figures keep plain digits with no separators, however large (10000余册, 12000 ->
10000余份, 123456 -> 100000余人次). Money of 1万元 or more is written in 万元: a round figure as
an integer (1万元, 10多万元, 200余万元, 近1万元 for 9870元: the unit follows the stated figure),
an exact one with as many decimals as it needs (103000 -> 10.3万元, 52495700 -> 5249.57万元),
so exact money always round-trips. Below 10 万 the modifier follows 万 (1万余元; "1余万" is not
Chinese); from 10 万 it precedes it (10多万元, 200余万元). There is no 亿: the report has none.

`vague=True` swaps the figure for a word from `VAGUE_BANDS` (数百人 for the report's trainees);
outside the bands (n < 20, 100000-199999, n >= 10**9) it falls back to the rules above.

English writes the same stated figure in full with thousands separators ("over 100,000 yuan"
for 10多万元); 余 and 多 both become "over", 近 "nearly".
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

# Displayed figures followed by 多 rather than 余 (see the module docstring).
DUO_FIGURES: frozenset[int] = frozenset({10, 20, 30, 100})

# 近 is used when n is at least this fraction of the next round figure.
NEARLY_NUMERATOR, NEARLY_DENOMINATOR = 19, 20

SMALL_EXACT_BELOW = 10
WAN = 10_000


@dataclass(frozen=True, slots=True)
class VagueBand:
    low: int
    high: int  # exclusive
    zh: str
    en: str  # followed by the unit; a trailing " of" is dropped when there is none


# 上X: from X up to twice X; 数X: from twice X up to ten times X ("several").
VAGUE_BANDS: tuple[VagueBand, ...] = (
    VagueBand(20, 100, "数十", "several dozen"),
    VagueBand(100, 200, "上百", "over a hundred"),
    VagueBand(200, 1_000, "数百", "several hundred"),
    VagueBand(1_000, 2_000, "上千", "over a thousand"),
    VagueBand(2_000, 10_000, "数千", "several thousand"),
    VagueBand(10_000, 20_000, "上万", "over ten thousand"),
    VagueBand(20_000, 100_000, "数万", "tens of thousands of"),
    VagueBand(200_000, 1_000_000, "数十万", "hundreds of thousands of"),
    VagueBand(1_000_000, 2_000_000, "上百万", "over a million"),
    VagueBand(2_000_000, 10_000_000, "数百万", "several million"),
    VagueBand(10_000_000, 20_000_000, "上千万", "over ten million"),
    VagueBand(20_000_000, 100_000_000, "数千万", "tens of millions of"),
    VagueBand(100_000_000, 200_000_000, "上亿", "over a hundred million"),
    VagueBand(200_000_000, 1_000_000_000, "数亿", "hundreds of millions of"),
)

# English units arrive plural (metrics.Metric.unit_en); a count of 1 (or -1) needs the singular.
# Unknown units pass through unchanged rather than being guessed at.
SINGULAR_EN: dict[str, str] = {
    "copies": "copy",
    "visits": "visit",
    "people": "person",
    "sessions": "session",
    "times": "time",
    "boards": "board",
    "organisations": "organisation",
    "yuan": "yuan",
}


class Qualifier(Enum):
    EXACT = "exact"
    OVER = "over"  # 余 / 多
    NEARLY = "nearly"  # 近


@dataclass(frozen=True, slots=True)
class Figure:
    """What a report states about an exact count: a figure and how it relates to the count."""

    stated: int
    qualifier: Qualifier


def _check(value: int) -> None:
    # bool is an int to Python but never a count; catching it here beats printing "True份".
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"figures are integers, got {type(value).__name__}")


def round_figure(value: int) -> Figure:
    """The figure the official style states for `value` (never more than it, unless 近)."""
    _check(value)
    if value < SMALL_EXACT_BELOW:
        return Figure(value, Qualifier.EXACT)
    step = 10 ** (len(str(value)) - 1)
    below = value // step * step
    if value == below:
        return Figure(value, Qualifier.EXACT)
    above = below + step
    if value * NEARLY_DENOMINATOR >= above * NEARLY_NUMERATOR:
        return Figure(above, Qualifier.NEARLY)
    return Figure(below, Qualifier.OVER)


def _vague_band(value: int) -> VagueBand | None:
    return next((b for b in VAGUE_BANDS if b.low <= value < b.high), None)


def _wan_exact(value: int) -> str:
    whole, rest = divmod(abs(value), WAN)
    digits = str(whole) if rest == 0 else f"{whole}.{rest:04d}".rstrip("0")
    return f"-{digits}" if value < 0 else digits


def _zh_figure(figure: Figure, unit: str, money: bool) -> str:
    stated = figure.stated
    if figure.qualifier is Qualifier.EXACT:
        if money and abs(stated) >= WAN:
            return f"{_wan_exact(stated)}万{unit}"
        return f"{stated}{unit}"
    if figure.qualifier is Qualifier.NEARLY:
        if money and stated >= WAN:
            return f"近{stated // WAN}万{unit}"
        return f"近{stated}{unit}"
    if money and stated >= WAN:
        wan = stated // WAN
        modifier = "多" if wan in DUO_FIGURES else "余"
        if wan < 10:
            return f"{wan}万{modifier}{unit}"
        return f"{wan}{modifier}万{unit}"
    modifier = "多" if stated in DUO_FIGURES else "余"
    return f"{stated}{modifier}{unit}"


def _check_flags(exact: bool, vague: bool) -> None:
    if exact and vague:
        raise ValueError("a figure cannot be both exact and vague")


def official_zh(
    value: int, unit: str, *, exact: bool = False, money: bool = False, vague: bool = False
) -> str:
    """`value` in the report's style: 300余份, 近10000人次, 10多万元; exact=True gives 312份."""
    _check(value)
    _check_flags(exact, vague)
    if exact or value < 0:
        return _zh_figure(Figure(value, Qualifier.EXACT), unit, money)
    if vague and (band := _vague_band(value)) is not None:
        return f"{band.zh}{unit}"
    return _zh_figure(round_figure(value), unit, money)


def exact_zh(value: int, unit: str, *, money: bool = False) -> str:
    """The exact figure as tables print it: 312份, 10240册, 10.3万元."""
    return official_zh(value, unit, exact=True, money=money)


def _en_unit(stated: int, unit: str) -> str:
    return SINGULAR_EN.get(unit, unit) if abs(stated) == 1 else unit


def _join(words: str, unit: str) -> str:
    return f"{words} {unit}" if unit else words


def official_en(
    value: int, unit: str, *, exact: bool = False, money: bool = False, vague: bool = False
) -> str:
    """The English of `official_zh`: "over 300 copies", "nearly 10,000 visits", "2 boards".

    `money` is accepted for symmetry with `official_zh`; English writes yuan in full either way.
    """
    _check(value)
    _check_flags(exact, vague)
    if vague and value >= 0 and (band := _vague_band(value)) is not None:
        return _join(band.en if unit else band.en.removesuffix(" of"), unit)
    figure = Figure(value, Qualifier.EXACT) if exact or value < 0 else round_figure(value)
    number = f"{figure.stated:,}"
    if figure.qualifier is Qualifier.OVER:
        number = f"over {number}"
    elif figure.qualifier is Qualifier.NEARLY:
        number = f"nearly {number}"
    return _join(number, _en_unit(figure.stated, unit))
