"""Planning: what is planned and who takes part, and how a campaign moves along.

- `observances` — the four built-in observances and their date rules; a year's calendar.
- `metrics` — the catalogue of what is counted (built-in and custom metrics, Chinese names).
- `campaigns` — creating, finding and listing campaigns; laying out a year's calendar.
- `lifecycle` — the compare-and-set transitions `scheduled → running → closed → reported`.
- `ical` — the year's campaigns as an iCalendar file.
- `unit_directory` — the reporting units' tree in memory: find, walk, roll totals up.
- `units` — importing the reporting units (CSV/xlsx), listing and removing them.
- `participants` — who takes part in a campaign, who has reported, when its summary is due.
"""
