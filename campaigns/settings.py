"""The one settings object: environment variables prefixed `CAMPAIGNS_` (or a `.env` file).

Unset, everything falls back to the embedded defaults of a single office machine: a SQLite
file and an outbox folder under the data dir, and an embedded Redis started by `serve`.
"""

from __future__ import annotations

from datetime import date, time
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CAMPAIGNS_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    data_dir: Path = Field(default=Path("campaigns-data"))
    # Secret because URLs carry passwords; use `.get_secret_value()` only where connecting.
    database_url: SecretStr | None = None
    broker_url: SecretStr | None = None
    smtp_url: SecretStr | None = None
    mail_from: str = "campaigns@localhost"
    mail_from_name: str = "宣传活动统计"
    # The year's report: the organisation in its title, and the 署名 above its date
    # (unset: the organisation's name).
    org_name: str = "市科学技术局"
    report_signature: str | None = None
    timezone: str = "Asia/Shanghai"
    # Local time of day (the campaign's timezone) the interim digest of running campaigns
    # goes out; "off" sends none.
    digest_time: str = "18:00"
    # MM-DD: from that day each year the dispatcher sends the past year's report to the
    # recipients of every campaign, and a new version whenever a correction changes it;
    # "off" sends it only on `campaigns report YEAR --send`.
    year_report_on: str = "off"
    # The reporting cycle: a campaign with participants takes their reports until the end of
    # its last day plus this many days, unless `create --report-by` says otherwise; each unit
    # that has not reported this many hours before that deadline gets one reminder.
    report_days: int = Field(default=3, ge=0, le=60)
    remind_before_hours: float = Field(default=24.0, ge=0)
    dispatch_interval_seconds: float = Field(default=60.0, gt=0)
    # Broker visibility timeout must exceed the task time limit, or Redis redelivers
    # a task that is still running (a tally chunk counted twice is prevented by keys,
    # but the work is wasted and an email send would race).
    task_time_limit_seconds: int = 300
    visibility_timeout_seconds: int = 900
    # Retries of 4xx replies, connection errors, 429/5xx: attempt n waits
    # min(backoff * 2**(n-1), backoff_max) seconds, or longer when the server says so
    # (Retry-After); after max_attempts the delivery is `failed`.
    delivery_max_attempts: int = Field(default=6, ge=1)
    delivery_backoff_seconds: float = Field(default=30.0, gt=0)
    delivery_backoff_max_seconds: float = Field(default=3600.0, gt=0)
    # Every SMTP socket operation, the wait for the reply to the final "." included.
    delivery_smtp_timeout_seconds: float = Field(default=60.0, gt=0)
    delivery_webhook_timeout_seconds: float = Field(default=15.0, gt=0)
    # A clerk who saw an error retypes the same `log`: the same log (same recorder, same
    # values) again within this many seconds is that repeat and counts once (`--new` says it
    # is another one). Long enough to read an error and retype; short enough that a genuine
    # second hand-out of the same figure later in the day is not swallowed. 0 turns it off.
    repeat_window_seconds: float = Field(default=600.0, ge=0)
    import_chunk_size: int = 5000
    # Storing a chunk takes well under a second; the limit only has to outlast SQLite's
    # 30 s busy timeout. Delivery tasks keep the longer `task_time_limit_seconds`.
    chunk_time_limit_seconds: int = Field(default=45, ge=5)
    # Every worker sweeps: a chunk the queue has already handed out (the sweep message came
    # after it) and still not stored after this long was held by a dead worker or lost by
    # the broker, and is published again. A chunk that was only slow is stored once anyway.
    sweep_after_seconds: float = Field(default=60.0, gt=0)
    # Counted failures (or worker crashes) of one task message before it is quarantined.
    poison_limit: int = 5
    retry_backoff_seconds: float = 1.0
    # Kept short: a retry is a broker message with an ETA, and ETAs should stay near-term.
    retry_backoff_max_seconds: float = 60.0

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {value!r}") from exc
        return value

    @field_validator("digest_time")
    @classmethod
    def _digest_time(cls, value: str) -> str:
        value = value.strip()
        if value.lower() in ("", "off"):
            return "off"
        try:
            time.fromisoformat(value)
        except ValueError as exc:
            raise ValueError(f"digest_time {value!r}: expected HH:MM or off") from exc
        return value

    @field_validator("year_report_on")
    @classmethod
    def _year_report_on(cls, value: str) -> str:
        value = value.strip()
        if value.lower() in ("", "off"):
            return "off"
        try:
            date.fromisoformat(f"2000-{value}")
        except ValueError as exc:
            raise ValueError(f"year_report_on {value!r}: expected MM-DD (01-10) or off") from exc
        return value

    @property
    def year_report_day(self) -> tuple[int, int] | None:
        if self.year_report_on == "off":
            return None
        month, day = self.year_report_on.split("-")
        return int(month), int(day)

    @property
    def digest_at(self) -> time | None:
        return None if self.digest_time == "off" else time.fromisoformat(self.digest_time)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def database_url_value(self) -> str:
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return f"sqlite:///{(self.data_dir / 'campaigns.db').resolve()}"

    @property
    def outbox_dir(self) -> Path:
        return self.data_dir / "outbox"

    @property
    def charts_dir(self) -> Path:
        return self.data_dir / "charts"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
