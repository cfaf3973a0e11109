"""From the last unit's sheet stored to leadership's mail: how long the summary takes.

    uv run python -m bench.cycle_latency [runs]

Real parts, default settings but for the SMTP URL: a SQLite file, a Redis (the one at
CAMPAIGNS_TEST_REDIS_URL, else one started here), one `campaigns worker` process, a
`campaigns beat` at the default 60 s interval, and an SMTP server in this process. Each
run creates a closed campaign with three units, two of which have reported, then imports
the third unit's sheet with `campaigns import --unit … --wait` and measures, in the same run:

- event-driven (this project): from the moment the import's last chunk was stored (its
  `tally_batch_chunk.done_at`) to the moment the SMTP server took the summary;
- `submit`: from `campaigns submit --unit …` (the unit saying it has reported) to the mail;
- the dispatcher alone, the way it was before: the next pass after the report, on average
  half the 60 s interval (computed, not waited for: the safety net still runs).

The target is under 10 s.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import func, select

from campaigns.models import TallyBatch, TallyBatchChunk
from tests.conftest import Env, make_env
from tests.servers import redis_url_for_tests
from tests.smtp_server import SmtpTestServer, running_smtp_server

UNITS = "编码,名称,上级,联系方式\n1,鹤壁市,,\n11,淇滨区,1,\n21,浚县,1,\n22,淇县,1,\n"
TARGET_SECONDS = 10.0
DISPATCH_INTERVAL_SECONDS = 60


def _wait_for_mail(server: SmtpTestServer, count: int, timeout: float = 120) -> float:
    """The wall-clock moment the `count`-th message was seen (polled every 5 ms)."""
    deadline = time.monotonic() + timeout
    while len(server.messages) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"no mail {count} within {timeout:g} s")
        time.sleep(0.005)
    return time.time()


def _campaign(env: Env, campaign_id: str) -> None:
    today = date.today()
    env.ok(
        "create",
        "constitution-day",
        "--year",
        str(today.year),
        "--id",
        campaign_id,
        "--start",
        str(today - timedelta(days=1)),
        "--end",
        str(today + timedelta(days=1)),
        "--units",
        "淇滨区,浚县,淇县",
    )
    env.ok("submit", campaign_id, "--unit", "淇滨区")
    env.ok("submit", campaign_id, "--unit", "浚县")
    env.ok("close", campaign_id)


def _last_chunk_stored(env: Env, campaign_id: str) -> float:
    with env.session() as s:
        query = (
            select(func.max(TallyBatchChunk.done_at))
            .join(TallyBatch, TallyBatch.id == TallyBatchChunk.batch_id)  # type: ignore[arg-type]
            .where(TallyBatch.campaign_id == campaign_id)
        )
        stored = s.execute(query).scalar_one()
    return float(stored.timestamp())


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    with ExitStack() as stack:
        broker = os.environ.get("CAMPAIGNS_TEST_REDIS_URL") or stack.enter_context(
            redis_url_for_tests()
        )
        smtp = stack.enter_context(running_smtp_server())
        data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        env = make_env(f"sqlite:///{data_dir / 'campaigns.db'}", data_dir)
        stack.callback(env.stop_all)
        env.vars.update(
            CAMPAIGNS_BROKER_URL=broker,
            CAMPAIGNS_SMTP_URL=f"smtp://{smtp.host}:{smtp.port}",
        )
        env.start("worker", ready="ready.")
        env.start("beat")
        (data_dir / "units.csv").write_text(UNITS, encoding="utf-8")
        env.ok("units", "import", "units.csv")
        env.ok("recipients", "add", "leader@bureau.example")
        sheet = data_dir / "sheet.csv"
        sheet.write_text("指标,数量\n宣传资料,1800\n参与人次,400\n", encoding="utf-8")
        imported, submitted = [], []
        for run in range(runs):
            _campaign(env, f"import-{run}")
            count = len(smtp.messages)
            env.ok("import", f"import-{run}", sheet.name, "--unit", "淇县", "--wait")
            seen = _wait_for_mail(smtp, count + 1)
            imported.append(seen - _last_chunk_stored(env, f"import-{run}"))
            _campaign(env, f"submit-{run}")
            count, before = len(smtp.messages), time.time()
            env.ok("submit", f"submit-{run}", "--unit", "淇县")
            submitted.append(_wait_for_mail(smtp, count + 1) - before)
    print(f"runs: {runs} each; SQLite, one worker, beat every {DISPATCH_INTERVAL_SECONDS} s")
    print(f"{'path':<44}{'median s':>10}{'max s':>10}")
    for name, values in (
        ("last chunk stored -> SMTP accepted", imported),
        ("submit --unit -> SMTP accepted", submitted),
    ):
        print(f"{name:<44}{statistics.median(values):>10.2f}{max(values):>10.2f}")
    print(
        f"{'dispatcher pass only (mean wait, computed)':<44}{DISPATCH_INTERVAL_SECONDS / 2:>10.2f}"
    )
    print(f"{'target':<44}{TARGET_SECONDS:>10.2f}")


if __name__ == "__main__":
    main()
