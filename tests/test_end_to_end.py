"""The whole slice on real parts: CLI → Redis → Celery worker → database → SMTP server."""

from __future__ import annotations

import json

from tests.conftest import Env, create_running_campaign
from tests.smtp_server import SmtpTestServer


def test_tallies_in_summary_out_one_email_per_recipient(
    worker_env: Env, smtp_server: SmtpTestServer
) -> None:
    env = worker_env
    # The worker reads the SMTP URL at send time from its environment: restart it with one.
    env.stop_all()
    env.processes.clear()
    env.vars["CAMPAIGNS_SMTP_URL"] = f"smtp://{smtp_server.host}:{smtp_server.port}"
    env.start("worker", "--concurrency", "1", ready="ready.")

    create_running_campaign(env, "ip-week", "--venue", "新世纪广场", "--target", "materials=300")
    env.ok("recipients", "add", "leader@bureau.example", "--name", "局长")
    env.ok("recipients", "add", "office@bureau.example")
    env.ok("log", "ip-week", "materials", "200", "--venue", "新世纪广场")
    env.ok("log", "ip-week", "宣传资料", "112", "--key", "sheet-1")
    env.ok("log", "ip-week", "materials", "112", "--key", "sheet-1")  # same key: counted once
    env.ok("log", "ip-week", "consultations", "615")
    env.ok("log", "ip-week", "boards", "2")

    shown = env.ok("show", "ip-week")
    assert "312" in shown and "615" in shown

    env.ok("close", "ip-week", "--wait", "--timeout", "120")

    received = smtp_server.messages
    assert sorted(r for m in received for r in m.rcpt_tos) == [
        "leader@bureau.example",
        "office@bureau.example",
    ]
    message = received[0].message
    assert "世界知识产权日" in str(message["Subject"])
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    plain = text.get_content()
    assert "300余份" in plain and "600余人次" in plain and "2块" in plain
    assert "over 300" in plain
    assert "新世纪广场" in html.get_content()
    names = [part.get_filename() for part in message.iter_attachments()]
    assert "ip-week.xlsx" in names and "ip-week.csv" in names

    figures = json.loads(env.ok("summary", "ip-week", "--format", "json"))
    assert figures["metrics"]["materials"]["total"] == 312
    assert figures["metrics"]["materials"]["unit"] == "份"
    assert figures["metrics"]["materials"]["reached_pct"] == 104.0
    assert figures["metrics"]["consultations"]["total"] == 615
    assert figures["campaign"]["status"] == "reported"

    deliveries = env.ok("deliveries", "ip-week")
    assert deliveries.count("sent") == 2

    english = env.ok("summary", "ip-week", "--lang", "en")
    assert "over 300 copies" in english
