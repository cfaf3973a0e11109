"""The demo's reporting cycle: three units take part in the science week, and send their
sheets as units do, one during the week, one after its end, one only once reminded.

The shown campaign waits for them (its report-by deadline is seconds after its end, the
reminder window seconds before that); its summary is compiled the moment the last sheet
is stored, and reads by unit. The bundled sample is split by venue into the organiser's
own rows (本级) and two districts'; 浚县 has a sheet of its own.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlmodel import Session

# (code, name, parent, contact): the city and the three units taking part.
UNITS = (
    ("410600", "鹤壁市", None, None),
    ("410611", "淇滨区", "410600", "qibin@units.example"),
    ("410671", "高新区", "410600", "gaoxin@units.example"),
    ("410621", "浚县", "410600", "xunxian@units.example"),
)
PARTICIPANTS = ("淇滨区", "高新区", "浚县")
# Whose rows the sample's venues are: the rest are the organiser's own.
VENUE_UNITS = {"淇滨区社区": "淇滨区", "高新区企业": "高新区"}
# Seconds after the end: the deadline, and how long before it the reminder goes.
REPORT_AFTER_END = 16.0
REMIND_BEFORE_SECONDS = 11.0
LATE_UNIT = "浚县"


def add_units(*, session: Session, actor: str) -> None:
    from campaigns.planning.units import UnitRow, import_units

    rows = [UnitRow(code, name, parent, contact, "demo") for code, name, parent, contact in UNITS]
    import_units(rows, session=session, actor=actor)


def split_sample(kind: str, samples: Path) -> dict[str | None, Path]:
    """The bundled sheet split by who held the activity: unit name (None: 本级) -> sheet."""
    source = resources.files("campaigns").joinpath("data", f"demo-{kind}.csv")
    text = source.read_bytes().decode("utf-8-sig")
    title, header, *rows = text.splitlines()
    venue_column = next(csv.reader([header])).index("地点")
    parts: dict[str | None, list[str]] = {}
    for line in rows:
        venue = next(csv.reader([line]))[venue_column]
        parts.setdefault(VENUE_UNITS.get(venue), []).append(line)
    sheets = {}
    for unit, lines in parts.items():
        sheet = samples / f"{kind}-{unit or '本级'}.csv"
        sheet.write_text("\n".join([title, header, *lines]) + "\n", encoding="utf-8-sig")
        sheets[unit] = sheet
    late = samples / f"{kind}-{LATE_UNIT}.csv"
    late.write_bytes(
        resources.files("campaigns").joinpath("data", f"demo-{kind}-xunxian.csv").read_bytes()
    )
    sheets[LATE_UNIT] = late
    return sheets


def wait_for_reminder(unit: str, *, timeout: float, alive: Callable[[], bool]) -> None:
    """Until the unit's reminder has been sent (to the outbox)."""
    from sqlmodel import col, select

    from campaigns.db import session_scope
    from campaigns.models import Delivery, DeliveryStatus, Recipient, ReportingUnit

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive():
        with session_scope() as session:
            query = (
                select(Delivery.status, ReportingUnit.name)
                .join(Recipient, col(Recipient.id) == col(Delivery.recipient_id))
                .join(ReportingUnit, col(ReportingUnit.code) == col(Recipient.unit_code))
                .where(col(Delivery.reminder_id).is_not(None), ReportingUnit.name == unit)
            )
            if any(status == DeliveryStatus.sent for status, _ in session.exec(query)):
                return
        time.sleep(0.3)
    raise TimeoutError(f"no reminder to {unit} within {timeout:g} s")


def reminder_subject(outbox: Path) -> str:
    """The subject of the reminder mail in the outbox (decoded), for the demo to show."""
    from email import policy
    from email.parser import BytesParser

    for path in sorted(outbox.glob("*.eml")):
        message = BytesParser(policy=policy.default).parse(io.BytesIO(path.read_bytes()))
        subject = str(message["Subject"] or "")
        if "催报" in subject:
            return subject
    return ""
