"""An unlink reaches every server process's live sockets at once, not by a poll.

Two real server processes on PostgreSQL share our own Redis; the SU types drafts on
process A, the worker is on process B (with a second SU tab there), and the admin
unlinks the worker with the `tandem` command line: a third process. Judged by order,
not time: no draft the SU sent after the unlink was acknowledged may reach the worker,
and nothing the worker sends after B refused them may reach anyone.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from core.commands import Actor
from core.service import Tandem
from realtime import tokens
from realtime.client import LiveClient
from tests.conftest import make_settings
from tests.realtime.conftest import seed
from tests.realtime.test_backplane import ROOT, _stop, start_servers

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]
QUESTION = "recovery/what-recovery-means/q1"
TYPING_GAP = 0.04  # 25 drafts a second: under the per-socket rate limit


def _counter(message: dict, prefix: str) -> int | None:
    text = message.get("payload", {}).get("text", "") if message.get("type") == "draft" else ""
    return int(text.removeprefix(prefix)) if text.startswith(prefix) else None


class Typist:
    """Sends numbered drafts until stopped or closed; `sent` is the last number handed to the socket."""

    def __init__(self, client: LiveClient, prefix: str):
        self.client, self.prefix, self.sent = client, prefix, 0
        self.task = asyncio.get_running_loop().create_task(self._type())

    async def _type(self) -> None:
        while self.client.closed is None:
            try:
                await self.client.ephemeral("draft", {"question_id": QUESTION, "text": f"{self.prefix}{self.sent + 1}"})
            except Exception:  # the socket closed under us
                return
            self.sent += 1
            await asyncio.sleep(TYPING_GAP)

    async def stop(self) -> None:
        self.task.cancel()
        try:
            await self.task
        except asyncio.CancelledError:
            pass


async def _cli_unlink(tmp_path: Path, pg_url: str, redis_url: str) -> asyncio.subprocess.Process:
    """Run `tandem users unlink wendy sam`; return once it reports the unlink done (its
    acknowledgement as the admin sees it), before that process has even exited."""
    env = {
        **os.environ,
        "TANDEM_DATABASE_URL": pg_url,
        "TANDEM_REDIS_URL": redis_url,
        "TANDEM_VAR_DIR": str(tmp_path),
        "TANDEM_SECRET_KEY": "test-secret",
        "TANDEM_MASTER_KEY": "11" * 32,
        "PYTHONUNBUFFERED": "1",  # its report comes when it is printed
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "web.cli",
        "users",
        "unlink",
        "wendy",
        "sam",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 120)
    assert line.startswith(b"unlinked worker wendy"), line
    return proc


async def test_an_unlink_from_another_process_closes_the_worker_everywhere_before_any_later_draft(
    tmp_path, pg, own_redis
):
    settings = make_settings(tmp_path, pg)
    ids = seed(settings)
    procs, (a, b) = await asyncio.to_thread(start_servers, tmp_path, pg, own_redis.url)
    clients: list[LiveClient] = []
    t: Tandem | None = None
    try:
        t = Tandem(settings)
        sid = str(await asyncio.to_thread(t.start_session, Actor(ids["wendy"], "worker"), ids["sam"]))
        su_token = tokens.issue("test-secret", ids["sam"], "service_user")
        su = LiveClient(a, sid, token=su_token, device_kind="phone")
        su_on_b = LiveClient(b, sid, token=su_token, device_kind="tablet")
        worker = LiveClient(b, sid, token=tokens.issue("test-secret", ids["wendy"], "worker"))
        clients += [su, su_on_b, worker]
        for c in clients:
            await c.connect()

        su_typing, worker_typing = Typist(su, "su-"), Typist(worker, "w-")
        # Both directions flow before the unlink: across processes and within B.
        await worker.wait_for(lambda m: (_counter(m, "su-") or 0) >= 3, timeout=30)
        await su_on_b.wait_for(lambda m: (_counter(m, "w-") or 0) >= 3, timeout=30)

        cli = await _cli_unlink(tmp_path, pg, own_redis.url)
        su_mark = su_typing.sent  # every draft numbered above this was sent after the unlink's ack

        refusal = await worker.wait_for(lambda m: m["type"] == "error", timeout=30)
        worker_mark = worker_typing.sent  # drafts above this were sent after B refused the worker
        assert refusal["payload"]["code"] == "forbidden"
        for _ in range(600):
            if worker.closed is not None:
                break
            await asyncio.sleep(0.05)
        assert worker.closed is not None and worker.closed[0] == 4010
        await worker_typing.stop()
        # Everything B relayed before it closed the worker's socket has reached the SU's tab
        # on B once a ping sent now is answered on that same socket.
        seq = await su_on_b.send("ping", {})
        await su_on_b.wait_for(lambda m: m["type"] == "pong" and m.get("seq") == seq, timeout=30)
        for _ in range(600):  # the SU goes on typing after the unlink (whatever the timing)
            if su_typing.sent > su_mark + 5:
                break
            await asyncio.sleep(0.05)
        await su_typing.stop()

        assert su_typing.sent > su_mark + 5
        late_to_worker = [n for m in worker.history if (n := _counter(m, "su-")) is not None and n > su_mark]
        assert late_to_worker == []
        assert worker.history[-1] is refusal  # nothing at all after the refusal
        late_from_worker = [
            n for c in (su, su_on_b) for m in c.history if (n := _counter(m, "w-")) is not None and n > worker_mark
        ]
        assert late_from_worker == []
        assert su.closed is None and su_on_b.closed is None  # the SU stays in their session
        assert await asyncio.wait_for(cli.wait(), 120) == 0
    finally:
        for c in clients:
            try:
                await c.close()
            except Exception:
                pass
        if t is not None:
            t.close()
        await asyncio.to_thread(_stop, procs)
