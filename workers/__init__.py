"""The Celery edge: the app and its thin tasks, which turn ids into calls of the domain.

- `app` — the Celery app (Redis broker, JSON, late acks) and the beat schedule.
- `reliability` — the task base: transient retries with capped backoff, poison
  messages quarantined to dead letters.
- `sweep_clock` — every worker publishes the tally sweep, so lost chunks come back
  within a minute or two without a beat.
- `tally_tasks`, `summary_tasks`, `delivery_tasks` — the tasks, one module per wing.
"""
