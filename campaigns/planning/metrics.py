"""The catalogue of what is counted: built-in metrics with their Chinese names and units.

Organisers may add metrics of their own (stored in the database); every lookup goes
through `MetricCatalogue`, which accepts an id (`materials`), a Chinese name (`宣传资料`) or
one of a built-in metric's aliases (`资料`, `宣传册`, `参与人数`): the names county sheets
use in their headers. A custom metric is known by its id and its name.

Each metric also says which units written in a sheet's header mean it (`units`: 份, 册 and
页 are all 宣传资料), and `scale_of` turns such a unit into the factor from the sheet's
cells to the stored figure (万元 cells are stored in 元: 10,000).
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
    # Other names of the same metric, as county sheets write them in headers.
    aliases: tuple[str, ...] = ()
    # Units that a sheet may write for this metric besides `unit_zh` (份/册/页 for materials).
    units: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        """The Chinese name and the aliases."""
        return (self.zh, *self.aliases)

    @property
    def unit_names(self) -> tuple[str, ...]:
        """The units that mean this metric: its own first, then the other spellings."""
        return tuple(dict.fromkeys(u for u in (self.unit_zh, *self.units) if u))

    def scale_of(self, unit: str) -> int | None:
        """The factor from a cell written in `unit` to the stored figure, or None when the
        unit is not this metric's: 1 for its own units, 10,000 for 万 of one (万元, 万份)."""
        if unit in self.unit_names:
            return 1
        if unit.startswith("万") and unit[1:] in self.unit_names:
            return 10_000
        return None


BUILTIN_METRICS: tuple[Metric, ...] = (
    Metric(
        "materials",
        "宣传资料",
        "publicity materials",
        "份",
        "copies",
        aliases=(
            "资料",
            "宣传材料",
            "宣传品",
            "宣传册",
            "宣传单",
            "宣传页",
            "折页",
            "宣传折页",
            "普法资料",
            "普法宣传资料",
            "法治宣传资料",
        ),
        units=("册", "页"),
    ),
    Metric(
        "attendance",
        "参与人次",
        "attendance",
        "人次",
        "visits",
        aliases=("参与人数", "参加人次", "参加人数", "参与群众", "受众人次", "覆盖人次", "受众"),
        units=("人",),
    ),
    Metric(
        "trainees",
        "培训人数",
        "people trained",
        "人",
        "people",
        aliases=("培训人次", "参训人数", "参训人次", "参训人员"),
        units=("名", "人次"),
    ),
    Metric(
        "lectures",
        "讲座",
        "lectures",
        "场",
        "sessions",
        aliases=("法治讲座", "普法讲座", "专题讲座", "讲座场次", "报告会"),
        units=("场次", "次", "期"),
    ),
    Metric(
        "trainings",
        "培训",
        "training sessions",
        "场",
        "sessions",
        aliases=("培训场次", "培训班"),
        units=("场次", "次", "期"),
    ),
    Metric(
        "legal-services",
        "法律服务",
        "legal services",
        "次",
        "times",
        aliases=("法律援助", "法律服务次数"),
        units=("件", "人次"),
    ),
    Metric(
        "consultations",
        "咨询",
        "consultations",
        "人次",
        "people",
        aliases=("接受咨询", "解答咨询", "法律咨询", "现场咨询", "咨询人次", "咨询人数"),
        units=("人", "次", "件"),
    ),
    Metric(
        "boards",
        "展板",
        "display boards",
        "块",
        "boards",
        aliases=("展出展板", "宣传展板", "展板数"),
        units=("个", "幅", "张"),
    ),
    Metric(
        "units",
        "参与单位",
        "participating organisations",
        "家",
        "organisations",
        aliases=("参加单位", "参与单位数"),
        units=("个",),
    ),
    Metric(
        "volunteers",
        "志愿者",
        "volunteers",
        "人",
        "people",
        aliases=("志愿者人数", "志愿服务人员"),
        units=("名", "人次"),
    ),
    Metric(
        "funding",
        "经费",
        "funding",
        "元",
        "yuan",
        is_money=True,
        aliases=("投入经费", "活动经费", "经费投入", "资金"),
    ),
)


class UnknownMetricError(InvalidInputError, LookupError):
    def __init__(self, name: str) -> None:
        super().__init__(
            f"unknown metric {name!r} (built in: {', '.join(m.id for m in BUILTIN_METRICS)})"
        )
        self.name = name


class MetricCatalogue:
    """Built-in metrics plus the organisers' own, looked up by id, Chinese name or alias."""

    def __init__(self, extra: Iterable[Metric] = ()) -> None:
        self._by_id: dict[str, Metric] = {}
        self._by_name: dict[str, Metric] = {}
        for metric in (*BUILTIN_METRICS, *extra):
            self._by_id[metric.id] = metric
            self._by_name[metric.zh] = metric
        # An alias may be another metric's name: the name wins (see `named`).
        self._by_alias: dict[str, list[Metric]] = {}
        for metric in self._by_id.values():
            for alias in metric.aliases:
                self._by_alias.setdefault(alias, []).append(metric)

    def resolve(self, name: str) -> Metric:
        """The metric called `name` (id, case-insensitive, Chinese name or alias)."""
        key = name.strip()
        metric = self._by_id.get(key.lower()) or self._by_name.get(key)
        if metric is None:
            by_alias = self._by_alias.get(key, [])
            if len(by_alias) != 1:
                raise UnknownMetricError(name)
            metric = by_alias[0]
        return metric

    def named(self, name: str) -> list[Metric]:
        """Every metric that `name` names exactly: by id or Chinese name, else by alias (more
        than one when custom metrics share an alias-like name, which callers must refuse)."""
        key = name.strip()
        exact = {m.id: m for m in (self._by_id.get(key.lower()), self._by_name.get(key)) if m}
        if exact:
            return list(exact.values())
        return list(self._by_alias.get(key, []))

    def names(self) -> Iterator[tuple[str, Metric]]:
        """Every Chinese name and alias with its metric."""
        for metric in self._by_id.values():
            for name in metric.names:
                yield name, metric

    def get(self, metric_id: str) -> Metric:
        """The metric with this id; an unknown id (a deleted custom metric) still renders."""
        return self._by_id.get(metric_id) or Metric(metric_id, metric_id, metric_id, "", "")

    def __iter__(self) -> Iterator[Metric]:
        return iter(self._by_id.values())

    def __contains__(self, metric_id: object) -> bool:
        return metric_id in self._by_id


BUILTIN_CATALOGUE = MetricCatalogue()
