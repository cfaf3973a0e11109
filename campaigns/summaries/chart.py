"""PNG charts of a campaign's tallies: one small bar chart per metric, Chinese labels; one bar
per day, or, for a campaign with reporting units, one bar per unit (a series keyed by unit
names rather than days: more telling than the days of a one-day campaign).

matplotlib is imported inside the functions, never at module import, so that the CLI
starts fast. Rendering goes through `Figure` + `FigureCanvasAgg` directly: no pyplot, no
global backend switch, no GUI, and no shared figure state between threads.
"""

from __future__ import annotations

import datetime
import functools
import importlib.resources
import io
import math
import os
import pathlib
import tempfile
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.font_manager import FontProperties

__all__ = ["render_daily_chart", "render_daily_chart_bytes"]

_FONT_PACKAGE = "pylopdf_fonts_zh_cn"
_FONT_FILE = "NotoSansSC-Regular.otf"
# DejaVu Sans (bundled with matplotlib) backs up any glyph Noto Sans SC lacks.
_FALLBACK_FAMILY = "DejaVu Sans"
_DPI = 100
_MIN_WIDTH_PX = 400
_MIN_HEIGHT_PX = 300
_NO_DATA = "暂无数据"
_BAR_COLOR = "#c0392b"
# Below this many pixels per character of the widest value label, labels would overlap.
_PX_PER_LABEL_CHAR = 6.5
_PX_PER_DATE_LABEL = 70
# Per character of a unit's name under its bar (7-point CJK text), and a little margin.
_PX_PER_NAME_CHAR = 10
_PX_NAME_MARGIN = 8

# label -> day -> total, or label -> unit name -> total.
Series = Mapping[str, Mapping[datetime.date, int]] | Mapping[str, Mapping[str, int]]


@functools.cache
def _cjk_family() -> str:
    """Register the bundled Noto Sans SC with matplotlib (once per process); its family name."""
    from matplotlib import font_manager

    font = importlib.resources.files(_FONT_PACKAGE).joinpath(_FONT_FILE)
    # The package is installed as plain files, so this is a real path, not a temporary copy.
    with importlib.resources.as_file(font) as font_path:
        font_manager.fontManager.addfont(str(font_path))
        return str(font_manager.FontProperties(fname=str(font_path)).get_name())


def _font(size: float) -> FontProperties:
    """Noto Sans SC at `size` points; the package ships only its regular weight."""
    from matplotlib.font_manager import FontProperties

    return FontProperties(family=[_cjk_family(), _FALLBACK_FAMILY], size=size)


def _format_value(value: float) -> str:
    """A tally as a chart label: exact below 100000, else in 万 / 亿 with one decimal."""
    if abs(value) < 100_000:
        return str(round(value))
    scaled, unit = (
        (value / 100_000_000, "亿") if abs(value) >= 100_000_000 else (value / 10_000, "万")
    )
    return f"{scaled:.1f}".rstrip("0").rstrip(".") + unit


def _format_day(day: datetime.date, with_year: bool) -> str:
    text = f"{day.month}月{day.day}日"
    return f"{day.year}年{text}" if with_year else text


def _grid(count: int, width_px: int, height_px: int) -> tuple[int, int]:
    """(rows, columns) for `count` panels: panels near 2:1 wide, few empty cells."""

    def badness(cols: int) -> float:
        rows = math.ceil(count / cols)
        aspect = (width_px / cols) / (height_px / rows)
        return abs(math.log(aspect / 2.0)) + 0.25 * (rows * cols - count)

    cols = min(range(1, count + 1), key=badness)
    return math.ceil(count / cols), cols


def _day_range(series: Mapping[str, Mapping[Any, int]]) -> list[datetime.date]:
    days = [day for tallies in series.values() for day in tallies]
    if not days:
        return []
    first, last = min(days), max(days)
    return [first + datetime.timedelta(days=i) for i in range((last - first).days + 1)]


def _draw_panel(
    ax: Axes,
    label: str,
    values: Sequence[int],
    *,
    show_value_labels: bool,
) -> None:
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    positions = range(len(values))
    bars = ax.bar(positions, values, width=0.7, color=_BAR_COLOR)
    ax.set_title(label, fontproperties=_font(10), parse_math=False, loc="left")
    if show_value_labels:
        ax.bar_label(
            bars,
            labels=[_format_value(v) for v in values],
            padding=2,
            fontproperties=_font(7),
            parse_math=False,
        )
    ax.margins(x=0.5 / max(len(values), 1), y=0.18)
    if min(values) >= 0:
        ax.set_ylim(bottom=0)
    ax.yaxis.set_major_locator(MaxNLocator(nbins=4, integer=True))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: _format_value(v)))
    ax.tick_params(labelsize=7, labelfontfamily=[_cjk_family(), _FALLBACK_FAMILY])
    ax.grid(axis="y", linewidth=0.5, alpha=0.4)
    ax.spines[["top", "right"]].set_visible(False)


def _units(series: Mapping[str, Mapping[Any, int]]) -> list[str]:
    """The units of a by-unit series, in the order first given (the tree order)."""
    return list(dict.fromkeys(name for tallies in series.values() for name in tallies))


def _draw_panels(
    fig: Figure,
    series: Mapping[str, Mapping[Any, int]],
    keys: Sequence[datetime.date] | Sequence[str],
    width_px: int,
    height_px: int,
) -> None:
    rows, cols = _grid(len(series), width_px, height_px)
    grid = fig.subplots(rows, cols, sharex=True, squeeze=False)
    panel_width_px = width_px / cols
    if isinstance(keys[0], str):
        # Every unit keeps its name under its bar, turned when the names would touch.
        labels = [str(key) for key in keys]
        needed = sum(len(name) * _PX_PER_NAME_CHAR + _PX_NAME_MARGIN for name in labels)
        step, rotation = 1, (0 if needed <= panel_width_px * 0.9 else 45)
    else:
        days = [key for key in keys if isinstance(key, datetime.date)]
        with_year = days[0].year != days[-1].year
        labels = [_format_day(day, with_year) for day in days]
        # One tick label every `step` days, so that labels never run into each other.
        per_label = _PX_PER_DATE_LABEL * (1.3 if with_year else 1)
        step = max(1, math.ceil(len(days) * per_label / panel_width_px))
        rotation = 30 if step > 1 else 0
    ticks = list(range(0, len(keys), step))
    for index, (label, tallies) in enumerate(series.items()):
        row, col = divmod(index, cols)
        ax = grid[row][col]
        values = [tallies.get(key, 0) for key in keys]
        widest = max(len(_format_value(v)) for v in values)
        px_per_bar = panel_width_px * 0.8 / len(keys)
        _draw_panel(ax, label, values, show_value_labels=px_per_bar >= widest * _PX_PER_LABEL_CHAR)
        # Unit names are typed by users: a "$" in one must not be read as mathtext.
        ax.set_xticks(ticks, [labels[i] for i in ticks], parse_math=False)
        # Labels go under the lowest panel of each column, which need not be the last row.
        is_lowest = index + cols >= len(series)
        ax.tick_params(axis="x", labelbottom=is_lowest, labelrotation=rotation)
    for index in range(len(series), rows * cols):
        row, col = divmod(index, cols)
        grid[row][col].set_visible(False)


def _render(
    series: Mapping[str, Mapping[Any, int]],
    title: str,
    width_px: int,
    height_px: int,
) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_px / _DPI, height_px / _DPI), dpi=_DPI, layout="constrained")
    canvas = FigureCanvasAgg(fig)
    fig.suptitle(title, fontproperties=_font(15), parse_math=False)
    by_unit = any(isinstance(key, str) for tallies in series.values() for key in tallies)
    keys: list[datetime.date] | list[str] = _units(series) if by_unit else _day_range(series)
    if not keys:
        fig.text(
            0.5,
            0.5,
            _NO_DATA,
            ha="center",
            va="center",
            color="#666666",
            fontproperties=_font(20),
            parse_math=False,
        )
    else:
        _draw_panels(fig, series, keys, width_px, height_px)
    buffer = io.BytesIO()
    # print_png, not savefig: savefig would apply the process-wide savefig.* rcParams
    # (bbox, dpi), which could change the size. No "Software" chunk (and Agg writes no
    # timestamp), so equal input gives equal bytes.
    canvas.print_png(buffer, metadata={"Software": None})  # type: ignore[no-untyped-call]
    return buffer.getvalue()


def render_daily_chart_bytes(
    series: Series,
    *,
    title: str,
    width_px: int = 1200,
    height_px: int = 600,
) -> bytes:
    """A PNG of `series` (label -> day -> total): one bar panel per label, days shared.

    Days without tallies between the first and last tallied day show as zero; with no
    tallies at all the chart says 暂无数据. Equal input always gives equal bytes. A series
    keyed by unit names (label -> unit -> total) gets one bar per unit, in the order given.
    """
    if width_px < _MIN_WIDTH_PX or height_px < _MIN_HEIGHT_PX:
        raise ValueError(
            f"chart must be at least {_MIN_WIDTH_PX}x{_MIN_HEIGHT_PX} px, "
            f"not {width_px}x{height_px}"
        )
    return _render(series, title, width_px, height_px)


def render_daily_chart(
    series: Series,
    *,
    title: str,
    path: pathlib.Path,
    width_px: int = 1200,
    height_px: int = 600,
) -> pathlib.Path:
    """Write the chart of `series` to `path` as PNG, atomically; returns `path`.

    Readers see either the old file or the complete new one, never a partial PNG.
    """
    png = render_daily_chart_bytes(series, title=title, width_px=width_px, height_px=height_px)
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as temp:
            # mkstemp makes the file owner-only; a chart is meant to be shared.
            os.fchmod(temp.fileno(), 0o644)
            temp.write(png)
            temp.flush()
            os.fsync(temp.fileno())
        os.replace(temp_name, path)
    except BaseException:
        pathlib.Path(temp_name).unlink(missing_ok=True)
        raise
    return path
