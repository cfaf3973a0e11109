"""The summary email: MIME structure, encodings, inline chart, attachments, header checks."""

from __future__ import annotations

import email
import re
from email import policy
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from typing import Any

import pytest

from campaigns.delivery.mail import (
    HeaderInjectionError,
    build_summary_message,
    check_header_value,
    make_message_id,
)

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SUBJECT = "2019年世界知识产权日宣传活动总结"
TEXT = "今年共发放宣传资料300余份。\n.这一行以点开头\n"
HTML = '<p>今年共发放宣传资料300余份。</p><img src="cid:chart" alt="图表">'
PNG = b"\x89PNG\r\n\x1a\nnot really a png"


def build(**overrides: Any) -> EmailMessage:
    arguments: dict[str, Any] = {
        "sender": "kjj@example.gov.cn",
        "sender_name": "市科学技术局",
        "to": "leader@example.gov.cn",
        "to_name": "王局长",
        "subject": SUBJECT,
        "text": TEXT,
        "html": HTML,
        "message_id": "<0123abcd@example.gov.cn>",
        "chart_png": PNG,
        "attachments": [
            ("2019-world-ip-day.xlsx", b"PK\x03\x04xlsx", XLSX),
            ("2019年世界知识产权日统计表.csv", "指标,数量\r\n".encode("utf-8-sig"), "text/csv"),
        ],
    }
    arguments.update(overrides)
    return build_summary_message(**arguments)


def reparse(msg: EmailMessage) -> EmailMessage:
    parsed = email.message_from_bytes(msg.as_bytes(), policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def test_full_message_has_the_documented_structure() -> None:
    parsed = reparse(build())
    assert [part.get_content_type() for part in parsed.walk()] == [
        "multipart/mixed",
        "multipart/alternative",
        "text/plain",
        "multipart/related",
        "text/html",
        "image/png",
        XLSX,
        "text/csv",
    ]


def test_headers_survive_encoding() -> None:
    msg = build()
    raw = msg.as_bytes()
    # 7-bit clean: sendable without 8BITMIME, Chinese encoded by the policy.
    assert raw.isascii()
    assert SUBJECT.encode() not in raw
    parsed = reparse(msg)
    assert parsed["Subject"] == SUBJECT
    assert parsed["Message-ID"] == "<0123abcd@example.gov.cn>"
    (sender,) = parsed["From"].addresses
    assert (sender.display_name, sender.addr_spec) == ("市科学技术局", "kjj@example.gov.cn")
    (recipient,) = parsed["To"].addresses
    assert (recipient.display_name, recipient.addr_spec) == ("王局长", "leader@example.gov.cn")
    assert parsedate_to_datetime(parsed["Date"]).tzinfo is not None


def test_text_and_html_bodies_are_utf8_and_decode_back() -> None:
    parsed = reparse(build())
    plain = parsed.get_body(("plain",))
    html = parsed.get_body(("html",))
    assert plain is not None and html is not None
    assert plain.get_content_charset() == "utf-8"
    assert html.get_content_charset() == "utf-8"
    assert plain.get_content() == TEXT
    assert "今年共发放宣传资料300余份" in html.get_content()


def test_chart_is_inline_and_referenced_by_its_content_id() -> None:
    parsed = reparse(build())
    (image,) = [part for part in parsed.walk() if part.get_content_type() == "image/png"]
    assert image.get_content() == PNG
    assert image.get_content_disposition() == "inline"
    content_id = image["Content-ID"]
    assert re.fullmatch(r"<[^<>@\s]+@example\.gov\.cn>", content_id)
    html = parsed.get_body(("html",))
    assert html is not None
    body = html.get_content()
    assert f'src="cid:{content_id[1:-1]}"' in body
    assert "cid:chart" not in body.replace(content_id[1:-1], "")


def test_attachments_keep_chinese_filenames_and_bytes() -> None:
    raw = build().as_bytes()
    # RFC 2231 parameter encoding, not a raw or RFC 2047-encoded filename.
    assert b"filename*" in raw
    parsed = reparse(build())
    attachments = {
        part.get_filename(): part.get_payload(decode=True) for part in parsed.iter_attachments()
    }
    assert attachments == {
        "2019-world-ip-day.xlsx": b"PK\x03\x04xlsx",
        "2019年世界知识产权日统计表.csv": "指标,数量\r\n".encode("utf-8-sig"),
    }


def test_without_chart_or_attachments_the_message_is_just_the_alternative() -> None:
    parsed = reparse(build(chart_png=None, html="<p>无图表</p>", attachments=()))
    assert [part.get_content_type() for part in parsed.walk()] == [
        "multipart/alternative",
        "text/plain",
        "text/html",
    ]


def test_chart_and_its_reference_must_come_together() -> None:
    with pytest.raises(ValueError, match="cid:chart"):
        build(html="<p>no image</p>")
    with pytest.raises(ValueError, match="cid:chart"):
        build(chart_png=None)


@pytest.mark.parametrize(
    "overrides",
    [
        {"subject": "总结\r\nBcc: evil@attacker.example"},
        {"to": "leader@example.gov.cn\r\nBcc: evil@attacker.example"},
        {"to_name": "王局长\r\nBcc: evil@attacker.example"},
        {"sender": "kjj@example.gov.cn\nBcc: evil@attacker.example"},
        {"sender_name": "科技局\rBcc: evil@attacker.example"},
        {"attachments": [("a.xlsx\r\nBcc: evil@attacker.example", b"x", XLSX)]},
        {"message_id": "<a@b>\r\nBcc: evil@attacker.example"},
    ],
    ids=["subject", "to", "to_name", "sender", "sender_name", "filename", "message_id"],
)
def test_crlf_in_any_header_value_is_refused(overrides: dict[str, Any]) -> None:
    with pytest.raises(HeaderInjectionError) as caught:
        build(**overrides)
    assert "evil" not in str(caught.value)
    assert "U+000D" in str(caught.value) or "U+000A" in str(caught.value)


@pytest.mark.parametrize("char", ["\r", "\n", "\x00", "\t", "\x1b", "\x7f", "\x85", "\u2028"])
def test_check_header_value_refuses_control_characters(char: str) -> None:
    with pytest.raises(HeaderInjectionError, match=r"header Subject: .*U\+"):
        check_header_value("Subject", f"secret-value{char}tail")


def test_check_header_value_returns_clean_values_unchanged() -> None:
    value = "2019年“4·26”世界知识产权日 — 总结 (final)"
    assert check_header_value("Subject", value) is value


def test_a_list_of_addresses_is_refused_where_one_is_expected() -> None:
    with pytest.raises(ValueError, match="header To: not a single valid address"):
        build(to="leader@example.gov.cn, other@example.gov.cn")


def test_make_message_id_is_unique_and_well_formed() -> None:
    first, second = make_message_id("example.gov.cn"), make_message_id("example.gov.cn")
    assert re.fullmatch(r"<[0-9a-f]{32}@example\.gov\.cn>", first)
    assert first != second


@pytest.mark.parametrize("domain", ["", "a b", "x>y", "a@b", "example.org\r\n"])
def test_make_message_id_refuses_bad_domains(domain: str) -> None:
    with pytest.raises(ValueError):
        make_message_id(domain)
