"""Figures written the way official Chinese reports write them, and their English equivalents.

The style guide is the 2019 rule-of-law report (section 七 and the rest): 500余份, 近200项,
20多项, 近500个, 10000余册, 近10000人次, 数百人, 100多次, 10多场, 100多家, 10多万元,
300余份, 600余人次, 展板2块, 干部职工20人, 80余家, 30多次, 近20个, 5249.57万元.

A figure is a count cut to a few significant digits and qualified: exact, 余/多 ("that and
then some") or 近 ("nearly"). Rules, in the order they are applied to an exact integer n
(money is still counted in 元):

1. exact=True or n < 0: n itself. n < 10: n itself (展板2块).
2. Precision. One significant digit when it understates n by at most 10% (312 -> 300,
   83 -> 80, 10240 -> 10000, 103000 -> 100000), or when n is in an idiom band, 10-19 or
   100-199, where the report writes 10多场 and 100多次 whatever the second digit. Otherwise
   two significant digits for counts (15300 -> 15000, 2650 -> 2600, 48300 -> 48000) and
   three for money (186400 -> 186000). Two digits never understate by as much as 10%
   (10999 -> 10000 is 9.1%); money gets one more as reports state it more closely (5249.57万元).
3. If n equals its figure R at that precision, it is stated exactly: 20人, 250份, 4.8万份,
   160万元, 18.6万元. A clerk holding an exact 48000 writes 4.8万份, not 近5万份.
4. 近 if n is at least 95% of R', the round figure above (n cut to one significant digit,
   plus one in that digit): 9870 -> 近10000, 195 -> 近200, 48300 -> 近5万, 1950 -> 近2000.
   近 is only ever a round figure, as in the report; 15300 is 1.5万余, never 近1.6万.
5. Otherwise R with 余 or 多: 300余份, 2600余人次, 1.5万余份, 10多场.

| n          | unit | zh         | en                     |
|------------|------|------------|------------------------|
| 12         | 场   | 10多场     | over 10 sessions       |
| 150        | 次   | 100多次    | over 100 times         |
| 25         | 项   | 25项       | 25 items               |
| 312        | 份   | 300余份    | over 300 copies        |
| 490        | 个   | 490个      | 490 items              |
| 491        | 个   | 近500个    | nearly 500 items       |
| 2650       | 人次 | 2600余人次 | over 2,600 visits      |
| 9870       | 人次 | 近10000人次 | nearly 10,000 visits  |
| 10240      | 册   | 10000余册  | over 10,000 copies     |
| 15300      | 份   | 1.5万余份  | over 15,000 copies     |
| 48000      | 份   | 4.8万份    | 48,000 copies          |
| 48300      | 份   | 近5万份    | nearly 50,000 copies   |
| 123456     | 人次 | 12万余人次 | over 120,000 visits    |
| 103000     | 元   | 10多万元   | over 100,000 yuan      |
| 186000     | 元   | 18.6万元   | 186,000 yuan           |
| 1600000    | 元   | 160万元    | 1.6 million yuan       |
| 1050000    | 元   | 100多万元  | over 1 million yuan    |
| 52495700   | 元   | 5000余万元 | over 50 million yuan   |

So a stated figure never overstates n except after 近 (by at most 5.3%), and never understates
it by more than 10% except in the idiom bands.

余 or 多: the report picks by figure, not classifier (80余家 but 100多家). Every 多 in it follows
10, 20, 30 or 100 (10多场, 20多项, 30多次, 100多次/家/块, 10多万元); every 余 follows another
figure (80余家, 300余份, 500余份, 600余人次, 10000余册). Hence `DUO_FIGURES`: 多 after those
figures as displayed (10多万元 is 10 of 万), 余 after every other one.

Digits and 万. A stated figure below 1万 is plain digits; of two or three significant digits
it always ends in 0 there (counts of 20-99 and money under 1000 are exact at that
precision), so 余 follows it directly: 2600余人次, 3560余元. From 1万 up, counts and money
alike are written in 万 (the unit follows the stated figure: 近2万人次 for 19500), with as
many decimals as the figure needs, at most two since it has at most three significant
digits: 1.5万余份, 近5万份, 12万人次, 18.6万元, 1.53万余元 (15321元), 5000余万元. The report
itself writes 10000余册 and 近10000人次, and so does the rule: a stated figure of exactly
one 万 stays in digits (10000余册, 近10000人次, 10000份); above it, 万 (1.5万余份,
2万余人次). 余/多 follows 万 (2万余元, 1.5万余份, 15万余份: "1.5余万" and "15余万" are not
Chinese) unless the figure before 万 is a whole multiple of ten, where it precedes 万 as in
the report's 10多万元 (20多万元, 200余万元). There is no 亿: the report has none.

Exact figures (exact=True, negatives) are what tables print: counts in plain digits however
large (10240册, 123456人次); money of 1万元 or more in 万元 with every decimal it needs
(1.0001万元, 10.3万元, 5249.57万元), so that exact money always round-trips.

`vague=True` swaps the figure for a word from `VAGUE_BANDS` (数百人 for the report's trainees);
outside the bands (n < 20, 100000-199999, n >= 10**9) it falls back to the rules above.

English states the same figure: 余 and 多 both become "over", 近 "nearly"; below a million
in full with thousands separators ("over 15,000 copies", "over 100,000 yuan" for 10多万元),
from a million in millions ("1.6 million yuan" for 160万元, "over 280 million visits") or
billions. Exact figures are always in full ("52,495,700 yuan").
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

# Displayed figures followed by 多 rather than 余 (see the module docstring).
DUO_FIGURES: frozenset[int] = frozenset({10, 20, 30, 100})

# 近 is used when n is at least this fraction of the next round figure.
NEARLY_NUMERATOR, NEARLY_DENOMINATOR = 19, 20

# A stated figure understates n by at most this fraction (outside `IDIOM_BANDS`).
UNDERSTATE_NUMERATOR, UNDERSTATE_DENOMINATOR = 1, 10

# Where the report writes 10多 and 100多 whatever the second digit: one significant digit
# however much it understates. (low, high) with high exclusive.
IDIOM_BANDS: tuple[tuple[int, int], ...] = ((10, 20), (100, 200))

# Significant digits when one would understate by more than 10%.
COUNT_DIGITS = 2
MONEY_DIGITS = 3

SMALL_EXACT_BELOW = 10
WAN = 10_000

# English writes stated figures from a million in millions or billions.
EN_SCALES: tuple[tuple[int, str], ...] = ((10**9, "billion"), (10**6, "million"))


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


def _cut(value: int, digits: int) -> tuple[int, int]:
    """`value` (positive) cut to `digits` significant digits, and one unit of the last of them."""
    step = 10 ** max(len(str(value)) - digits, 0)
    return value // step * step, step


def _in_idiom_band(value: int) -> bool:
    """True where the report writes 10多 or 100多 regardless of how much that understates."""
    return any(low <= value < high for low, high in IDIOM_BANDS)


def _precision(value: int, *, money: bool) -> int:
    round_, _ = _cut(value, 1)
    understated = (value - round_) * UNDERSTATE_DENOMINATOR
    if _in_idiom_band(value) or understated <= value * UNDERSTATE_NUMERATOR:
        return 1
    return MONEY_DIGITS if money else COUNT_DIGITS


def round_figure(value: int, *, money: bool = False) -> Figure:
    """The figure the official style states for `value` (see the module docstring's rules)."""
    _check(value)
    if value < SMALL_EXACT_BELOW:
        return Figure(value, Qualifier.EXACT)
    below, _ = _cut(value, _precision(value, money=money))
    if value == below:
        return Figure(value, Qualifier.EXACT)
    round_, step = _cut(value, 1)
    above = round_ + step
    if value * NEARLY_DENOMINATOR >= above * NEARLY_NUMERATOR:
        return Figure(above, Qualifier.NEARLY)
    return Figure(below, Qualifier.OVER)


def _vague_band(value: int) -> VagueBand | None:
    return next((b for b in VAGUE_BANDS if b.low <= value < b.high), None)


def _scaled(value: int, scale: int) -> str:
    """`value` / `scale` in digits, with exactly the decimals it needs: 15300/10000 -> 1.53."""
    whole, rest = divmod(abs(value), scale)
    places = len(str(scale)) - 1
    digits = str(whole) if rest == 0 else f"{whole}.{rest:0{places}d}".rstrip("0")
    return f"-{digits}" if value < 0 else digits


def _zh_exact(value: int, unit: str, money: bool) -> str:
    if money and abs(value) >= WAN:
        return f"{_scaled(value, WAN)}万{unit}"
    return f"{value}{unit}"


def _zh_stated(figure: Figure, unit: str) -> str:
    stated = figure.stated
    # One 万 itself stays in digits, as the report writes it (10000余册, 近10000人次).
    number = f"{_scaled(stated, WAN)}万" if stated > WAN else str(stated)
    if figure.qualifier is Qualifier.EXACT:
        return f"{number}{unit}"
    if figure.qualifier is Qualifier.NEARLY:
        return f"近{number}{unit}"
    if stated <= WAN:
        modifier = "多" if stated in DUO_FIGURES else "余"
        return f"{number}{modifier}{unit}"
    wan, rest = divmod(stated, WAN)
    modifier = "多" if rest == 0 and wan in DUO_FIGURES else "余"
    if rest == 0 and wan % 10 == 0:
        return f"{wan}{modifier}万{unit}"  # 10多万元, 200余万元
    return f"{number}{modifier}{unit}"  # 2万余元, 1.5万余份, 15万余份


def _check_flags(exact: bool, vague: bool) -> None:
    if exact and vague:
        raise ValueError("a figure cannot be both exact and vague")


def official_zh(
    value: int, unit: str, *, exact: bool = False, money: bool = False, vague: bool = False
) -> str:
    """`value` in the report's style: 300余份, 1.5万余份, 近10000人次; exact=True gives 312份."""
    _check(value)
    _check_flags(exact, vague)
    if exact or value < 0:
        return _zh_exact(value, unit, money)
    if vague and (band := _vague_band(value)) is not None:
        return f"{band.zh}{unit}"
    return _zh_stated(round_figure(value, money=money), unit)


def exact_zh(value: int, unit: str, *, money: bool = False) -> str:
    """The exact figure as tables print it: 312份, 10240册, 10.3万元."""
    return official_zh(value, unit, exact=True, money=money)


def _en_unit(stated: int, unit: str) -> str:
    return SINGULAR_EN.get(unit, unit) if abs(stated) == 1 else unit


def _join(words: str, unit: str) -> str:
    return f"{words} {unit}" if unit else words


def _en_number(stated: int) -> str:
    for scale, word in EN_SCALES:
        if stated >= scale:
            return f"{_scaled(stated, scale)} {word}"
    return f"{stated:,}"


def official_en(
    value: int, unit: str, *, exact: bool = False, money: bool = False, vague: bool = False
) -> str:
    """The English of `official_zh`: "over 15,000 copies", "nearly 10,000 visits", "2 boards",
    "1.6 million yuan"; exact=True writes every digit ("1,600,000 yuan")."""
    _check(value)
    _check_flags(exact, vague)
    if vague and value >= 0 and (band := _vague_band(value)) is not None:
        return _join(band.en if unit else band.en.removesuffix(" of"), unit)
    if exact or value < 0:
        return _join(f"{value:,}", _en_unit(value, unit))
    figure = round_figure(value, money=money)
    number = _en_number(figure.stated)
    if figure.qualifier is Qualifier.OVER:
        number = f"over {number}"
    elif figure.qualifier is Qualifier.NEARLY:
        number = f"nearly {number}"
    return _join(number, _en_unit(figure.stated, unit))
