"""Tallies: what is counted, from the sheet a county sends to the rows the summary reads.

- `sheets/` — reading import files (CSV, .xlsx) into checked rows; no database there.
- `chunks` — an import made ready to publish: accepted rows as chunks, the file's digest.
- `row_units` — each imported row's 单位 text resolved to a reporting unit's code.
- `encoding` — how tallies travel to the workers: `NewTally`, columns, chunk messages.
- `checks` — whether a campaign takes a tally: status, time window, quantity.
- `store` — idempotent storage of a chunk with the rollups kept in step (PostgreSQL, SQLite).
- `batches` — one publication (an import, a logged tally), its progress, and the report of
  units it completes.
- `repeats` — the same `log` typed again: found by a digest of what was typed, counted once.
- `sweeper` — chunks published but not yet stored, and the sweep that re-publishes them.
- `totals` — running totals per metric from the rollups.
- `by_unit` — what each reporting unit has sent, from the by-unit rollup (`progress`).
- `templates` — the fill-in 统计表 (.xlsx, wide layout) a campaign sends its counties; pure.
"""
