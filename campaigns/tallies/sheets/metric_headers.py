"""A wide sheet's header cell to the metric it names and the scale of its unit.

County sheets name a metric in a header the way people write it: with or without a verb,
with the unit in brackets or run on (发放宣传资料（份）, 宣传资料(份), 资料份数, 展板,
展出展板（块）, 咨询人次, 接受咨询（人次）, 经费（万元）). A cell is read so:

1. The text is normalised (full-width forms to ASCII, no spaces or line breaks); a unit in
   brackets at the end is taken off (`（单位：份）` too), as is a run-on unit at the end with
   or without 数/数量 (份数, 人次, 块数).
2. What is left is looked up as a whole in the catalogue (id, Chinese name, alias), then
   without a leading verb (发放, 展出, 接受, 举办 …).
3. Only when the cell carries a unit, a name of the catalogue inside it is enough
   (法治宣传资料（份）, 普法讲座（场）); names inside a longer matched name do not count
   (培训 inside 培训人数). Without a unit a longer text such as 讲座主题 names no metric.

Two metrics for one cell (宣传资料及展板（份）) are an error, as is a unit that is not the
metric's (展板（份）). A cell that names no metric is not an error: the sheet keeps it as a
note column.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from campaigns.planning.metrics import Metric, MetricCatalogue
from campaigns.tallies.sheets.cells import show

# Verbs that come before a metric's name in a header.
_VERBS = (
    "发放",
    "分发",
    "散发",
    "印发",
    "印制",
    "制作",
    "展出",
    "展示",
    "摆放",
    "设置",
    "悬挂",
    "张贴",
    "接受",
    "解答",
    "受理",
    "提供",
    "举办",
    "开展",
    "组织",
    "召开",
    "参加",
    "参与",
    "出动",
    "投入",
)
# Units a header may write; the catalogue's own are added. Longest first when taken off.
_UNIT_WORDS = (
    "份",
    "册",
    "页",
    "张",
    "本",
    "件",
    "个",
    "块",
    "幅",
    "面",
    "条",
    "场",
    "场次",
    "次",
    "期",
    "人",
    "人次",
    "名",
    "家",
    "所",
    "处",
    "元",
    "天",
    "小时",
    "课时",
    "篇",
    "套",
)
_BRACKETED = re.compile(r"(.+?)[(\[【〔]([^()\[\]【】〔〕]*)[)\]】〕]")
_UNIT_LABEL = re.compile(r"^(?:单位|计量单位)[:：]?")
_SPACES = re.compile(r"\s+")


def normalise(text: str) -> str:
    """A header's text compared: full-width forms as ASCII, no spaces, no trailing colon."""
    return _SPACES.sub("", unicodedata.normalize("NFKC", text).replace("\ufeff", "")).rstrip(":：")


@dataclass(frozen=True, slots=True)
class MetricHeader:
    metric: Metric
    # The unit as written, or None; cells are multiplied by `scale` (万元: 10,000).
    unit: str | None
    scale: int


class HeaderCellError(Exception):
    """The cell names a metric wrongly (two metrics, a unit not the metric's)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class MetricHeaders:
    """Reads header cells against one catalogue (its names indexed once)."""

    def __init__(self, catalogue: MetricCatalogue) -> None:
        self._catalogue = catalogue
        units = {*_UNIT_WORDS}
        for metric in catalogue:
            units.update(metric.unit_names)
        units.update({f"万{unit}" for unit in units})
        self._units = units
        self._run_on_units = sorted(units, key=len, reverse=True)
        # Names of at least two characters that are not ids, for names inside a cell.
        self._names = [
            (name, metric)
            for name, metric in catalogue.names()
            if len(name) >= 2 and not name.isascii()
        ]

    def read(self, text: str) -> MetricHeader | None:
        """The metric that header `text` names, or None; HeaderCellError if it is wrong."""
        whole = normalise(text)
        if not whole:
            return None
        base, unit = whole, None
        bracketed = _BRACKETED.fullmatch(whole)
        if bracketed:
            written = _UNIT_LABEL.sub("", bracketed[2])
            units = [u for u in re.split(r"[/、,]", written) if u]
            if units and all(u in self._units for u in units):
                base, unit = bracketed[1], "/".join(units)
            elif _BRACKETED.fullmatch(bracketed[1]) is None:
                base = bracketed[1]  # a remark in brackets: 咨询（含电话咨询）
        # (name, unit, whether a unit that is not the metric's is an error): a run-on unit is
        # a guess, so 培训天数 is no metric rather than 培训 counted in days.
        candidates: list[tuple[str, str | None, bool]] = [(base, unit, True)]
        if unit is None:
            for word in self._run_on_units:
                for suffix in (f"{word}数量", f"{word}数", word):
                    if base.endswith(suffix) and len(base) > len(suffix):
                        candidates.append((base[: -len(suffix)], word, False))
            for suffix in ("数量", "数"):
                if base.endswith(suffix) and len(base) > len(suffix):
                    candidates.append((base[: -len(suffix)], None, False))
        candidates += [
            (name[len(verb) :], written_unit, strict)
            for name, written_unit, strict in candidates
            for verb in _VERBS
            if name.startswith(verb) and len(name) > len(verb)
        ]
        for name, written_unit, strict in candidates:
            metrics = self._catalogue.named(name)
            if not metrics:
                continue
            if strict or len(metrics) > 1:
                return self._checked(text, metrics, written_unit)
            if written_unit is None or metrics[0].scale_of(written_unit) is not None:
                return self._checked(text, metrics, written_unit)
        if unit is None:
            return None
        inside = [(name, metric) for name, metric in self._names if name in base]
        # A name inside another matched name is part of it (培训 in 培训人数).
        inside = [
            (name, metric)
            for name, metric in inside
            if not any(name != other and name in other for other, _ in inside)
        ]
        if not inside:
            return None
        return self._checked(text, list({m.id: m for _, m in inside}.values()), unit)

    def _checked(self, text: str, metrics: list[Metric], unit: str | None) -> MetricHeader:
        if len(metrics) > 1:
            both = " and ".join(f"{m.zh} ({m.id})" for m in metrics)
            raise HeaderCellError(f"header {show(text)} names more than one metric: {both}")
        (metric,) = metrics
        if unit is None:
            return MetricHeader(metric, None, 1)
        scales = {metric.scale_of(u) for u in unit.split("/")}
        if None in scales or len(scales) != 1:
            own = "/".join(metric.unit_names) or "no unit"
            money = "; 万元 for cells in 万元" if metric.is_money else ""
            raise HeaderCellError(
                f"header {show(text)}: unit {unit} is not the unit of {metric.zh} ({own}{money})"
            )
        (scale,) = scales
        assert scale is not None
        return MetricHeader(metric, unit, scale)
