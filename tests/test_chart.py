"""Tests for campaigns.summaries.chart: real rendering with matplotlib/Agg, checked with Pillow."""

from __future__ import annotations

import datetime
import io
import pathlib
import struct
import subprocess
import sys
import warnings

import pytest
from PIL import Image, ImageChops

from campaigns.planning.metrics import BUILTIN_METRICS
from campaigns.summaries.chart import render_daily_chart, render_daily_chart_bytes

START = datetime.date(2024, 5, 19)
WEEK = [START + datetime.timedelta(days=i) for i in range(7)]
# Every built-in metric, scales from 5 to 500000, one day without tallies (5月22日).
ALL_METRICS: dict[str, dict[datetime.date, int]] = {
    f"{metric.zh}（{metric.unit_zh}）": {
        day: (index + 1) * (i + 1) * (50_000 if metric.id in {"attendance", "funding"} else 5)
        for i, day in enumerate(WEEK)
        if i != 3
    }
    for index, metric in enumerate(BUILTIN_METRICS)
}
TWO_METRICS = {
    "宣传资料（份）": {WEEK[0]: 300, WEEK[1]: 120, WEEK[2]: 80},
    "展板（块）": {WEEK[0]: 5, WEEK[2]: 2},
}


def _image(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    image.load()
    return image


def _ink(image: Image.Image) -> int:
    """How many pixels are clearly not white."""
    return sum(image.convert("L").histogram()[:200])


def _chunk_types(png: bytes) -> list[bytes]:
    types, offset = [], 8
    while offset < len(png):
        (length,) = struct.unpack(">I", png[offset : offset + 4])
        types.append(png[offset + 4 : offset + 8])
        offset += 12 + length
    return types


def _render_text(text: str, family: str) -> Image.Image:
    """`text` drawn in `family` alone (no fallback), with matplotlib, as an image."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(3, 1), dpi=100)
    canvas = FigureCanvasAgg(fig)
    fig.text(0.05, 0.3, text, family=[family], size=24)
    buffer = io.BytesIO()
    canvas.print_png(buffer)  # type: ignore[no-untyped-call]
    return _image(buffer.getvalue())


def test_importing_the_module_does_not_import_matplotlib() -> None:
    code = "import sys, campaigns.summaries.chart; sys.exit('matplotlib' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_writes_a_png_of_the_requested_size_with_every_metric(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "chart.png"
    # The first use in a fresh environment builds matplotlib's font cache; what is checked
    # is what every later chart does.
    render_daily_chart_bytes({}, title="预热")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        returned = render_daily_chart(
            ALL_METRICS, title="2024年“5·19”法治宣传活动每日统计", path=path
        )
    # Covers "Glyph ... missing from font(s)" (tofu) and collapsed layouts alike.
    assert [str(w.message) for w in caught] == []
    assert returned == path
    assert path.stat().st_size > 30_000
    image = _image(path.read_bytes())
    assert image.format == "PNG"
    assert image.size == (1200, 600)
    assert _ink(image) > 0.03 * 1200 * 600
    assert [p.name for p in tmp_path.iterdir()] == ["chart.png"]


def test_honours_a_non_default_size() -> None:
    png = render_daily_chart_bytes(TWO_METRICS, title="测试", width_px=777, height_px=333)
    assert _image(png).size == (777, 333)


def test_chinese_text_is_drawn_as_chinese_glyphs_not_boxes() -> None:
    # A font without CJK draws every Chinese character as the same box, so two different
    # titles of equal length come out identical; real glyphs make them differ.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = _image(render_daily_chart_bytes(TWO_METRICS, title="宣传资料统计"))
        second = _image(render_daily_chart_bytes(TWO_METRICS, title="展板咨询统计"))
    assert not [w for w in caught if "missing from font" in str(w.message)]
    assert ImageChops.difference(first.convert("RGB"), second.convert("RGB")).getbbox()


def test_the_box_check_does_catch_a_font_without_chinese() -> None:
    # The control for the test above: with DejaVu Sans alone both strings are tofu.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = _render_text("宣传资料", "DejaVu Sans")
        second = _render_text("展板咨询", "DejaVu Sans")
    assert any("missing from font" in str(w.message) for w in caught)
    assert ImageChops.difference(first.convert("RGB"), second.convert("RGB")).getbbox() is None


def test_days_without_tallies_show_as_zero() -> None:
    gappy = {"宣传资料（份）": {WEEK[0]: 5, WEEK[3]: 7}}
    filled = {"宣传资料（份）": {WEEK[0]: 5, WEEK[1]: 0, WEEK[2]: 0, WEEK[3]: 7}}
    assert render_daily_chart_bytes(gappy, title="测试") == render_daily_chart_bytes(
        filled, title="测试"
    )


def test_no_tallies_renders_a_no_data_chart() -> None:
    png = render_daily_chart_bytes({}, title="2024年宪法宣传周每日统计")
    image = _image(png)
    assert image.size == (1200, 600)
    # 暂无数据 sits in the middle of an otherwise empty chart.
    assert _ink(image.crop((450, 250, 750, 350))) > 200
    # Metrics without any tally are the same as no metrics at all.
    assert render_daily_chart_bytes({"宣传资料（份）": {}}, title="2024年宪法宣传周每日统计") == png


def test_output_is_deterministic_and_carries_no_metadata() -> None:
    first = render_daily_chart_bytes(TWO_METRICS, title="测试")
    assert render_daily_chart_bytes(TWO_METRICS, title="测试") == first
    assert _chunk_types(first) == [b"IHDR", b"pHYs", b"IDAT", b"IEND"]


def test_titles_and_labels_are_not_parsed_as_mathtext() -> None:
    # Unparsable as mathtext: rendering it literally must not raise.
    odd = r"经费 $\frac{ $"
    png = render_daily_chart_bytes({odd: {START: 1}}, title=odd)
    assert _image(png).size == (1200, 600)


def test_replaces_an_existing_file(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "chart.png"
    path.write_bytes(b"old")
    render_daily_chart(TWO_METRICS, title="测试", path=path)
    assert path.read_bytes() == render_daily_chart_bytes(TWO_METRICS, title="测试")
    assert [p.name for p in tmp_path.iterdir()] == ["chart.png"]


def test_refuses_a_size_too_small_to_read_and_keeps_the_old_file(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "chart.png"
    path.write_bytes(b"old")
    with pytest.raises(ValueError, match="at least"):
        render_daily_chart(TWO_METRICS, title="测试", path=path, width_px=100, height_px=50)
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["chart.png"]


def test_one_bar_per_unit_in_the_order_given_names_drawn_literally() -> None:
    # Unit names are typed by users: one that is broken mathtext must still draw.
    units = {"浚县": 18200, r"某县 $\frac{ $": 3, "淇县": 0, "鹤壁市淇滨区科学技术协会": 900}
    series = {"宣传资料（份）": units, "参与人次（人次）": dict.fromkeys(units, 50)}
    png = render_daily_chart_bytes(series, title="按单位", width_px=800, height_px=400)
    image = _image(png)
    assert image.format == "PNG" and image.size == (800, 400)
    assert render_daily_chart_bytes(series, title="按单位", width_px=800, height_px=400) == png
    reordered = {label: dict(reversed(bars.items())) for label, bars in series.items()}
    other = render_daily_chart_bytes(reordered, title="按单位", width_px=800, height_px=400)
    assert ImageChops.difference(_image(other).convert("L"), image.convert("L")).getbbox()
