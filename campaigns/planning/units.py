"""The reporting units kept in the database: loaded as a directory, imported, added, removed.

An import file lists one unit a row (`code/编码`, `name/名称`, `parent/上级` as a code or a
name, empty for the top, an optional `contact/联系方式`); importing it again updates the
units it names and never duplicates one. The whole file is checked before anything is
written: a duplicate code, an unknown parent or a unit its own ancestor is one error naming
the row, and nothing changes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlmodel import Session, col, select

from campaigns.audit import record_event
from campaigns.errors import ConflictError, InvalidInputError, NotFoundError
from campaigns.models import Participant, ReportingUnit, UnitRollup, utcnow
from campaigns.planning.unit_directory import Unit, UnitDirectory, find_cycle

_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$")


def load_directory(*, session: Session) -> UnitDirectory:
    rows = session.exec(select(ReportingUnit)).all()
    return UnitDirectory(Unit(r.code, r.name, r.parent_code, r.contact) for r in rows)


@dataclass(frozen=True, slots=True)
class UnitRow:
    """One unit as a file or a command gives it; `where` names it in errors (file:row)."""

    code: str
    name: str
    parent: str | None
    contact: str | None
    where: str


def check_unit_text(value: str, *, what: str, where: str, limit: int) -> str:
    value = " ".join(value.split())
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise InvalidInputError(f"{where}: {what}: control characters are not allowed")
    if len(value) > limit:
        raise InvalidInputError(f"{where}: {what}: longer than {limit} characters")
    return value


def check_contact(contact: str, *, where: str) -> str:
    contact = contact.strip()
    if "@" in contact and " " not in contact and not contact.startswith("http"):
        local, _, domain = contact.rpartition("@")
        if local and "." in domain:
            return contact
    elif contact.startswith("https://") or contact.startswith("http://"):
        return contact
    raise InvalidInputError(
        f"{where}: contact {contact!r}: expected an email address or a robot URL (https://…)"
    )


def import_units(
    rows: Sequence[UnitRow], *, session: Session, actor: str
) -> tuple[list[str], list[str]]:
    """Create or update the units of `rows` (checked as a whole first); (created, updated)."""
    known = load_directory(session=session)
    seen: dict[str, UnitRow] = {}
    for row in rows:
        if not _CODE.match(row.code):
            raise InvalidInputError(
                f"{row.where}: code {row.code!r}: use letters, digits, '.', '-' or '_'"
            )
        if not row.name:
            raise InvalidInputError(f"{row.where}: name is empty")
        if row.code in seen:
            raise InvalidInputError(
                f"{row.where}: code {row.code} appears twice (also {seen[row.code].where})"
            )
        seen[row.code] = row
    names_in_file: dict[str, list[str]] = {}
    for row in rows:
        names_in_file.setdefault(row.name, []).append(row.code)
    parents: dict[str, str | None] = {u.code: u.parent for u in known.by_code.values()}
    for row in rows:
        parents[row.code] = _parent_code(row, seen, names_in_file, known)
    cycle = find_cycle(parents)
    if cycle is not None:
        where = seen[cycle[0]].where if cycle[0] in seen else cycle[0]
        raise InvalidInputError(f"{where}: the units form a loop: {' → '.join(cycle)}")
    siblings: dict[tuple[str | None, str], str] = {}
    for code, parent in parents.items():
        name = seen[code].name if code in seen else known.by_code[code].name
        other = siblings.setdefault((parent, name), code)
        if other != code:
            where = seen[code].where if code in seen else code
            raise InvalidInputError(
                f"{where}: {name} twice under the same parent ({other} and {code})"
            )
    now = utcnow()
    created, updated = [], []
    # Parents before children, so each row's parent exists when the row is written.
    order = _top_down(parents, list(seen))
    for code in order:
        row = seen[code]
        stored = session.get(ReportingUnit, code)
        if stored is None:
            session.add(
                ReportingUnit(
                    code=code,
                    name=row.name,
                    parent_code=parents[code],
                    contact=row.contact,
                    created_at=now,
                    updated_at=now,
                )
            )
            created.append(code)
        elif (stored.name, stored.parent_code, stored.contact) != (
            row.name,
            parents[code],
            row.contact,
        ):
            stored.name, stored.parent_code, stored.contact = row.name, parents[code], row.contact
            stored.updated_at = now
            session.add(stored)
            updated.append(code)
        session.flush()
    if created or updated:
        record_event(
            "units.imported",
            session=session,
            actor=actor,
            data={"created": created, "updated": updated},
            at=now,
        )
    return created, updated


def _parent_code(
    row: UnitRow,
    in_file: dict[str, UnitRow],
    names_in_file: dict[str, list[str]],
    known: UnitDirectory,
) -> str | None:
    if not row.parent:
        return None
    if row.parent in in_file or row.parent in known:
        return row.parent
    named = names_in_file.get(row.parent, [])
    if len(named) == 1:
        return named[0]
    if len(named) > 1:
        raise InvalidInputError(
            f"{row.where}: parent {row.parent}: {len(named)} units have that name: give the code"
        )
    unit = known.find(row.parent)
    if unit is None:
        raise InvalidInputError(f"{row.where}: parent {row.parent!r}: no such unit")
    return unit.code


def _top_down(parents: dict[str, str | None], codes: list[str]) -> list[str]:
    def depth(code: str) -> int:
        steps, parent = 0, parents.get(code)
        while parent is not None:
            steps += 1
            parent = parents.get(parent)
        return steps

    return sorted(codes, key=lambda code: (depth(code), code))


def remove_unit(text: str, *, session: Session, actor: str) -> ReportingUnit:
    """Remove a unit nothing refers to: refused while tallies, campaigns or sub-units use it."""
    unit = load_directory(session=session).find(text)
    if unit is None:
        raise NotFoundError(f"unknown reporting unit {text!r} (see `campaigns units list`)")
    row = session.get(ReportingUnit, unit.code)
    assert row is not None
    # The by-unit rollup has a row wherever a tally names the unit: no scan of the tallies.
    used = session.exec(
        select(UnitRollup.campaign_id).where(UnitRollup.unit == unit.code).limit(1)
    ).first()
    if used is not None:
        raise ConflictError(f"{unit.name} ({unit.code}) has tallies in {used}: it is kept")
    taking_part = session.exec(
        select(Participant.campaign_id).where(Participant.unit_code == unit.code).limit(1)
    ).first()
    if taking_part is not None:
        raise ConflictError(
            f"{unit.name} ({unit.code}) takes part in {taking_part}:"
            f" `campaigns participants {taking_part} remove {unit.code}` first"
        )
    child = session.exec(
        select(ReportingUnit.code).where(col(ReportingUnit.parent_code) == unit.code).limit(1)
    ).first()
    if child is not None:
        raise ConflictError(f"{unit.name} ({unit.code}) has sub-units (e.g. {child})")
    session.delete(row)
    record_event(
        "units.removed", session=session, actor=actor, data={"code": unit.code, "name": unit.name}
    )
    return row
