"""While the Telegram server is down, two online accounts log a few lines, not hundreds:
library chatter is quiet, a repeated library warning shows once a minute."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.support.gateway import make_settings, running
from tests.support.logcapture import captured_log
from unifyport.settings import LoggingSettings
from unifyport_telegram.sandbox.testing import RunningSandbox

from .conftest import telegram_toml
from .helpers import authorized, online, runtime_status, wait_for

OUTAGE = 5.0


async def test_outage_logs_few_lines(tmp_path: Path, sb: RunningSandbox, backend: str,
                                     import_dir: Path) -> None:
    settings = make_settings(tmp_path / "data", telegram_toml(sb, backend, import_dir))
    with captured_log(LoggingSettings()) as out:
        async with running(settings) as api:
            accounts = [(await authorized(api, sb, f"+1555000800{i}"))[0] for i in (1, 2)]
            for acc in accounts:
                await online(api, acc)
            start = len(out.getvalue().splitlines())
            await sb.sandbox.stop()

            async def both_reconnecting() -> bool:
                return [await runtime_status(api, a) for a in accounts] == ["reconnecting"] * 2

            await wait_for(both_reconnecting, "both accounts reconnecting")
            await asyncio.sleep(OUTAGE)
            lines = out.getvalue().splitlines()[start:]
    print(f"{len(lines)} log lines in {OUTAGE:.0f} s of outage, two accounts ({backend})")
    assert len(lines) <= 20, "\n".join(lines)
    assert not [line for line in lines if " INFO " in line], "no library INFO lines"
