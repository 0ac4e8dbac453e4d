"""A writer process for the crash test: records N actions and prints each acknowledgement."""

import asyncio
import sys
from uuid import UUID

from core import settings
from core.commands import Actor, Command
from core.service import Tandem


async def main(var_dir: str, url: str, su: str, count: int) -> None:
    t = Tandem(settings.load(tandem_var_dir=var_dir, tandem_database_url=url, tandem_master_key="11" * 32))
    actor = Actor(UUID(su), "service_user")

    async def one(i: int) -> None:
        ack = await t.record(
            actor, Command("SectionViewed", {"section_id": "recovery/hope", "seconds_on_screen": i}, f"crash-{i:06d}")
        )
        print(f"ACK crash-{i:06d} {ack.position}", flush=True)

    sem = asyncio.Semaphore(50)

    async def bounded(i: int) -> None:
        async with sem:
            await one(i)

    await asyncio.gather(*(bounded(i) for i in range(count)))
    print("DONE", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
