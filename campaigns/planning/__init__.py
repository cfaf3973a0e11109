"""Planning: what is planned and who takes part, and how a campaign moves along.

- `observances` — the four built-in observances and their date rules; a year's calendar.
- `metrics` — the catalogue of what is counted (built-in and custom metrics, Chinese names).
- `campaigns` — creating, finding and listing campaigns; laying out a year's calendar.
- `lifecycle` — the compare-and-set transitions `scheduled → running → closed → reported`.
- `ical` — the year's campaigns as an iCalendar file.
"""
