"""The year's campaigns gathered for its report: each with the figures it should be reported by.

A reported campaign brings its newest stored final summary (what leadership received); a
running or closed one (or one reopened after its summary) its live figures, marked as such;
a scheduled one is a plan with no figures; a cancelled one is listed so the report can say
it was left out. Last year's campaigns are gathered the same way for the comparison.

User-typed text (titles, venues, partners, activity forms) is cleaned here once, so that no
writer downstream (.docx XML, Typst, Markdown, HTML) ever sees a control character.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

from sqlmodel import Session

from campaigns.errors import InvalidInputError
from campaigns.models import Campaign, CampaignStatus, utcnow
from campaigns.planning.campaigns import list_campaigns, local_days
from campaigns.planning.metrics import BUILTIN_METRICS
from campaigns.planning.observances import get_observance
from campaigns.summaries.figures import compile_figures
from campaigns.summaries.versions import latest_summary

Source = Literal["final", "live", "planned", "cancelled"]
Figures = dict[str, Any]

# Bidirectional embeddings, overrides and isolates: they reorder what a reader sees.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_SPACES = re.compile(r"\s+")


def _noncharacter(ch: str) -> bool:
    code = ord(ch)
    return 0xFDD0 <= code <= 0xFDEF or code & 0xFFFE == 0xFFFE


def _clean_or_none(text: str | None) -> str | None:
    return (clean_text(text) or None) if text else None


def clean_text(text: str) -> str:
    """One line of user text, safe for every writer: no control characters (C0, C1, bidi
    overrides), no lone surrogates or noncharacters, runs of white space as one space."""
    kept = []
    for ch in text:
        category = unicodedata.category(ch)
        if ch in "\t\n\r\v\f":
            kept.append(" ")
        elif category in ("Cc", "Cs") or ch in _BIDI_CONTROLS or _noncharacter(ch):
            continue
        else:
            kept.append(ch)
    return _SPACES.sub(" ", "".join(kept)).strip()


@dataclass(frozen=True, slots=True)
class CampaignNotes:
    """What the figures do not say: who the bureau worked with and how it campaigned."""

    partners: str | None = None
    forms: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class MetricFigure:
    metric_id: str
    zh: str
    en: str
    unit: str
    unit_en: str
    money: bool
    total: int
    previous: int | None
    change_pct: float | None


@dataclass(frozen=True)
class CampaignEntry:
    campaign_id: str
    kind: str
    year: int
    title: str
    first_day: date
    last_day: date
    status: str
    source: Source
    venue: str | None = None
    partners: str | None = None
    forms: tuple[str, ...] = ()
    # The stored final version the figures come from ("final" only).
    version: int | None = None
    # Local time the figures were compiled ("final" and "live").
    as_of: str | None = None
    metrics: tuple[MetricFigure, ...] = ()
    figures: Figures | None = field(default=None, repr=False)

    @property
    def held(self) -> bool:
        """Took place (or is taking place): its figures belong in the year's totals."""
        return self.source in ("final", "live")

    @property
    def observance_zh(self) -> str | None:
        observance = get_observance(self.kind)
        return observance.zh if observance else None

    @property
    def observance_en(self) -> str | None:
        observance = get_observance(self.kind)
        return observance.en if observance else None


@dataclass(frozen=True)
class YearFigures:
    year: int
    entries: tuple[CampaignEntry, ...]
    # Last year's held campaigns: how many, and their totals per metric.
    previous_held: int = 0
    previous_totals: Mapping[str, int] = field(default_factory=dict)
    # Per metric id, how a metric of either year is named and counted.
    metric_info: Mapping[str, MetricFigure] = field(default_factory=dict)

    @property
    def held(self) -> tuple[CampaignEntry, ...]:
        return tuple(e for e in self.entries if e.held)

    def totals(self) -> dict[str, int]:
        """This year's totals per metric over the held campaigns, in first-seen order."""
        totals: dict[str, int] = {}
        for entry in self.held:
            for m in entry.metrics:
                totals[m.metric_id] = totals.get(m.metric_id, 0) + m.total
        return totals


def _ordered(kind: str, metric_ids: Sequence[str]) -> list[str]:
    """The observance's headline metrics first, as its report lists them (stored figures
    come with sorted keys); then the built-in ones in catalogue order; then the rest."""
    observance = get_observance(kind)
    known = set(metric_ids)
    order = [m for m in (observance.headline_metrics if observance else ()) if m in known]
    order += [m.id for m in BUILTIN_METRICS if m.id in known and m.id not in order]
    return order + sorted(known - set(order))


def _metrics(kind: str, figures: Figures) -> tuple[MetricFigure, ...]:
    metrics: dict[str, Any] = figures.get("metrics", {})
    return tuple(
        MetricFigure(
            metric_id=metric_id,
            zh=clean_text(str(m.get("zh") or metric_id)),
            en=clean_text(str(m.get("en") or metric_id)),
            unit=clean_text(str(m.get("unit") or "")),
            unit_en=clean_text(str(m.get("unit_en") or "")),
            money=bool(m.get("money")),
            total=int(m.get("total") or 0),
            previous=None if m.get("previous") is None else int(m["previous"]),
            change_pct=None if m.get("change_pct") is None else float(m["change_pct"]),
        )
        for metric_id, m in ((mid, metrics[mid]) for mid in _ordered(kind, list(metrics)))
    )


def _figures_of(campaign: Campaign, *, session: Session, now: datetime) -> tuple[Source, Figures]:
    if campaign.status == CampaignStatus.reported:
        stored = latest_summary(campaign.id, session=session)
        if stored is not None:
            return "final", json.loads(stored.figures)
    return "live", compile_figures(campaign, session=session, now=now)


def split_forms(text: str | None) -> tuple[str, ...]:
    """`create --forms` as typed: 法律宣传进社区、现场咨询 (、，, or ; between them)."""
    if not text:
        return ()
    return tuple(part.strip() for part in re.split(r"[、，,;；]", text) if part.strip())


def _entry(
    campaign: Campaign, notes: CampaignNotes | None, *, session: Session, now: datetime
) -> CampaignEntry:
    first, last = local_days(campaign)
    partners = notes.partners if notes and notes.partners else campaign.partners
    given = notes.forms if notes and notes.forms else split_forms(campaign.activity_forms)
    forms = tuple(clean_text(f) for f in given if clean_text(f))
    common: dict[str, Any] = {
        "campaign_id": campaign.id,
        "kind": campaign.kind,
        "year": campaign.year,
        "title": clean_text(campaign.title) or campaign.id,
        "first_day": first,
        "last_day": last,
        "status": str(campaign.status),
        "venue": _clean_or_none(campaign.venue),
        "partners": _clean_or_none(partners),
        "forms": forms,
    }
    if campaign.status == CampaignStatus.cancelled:
        return CampaignEntry(source="cancelled", **common)
    if campaign.status == CampaignStatus.scheduled:
        return CampaignEntry(source="planned", **common)
    source, figures = _figures_of(campaign, session=session, now=now)
    return CampaignEntry(
        source=source,
        version=figures.get("version") if source == "final" else None,
        as_of=figures.get("as_of"),
        metrics=_metrics(campaign.kind, figures),
        figures=figures,
        **common,
    )


def gather_year(
    year: int,
    *,
    session: Session,
    now: datetime | None = None,
    notes: Mapping[str, CampaignNotes] | None = None,
) -> YearFigures:
    """Every campaign of `year` in date order, with its figures, and last year's totals."""
    now = now or utcnow()
    notes = notes or {}
    entries = tuple(
        _entry(c, notes.get(c.id), session=session, now=now)
        for c in list_campaigns(session=session, year=year)
    )
    before = tuple(
        _entry(c, None, session=session, now=now)
        for c in list_campaigns(session=session, year=year - 1)
    )
    previous_totals: dict[str, int] = {}
    info: dict[str, MetricFigure] = {}
    for entry in before:
        if entry.held:
            for m in entry.metrics:
                previous_totals[m.metric_id] = previous_totals.get(m.metric_id, 0) + m.total
                info.setdefault(m.metric_id, m)
    for entry in entries:
        for m in entry.metrics:
            info[m.metric_id] = m
    return YearFigures(
        year=year,
        entries=entries,
        previous_held=sum(1 for e in before if e.held),
        previous_totals=previous_totals,
        metric_info=info,
    )


def resolve_groups(figures: YearFigures, groups: Sequence[str]) -> list[tuple[str, ...]]:
    """`--group` values (`constitution-day+national-security-day`) as campaign ids.

    Each member is a campaign id or an observance kind (every campaign of that kind this
    year). A member that matches nothing, or a campaign named in two groups, is an error.
    """
    by_id = {e.campaign_id: e for e in figures.entries}
    resolved: list[tuple[str, ...]] = []
    seen: dict[str, str] = {}
    for group in groups:
        members: list[str] = []
        for token in (t.strip() for t in group.split("+")):
            if not token:
                raise InvalidInputError(f"--group {group!r}: an empty member")
            if token in by_id:
                matched = [token]
            else:
                matched = [e.campaign_id for e in figures.entries if e.kind == token]
            if not matched:
                known = sorted({e.kind for e in figures.entries} | set(by_id))
                raise InvalidInputError(
                    f"--group {group!r}: no campaign of {figures.year} is {token!r}"
                    + (f" (known: {', '.join(known)})" if known else " (the year has none)")
                )
            for campaign_id in matched:
                if campaign_id in seen:
                    raise InvalidInputError(
                        f"--group {group!r}: {campaign_id} is already in "
                        f"--group {seen[campaign_id]!r}"
                    )
                seen[campaign_id] = group
                members.append(campaign_id)
        resolved.append(tuple(members))
    return resolved
