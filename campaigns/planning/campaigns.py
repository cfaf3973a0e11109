"""Creating, finding and listing campaigns; laying out a year's calendar."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from campaigns.audit import record_event
from campaigns.errors import ConflictError, InvalidInputError, NotFoundError
from campaigns.models import Campaign, CampaignStatus, CampaignTarget, CustomMetric, utcnow
from campaigns.planning.metrics import Metric, MetricCatalogue
from campaigns.planning.observances import (
    CalendarEntry,
    default_title,
    get_observance,
    local_bounds,
    year_calendar,
)
from campaigns.planning.participants import add_participants
from campaigns.planning.unit_directory import UnitDirectory
from campaigns.planning.units import load_directory

_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")
_KIND_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,59}$")


@dataclass(frozen=True)
class CampaignSpec:
    kind: str
    year: int
    first_day: date | None = None
    last_day: date | None = None
    title: str | None = None
    venue: str | None = None
    # Who the bureau worked with (联合市直有关部门…) and how (法律宣传进社区、现场咨询):
    # the year's report names them.
    partners: str | None = None
    activity_forms: str | None = None
    targets: Mapping[str, int] = field(default_factory=dict)
    campaign_id: str | None = None
    timezone: str = "Asia/Shanghai"
    # Exact bounds (aware datetimes) instead of whole local days: `campaigns demo` runs
    # campaigns that last minutes. Given together; first_day/last_day are then ignored.
    start_at: datetime | None = None
    end_at: datetime | None = None
    # The reporting units taking part (codes or names), and/or every unit under one parent.
    units: Sequence[str] = ()
    units_under: str | None = None
    # The last local day reports are accepted (the deadline is the midnight after it); or an
    # exact deadline (the demo's minutes-long campaigns). Default with participants: the last
    # day plus `report_days`.
    report_by_day: date | None = None
    report_by: datetime | None = None
    report_days: int = 3


def metric_catalogue(*, session: Session) -> MetricCatalogue:
    custom = session.exec(select(CustomMetric)).all()
    return MetricCatalogue(
        Metric(m.id, m.zh, m.en, m.unit_zh, m.unit_en, m.is_money) for m in custom
    )


def create_campaign(spec: CampaignSpec, *, session: Session, actor: str) -> Campaign:
    if not _KIND_PATTERN.match(spec.kind):
        raise InvalidInputError(f"kind {spec.kind!r}: use lower-case letters, digits and '-'")
    if not 2000 <= spec.year <= 2100:
        raise InvalidInputError(f"--year {spec.year}: not a plausible year")
    campaign_id = spec.campaign_id or f"{spec.year}-{spec.kind}"
    if not _ID_PATTERN.match(campaign_id):
        raise InvalidInputError(f"--id {campaign_id!r}: use letters, digits, '.', '_' and '-'")
    observance = get_observance(spec.kind)
    first, last = spec.first_day, spec.last_day
    if spec.start_at is not None or spec.end_at is not None:
        first, last = _exact_days(spec)
    if observance is not None:
        default_first, default_last = observance.default_dates(spec.year)
        first, last = first or default_first, last or default_last
    elif first is None or last is None:
        raise InvalidInputError(
            f"kind {spec.kind!r} is not a built-in observance: give --start and --end"
        )
    assert first is not None and last is not None
    if last < first:
        raise InvalidInputError(f"--end {last} is before --start {first}")
    catalogue = metric_catalogue(session=session)
    targets: dict[str, int] = {}
    for name, value in spec.targets.items():
        metric = catalogue.resolve(name)
        if value <= 0:
            raise InvalidInputError(f"--target {name}={value}: a target must be positive")
        targets[metric.id] = value
    if session.get(Campaign, campaign_id) is not None:
        raise ConflictError(f"campaign {campaign_id!r} already exists")
    zone = ZoneInfo(spec.timezone)
    start_at, end_at = local_bounds(first, last, zone)
    if spec.start_at is not None and spec.end_at is not None:
        start_at, end_at = spec.start_at, spec.end_at
    directory = load_directory(session=session)
    units = chosen_units(spec.units, spec.units_under, directory=directory)
    report_by = _report_by(spec, last, end_at, has_participants=bool(units))
    now = utcnow()
    campaign = Campaign(
        id=campaign_id,
        kind=spec.kind,
        year=spec.year,
        title=(spec.title or default_title(spec.kind, spec.year)).strip(),
        start_at=start_at,
        end_at=end_at,
        timezone=spec.timezone,
        venue=spec.venue,
        partners=spec.partners,
        activity_forms=spec.activity_forms,
        status=CampaignStatus.scheduled,
        report_by=report_by,
        created_at=now,
        updated_at=now,
    )
    session.add(campaign)
    session.flush()
    for metric_id, value in targets.items():
        session.add(CampaignTarget(campaign_id=campaign_id, metric=metric_id, target=value))
    record_event(
        "campaign.created",
        session=session,
        actor=actor,
        campaign_id=campaign_id,
        data={
            "kind": spec.kind,
            "first_day": first,
            "last_day": last,
            "targets": targets,
            **({"report_by": report_by} if report_by else {}),
        },
        at=now,
    )
    add_participants(campaign_id, units, session=session, actor=actor, now=now)
    return campaign


def chosen_units(names: Sequence[str], under: str | None, *, directory: UnitDirectory) -> list[str]:
    """The codes `--units` (codes or names) and `--units-under PARENT` (the units directly
    under it, or under its sub-units where it has only those) stand for, in tree order."""
    codes = [directory.resolve(name, where="--units").code for name in names if name.strip()]
    if under is not None:
        parent = directory.resolve(under, where="--units-under")
        below = directory.children(parent.code)
        if not below:
            raise InvalidInputError(f"--units-under {under}: {parent.name} has no sub-units")
        codes += [unit.code for unit in below]
    order = {unit.code: i for i, (unit, _) in enumerate(directory.walk())}
    return sorted(dict.fromkeys(codes), key=lambda code: order.get(code, len(order)))


def _report_by(
    spec: CampaignSpec, last: date, end_at: datetime, *, has_participants: bool
) -> datetime | None:
    zone = ZoneInfo(spec.timezone)
    if spec.report_by is not None:
        deadline = spec.report_by
        if deadline < end_at:
            raise InvalidInputError(f"report-by {deadline} is before the campaign ends ({end_at})")
        return deadline
    if spec.report_by_day is not None:
        if spec.report_by_day < last:
            raise InvalidInputError(
                f"--report-by {spec.report_by_day} is before the campaign's last day {last}"
            )
        return local_bounds(spec.report_by_day, spec.report_by_day, zone)[1]
    if not has_participants:
        return None
    if spec.start_at is not None:
        return end_at + timedelta(days=spec.report_days)
    day = last + timedelta(days=spec.report_days)
    return local_bounds(day, day, zone)[1]


def _exact_days(spec: CampaignSpec) -> tuple[date, date]:
    """The local days of exact bounds, which must both be given, aware and in order."""
    if spec.start_at is None or spec.end_at is None:
        raise InvalidInputError("exact campaign bounds need both a start and an end")
    if spec.start_at.tzinfo is None or spec.end_at.tzinfo is None:
        raise InvalidInputError("exact campaign bounds need a timezone")
    if spec.end_at <= spec.start_at:
        raise InvalidInputError(f"end {spec.end_at} is not after start {spec.start_at}")
    zone = ZoneInfo(spec.timezone)
    return spec.start_at.astimezone(zone).date(), spec.end_at.astimezone(zone).date()


def get_campaign(campaign_id: str, *, session: Session, for_update: bool = False) -> Campaign:
    query = select(Campaign).where(Campaign.id == campaign_id)
    if for_update:
        query = query.with_for_update()
    campaign = session.exec(query).first()
    if campaign is None:
        raise NotFoundError(f"unknown campaign {campaign_id!r} (see `campaigns list`)")
    return campaign


def list_campaigns(
    *, session: Session, year: int | None = None, status: str | None = None
) -> list[Campaign]:
    query = select(Campaign).order_by(col(Campaign.start_at), col(Campaign.id))
    if year is not None:
        query = query.where(Campaign.year == year)
    if status is not None:
        if status not in CampaignStatus.__members__:
            allowed = ", ".join(CampaignStatus.__members__)
            raise InvalidInputError(f"--status {status!r}: expected one of {allowed}")
        query = query.where(Campaign.status == status)
    return list(session.exec(query))


def targets_of(campaign_id: str, *, session: Session) -> dict[str, int]:
    rows = session.exec(select(CampaignTarget).where(CampaignTarget.campaign_id == campaign_id))
    return {row.metric: row.target for row in rows}


def local_days(campaign: Campaign) -> tuple[date, date]:
    """The campaign's first and last local calendar days (inclusive)."""
    zone = ZoneInfo(campaign.timezone)
    first = campaign.start_at.astimezone(zone).date()
    last = (campaign.end_at.astimezone(zone) - _ONE_MICROSECOND).date()
    return first, last


def apply_calendar(
    year: int,
    *,
    session: Session,
    actor: str,
    timezone: str,
    sci_tech_week: tuple[date, date] | None = None,
    units: Sequence[str] = (),
    units_under: str | None = None,
    report_days: int = 3,
) -> list[tuple[CalendarEntry, bool]]:
    """Create the year's observances that do not exist yet, each with the same participants;
    (entry, created) for each."""
    results = []
    for entry in year_calendar(year, sci_tech_week=sci_tech_week):
        exists = session.get(Campaign, entry.campaign_id) is not None
        if not exists:
            spec = CampaignSpec(
                kind=entry.observance.kind,
                year=year,
                first_day=entry.first_day,
                last_day=entry.last_day,
                timezone=timezone,
                units=units,
                units_under=units_under,
                report_days=report_days,
            )
            create_campaign(spec, session=session, actor=actor)
        results.append((entry, not exists))
    return results


def parse_targets(pairs: Sequence[str]) -> dict[str, int]:
    targets: dict[str, int] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise InvalidInputError(f"--target {pair!r}: expected METRIC=N")
        try:
            targets[name.strip()] = int(value.strip().replace(",", ""))
        except ValueError:
            raise InvalidInputError(f"--target {pair!r}: {value!r} is not a whole number") from None
    return targets


_ONE_MICROSECOND = datetime.resolution
