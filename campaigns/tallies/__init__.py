"""Tallies: what is counted, from the sheet a county sends to the rows the summary reads.

- `sheets/` — reading import files (CSV, .xlsx) into checked rows; no database there.
- `chunks` — an import made ready to publish: accepted rows as chunks, the file's digest.
- `encoding` — how tallies travel to the workers: `NewTally`, columns, chunk messages.
- `checks` — whether a campaign takes a tally: status, time window, quantity.
- `store` — idempotent storage of a chunk with the rollups kept in step (PostgreSQL, SQLite).
- `batches` — one publication (an import, a logged tally) and its progress.
- `repeats` — the same `log` typed again: found by a digest of what was typed, counted once.
- `sweeper` — chunks published but not yet stored, and the sweep that re-publishes them.
- `totals` — running totals per metric from the rollups.
- `templates` — the fill-in 统计表 (.xlsx, wide layout) a campaign sends its counties; pure.
"""
