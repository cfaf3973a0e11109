"""Summaries: what the counts say, compiled once and rendered for every reader.

- `figures` — the summary's figures from the rollups: totals, by day and venue, targets.
- `by_unit` — the by-unit figures: each reporting unit's totals and share, who reported.
- `versions` — summaries stored as numbered versions, and the evening digests.
- `numerals` — figures the way official reports write them (300余份, 近10000人次, 1.5万余份).
- `prose` — the narrative in the official style, Chinese and English, from the figures.
- `unit_prose` — the narrative's sentences on units (全市7个县区共…, 尚未报送, 报送进度).
- `render` — the entry points (`render`, `render_many`), headings and exact-figure tables.
- `formats` — a document as plain text (display-width columns), Markdown or escaped HTML.
- `chart` — PNG bar charts of the daily tallies (or one bar per unit), Chinese labels.
- `exports` — the tables as .xlsx and Excel-friendly CSV attachments, formulas neutralised.
- `workbook` — the summary's own sheets (汇总, 按日, 按地点, 按单位统计) as .xlsx and CSV.
"""
