"""The catalogue of what is counted: built-in metrics with their Chinese names and units.

Organisers may add metrics of their own (stored in the database); every lookup goes
through `MetricCatalogue`, which accepts an id (`materials`) or a Chinese name (`宣传资料`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from campaigns.errors import InvalidInputError


@dataclass(frozen=True, slots=True)
class Metric:
    id: str
    zh: str
    en: str
    unit_zh: str
    unit_en: str
    # Money is written in 万元 once large; everything else is a plain count.
    is_money: bool = False


BUILTIN_METRICS: tuple[Metric, ...] = (
    Metric("materials", "宣传资料", "publicity materials", "份", "copies"),
    Metric("attendance", "参与人次", "attendance", "人次", "visits"),
    Metric("trainees", "培训人数", "people trained", "人", "people"),
    Metric("lectures", "讲座", "lectures", "场", "sessions"),
    Metric("trainings", "培训", "training sessions", "场", "sessions"),
    Metric("legal-services", "法律服务", "legal services", "次", "times"),
    Metric("consultations", "咨询", "consultations", "人次", "people"),
    Metric("boards", "展板", "display boards", "块", "boards"),
    Metric("units", "参与单位", "participating organisations", "家", "organisations"),
    Metric("volunteers", "志愿者", "volunteers", "人", "people"),
    Metric("funding", "经费", "funding", "元", "yuan", is_money=True),
)


class UnknownMetricError(InvalidInputError, LookupError):
    def __init__(self, name: str) -> None:
        super().__init__(
            f"unknown metric {name!r} (built in: {', '.join(m.id for m in BUILTIN_METRICS)})"
        )
        self.name = name


class MetricCatalogue:
    """Built-in metrics plus the organisers' own, looked up by id or Chinese name."""

    def __init__(self, extra: Iterable[Metric] = ()) -> None:
        self._by_id: dict[str, Metric] = {}
        self._by_name: dict[str, Metric] = {}
        for metric in (*BUILTIN_METRICS, *extra):
            self._by_id[metric.id] = metric
            self._by_name[metric.zh] = metric

    def resolve(self, name: str) -> Metric:
        """The metric called `name` (id, case-insensitive, or Chinese name)."""
        key = name.strip()
        metric = self._by_id.get(key.lower()) or self._by_name.get(key)
        if metric is None:
            raise UnknownMetricError(name)
        return metric

    def get(self, metric_id: str) -> Metric:
        """The metric with this id; an unknown id (a deleted custom metric) still renders."""
        return self._by_id.get(metric_id) or Metric(metric_id, metric_id, metric_id, "", "")

    def __iter__(self) -> Iterator[Metric]:
        return iter(self._by_id.values())

    def __contains__(self, metric_id: object) -> bool:
        return metric_id in self._by_id


BUILTIN_CATALOGUE = MetricCatalogue()
