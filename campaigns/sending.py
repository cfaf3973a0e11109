"""One delivery attempt over the wire: compose the message, send it, classify what happened.

No database here (see `delivery`): this runs between claim and record_outcome.
"""

from __future__ import annotations

import os
import tempfile
from datetime import date
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from campaigns.delivery import DeliveryJob, Outcome, is_email, webhook_secret
from campaigns.models import DeliveryStatus
from campaigns.render import heading, render, table_rows
from campaigns.settings import Settings

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def subject(figures: dict[str, Any]) -> str:
    c = figures["campaign"]
    first, last = date.fromisoformat(c["first_day"]), date.fromisoformat(c["last_day"])
    period = f"{first.month}月{first.day}日"
    if last != first:
        period += f"—{last.month}月{last.day}日"
    return f"【宣传活动成果】{c['title']}（{period}）"


def chart_series(figures: dict[str, Any]) -> dict[str, dict[date, int]]:
    series = {}
    for metric_id, by_day in figures["by_day"].items():
        m = figures["metrics"].get(metric_id, {})
        label = f"{m.get('zh', metric_id)}（{m.get('unit', '')}）"
        series[label] = {date.fromisoformat(day): total for day, total in by_day.items()}
    return series


def attachments(figures: dict[str, Any]) -> list[tuple[str, bytes, str]]:
    from campaigns.exports import table_to_csv, table_to_xlsx

    headers, rows = table_rows(figures, "zh")
    day_rows = [
        [figures["metrics"].get(m, {}).get("zh", m), day, total]
        for m, days in figures["by_day"].items()
        for day, total in days.items()
    ]
    venue_rows = [
        [figures["metrics"].get(m, {}).get("zh", m), venue or "（未注明）", total]
        for m, venues in figures["by_venue"].items()
        for venue, total in venues.items()
    ]
    xlsx = table_to_xlsx(
        [
            ("汇总", headers, rows),
            ("按日", ["指标", "日期", "合计"], day_rows),
            ("按地点", ["指标", "地点", "合计"], venue_rows),
        ]
    )
    stem = figures["campaign"]["id"]
    return [
        (f"{stem}.xlsx", xlsx, XLSX_TYPE),
        (f"{stem}.csv", table_to_csv(headers, rows), "text/csv"),
    ]


def compose_email(job: DeliveryJob, *, settings: Settings) -> EmailMessage:
    from campaigns.chart import render_daily_chart_bytes
    from campaigns.mail import build_summary_message

    figures = job.figures
    text = render(figures, lang="zh", fmt="text") + "\n\n" + render(figures, lang="en", fmt="text")
    html = render(figures, lang="zh", fmt="html")
    chart = render_daily_chart_bytes(chart_series(figures), title=heading(figures, "zh"))
    html = html.replace(
        "</body>",
        '<p><img src="cid:chart" alt="每日统计图" style="max-width:100%"></p>'
        f"<hr>{render(figures, lang='en', fmt='html').split('<body', 1)[1].split('>', 1)[1]}",
    )
    return build_summary_message(
        sender=settings.mail_from,
        sender_name=settings.mail_from_name,
        to=job.address,
        to_name=job.name,
        subject=subject(figures),
        text=text,
        html=html,
        message_id=job.message_id,
        chart_png=chart,
        attachments=attachments(figures),
    )


def write_outbox(message: EmailMessage, *, outbox: Path, name: str) -> Path:
    """Atomically: a reader never sees half a file, a crash leaves no partial .eml."""
    outbox.mkdir(parents=True, exist_ok=True)
    target = outbox / f"{name}.eml"
    fd, temp = tempfile.mkstemp(dir=outbox, prefix=".tmp-", suffix=".eml")
    with os.fdopen(fd, "wb") as handle:
        handle.write(message.as_bytes())
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, target)
    return target


def send(job: DeliveryJob, *, settings: Settings) -> Outcome:
    if is_email(job):
        return _send_email(job, settings=settings)
    return _send_webhook(job)


def _send_email(job: DeliveryJob, *, settings: Settings) -> Outcome:
    from campaigns.mail import HeaderInjectionError
    from campaigns.smtp import (
        SmtpPermanentError,
        SmtpTemporaryError,
        SmtpUnknownOutcome,
        parse_smtp_url,
        send_message,
    )

    try:
        message = compose_email(job, settings=settings)
    except HeaderInjectionError as exc:
        return Outcome(DeliveryStatus.failed, str(exc))
    if settings.smtp_url is None:
        name = f"{job.figures['campaign']['id']}-v{job.summary_version}-{job.delivery_id}"
        write_outbox(message, outbox=settings.outbox_dir, name=name)
        return Outcome(DeliveryStatus.sent)
    try:
        config = parse_smtp_url(settings.smtp_url.get_secret_value())
        result = send_message(message, config=config, recipients=[job.address])
    except SmtpUnknownOutcome as exc:
        return Outcome(DeliveryStatus.unknown, str(exc))
    except SmtpPermanentError as exc:
        return Outcome(DeliveryStatus.failed, str(exc))
    except SmtpTemporaryError as exc:
        return Outcome(DeliveryStatus.retrying, str(exc))
    except ValueError as exc:
        return Outcome(DeliveryStatus.failed, f"CAMPAIGNS_SMTP_URL: {exc}")
    if job.address in result.refused:
        code, reason = result.refused[job.address]
        status = DeliveryStatus.retrying if 400 <= code < 500 else DeliveryStatus.failed
        return Outcome(status, f"refused by the server: {code} {reason}")
    return Outcome(DeliveryStatus.sent)


def _send_webhook(job: DeliveryJob) -> Outcome:
    from campaigns.webhooks import (
        WebhookError,
        WebhookRejectedError,
        WebhookRetryableError,
        post_summary,
    )

    figures = job.figures
    try:
        post_summary(
            job.channel,  # type: ignore[arg-type]
            job.address,
            title=heading(figures, "zh"),
            markdown=render(figures, lang="zh", fmt="markdown"),
            text=render(figures, lang="zh", fmt="text"),
            secret=webhook_secret(job),
            extra={"campaign_id": figures["campaign"]["id"]},
        )
    except WebhookRetryableError as exc:
        return Outcome(DeliveryStatus.retrying, str(exc), retry_after=exc.retry_after)
    except WebhookRejectedError as exc:
        return Outcome(DeliveryStatus.failed, str(exc))
    except WebhookError as exc:
        return Outcome(DeliveryStatus.failed, str(exc))
    return Outcome(DeliveryStatus.sent)
