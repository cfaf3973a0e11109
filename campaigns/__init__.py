"""campaigns: public-awareness campaigns planned, counted, summarised and delivered.

One package per step of the flow, each importing only the ones below it (checked by
`lint-imports`, contract in pyproject.toml):

- `cli` — the `campaigns` command (with `workers/`, the Celery edge): arguments into calls.
- `runtime` — what runs it: the dispatcher, `serve`, the embedded Redis, the demo.
- `delivery` — who receives a summary and how: recipients, email, SMTP, chat robots.
- `reports` — the year's report as an official document.
- `summaries` — what the counts say: figures, official numerals, text, charts, attachments.
- `tallies` — what is counted: import files, storage, the sweeper.
- `planning` — what is planned: observances, metrics, campaigns, their lifecycle.
- the root — `settings`, `models` (+ `migrations/`), `db`, `writer_lock`, `errors`,
  `audit`, `when`: the ground every step stands on.
"""
