"""The text of a CSV import file: its encoding detected, and cut into blocks of whole lines.

CSV is UTF-8 (with or without BOM) or GB18030: what Excel and WPS write in China. A workbook
or UTF-16 text under a .csv name is refused with a message that says what to do instead.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from pathlib import Path

from campaigns.tallies.sheets.import_errors import ImportFileError

# CSV text is split into lines this many characters (and up to a line) at a time.
_BLOCK_CHARS = 1 << 20

# Text that only the csv module reads right: quotes, NUL (an error there), and the line
# breaks that str.splitlines knows but CSV does not.
NOT_PLAIN = re.compile('["\x00\x0b\x0c\x1c-\x1e\x85\u2028\u2029]')


def blocks(text: str) -> Iterator[str]:
    """`text` in parts of whole lines: the lines of the parts are those of `text`, without
    holding them all at once (a million lines take more memory than the text itself).

    A part ends just after a line feed, which ends a line whatever comes before it (a carriage
    return and line feed are one line break, never split).
    """
    start = 0
    while start < len(text):
        end = text.find("\n", start + _BLOCK_CHARS)
        end = len(text) if end < 0 else end + 1
        yield text[start:end]
        start = end


def csv_text(path: Path) -> str:
    """The file's text: UTF-8 (BOM or not) when it is valid UTF-8, else GB18030 when valid."""
    name = path.name
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ImportFileError(f"{name}: cannot read the file ({error.strerror})") from None
    if data.startswith(b"PK\x03\x04"):
        raise ImportFileError(f"{name}: an Excel workbook, not CSV; name it .xlsx (or .ods)")
    if data.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        raise ImportFileError(f"{name}: an old Excel workbook, not CSV; name it .xls")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise ImportFileError(
            f"{name}: UTF-16 text is not supported; save it as 'CSV UTF-8' in Excel"
        )
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ImportFileError(
        f"{name}: the text is neither UTF-8 nor GB18030; save it as 'CSV UTF-8' in Excel"
    )
