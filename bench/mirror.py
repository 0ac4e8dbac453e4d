"""Mirror latency of live joint sessions, against a bare WebSocket relay as the floor.

    .venv/bin/python bench/mirror.py                       # SQLite, one server process: 10, 100, 500 sessions
    .venv/bin/python bench/mirror.py --mode redis          # PostgreSQL + Redis, two server processes
    .venv/bin/python bench/mirror.py --sessions 10 --duration 5   # a quick look

Per session: two sockets (SU and worker). The SU sends one durable action per second
(SectionViewed, recorded in the store and mirrored after commit) and ten ephemeral
scroll-like messages per second; latency is the SU's send to the worker's receive. The
same load then runs against a bare relay (no store, no auth, no parsing) in the same
run. In redis mode the SU sockets go to one server process and the worker sockets to the
other, so every message crosses Redis (durable ones via the shared store's tail).
Prints a table; nothing here is a timed test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import websockets  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402

from web.socket_protocol import UVICORN_OPTIONS  # noqa: E402

EPHEMERAL_HZ = 10
DURABLE_HZ = int(os.environ.get("BENCH_DURABLE_HZ", "1"))
SECTION = "recovery/hope"


# ------------------------------------------------------------------ the bare relay (floor)


def relay_server(port: int) -> None:
    """Each message goes to the other sockets of its room as-is: no auth, no parse, no store."""
    import uvloop
    from websockets.asyncio.server import broadcast, serve

    rooms: dict[str, set] = {}

    async def handler(ws) -> None:
        room = rooms.setdefault(ws.request.path, set())
        room.add(ws)
        try:
            async for message in ws:
                broadcast([p for p in room if p is not ws], message)
        finally:
            room.discard(ws)

    async def main() -> None:
        async with serve(handler, "127.0.0.1", port, compression=None, max_size=2**20):
            await asyncio.Future()

    uvloop.run(main())


# ------------------------------------------------------------------ load


@dataclass
class Stats:
    durable: list[float] = field(default_factory=list)
    ephemeral: list[float] = field(default_factory=list)
    sent_durable: int = 0
    sent_ephemeral: int = 0
    acked: int = 0
    ack: list[float] = field(default_factory=list)
    errors: int = 0
    got_durable: set = field(default_factory=set)
    got_ephemeral: int = 0
    dropped: list = field(default_factory=list)  # close codes of sockets the server closed on us
    server_cpu: float = float("nan")  # the server processes' CPU while the load ran, in cores
    client_cpu: float = float("nan")  # this load generator's, on the same machine


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time so far (Linux /proc), in seconds, of these processes and
    everything they started (the server's writer process among them)."""
    total, todo = 0, list(pids)
    while todo:
        pid = todo.pop()
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
            for task in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{task}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except FileNotFoundError:  # gone meanwhile
            continue
    return total / os.sysconf("SC_CLK_TCK")


def pct(xs: list[float], p: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(p / 100 * (len(xs) - 1)))] * 1000


async def open_socket(url: str, token: str | None, stats: Stats, measure: bool, bare: bool):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    ws = await connect(
        url, additional_headers=headers, compression=None, max_size=2**20, ping_interval=None, open_timeout=60
    )
    if not bare:
        await ws.send(json.dumps({"type": "hello", "payload": {"device_kind": "desktop"}}))
        while json.loads(await ws.recv())["type"] != "welcome":
            pass

    async def read() -> None:
        try:
            async for data in ws:
                now = time.time()
                m = json.loads(data)
                t = m.get("type")
                if t == "ack":
                    stats.acked += 1
                    cid = m.get("client_event_id", "")
                    if cid.startswith("b-"):
                        stats.ack.append(now - float(cid.split("-")[-1]) / 1e6)
                elif t == "error":
                    stats.errors += 1
                elif not measure:
                    continue
                elif t == "bench":
                    stats.ephemeral.append(now - m["payload"]["t"])
                    stats.got_ephemeral += 1
                elif t == "SectionViewed":
                    cid = m.get("client_event_id", "")
                    if cid.startswith("b-") and cid not in stats.got_durable:
                        stats.got_durable.add(cid)
                        stats.durable.append(now - float(cid.split("-")[-1]) / 1e6)
        except websockets.ConnectionClosed:
            pass
        rcvd = ws.protocol.close_rcvd
        if rcvd is not None and rcvd.code not in (1000, 1005):  # not our own close at the end
            stats.dropped.append(rcvd.code)

    task = asyncio.get_running_loop().create_task(read())
    return ws, task


async def drive(ws, stats: Stats, sid: str, duration: float, bare: bool) -> None:
    """The SU: 10 ephemeral messages a second, every tenth tick also a durable one."""
    await asyncio.sleep(random.random() / EPHEMERAL_HZ)
    period = 1 / EPHEMERAL_HZ
    # Independent meetings do not act in step: each session's durable action falls on
    # its own tick of the second, not all 500 on the same one.
    every = EPHEMERAL_HZ // DURABLE_HZ if DURABLE_HZ else 10**9
    phase = random.randrange(every)
    start = time.monotonic()
    tick = 0
    while time.monotonic() - start < duration:
        now = time.time()
        await ws.send(json.dumps({"type": "bench", "session": sid, "payload": {"n": tick, "t": now}}))
        stats.sent_ephemeral += 1
        if tick % every == phase:
            cid = f"b-{uuid.uuid4().hex[:12]}-{int(now * 1e6)}"
            frame = {
                "type": "SectionViewed",
                "session": sid,
                "epoch": 1,
                "client_event_id": cid,
                "payload": {"section_id": SECTION, "seconds_on_screen": 1.0},
            }
            if bare:
                frame["position"] = tick  # what the worker would receive, relayed as-is
            await ws.send(json.dumps(frame))
            stats.sent_durable += 1
        tick += 1
        await asyncio.sleep(max(0, start + tick * period - time.monotonic()))


async def run_load(
    su_urls: list[str],
    worker_urls: list[str],
    sids: list[str],
    tokens: tuple[str | None, str | None],
    duration: float,
    bare: bool,
    pids: list[int],
) -> Stats:
    stats = Stats()
    sem = asyncio.Semaphore(50)

    async def open_pair(i: int):
        async with sem:
            w = await open_socket(worker_urls[i], tokens[1], stats, True, bare)
            s = await open_socket(su_urls[i], tokens[0], stats, False, bare)
            return s, w

    pairs = await asyncio.gather(*(open_pair(i) for i in range(len(sids))))
    await asyncio.sleep(1.0)  # joins recorded, rooms settled
    cpu0, own0, t0 = cpu_seconds(pids), time.process_time(), time.monotonic()
    await asyncio.gather(*(drive(s[0], stats, sid, duration, bare) for (s, _), sid in zip(pairs, sids, strict=False)))
    stats.server_cpu = (cpu_seconds(pids) - cpu0) / (time.monotonic() - t0)
    stats.client_cpu = (time.process_time() - own0) / (time.monotonic() - t0)
    # let the last messages land: wait until nothing more arrives (at most 20 s)
    for _ in range(40):
        before = (len(stats.got_durable), stats.got_ephemeral)
        await asyncio.sleep(0.5)
        if before == (len(stats.got_durable), stats.got_ephemeral) and before == (
            stats.sent_durable,
            stats.sent_ephemeral,
        ):
            break
        if before == (len(stats.got_durable), stats.got_ephemeral) and _ > 6:
            break
    dropped = list(stats.dropped)
    for s, w in pairs:
        for ws, task in (s, w):
            await ws.close()
            task.cancel()
    stats.dropped = dropped
    return stats


# ------------------------------------------------------------------ servers


def wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_uvicorn(env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            os.environ.get("BENCH_APP", "web.app:create_app"),
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--ws",
            os.environ.get("BENCH_WS", UVICORN_OPTIONS["ws"]),
            "--ws-per-message-deflate",
            "false",
            "--ws-max-size",
            str(UVICORN_OPTIONS["ws_max_size"]),
            "--log-level",
            "warning",
            "--backlog",
            "4096",
        ],
        cwd=ROOT,
        env=env,
    )
    wait_http(f"http://127.0.0.1:{port}/health")
    return proc, f"ws://127.0.0.1:{port}"


def prepare_store(env: dict[str, str], sessions: int) -> tuple[list[str], str, str]:
    """Accounts, a link and `sessions` joint sessions, made before the servers start."""
    from core import settings as settings_mod
    from core.aggregates import account_id
    from core.commands import Actor
    from core.errors import Conflict
    from core.service import Tandem
    from realtime import tokens

    settings = settings_mod.load(**{k.lower(): v for k, v in env.items() if k.startswith("TANDEM_")})
    t = Tandem(settings)
    try:
        ids = {}
        for name, role in (("bench-worker", "worker"), ("bench-su", "service_user")):
            try:
                ids[name] = t.register(name, name, role, "bench-password")
            except Conflict:
                ids[name] = account_id(name)
        if not t.is_linked(ids["bench-worker"], ids["bench-su"]):
            t.link(ids["bench-worker"], ids["bench-su"], by=ids["bench-worker"])
        actor = Actor(ids["bench-worker"], "worker", "bench")
        sids = [str(t.start_session(actor, ids["bench-su"])) for _ in range(sessions)]
        su_token = tokens.issue(settings.secret_key, ids["bench-su"], "service_user", t.open_session(ids["bench-su"]))
        worker_token = tokens.issue(
            settings.secret_key, ids["bench-worker"], "worker", t.open_session(ids["bench-worker"])
        )
    finally:
        t.close()
    return sids, su_token, worker_token


def stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            p.kill()


# ------------------------------------------------------------------ one row of the table


async def bench_tandem(mode: str, n: int, duration: float, args: argparse.Namespace) -> Stats:
    work = Path(tempfile.mkdtemp(prefix="tandem-bench-"))
    env = {
        **os.environ,
        "TANDEM_VAR_DIR": str(work),
        "TANDEM_SECRET_KEY": "bench-secret",
        "TANDEM_MASTER_KEY": "22" * 32,
    }
    env.pop("TANDEM_REDIS_URL", None)
    schema = None
    if mode == "redis":
        schema = "bench_" + uuid.uuid4().hex[:10]
        env["TANDEM_DATABASE_URL"] = f"{args.pg}?schema={schema}"
        env["TANDEM_REDIS_URL"] = args.redis
    else:
        env["TANDEM_DATABASE_URL"] = f"sqlite:///{work / 'tandem.sqlite'}"
    sids, su_token, worker_token = prepare_store(env, n)
    procs: list[subprocess.Popen] = []
    try:
        p1, a = start_uvicorn(env)
        procs.append(p1)
        b = a
        if mode == "redis":
            p2, b = start_uvicorn(env)
            procs.append(p2)
        su_urls = [f"{a}/ws/sessions/{s}" for s in sids]
        worker_urls = [f"{b}/ws/sessions/{s}" for s in sids]
        return await run_load(
            su_urls, worker_urls, sids, (su_token, worker_token), duration, bare=False, pids=[p.pid for p in procs]
        )
    finally:
        stop(procs)
        if schema:
            import psycopg

            with psycopg.connect(args.pg, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}_keys" CASCADE')


async def bench_relay(n: int, duration: float) -> Stats:
    port = free_port()
    proc = subprocess.Popen([sys.executable, __file__, "--relay-server", str(port)], cwd=ROOT)
    try:
        for _ in range(100):
            try:
                async with connect(f"ws://127.0.0.1:{port}/probe"):
                    break
            except OSError:
                await asyncio.sleep(0.1)
        sids = [uuid.uuid4().hex for _ in range(n)]
        urls = [f"ws://127.0.0.1:{port}/r/{s}" for s in sids]
        return await run_load(urls, urls, sids, (None, None), duration, bare=True, pids=[proc.pid])
    finally:
        stop([proc])


def row(label: str, n: int, s: Stats, floor: Stats) -> str:
    lost_d = s.sent_durable - len(s.got_durable)
    lost_e = s.sent_ephemeral - s.got_ephemeral
    return (
        f"{label:<14}{n:>5}  durable p50 {pct(s.durable, 50):7.1f} p99 {pct(s.durable, 99):7.1f}  "
        f"ephemeral p50 {pct(s.ephemeral, 50):6.1f} p99 {pct(s.ephemeral, 99):7.1f}  "
        f"| bare relay p50 {pct(floor.ephemeral, 50):5.1f} p99 {pct(floor.ephemeral, 99):6.1f}  "
        f"| ack p50 {pct(s.ack, 50):6.1f} p99 {pct(s.ack, 99):7.1f} | server CPU {s.server_cpu:4.2f} (relay {floor.server_cpu:4.2f}), load generator {s.client_cpu:4.2f} cores | sent {s.sent_durable}/{s.sent_ephemeral} lost {lost_d}/{lost_e} "
        f"errors {s.errors} sockets dropped {len(s.dropped)} {sorted(set(s.dropped))}"
    )


async def main(args: argparse.Namespace) -> None:
    modes = ["sqlite", "redis"] if args.mode == "both" else [args.mode]
    print(
        f"# mirror latency, ms (send -> other device's receive); {args.duration:.0f} s per run; "
        f"per session {DURABLE_HZ} durable/s + {EPHEMERAL_HZ} ephemeral/s; lost = durable/ephemeral",
        flush=True,
    )
    for mode in modes:
        for n in args.sessions:
            floor = await bench_relay(n, args.duration)
            s = await bench_tandem(mode, n, args.duration, args)
            print(row(mode if mode == "sqlite" else "redis 2-proc", n, s, floor), flush=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode", choices=["sqlite", "redis", "both"], default="sqlite")
    ap.add_argument("--sessions", type=lambda s: [int(x) for x in s.split(",")], default=[10, 100, 500])
    ap.add_argument("--duration", type=float, default=30.0)
    ap.add_argument("--pg", default=os.environ.get("TANDEM_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"))
    ap.add_argument("--redis", default=os.environ.get("TANDEM_TEST_REDIS", "redis://127.0.0.1:6379/0"))
    ap.add_argument("--relay-server", type=int, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.relay_server:
        relay_server(a.relay_server)
    else:
        import uvloop

        uvloop.run(main(a))
