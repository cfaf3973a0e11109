"""An import made ready to publish: its accepted rows as broker chunks, its file's digest.

The chunks are made straight from the columns of `AcceptedRows`, one chunk at a time as they
are sent, so that no `TallyRow` is made and the first chunks leave while the rest wait.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from hashlib import blake2b
from operator import itemgetter
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from campaigns.models import Campaign
from campaigns.tallies.encoding import encode_chunk, utc_text
from campaigns.tallies.sheets.accepted import AcceptedRows
from campaigns.tallies.sheets.cells import CACHE_LIMIT


def file_digest(path: Path, *, unit: str | None = None) -> str:
    """The file's BLAKE2b digest: a batch records it, so that the same file imported again
    is known (`batches.completed_import`). Imported for a unit (`import --unit`), the unit's
    code comes first: the same file for another unit is another import."""
    digest = blake2b(digest_size=32)
    if unit is not None:
        digest.update(f"unit:{unit}\n".encode())
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def import_chunks(
    rows: AcceptedRows,
    campaign: Campaign,
    *,
    size: int,
    source: str,
    actor: str,
    reports_for: Sequence[str] = (),
) -> Iterator[dict[str, Any]]:
    """The validated rows as broker chunks, encoded one chunk at a time as they are sent; their
    units are the codes the import resolved (`row_units`), and each chunk names the units the
    import is the report of (`encoding.encode_chunk`)."""
    zone = ZoneInfo(campaign.timezone)
    # A row without a time counts on the campaign's first moment.
    times: dict[datetime | None, tuple[str, str]] = {}

    def stored_time(moment: datetime | None) -> tuple[str, str]:
        at = moment or campaign.start_at
        return utc_text(at), at.astimezone(zone).date().isoformat()

    # Quantities repeat: one text each, made once.
    quantity_texts: dict[int, str] = {}
    # Who recorded a row: as written, else the user who imports.
    recorder: dict[str | None, str] = {None: actor, "": actor}
    for start in range(0, len(rows), size):
        stop = start + size
        # Bounded: a file of all-different times or quantities must not double its memory.
        for cache in (times, quantity_texts):
            if len(cache) > CACHE_LIMIT:
                cache.clear()
        quantities = rows.quantity[start:stop]
        for quantity in set(quantities).difference(quantity_texts):
            quantity_texts[quantity] = str(quantity)
        moments = rows.occurred_at[start:stop]
        for moment in dict.fromkeys(moments):
            if moment not in times:
                times[moment] = stored_time(moment)
        texts = list(map(times.__getitem__, moments))
        recorded_by = rows.recorded_by[start:stop]
        count = len(moments)
        columns: dict[str, Sequence[str | None]] = {
            "metric": rows.metric[start:stop],
            "item": rows.item[start:stop],
            "venue": rows.venue[start:stop],
            "note": rows.note[start:stop],
            "key": rows.keys(start, stop),
            "quantity": list(map(quantity_texts.__getitem__, quantities)),
            "occurred_at": list(map(itemgetter(0), texts)),
            "day": list(map(itemgetter(1), texts)),
            "recorded_by": list(map(recorder.get, recorded_by, recorded_by)),
            "is_correction": ["0"] * count,
            "reason": [None] * count,
            "unit": rows.units(start, stop),
        }
        yield encode_chunk(columns, source=source, reports_for=reports_for)
