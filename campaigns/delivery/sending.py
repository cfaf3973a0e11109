"""One delivery attempt over the wire: compose the message, send it, classify what happened.

No database here (see `transitions`): this runs between claim and record_outcome. The caller
passes `hand_over`, called once right before the message can no longer be taken back
(before SMTP's final ".", the webhook request, the outbox file's rename): it records that
from then on the recipient may have the message, or raises `HandoverRefused` to stop.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from email.message import EmailMessage
from html import escape as escape_html
from pathlib import Path
from typing import Any

from campaigns.models import DeliveryStatus, RecipientChannel
from campaigns.settings import Settings
from campaigns.summaries.render import chart_series, heading, render

HandOver = Callable[[], None]


class HandoverRefused(Exception):
    """The attempt lost its claim before the message left: it must not be sent."""


@dataclass(frozen=True)
class YearReportMail:
    """A version of the year's report as it was frozen (campaigns.reports.versions)."""

    year: int
    version: int
    title: str
    zh_text: str
    en_text: str
    zh_html: str
    zh_markdown: str
    changes: str | None
    docx: bytes
    pdf: bytes


@dataclass(frozen=True)
class ReminderMail:
    """A reminder to a unit that has not reported, its words composed when it was claimed
    (campaigns.delivery.reminders)."""

    campaign_id: str
    unit_code: str
    unit_name: str
    subject: str
    zh_text: str
    en_text: str
    # The short message a chat-group robot gets.
    robot_text: str


@dataclass(frozen=True)
class DeliveryJob:
    """Everything one attempt needs, read from the database when it was claimed."""

    delivery_id: int
    channel: str
    address: str
    name: str | None
    secret_env: str | None
    message_id: str
    attempt: int
    # Who holds this attempt (the broker task id, or a random token): with `attempt`, the
    # fencing token that the hand-over and the outcome must still match.
    claim: str
    summary_version: int
    figures: dict[str, Any]
    # Set instead of `figures` for a delivery of the year's report, or of a reminder.
    year_report: YearReportMail | None = None
    reminder: ReminderMail | None = None


@dataclass(frozen=True)
class Outcome:
    status: DeliveryStatus
    error: str | None = None
    # Seconds the server asked us to wait (Retry-After), for a `retrying` outcome.
    retry_after: float | None = None


XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def subject(figures: dict[str, Any]) -> str:
    if figures.get("kind") == "digest":
        return f"【宣传活动阶段性统计】{heading(figures, 'zh')}"
    c = figures["campaign"]
    first, last = date.fromisoformat(c["first_day"]), date.fromisoformat(c["last_day"])
    period = f"{first.month}月{first.day}日"
    if last != first:
        period += f"—{last.month}月{last.day}日"
    return f"【宣传活动成果】{c['title']}（{period}）"


def attachments(
    figures: dict[str, Any], *, settings: Settings | None = None
) -> list[tuple[str, bytes, str]]:
    """The figures as .xlsx and .csv; a final summary adds its one-page 成果统计 (.docx,
    GB/T 9704), signed with the settings' organisation and dated the day it was compiled."""
    from campaigns.reports.campaign_sheet import write_campaign_docx
    from campaigns.settings import get_settings
    from campaigns.summaries.prose import is_digest
    from campaigns.summaries.workbook import summary_csvs, summary_xlsx

    # With reporting units the workbook has a 按单位统计 sheet and a CSV of its own.
    stem = figures["campaign"]["id"]
    files = [(f"{stem}.xlsx", summary_xlsx(figures), XLSX_TYPE)]
    files += [(name, data, "text/csv") for name, data in summary_csvs(figures)]
    if is_digest(figures):
        return files
    settings = settings or get_settings()
    as_of = figures.get("as_of")
    dated = date.fromisoformat(as_of[:10]) if as_of else datetime.now(settings.zone).date()
    version = int(figures.get("version") or 1)
    sheet = write_campaign_docx(
        figures,
        version=version,
        org_name=settings.org_name,
        signature=settings.report_signature,
        dated=dated,
    )
    return [*files, (f"{stem}-v{version}-成果统计.docx", sheet, DOCX_TYPE)]


DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def report_subject(report: YearReportMail) -> str:
    edition = f"（第{report.version}版）" if report.version > 1 else ""
    return f"{report.title}{edition}"


def compose_report_email(
    job: DeliveryJob, report: YearReportMail, *, settings: Settings
) -> EmailMessage:
    """The year's report: its text (changes first, for a later version), .docx and PDF."""
    from campaigns.delivery.mail import build_summary_message

    changes = f"{report.changes}\n\n" if report.changes else ""
    changes_html = (
        f"<p><strong>{escape_html(report.changes)}</strong></p>" if report.changes else ""
    )
    stem = f"{report.year}年度报告-v{report.version}"
    return build_summary_message(
        sender=settings.mail_from,
        sender_name=settings.mail_from_name,
        to=job.address,
        to_name=job.name,
        subject=report_subject(report),
        text=f"{changes}{report.zh_text}\n\n{report.en_text}",
        html=_after_body_tag(report.zh_html, changes_html),
        message_id=job.message_id,
        attachments=[
            (f"{stem}.docx", report.docx, DOCX_TYPE),
            (f"{stem}.pdf", report.pdf, "application/pdf"),
        ],
    )


def compose_reminder_email(
    job: DeliveryJob, reminder: ReminderMail, *, settings: Settings
) -> EmailMessage:
    """A reminder: one official paragraph signed by the organiser, then the English line."""
    from campaigns.delivery.mail import build_summary_message

    paragraphs = [reminder.zh_text, settings.org_name, reminder.en_text]
    body = "".join(f"<p>{escape_html(p)}</p>" for p in paragraphs)
    return build_summary_message(
        sender=settings.mail_from,
        sender_name=settings.mail_from_name,
        to=job.address,
        to_name=job.name,
        subject=reminder.subject,
        text="\n\n".join(paragraphs),
        html=f'<!DOCTYPE html><html lang="zh-CN"><meta charset="utf-8"><body>{body}</body></html>',
        message_id=job.message_id,
    )


def _after_body_tag(document: str, insert: str) -> str:
    head, tag, rest = document.partition("<body")
    if not tag:
        return insert + document
    attributes, close, content = rest.partition(">")
    return f"{head}{tag}{attributes}{close}{insert}{content}"


def compose_email(job: DeliveryJob, *, settings: Settings) -> EmailMessage:
    from campaigns.delivery.mail import build_summary_message, check_header_value
    from campaigns.summaries.chart import render_daily_chart_bytes

    if job.year_report is not None:
        return compose_report_email(job, job.year_report, settings=settings)
    if job.reminder is not None:
        return compose_reminder_email(job, job.reminder, settings=settings)
    figures = job.figures
    # Checked again when the message is built; first here, so a hostile title is refused
    # before the chart is drawn for nothing.
    title = check_header_value("Subject", subject(figures))
    text = render(figures, lang="zh", fmt="text") + "\n\n" + render(figures, lang="en", fmt="text")
    html = render(figures, lang="zh", fmt="html")
    chart = render_daily_chart_bytes(chart_series(figures), title=heading(figures, "zh"))
    html = html.replace(
        "</body>",
        '<p><img src="cid:chart" alt="统计图" style="max-width:100%"></p>'
        f"<hr>{render(figures, lang='en', fmt='html').split('<body', 1)[1].split('>', 1)[1]}",
    )
    return build_summary_message(
        sender=settings.mail_from,
        sender_name=settings.mail_from_name,
        to=job.address,
        to_name=job.name,
        subject=title,
        text=text,
        html=html,
        message_id=job.message_id,
        chart_png=chart,
        attachments=attachments(figures, settings=settings),
    )


def write_outbox(
    message: EmailMessage, *, outbox: Path, name: str, before_rename: HandOver | None = None
) -> Path:
    """Atomically: a reader never sees half a file, a crash leaves no partial .eml."""
    outbox.mkdir(parents=True, exist_ok=True)
    target = outbox / f"{name}.eml"
    fd, temp = tempfile.mkstemp(dir=outbox, prefix=".tmp-", suffix=".eml")
    with os.fdopen(fd, "wb") as handle:
        handle.write(message.as_bytes())
        handle.flush()
        os.fsync(handle.fileno())
    if before_rename is not None:
        try:
            before_rename()
        except BaseException:
            os.unlink(temp)
            raise
    os.replace(temp, target)
    return target


def send(job: DeliveryJob, *, settings: Settings, hand_over: HandOver) -> Outcome:
    if job.channel == RecipientChannel.email:
        return _send_email(job, settings=settings, hand_over=hand_over)
    return _send_webhook(job, hand_over=hand_over)


def _send_email(job: DeliveryJob, *, settings: Settings, hand_over: HandOver) -> Outcome:
    from campaigns.delivery.smtp import send_message
    from campaigns.delivery.smtp_config import parse_smtp_url
    from campaigns.delivery.smtp_outcomes import (
        SmtpPermanentError,
        SmtpTemporaryError,
        SmtpUnknownOutcome,
    )

    try:
        # HeaderInjectionError (CR/LF in a title that got into the database) is a
        # ValueError: refused before anything is sent, and never worth retrying.
        message = compose_email(job, settings=settings)
    except ValueError as exc:
        return Outcome(DeliveryStatus.failed, f"message refused before sending: {exc}")
    if settings.smtp_url is None:
        if job.year_report is not None:
            name = f"year-report-{job.year_report.year}-v{job.summary_version}"
        elif job.reminder is not None:
            name = f"{job.reminder.campaign_id}-reminder-{job.reminder.unit_code}"
        else:
            name = f"{job.figures['campaign']['id']}-v{job.summary_version}"
        name = f"{name}-{job.delivery_id}"
        write_outbox(message, outbox=settings.outbox_dir, name=name, before_rename=hand_over)
        return Outcome(DeliveryStatus.sent)
    try:
        config = parse_smtp_url(settings.smtp_url.get_secret_value())
    except ValueError as exc:
        return Outcome(DeliveryStatus.failed, f"CAMPAIGNS_SMTP_URL: {exc}")
    config = dataclasses.replace(config, timeout=settings.delivery_smtp_timeout_seconds)
    try:
        send_message(message, config=config, recipients=[job.address], before_final_dot=hand_over)
    except SmtpUnknownOutcome as exc:
        return Outcome(DeliveryStatus.unknown, str(exc))
    except SmtpPermanentError as exc:
        return Outcome(DeliveryStatus.failed, str(exc))
    except SmtpTemporaryError as exc:
        return Outcome(DeliveryStatus.retrying, str(exc))
    except ValueError as exc:
        return Outcome(DeliveryStatus.failed, f"message refused before sending: {exc}")
    # One recipient per send, so its refusal at RCPT (4xx or 5xx) was raised above.
    return Outcome(DeliveryStatus.sent)


def _send_webhook(job: DeliveryJob, *, hand_over: HandOver) -> Outcome:
    from campaigns.delivery.webhook_robots import post_summary
    from campaigns.delivery.webhooks import WebhookError, WebhookRetryableError

    secret: str | None = None
    if job.secret_env:
        if job.channel not in (RecipientChannel.dingtalk, RecipientChannel.feishu):
            return Outcome(DeliveryStatus.failed, f"{job.channel} robots are not signed")
        secret = os.environ.get(job.secret_env)
        if not secret:
            return Outcome(
                DeliveryStatus.failed,
                f"signing secret: environment variable {job.secret_env} is not set for the worker",
            )
    figures, report, reminder = job.figures, job.year_report, job.reminder
    hand_over()
    try:
        if reminder is not None:
            post_summary(
                job.channel,  # type: ignore[arg-type]
                job.address,
                title=reminder.subject,
                markdown=reminder.robot_text,
                text=reminder.robot_text,
                secret=secret,
                extra={"campaign_id": reminder.campaign_id, "reminder": reminder.unit_code},
            )
        elif report is not None:
            changes = f"{report.changes}\n\n" if report.changes else ""
            post_summary(
                job.channel,  # type: ignore[arg-type]
                job.address,
                title=report_subject(report),
                markdown=changes + report.zh_markdown,
                text=changes + report.zh_text,
                secret=secret,
                extra={"year_report": str(report.year), "version": str(report.version)},
            )
        else:
            post_summary(
                job.channel,  # type: ignore[arg-type]
                job.address,
                title=heading(figures, "zh"),
                markdown=render(figures, lang="zh", fmt="markdown"),
                text=render(figures, lang="zh", fmt="text"),
                secret=secret,
                extra={"campaign_id": figures["campaign"]["id"]},
            )
    except WebhookRetryableError as exc:
        return Outcome(DeliveryStatus.retrying, str(exc), retry_after=exc.retry_after)
    except WebhookError as exc:
        return Outcome(DeliveryStatus.failed, str(exc))
    return Outcome(DeliveryStatus.sent)
