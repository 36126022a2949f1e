"""The benches' message pusher, run as its own process (``bench/telegram.py`` ``latency``)
so the CPU time the gateway's process spends per inbound message is its own.

    python bench/pusher.py '{"control": URL, "to": [user ids], "from": id, "rate": R,
                             "seconds": S}'

Pushes ``rate`` messages a second for ``seconds`` through the sandbox's control API, each
text ``t=<unix time it was pushed>``, spread over ``to`` in turn; prints the rate reached.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from unifyport_telegram.sandbox.testing import ControlClient

TICK = 0.1


async def push(control: ControlClient, to: list[int], sender: int, rate: float,
               seconds: float) -> float:
    per_tick, total, sent = max(1, int(rate * TICK)), int(rate * seconds), 0
    start = time.perf_counter()
    while sent < total:
        batch = [{"to_user_id": to[(sent + i) % len(to)], "from_user_id": sender,
                  "text": f"t={time.time():.6f}"} for i in range(min(per_tick, total - sent))]
        await control.push_messages(batch)
        sent += len(batch)
        delay = start + (sent / rate) - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
    return sent / (time.perf_counter() - start)


async def main() -> None:
    args = json.loads(sys.argv[1])
    control = ControlClient(args["control"])
    try:
        print(await push(control, args["to"], args["from"], args["rate"], args["seconds"]))
    finally:
        await control.close()


if __name__ == "__main__":
    asyncio.run(main())
