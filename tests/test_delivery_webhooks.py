"""Chat-group deliveries through the delivery path against a real loopback HTTP server.

For each flavour: a delivery that is accepted (signed and verified here for DingTalk and
Feishu), one told 429 with Retry-After (its next attempt honours it), and one whose robot
answers 200 with an error code (failed). Tokens and secrets appear nowhere we print.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from datetime import timedelta
from typing import Any

import pytest

from campaigns.audit import list_events
from campaigns.delivery.recipients import add_recipient, remove_recipient, shown_address
from campaigns.delivery.webhooks import configure_client
from campaigns.errors import InvalidInputError, NotFoundError
from campaigns.models import DeliveryStatus
from tests.conftest import Env
from tests.http_server import HttpTestServer, http_server_fixture  # noqa: F401
from tests.test_delivery import (  # noqa: F401  (fixtures)
    T0,
    TITLE,
    Installation,
    installation_fixture,
    reported_campaign,
    shared_env_fixture,
)

SECRET = "SEC-robot-signing-secret-0123456789"
SECRET_ENV = "CAMPAIGNS_TEST_ROBOT_SECRET"
TOKENS = ("tok-accepted-1111111111", "tok-limited-22222222222", "tok-rejected-3333333333")
# A robot's error code in an HTTP 200 answer; the generic webhook has none and says 400.
REJECTIONS: dict[str, tuple[int, Any]] = {
    "wecom": (200, {"errcode": 93000, "errmsg": "invalid webhook url"}),
    "dingtalk": (200, {"errcode": 310000, "errmsg": "sign not match"}),
    "feishu": (200, {"code": 19021, "msg": "sign match fail or timestamp is not within one hour"}),
    "webhook": (400, {"error": "bad request"}),
}
OK: dict[str, Any] = {
    "wecom": {"errcode": 0, "errmsg": "ok"},
    "dingtalk": {"errcode": 0, "errmsg": "ok"},
    "feishu": {"code": 0, "msg": "success", "data": {}},
    "webhook": {"ok": True},
}
SIGNED = ("dingtalk", "feishu")


@pytest.fixture(autouse=True)
def fresh_client() -> None:
    configure_client(5.0)


def robot_url(server: HttpTestServer, flavour: str, token: str) -> str:
    return {
        "wecom": f"{server.url}/cgi-bin/webhook/send?key={token}",
        "dingtalk": f"{server.url}/robot/send?access_token={token}",
        "feishu": f"{server.url}/open-apis/bot/v2/hook/{token}",
        "webhook": f"{server.url}/hooks/campaigns?token={token}",
    }[flavour]


def sign(key: bytes, message: bytes) -> str:
    return base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode()


def check_signature(flavour: str, request: Any) -> None:
    if flavour == "dingtalk":
        timestamp = request.param("timestamp")
        expected = sign(SECRET.encode(), f"{timestamp}\n{SECRET}".encode())
        assert request.param("sign") == expected
    elif flavour == "feishu":
        timestamp = request.json["timestamp"]
        assert request.json["sign"] == sign(f"{timestamp}\n{SECRET}".encode(), b"")
    else:
        assert "sign" not in request.query and "sign" not in (request.json or {})


@pytest.mark.parametrize("flavour", ["wecom", "dingtalk", "feishu", "webhook"])
def test_each_flavour_through_the_delivery_path(
    installation: Installation,
    http_server: HttpTestServer,
    flavour: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    inst = installation
    monkeypatch.setenv(SECRET_ENV, SECRET)
    secret_env = SECRET_ENV if flavour in SIGNED else None
    accepted, limited, rejected = reported_campaign(
        inst, [(robot_url(http_server, flavour, token), flavour, secret_env) for token in TOKENS]
    )
    settings = inst.settings(delivery_backoff_seconds=1.0)
    http_server.enqueue(body=OK[flavour])
    http_server.enqueue(429, {}, headers={"Retry-After": "30"})
    http_server.enqueue(*REJECTIONS[flavour])
    caplog.set_level(logging.DEBUG)

    assert inst.attempt(accepted, settings).status == DeliveryStatus.sent
    request = http_server.requests[0]
    check_signature(flavour, request)
    assert TITLE in json.dumps(request.json, ensure_ascii=False)

    row = inst.attempt(limited, settings)
    assert row.status == DeliveryStatus.retrying
    assert "HTTP 429" in row.last_error
    # Retry-After (30 s) wins over the 1 s backoff.
    assert row.next_attempt_at == T0 + timedelta(seconds=30)
    inst.clock.advance(29)
    assert inst.due() == [] and inst.attempt(limited, settings) is None

    row = inst.attempt(rejected, settings)
    assert (row.status, row.attempts) == (DeliveryStatus.failed, 1)
    code = REJECTIONS[flavour][1].get("errcode", REJECTIONS[flavour][1].get("code"))
    assert str(code or 400) in row.last_error

    inst.clock.advance(1)
    http_server.enqueue(body=OK[flavour])
    assert inst.due() == [limited]
    assert inst.attempt(limited, settings).status == DeliveryStatus.sent
    assert len(http_server.requests) == 4

    with inst.sessions() as session:
        events = " ".join(e.data for e in list_events(session=session))
    errors = " ".join(inst.delivery(i).last_error or "" for i in (accepted, limited, rejected))
    for secret in (*TOKENS, SECRET):
        assert secret not in errors
        assert secret not in events
        assert secret not in caplog.text


def test_a_signing_secret_missing_from_the_worker_fails_without_sending(
    installation: Installation, http_server: HttpTestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    inst = installation
    monkeypatch.delenv(SECRET_ENV, raising=False)
    (delivery_id,) = reported_campaign(
        inst, [(robot_url(http_server, "dingtalk", TOKENS[0]), "dingtalk", SECRET_ENV)]
    )
    row = inst.attempt(delivery_id, inst.settings())
    assert row.status == DeliveryStatus.failed
    assert row.last_error == (
        f"signing secret: environment variable {SECRET_ENV} is not set for the worker"
    )
    assert http_server.requests == []


def test_a_timeout_is_retried_and_a_robot_url_never_shows_in_the_cli(
    installation: Installation,
    http_server: HttpTestServer,
    shared_env: Env,
) -> None:
    inst = installation
    configure_client(0.5)
    (delivery_id,) = reported_campaign(
        inst, [(robot_url(http_server, "wecom", TOKENS[0]), "wecom", None)]
    )
    http_server.enqueue(body=OK["wecom"], delay=3)
    row = inst.attempt(delivery_id, inst.settings())
    assert row.status == DeliveryStatus.retrying
    assert "ReadTimeout" in row.last_error

    shared_env.vars["COLUMNS"] = "300"  # rich wraps at 80 columns without a terminal
    shown = shared_env.ok("deliveries", inst.campaign_id) + shared_env.ok("recipients", "list")
    assert TOKENS[0] not in shown
    assert f"wecom:{http_server.url}/…" in shown
    assert "retrying" in shown and "next try" in shown


@pytest.mark.parametrize(
    ("channel", "address", "shown"),
    [
        (
            "wecom",
            "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k3y",
            "wecom:https://qyapi.weixin.qq.com/…",
        ),
        (
            "feishu",
            "https://open.feishu.cn/open-apis/bot/v2/hook/t0k3n",
            "feishu:https://open.feishu.cn/…",
        ),
        (
            "webhook",
            "https://user:pa55@hooks.example:8443/T0/B0/s3cr3t",
            "webhook:https://hooks.example:8443/…",
        ),
        ("email", "leader@bureau.example", "leader@bureau.example"),
    ],
)
def test_shown_address_keeps_only_what_is_not_secret(
    channel: str, address: str, shown: str
) -> None:
    assert shown_address(channel, address) == shown


def test_recipients_refuse_a_secret_robots_cannot_use_and_never_echo_a_url(
    installation: Installation,
) -> None:
    url = f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={TOKENS[0]}"
    with installation.sessions() as session:
        with pytest.raises(InvalidInputError, match="only dingtalk and feishu robots sign"):
            add_recipient(url, session=session, actor="t", channel="wecom", secret_env=SECRET_ENV)
        with pytest.raises(NotFoundError) as caught:
            remove_recipient(url, session=session, actor="t")
    assert TOKENS[0] not in str(caught.value)
