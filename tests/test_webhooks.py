"""Tests for the webhook modules of campaigns.delivery against a real loopback HTTP server."""

from __future__ import annotations

import base64
import email.utils
import hashlib
import hmac
import logging
import os
import pickle
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from campaigns.delivery import webhooks
from campaigns.delivery.webhook_redaction import redact_url
from campaigns.delivery.webhook_robots import Flavour, post_summary
from campaigns.delivery.webhooks import (
    WebhookRejectedError,
    WebhookRetryableError,
    close_client,
    configure_client,
    get_client,
)
from tests.http_server import HttpTestServer, http_server_fixture  # noqa: F401

TOKEN = "tok3n-5ecret-0123456789abcdef"
SECRET = "SECdeadbeef-very-secret-value"
NOW = 1_700_000_000.123
TITLE = "2019年世界知识产权日宣传活动总结"
MARKDOWN = "## 2019年世界知识产权日\n- 发放宣传资料 **300余份**\n- 参与人次 近10000人次"
TEXT = "2019年世界知识产权日\n发放宣传资料300余份\n参与人次近10000人次"

WECOM_OK = {"errcode": 0, "errmsg": "ok"}
FEISHU_OK = {"code": 0, "data": {}, "msg": "success"}


@pytest.fixture(autouse=True)
def fresh_client() -> Iterator[None]:
    configure_client()
    yield
    configure_client()


def hook_url(server: HttpTestServer, flavour: Flavour) -> str:
    if flavour == "wecom":
        return f"{server.url}/cgi-bin/webhook/send?key={TOKEN}"
    if flavour == "dingtalk":
        return f"{server.url}/robot/send?access_token={TOKEN}"
    if flavour == "feishu":
        return f"{server.url}/open-apis/bot/v2/hook/{TOKEN}"
    return f"{server.url}/hooks/campaigns?token={TOKEN}"


def ok_body(flavour: Flavour) -> dict[str, Any]:
    return FEISHU_OK if flavour == "feishu" else WECOM_OK


def send(server: HttpTestServer, flavour: Flavour, **kwargs: Any) -> None:
    kwargs.setdefault("now", lambda: NOW)
    post_summary(
        flavour, hook_url(server, flavour), title=TITLE, markdown=MARKDOWN, text=TEXT, **kwargs
    )


def dingtalk_sign(timestamp: str, secret: str) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


def feishu_sign(timestamp: str, secret: str) -> str:
    mac = hmac.new(f"{timestamp}\n{secret}".encode(), b"", hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


ALL_FLAVOURS: tuple[Flavour, ...] = ("wecom", "dingtalk", "feishu", "webhook")
ROBOTS: tuple[Flavour, ...] = ("wecom", "dingtalk", "feishu")


# --- body shapes and signatures ------------------------------------------------------------


def test_wecom_posts_markdown(http_server: HttpTestServer) -> None:
    http_server.enqueue(body=WECOM_OK)
    send(http_server, "wecom")
    (request,) = http_server.requests
    assert request.method == "POST"
    assert request.path == "/cgi-bin/webhook/send"
    assert request.param("key") == TOKEN
    assert request.headers["content-type"] == "application/json"
    assert request.json == {"msgtype": "markdown", "markdown": {"content": MARKDOWN}}


def test_wecom_markdown_is_cut_to_its_byte_limit(http_server: HttpTestServer) -> None:
    http_server.enqueue(body=WECOM_OK)
    long_markdown = "宣传" * 3000
    post_summary(
        "wecom", hook_url(http_server, "wecom"), title=TITLE, markdown=long_markdown, text=TEXT
    )
    content = http_server.requests[0].json["markdown"]["content"]
    assert len(content.encode()) <= 4096
    assert content.endswith("…")
    assert long_markdown.startswith(content[:-1])


def test_dingtalk_signed_markdown(http_server: HttpTestServer) -> None:
    # A timestamp whose signature holds '+' or '/' proves the query value was percent-encoded:
    # unencoded, the server would read '+' as a space and the signature would not match.
    now = next(
        NOW + step
        for step in range(1000)
        if set("+/") & set(dingtalk_sign(str(round((NOW + step) * 1000)), SECRET))
    )
    http_server.enqueue(body=WECOM_OK)
    send(http_server, "dingtalk", secret=SECRET, now=lambda: now)
    (request,) = http_server.requests
    assert request.path == "/robot/send"
    assert request.param("access_token") == TOKEN
    timestamp = request.param("timestamp")
    assert timestamp == str(round(now * 1000))
    assert request.param("sign") == dingtalk_sign(timestamp, SECRET)
    assert request.json == {"msgtype": "markdown", "markdown": {"title": TITLE, "text": MARKDOWN}}


def test_dingtalk_without_secret_is_not_signed(http_server: HttpTestServer) -> None:
    http_server.enqueue(body=WECOM_OK)
    send(http_server, "dingtalk")
    (request,) = http_server.requests
    assert set(request.query) == {"access_token"}


def test_feishu_signed_post(http_server: HttpTestServer) -> None:
    http_server.enqueue(body=FEISHU_OK)
    send(http_server, "feishu", secret=SECRET)
    (request,) = http_server.requests
    assert request.path == f"/open-apis/bot/v2/hook/{TOKEN}"
    body = request.json
    assert body["timestamp"] == str(int(NOW))
    assert body["sign"] == feishu_sign(body["timestamp"], SECRET)
    assert body["msg_type"] == "post"
    post = body["content"]["post"]["zh_cn"]
    assert post["title"] == TITLE
    assert post["content"] == [[{"tag": "text", "text": line}] for line in TEXT.splitlines()]


def test_feishu_unsigned_and_older_status_code_answer(http_server: HttpTestServer) -> None:
    http_server.enqueue(body={"Extra": None, "StatusCode": 0, "StatusMessage": "success"})
    send(http_server, "feishu")
    body = http_server.requests[0].json
    assert "sign" not in body and "timestamp" not in body


def test_generic_webhook_body_and_any_2xx(http_server: HttpTestServer) -> None:
    http_server.enqueue(status=204, body=b"")
    send(http_server, "webhook", extra={"campaign_id": "2019-world-ip-day"})
    assert http_server.requests[0].json == {
        "title": TITLE,
        "text": TEXT,
        "markdown": MARKDOWN,
        "campaign_id": "2019-world-ip-day",
    }


def test_programming_mistakes_raise_before_sending(http_server: HttpTestServer) -> None:
    with pytest.raises(ValueError, match="not signed"):
        send(http_server, "wecom", secret=SECRET)
    with pytest.raises(ValueError, match="overwrite"):
        send(http_server, "webhook", extra={"title": "x"})
    assert http_server.requests == []


# --- answers: retryable or rejected ---------------------------------------------------------


@pytest.mark.parametrize("flavour", ALL_FLAVOURS)
def test_429_with_retry_after_seconds_is_retryable(
    http_server: HttpTestServer, flavour: Flavour
) -> None:
    http_server.enqueue(status=429, body={"errcode": 429}, headers={"Retry-After": "3"})
    with pytest.raises(WebhookRetryableError) as caught:
        send(http_server, flavour)
    assert caught.value.retry_after == 3.0


@pytest.mark.parametrize("flavour", ALL_FLAVOURS)
def test_503_is_retryable(http_server: HttpTestServer, flavour: Flavour) -> None:
    http_server.enqueue(status=503, body=b"<html>busy</html>")
    with pytest.raises(WebhookRetryableError, match="HTTP 503") as caught:
        send(http_server, flavour)
    assert caught.value.retry_after is None


def test_retry_after_http_date_is_relative_to_now(http_server: HttpTestServer) -> None:
    when = email.utils.formatdate(NOW + 120, usegmt=True)
    http_server.enqueue(status=503, headers={"Retry-After": when})
    with pytest.raises(WebhookRetryableError) as caught:
        send(http_server, "webhook")
    assert caught.value.retry_after == pytest.approx(120, abs=1)


def test_timeout_status_408_is_retryable(http_server: HttpTestServer) -> None:
    http_server.enqueue(status=408)
    with pytest.raises(WebhookRetryableError):
        send(http_server, "webhook")


@pytest.mark.parametrize(
    ("flavour", "answer", "code"),
    [
        ("dingtalk", {"errcode": 310000, "errmsg": "sign not match"}, 310000),
        ("wecom", {"errcode": 93000, "errmsg": "invalid webhook url"}, 93000),
        ("feishu", {"code": 19021, "msg": "sign match fail"}, 19021),
        ("feishu", {"StatusCode": 9499, "StatusMessage": "Bad Request"}, 9499),
    ],
)
def test_robot_errcode_in_200_is_rejected(
    http_server: HttpTestServer, flavour: Flavour, answer: dict[str, Any], code: int
) -> None:
    http_server.enqueue(body=answer)
    with pytest.raises(WebhookRejectedError, match=f"errcode {code}") as caught:
        send(http_server, flavour)
    assert caught.value.code == code


@pytest.mark.parametrize(
    ("flavour", "answer"),
    [
        ("dingtalk", {"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"}),
        ("wecom", {"errcode": 45009, "errmsg": "api freq out of limit"}),
        ("feishu", {"code": 11232, "msg": "frequency limited"}),
    ],
)
def test_robot_rate_limit_errcode_is_retryable(
    http_server: HttpTestServer, flavour: Flavour, answer: dict[str, Any]
) -> None:
    http_server.enqueue(body=answer)
    code = answer["errcode"] if "errcode" in answer else answer["code"]
    with pytest.raises(WebhookRetryableError, match=f"errcode {code}"):
        send(http_server, flavour)


def test_feishu_rate_limit_on_400_uses_its_reset_header(http_server: HttpTestServer) -> None:
    http_server.enqueue(
        status=400,
        body={"code": 99991400, "msg": "request trigger frequency limit"},
        headers={"x-ogw-ratelimit-reset": "52"},
    )
    with pytest.raises(WebhookRetryableError) as caught:
        send(http_server, "feishu")
    assert caught.value.retry_after == 52.0


@pytest.mark.parametrize("flavour", ALL_FLAVOURS)
def test_400_is_rejected(http_server: HttpTestServer, flavour: Flavour) -> None:
    http_server.enqueue(status=400, body={"error": "bad request"})
    with pytest.raises(WebhookRejectedError, match="HTTP 400") as caught:
        send(http_server, flavour)
    assert caught.value.code == 400


@pytest.mark.parametrize("flavour", ROBOTS)
def test_robot_answer_that_is_not_json_is_rejected(
    http_server: HttpTestServer, flavour: Flavour
) -> None:
    http_server.enqueue(body=b"<html>portal login</html>")
    with pytest.raises(WebhookRejectedError, match="not a JSON object") as caught:
        send(http_server, flavour)
    assert caught.value.code is None


def test_robot_answer_without_code_is_rejected(http_server: HttpTestServer) -> None:
    http_server.enqueue(body={"ok": True})
    with pytest.raises(WebhookRejectedError, match="no error code"):
        send(http_server, "dingtalk")


def test_redirect_is_not_followed(http_server: HttpTestServer) -> None:
    http_server.enqueue(status=302, headers={"Location": f"{http_server.url}/elsewhere"})
    http_server.enqueue(body=WECOM_OK)
    with pytest.raises(WebhookRejectedError) as caught:
        send(http_server, "wecom")
    assert caught.value.code == 302
    assert len(http_server.requests) == 1


def test_unusable_urls_are_rejected_without_sending(http_server: HttpTestServer) -> None:
    for url in (f"{http_server.url}/hook\r\nX-Injected: 1", f"ftp://127.0.0.1/hook?key={TOKEN}"):
        with pytest.raises(WebhookRejectedError) as caught:
            post_summary("wecom", url, title=TITLE, markdown=MARKDOWN, text=TEXT)
        assert TOKEN not in str(caught.value)
    assert http_server.requests == []


# --- transport failures ---------------------------------------------------------------------


def test_connection_refused_is_retryable() -> None:
    # A bound socket that never listens refuses connections, and holds the port meanwhile.
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        url = f"http://127.0.0.1:{port}/cgi-bin/webhook/send?key={TOKEN}"
        with pytest.raises(WebhookRetryableError, match="ConnectError") as caught:
            post_summary("wecom", url, title=TITLE, markdown=MARKDOWN, text=TEXT)
    assert caught.value.retry_after is None
    assert TOKEN not in str(caught.value)


def test_read_timeout_is_retryable(http_server: HttpTestServer) -> None:
    configure_client(0.3)
    http_server.enqueue(body=WECOM_OK, delay=5)
    started = time.monotonic()
    with pytest.raises(WebhookRetryableError, match="ReadTimeout"):
        send(http_server, "wecom")
    assert time.monotonic() - started < 3


# --- secrets stay secret --------------------------------------------------------------------


@pytest.mark.parametrize("flavour", ALL_FLAVOURS)
def test_secrets_never_in_errors_or_logs(
    http_server: HttpTestServer, flavour: Flavour, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = SECRET if flavour in ("dingtalk", "feishu") else None
    # Answers that echo the credentials back, as a careless server might.
    echo = f"bad key {TOKEN} sign for {SECRET}"
    echoing = {"errcode": 93000, "errmsg": echo, "code": 19021, "msg": echo}
    for status in (400, 503, 200 if flavour in ROBOTS else 502):
        http_server.enqueue(status=status, body=echoing)
    http_server.enqueue(body={"errcode": 0, "errmsg": "ok", "code": 0})

    errors: list[str] = []
    for _ in range(3):
        with pytest.raises(webhooks.WebhookError) as caught:
            send(http_server, flavour, secret=secret)
        errors.append(str(caught.value))
        logging.getLogger("test").error("delivery failed", exc_info=caught.value)
    send(http_server, flavour, secret=secret)

    signs = {r.query["sign"][0] for r in http_server.requests if "sign" in r.query}
    signs |= {r.json["sign"] for r in http_server.requests if "sign" in r.json}
    assert len(signs) == (1 if secret else 0)
    leaks = [TOKEN, *signs] + ([SECRET] if secret else [])
    logged = [caplog.text, *(record.getMessage() for record in caplog.records)]
    for shown in (*errors, *logged):
        for leak in leaks:
            assert leak not in shown
    # The server's detail still reaches the message, with the credentials masked.
    if flavour in ROBOTS:
        assert "bad key ***" in errors[0]
    # The httpx request log lines are there, with the URL masked.
    httpx_lines = [r.getMessage() for r in caplog.records if r.name == "httpx"]
    assert len(httpx_lines) == 4
    assert all("***" in line for line in httpx_lines)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={TOKEN}",
            "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=***",
        ),
        (
            f"https://oapi.dingtalk.com/robot/send?access_token={TOKEN}&timestamp=1&sign=a%2Bb",
            "https://oapi.dingtalk.com/robot/send?access_token=***&timestamp=***&sign=***",
        ),
        (
            f"https://open.feishu.cn/open-apis/bot/v2/hook/{TOKEN}",
            "https://open.feishu.cn/open-apis/bot/v2/hook/***",
        ),
        (
            f"https://user:{SECRET}@example.org:8443/notify?campaign=2019&token={TOKEN}#x",
            "https://***@example.org:8443/notify?campaign=2019&token=***#x",
        ),
        ("http://[::1]:99999/x", "<invalid URL>"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_exceptions_survive_pickling() -> None:
    retryable = pickle.loads(pickle.dumps(WebhookRetryableError("busy", 3.0)))
    rejected = pickle.loads(pickle.dumps(WebhookRejectedError("no", 310000)))
    assert (str(retryable), retryable.retry_after) == ("busy", 3.0)
    assert (str(rejected), rejected.code) == ("no", 310000)


# --- the shared client ----------------------------------------------------------------------


def test_client_is_shared_and_reused(http_server: HttpTestServer) -> None:
    first = get_client()
    http_server.enqueue(body=WECOM_OK)
    http_server.enqueue(body=WECOM_OK)
    send(http_server, "wecom")
    send(http_server, "wecom")
    assert get_client() is first
    assert first.follow_redirects is False
    assert first.timeout.connect == 5.0 and first.timeout.read == 15.0
    close_client()
    assert first.is_closed
    assert get_client() is not first


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_child_gets_its_own_client(http_server: HttpTestServer) -> None:
    parent_client = get_client()
    http_server.enqueue(body=WECOM_OK)
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            child_client = get_client()
            send(http_server, "wecom")
            if child_client is not parent_client and get_client() is child_client:
                status = 0
        finally:
            os._exit(status)
    _, wait_status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(wait_status) == 0
    assert len(http_server.requests) == 1
    assert get_client() is parent_client
    assert not parent_client.is_closed
