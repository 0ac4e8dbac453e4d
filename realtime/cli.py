"""`tandem join`: join a live session from a terminal, speaking the same protocol as the browser.

    tandem join ABC234 --server http://127.0.0.1:8000 --username sam      # redeem a join code
    tandem join --session <uuid> --username wendy                          # rejoin by id
    tandem start --su sam --username wendy                                 # (worker) start one

It prints every message it receives (one JSON line each); lines typed on stdin are sent
as frames: `{"type": "scroll", "epoch": 1, "payload": {...}}`, or a bare `nav recovery/hope` (a topic, optionally with a section slug).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import sys
import urllib.request
from typing import Any


def _post(url: str, body: dict[str, Any], token: str | None = None) -> dict[str, Any]:
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=15) as r:
            return json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        detail = json.loads(e.read() or b"{}").get("error", {})
        raise SystemExit(f"{url}: {e.code} {detail.get('message', '')}") from None


def login(server: str, username: str, password: str | None) -> dict[str, Any]:
    password = password or os.environ.get("TANDEM_PASSWORD") or getpass.getpass(f"Password for {username}: ")
    return _post(f"{server}/live/token", {"username": username, "password": password})


async def _run(server: str, session_id: str, token: str, binary: bool) -> int:
    from realtime.client import LiveClient

    def show(m: dict[str, Any], _t: float) -> None:
        print(json.dumps(m, ensure_ascii=False), flush=True)

    client = LiveClient(server, session_id, token=token, binary=binary, on_message=show, keep_history=True)
    await client.connect()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while client.closed is None:
        line = (await reader.readline()).decode().strip()
        if not line:
            if reader.at_eof():
                break
            continue
        if line.startswith("{"):
            msg = json.loads(line)
            await client.send(msg.pop("type"), msg.pop("payload", {}), **msg)
        elif line.startswith("nav "):
            topic, _, slug = line[4:].strip().partition("/")
            place = {"topic_id": topic, "section_id": f"{topic}/{slug}" if slug else None} if topic else {}
            await client.ephemeral("nav", place, drive=True)
        else:
            print(
                json.dumps(
                    {
                        "type": "local_error",
                        "payload": {"message": "type a JSON frame or 'nav <topic>[/<section slug>]'"},
                    }
                ),
                flush=True,
            )
    await client.close()
    return 0


def _join(args: argparse.Namespace) -> int:
    server = args.server.rstrip("/")
    auth = login(server, args.username, args.password)
    session_id = args.session
    if args.code:
        session_id = _post(f"{server}/live/join", {"code": args.code}, auth["token"])["session_id"]
    if not session_id:
        raise SystemExit("give a join code or --session")
    print(json.dumps({"type": "local", "payload": {"session": session_id, "as": auth["role"]}}), flush=True)
    return asyncio.run(_run(server, session_id, auth["token"], args.msgpack))


def _start(args: argparse.Namespace) -> int:
    from core.aggregates import account_id

    server = args.server.rstrip("/")
    auth = login(server, args.username, args.password)
    out = _post(f"{server}/sessions", {"su_id": str(account_id(args.su))}, auth["token"])
    print(f"session {out['session_id']}\ncode    {out['code']}\nlink    {out['link']}")
    return 0


def add_commands(subparsers: Any) -> None:
    j = subparsers.add_parser("join", help="join a live joint session from the terminal")
    j.add_argument("code", nargs="?", help="the join code the worker shows")
    j.add_argument("--session", help="a session id to (re)join instead of a code")
    j.add_argument("--server", default=os.environ.get("TANDEM_URL", "http://127.0.0.1:8000"))
    j.add_argument("--username", required=True)
    j.add_argument("--password", help="default: $TANDEM_PASSWORD or a prompt")
    j.add_argument("--msgpack", action="store_true", help="binary frames (tandem.msgpack.v1)")
    j.set_defaults(func=_join)
    s = subparsers.add_parser("start", help="(worker) start a joint session and print its join code")
    s.add_argument("--su", required=True, help="the service user's username")
    s.add_argument("--server", default=os.environ.get("TANDEM_URL", "http://127.0.0.1:8000"))
    s.add_argument("--username", required=True)
    s.add_argument("--password")
    s.set_defaults(func=_start)
