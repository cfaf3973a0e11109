"""SMTP sending against a real aiosmtpd server: every outcome class, AUTH, TLS, URL parsing."""

from __future__ import annotations

import os
import pickle
import time
import traceback
from email.message import EmailMessage
from typing import Literal

import pytest

from campaigns.delivery.mail import build_summary_message, make_message_id
from campaigns.delivery.smtp import send_message
from campaigns.delivery.smtp_config import Security, SmtpConfig, parse_smtp_url
from campaigns.delivery.smtp_outcomes import (
    SendResult,
    SmtpError,
    SmtpPermanentError,
    SmtpTemporaryError,
    SmtpUnknownOutcome,
)
from tests.smtp_server import (
    HOST,
    SmtpTestServer,
    TestCertificate,
    closed_port,
    running_smtp_server,
    silent_server,
    smtp_server_fixture,  # noqa: F401
    test_certificate_fixture,  # noqa: F401
)

pytestmark = [
    # aiosmtpd's own complaints about the deliberately lax test server.
    pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning"),
    pytest.mark.filterwarnings("ignore:Session.login_data is deprecated:DeprecationWarning"),
]

SENDER = "kjj@example.gov.cn"
LEADER = "leader@example.gov.cn"
DEPUTY = "deputy@example.gov.cn"
PASSWORD = "s3cret-Pa55!"
CHINESE_PASSWORD = "密码"
SUBJECT = "2019年全民国家安全教育日宣传活动总结"


def message() -> EmailMessage:
    return build_summary_message(
        sender=SENDER,
        sender_name="市科学技术局",
        to=LEADER,
        to_name="王局长",
        subject=SUBJECT,
        text="发放宣传资料300余份。\n.以点开头的一行\n",
        html="<p>发放宣传资料300余份。</p>",
        message_id=make_message_id("example.gov.cn"),
        attachments=[("2019年统计表.xlsx", b"PK\x03\x04", "application/octet-stream")],
    )


def config(
    port: int,
    *,
    login: tuple[str, str] | None = None,
    security: Security = "plain",
    timeout: float = 5.0,
    host: str = HOST,
) -> SmtpConfig:
    return SmtpConfig(
        host=host,
        port=port,
        username=login[0] if login else None,
        password=login[1] if login else None,
        security=security,
        timeout=timeout,
    )


def no_password_in(error: BaseException, password: str = PASSWORD) -> bool:
    """Neither the message nor the traceback (chained causes included) shows `password`."""
    rendered = "".join(traceback.format_exception(error)) + repr(error)
    return password not in rendered


# --- success ------------------------------------------------------------------------------


def test_plain_send_is_received_and_parses_back(smtp_server: SmtpTestServer) -> None:
    msg = message()
    result = send_message(msg, config=config(smtp_server.port))
    assert result == SendResult(accepted=(LEADER,), refused={})
    (received,) = smtp_server.messages
    assert received.mail_from == SENDER
    assert received.rcpt_tos == (LEADER,)
    assert received.message["Subject"] == SUBJECT
    assert received.message["Message-ID"] == msg["Message-ID"]
    body = received.message.get_body(("plain",))
    assert body is not None
    # The leading dot was stuffed on the wire and unstuffed by the server.
    assert body.get_content() == "发放宣传资料300余份。\n.以点开头的一行\n"
    (attachment,) = received.message.iter_attachments()
    assert attachment.get_filename() == "2019年统计表.xlsx"
    # The built message is 7-bit: no BODY=8BITMIME needed.
    assert received.mail_options == ()


def test_a_large_message_arrives_intact(smtp_server: SmtpTestServer) -> None:
    payload = os.urandom(700 * 1024)  # several send chunks once base64-encoded
    msg = build_summary_message(
        sender=SENDER,
        sender_name=None,
        to=LEADER,
        to_name=None,
        subject=SUBJECT,
        text="附件",
        html="<p>附件</p>",
        message_id=make_message_id("example.gov.cn"),
        attachments=[("大附件.bin", payload, "application/octet-stream")],
    )
    send_message(msg, config=config(smtp_server.port))
    (received,) = smtp_server.messages
    (attachment,) = received.message.iter_attachments()
    assert attachment.get_content() == payload


def eight_bit_message() -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = SENDER
    msg["To"] = LEADER
    msg["Subject"] = "8bit"
    msg.set_content("未编码的中文正文\n")  # policy.default picks 8bit transfer encoding
    assert msg["Content-Transfer-Encoding"] == "8bit"
    return msg


def test_8bit_content_is_announced_with_body_8bitmime(smtp_server: SmtpTestServer) -> None:
    send_message(eight_bit_message(), config=config(smtp_server.port))
    (received,) = smtp_server.messages
    assert received.mail_options == ("BODY=8BITMIME",)
    assert "未编码的中文正文".encode() in received.raw


def test_8bit_content_to_a_server_without_8bitmime_is_permanent(
    smtp_server: SmtpTestServer,
) -> None:
    smtp_server.handler.withhold_extension("8BITMIME")
    with pytest.raises(SmtpPermanentError, match="8BITMIME") as caught:
        send_message(eight_bit_message(), config=config(smtp_server.port))
    assert caught.value.phase == "mail"
    assert smtp_server.messages == []


# --- temporary ----------------------------------------------------------------------------


def test_4xx_after_data_is_temporary_and_a_second_call_succeeds(
    smtp_server: SmtpTestServer,
) -> None:
    smtp_server.handler.reply_next("DATA", "451 4.3.0 Try again later")
    msg = message()
    with pytest.raises(SmtpTemporaryError) as caught:
        send_message(msg, config=config(smtp_server.port))
    assert (caught.value.code, caught.value.phase) == (451, "final-reply")
    assert smtp_server.messages == []
    assert send_message(msg, config=config(smtp_server.port)).accepted == (LEADER,)
    assert len(smtp_server.messages) == 1


def test_4xx_at_rcpt_for_the_only_recipient_is_temporary(smtp_server: SmtpTestServer) -> None:
    smtp_server.handler.reply_next("RCPT", "450 4.2.1 Mailbox busy")
    with pytest.raises(SmtpTemporaryError) as caught:
        send_message(message(), config=config(smtp_server.port))
    assert (caught.value.code, caught.value.phase) == (450, "rcpt")
    assert smtp_server.messages == []


def test_connection_refused_is_temporary() -> None:
    with pytest.raises(SmtpTemporaryError) as caught:
        send_message(message(), config=config(closed_port()))
    assert caught.value.phase == "connect"
    assert "Connection refused" in str(caught.value)


def test_a_server_that_never_answers_times_out_as_temporary() -> None:
    with silent_server() as port:
        started = time.monotonic()
        with pytest.raises(SmtpTemporaryError) as caught:
            send_message(message(), config=config(port, timeout=1.0))
        elapsed = time.monotonic() - started
    assert caught.value.phase == "connect"
    assert 0.9 < elapsed < 3.0


# --- permanent ----------------------------------------------------------------------------


def test_5xx_to_mail_from_is_permanent(smtp_server: SmtpTestServer) -> None:
    smtp_server.handler.reply_next("MAIL", "550 5.7.1 Sender rejected")
    with pytest.raises(SmtpPermanentError) as caught:
        send_message(message(), config=config(smtp_server.port))
    assert (caught.value.code, caught.value.phase) == (550, "mail")
    assert "Sender rejected" in str(caught.value)


def test_554_after_data_is_permanent(smtp_server: SmtpTestServer) -> None:
    smtp_server.handler.reply_next("DATA", "554 5.6.0 Message content rejected")
    with pytest.raises(SmtpPermanentError) as caught:
        send_message(message(), config=config(smtp_server.port))
    assert (caught.value.code, caught.value.phase) == (554, "final-reply")


def test_every_recipient_refused_with_5xx_is_permanent(smtp_server: SmtpTestServer) -> None:
    smtp_server.handler.refuse_recipient(LEADER)
    smtp_server.handler.refuse_recipient(DEPUTY)
    with pytest.raises(SmtpPermanentError) as caught:
        send_message(message(), config=config(smtp_server.port), recipients=[LEADER, DEPUTY])
    assert (caught.value.code, caught.value.phase) == (550, "rcpt")
    assert LEADER in str(caught.value) and DEPUTY in str(caught.value)
    assert smtp_server.messages == []


def test_credentials_are_never_sent_unencrypted_off_loopback() -> None:
    # Raised before any connection: the host does not need to exist.
    unreachable = config(25, login=("kjj", PASSWORD), host="mail.example.invalid")
    with pytest.raises(SmtpPermanentError) as caught:
        send_message(message(), config=unreachable)
    assert caught.value.phase == "auth"
    assert no_password_in(caught.value)


# --- partial ------------------------------------------------------------------------------


def test_one_refused_recipient_does_not_stop_the_other(smtp_server: SmtpTestServer) -> None:
    smtp_server.handler.refuse_recipient(DEPUTY)
    result = send_message(message(), config=config(smtp_server.port), recipients=[DEPUTY, LEADER])
    assert result.accepted == (LEADER,)
    assert list(result.refused) == [DEPUTY]
    code, text = result.refused[DEPUTY]
    assert code == 550 and "No such user" in text
    (received,) = smtp_server.messages
    assert received.rcpt_tos == (LEADER,)


# --- unknown ------------------------------------------------------------------------------


def test_connection_lost_after_the_final_dot_is_an_unknown_outcome(
    smtp_server: SmtpTestServer,
) -> None:
    smtp_server.handler.drop_after_data()
    with pytest.raises(SmtpUnknownOutcome) as caught:
        send_message(message(), config=config(smtp_server.port))
    assert caught.value.phase == "final-reply"
    assert not isinstance(caught.value, SmtpTemporaryError | SmtpPermanentError)
    # Exactly why it must not be retried blindly: the server did take the message.
    assert len(smtp_server.messages) == 1


# --- the hand-over hook -----------------------------------------------------------------------


def test_before_final_dot_runs_once_when_all_but_the_dot_is_sent(
    smtp_server: SmtpTestServer,
) -> None:
    seen: list[int] = []
    smtp_server.handler.stall_next("DATA", 0)

    def hand_over() -> None:
        # The server has the whole body but no terminator: it has not taken the message.
        seen.append(len(smtp_server.messages))
        assert not smtp_server.handler.stalled.is_set()

    send_message(message(), config=config(smtp_server.port), before_final_dot=hand_over)
    assert seen == [0]
    assert len(smtp_server.messages) == 1


def test_an_exception_before_the_final_dot_abandons_the_message(
    smtp_server: SmtpTestServer,
) -> None:
    class LostClaim(Exception):
        pass

    def refuse() -> None:
        raise LostClaim

    with pytest.raises(LostClaim):
        send_message(message(), config=config(smtp_server.port), before_final_dot=refuse)
    # Without its "." the server discards the message; the next send is unaffected.
    send_message(message(), config=config(smtp_server.port))
    assert len(smtp_server.messages) == 1


def test_before_final_dot_is_not_called_when_the_server_refuses_earlier(
    smtp_server: SmtpTestServer,
) -> None:
    calls: list[None] = []
    smtp_server.handler.reply_next("MAIL", "451 4.3.0 Try later")
    with pytest.raises(SmtpTemporaryError):
        send_message(
            message(), config=config(smtp_server.port), before_final_dot=lambda: calls.append(None)
        )
    assert calls == []


# --- AUTH ---------------------------------------------------------------------------------


def test_auth_on_loopback_succeeds_and_the_server_sees_the_login() -> None:
    with running_smtp_server(login=("kjj", PASSWORD)) as server:
        send_message(message(), config=config(server.port, login=("kjj", PASSWORD)))
        (received,) = server.messages
    assert received.login == "kjj"


def test_wrong_password_is_permanent_and_never_shown() -> None:
    with running_smtp_server(login=("kjj", "the-real-one")) as server:
        with pytest.raises(SmtpPermanentError) as caught:
            send_message(message(), config=config(server.port, login=("kjj", PASSWORD)))
        assert server.messages == []
    assert (caught.value.code, caught.value.phase) == (535, "auth")
    assert no_password_in(caught.value)


def test_a_non_ascii_password_is_refused_without_quoting_it() -> None:
    login = ("kjj", CHINESE_PASSWORD)
    with (
        running_smtp_server(login=login) as server,
        pytest.raises(SmtpPermanentError, match="must be ASCII") as caught,
    ):
        send_message(message(), config=config(server.port, login=login))
    for char in CHINESE_PASSWORD:
        assert no_password_in(caught.value, char)
        assert no_password_in(caught.value, f"\\u{ord(char):04x}")


def test_server_text_echoing_the_password_is_scrubbed() -> None:
    with running_smtp_server(login=("kjj", PASSWORD)) as server:
        server.handler.reply_next("MAIL", f"550 5.7.1 policy rejects {PASSWORD} here")
        with pytest.raises(SmtpPermanentError) as caught:
            send_message(message(), config=config(server.port, login=("kjj", PASSWORD)))
    assert "policy rejects *** here" in str(caught.value)
    assert no_password_in(caught.value)


def test_missing_credentials_for_a_server_that_requires_auth_is_permanent() -> None:
    with (
        running_smtp_server(login=("kjj", PASSWORD)) as server,
        pytest.raises(SmtpPermanentError) as caught,
    ):
        send_message(message(), config=config(server.port))
    assert (caught.value.code, caught.value.phase) == (530, "mail")


# --- TLS ----------------------------------------------------------------------------------


def test_starttls_then_auth(test_certificate: TestCertificate) -> None:
    login = ("kjj", PASSWORD)
    with running_smtp_server(login=login, tls="starttls", certificate=test_certificate) as server:
        result = send_message(
            message(),
            config=config(server.port, login=login, security="starttls"),
            tls_context=test_certificate.client_context(),
        )
        (received,) = server.messages
    assert result.accepted == (LEADER,)
    assert received.login == "kjj"


def test_implicit_tls_with_auth(test_certificate: TestCertificate) -> None:
    login = ("kjj", PASSWORD)
    with running_smtp_server(login=login, tls="implicit", certificate=test_certificate) as server:
        send_message(
            message(),
            config=config(server.port, login=login, security="tls"),
            tls_context=test_certificate.client_context(),
        )
        (received,) = server.messages
    assert received.message["Subject"] == SUBJECT


@pytest.mark.parametrize(("tls", "security"), [("starttls", "starttls"), ("implicit", "tls")])
def test_an_untrusted_certificate_is_permanent(
    test_certificate: TestCertificate, tls: Literal["starttls", "implicit"], security: Security
) -> None:
    with running_smtp_server(tls=tls, certificate=test_certificate) as server:
        with pytest.raises(SmtpPermanentError, match="CERTIFICATE_VERIFY_FAILED"):
            # The default context trusts only the system's CAs.
            send_message(message(), config=config(server.port, security=security))
        assert server.messages == []


def test_required_starttls_not_offered_is_permanent(smtp_server: SmtpTestServer) -> None:
    with pytest.raises(SmtpPermanentError) as caught:
        send_message(message(), config=config(smtp_server.port, security="starttls"))
    assert caught.value.phase == "starttls"
    assert smtp_server.messages == []


# --- input checks -------------------------------------------------------------------------


def test_bcc_header_is_refused_before_connecting() -> None:
    msg = message()
    msg["Bcc"] = "hidden@example.gov.cn"
    with pytest.raises(ValueError, match="Bcc"):
        send_message(msg, config=config(closed_port()))


@pytest.mark.parametrize("recipient", ["no-at-sign", "a@b>\r\nRCPT TO:<x@y", "王@example.cn"])
def test_bad_envelope_addresses_are_refused_before_connecting(recipient: str) -> None:
    with pytest.raises(ValueError, match="envelope address"):
        send_message(message(), config=config(closed_port()), recipients=[recipient])


# --- configuration ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://mail.example.org", ("mail.example.org", 25, None, None, "plain")),
        ("smtp://mail.example.org:2525", ("mail.example.org", 2525, None, None, "plain")),
        ("smtp://u:p@mail.example.org?starttls=1", ("mail.example.org", 25, "u", "p", "starttls")),
        ("smtp+starttls://u:p@mail.example.org", ("mail.example.org", 587, "u", "p", "starttls")),
        ("smtps://u:p@mail.example.org", ("mail.example.org", 465, "u", "p", "tls")),
        ("SMTPS://u:p@[::1]:4650", ("::1", 4650, "u", "p", "tls")),
        (
            "smtps://kjj%40example.gov.cn:p%40ss%3Aw%2Frd@mail.example.org",
            ("mail.example.org", 465, "kjj@example.gov.cn", "p@ss:w/rd", "tls"),
        ),
    ],
)
def test_parse_smtp_url(url: str, expected: tuple[object, ...]) -> None:
    parsed = parse_smtp_url(url)
    assert (
        parsed.host,
        parsed.port,
        parsed.username,
        parsed.password,
        parsed.security,
    ) == expected
    assert parsed.timeout == 30.0


@pytest.mark.parametrize(
    "url",
    [
        f"smtp://kjj:{PASSWORD}/x@mail.example.org",  # unencoded "/" in the password
        f"smtp://kjj:{PASSWORD}@mail.example.org:99999",
        f"http://kjj:{PASSWORD}@mail.example.org",
        f"smtp://:{PASSWORD}@mail.example.org",
        f"smtps://kjj:{PASSWORD}@mail.example.org?starttls=1",
        f"smtp://kjj:{PASSWORD}@mail.example.org/path",
        f"smtp://kjj:{PASSWORD}@",
        "smtp://kjj@mail.example.org",
    ],
)
def test_parse_smtp_url_errors_never_show_the_password(url: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_smtp_url(url)
    assert no_password_in(caught.value)
    assert "mail.example.org" not in str(caught.value)


def test_config_repr_hides_the_password() -> None:
    parsed = parse_smtp_url(f"smtps://kjj:{PASSWORD}@mail.example.org")
    assert PASSWORD not in repr(parsed)
    assert "kjj" in repr(parsed)


@pytest.mark.parametrize("error_type", [SmtpTemporaryError, SmtpPermanentError, SmtpUnknownOutcome])
def test_errors_survive_pickling_as_celery_stores_them(error_type: type[SmtpError]) -> None:
    error = error_type("SMTP h:25 rcpt: 450 busy", phase="rcpt", code=450)
    copy = pickle.loads(pickle.dumps(error))
    assert isinstance(copy, SmtpError) and type(copy) is error_type
    assert (str(copy), copy.phase, copy.code) == ("SMTP h:25 rcpt: 450 busy", "rcpt", 450)
