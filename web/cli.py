"""`tandem`: the command line. Each package adds its own sub-commands."""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from typing import Any


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from core import settings as settings_mod
    from core.service import Tandem
    from web import demo
    from web.socket_protocol import UVICORN_OPTIONS

    settings = settings_mod.load()
    if args.workers > 1 and (settings.backend != "postgres" or not settings.redis_url):
        print(
            "tandem: several server processes need PostgreSQL (TANDEM_DATABASE_URL) and Redis (TANDEM_REDIS_URL)",
            file=sys.stderr,
        )
        return 2
    if args.demo:
        t = Tandem(settings)
        try:
            creds = demo.seed(t, history=settings.demo_history)
        finally:
            t.close()
        print("Demo accounts (username / password):")
        for username, role, password in creds:
            print(f"  {role:<13} {username:<6} / {password}")
    port = args.port or settings_mod.listen_address()[1]
    print(f"Tandem on http://{args.host}:{port}  (store: {settings.backend})", flush=True)
    uvicorn.run(
        "web.app:create_app",
        factory=True,
        host=args.host,
        port=port,
        workers=args.workers,
        log_level="info",
        **UVICORN_OPTIONS,
    )
    return 0


def _seed_demo(args: argparse.Namespace) -> int:
    from core import settings as settings_mod
    from core.service import Tandem
    from web import demo

    settings = settings_mod.load()
    t = Tandem(settings)
    try:
        for username, role, password in demo.seed(t, history=settings.demo_history):
            print(f"{role:<13} {username:<6} / {password}")
    finally:
        t.close()
    return 0


def _events_tail(args: argparse.Namespace) -> int:
    from core import settings as settings_mod
    from core.log import EventLog

    log = EventLog(env=settings_mod.load().eventsourcing_env())
    position = max(0, log.head() - args.last)
    try:
        while True:
            for pos, ev in log.read(position, 500):
                position = pos
                who = getattr(ev, "actor_role", "")
                print(f"{pos:>8}  {ev.timestamp:%Y-%m-%d %H:%M:%S}  {type(ev).__qualname__:<32} {who}", flush=True)
            if not args.follow:
                return 0
            time.sleep(0.5)
    except KeyboardInterrupt:
        return 0
    finally:
        log.close()


def _users(args: argparse.Namespace) -> int:
    from core import settings as settings_mod
    from core.aggregates import account_id
    from core.service import Tandem
    from realtime import revocation

    t = Tandem(settings_mod.load())
    announcer = revocation.announce(t)  # an unlink or sign-out here closes live sockets at once
    try:
        if args.users_cmd == "create":
            uid = t.register(args.username, args.name or args.username, args.role, args.password)
            print(f"created {args.role} {args.username} ({uid})")
        elif args.users_cmd == "link":
            admin = account_id(args.by) if args.by else account_id(args.worker)
            t.link(account_id(args.worker), account_id(args.service_user), by=admin)
            print(f"linked worker {args.worker} to {args.service_user}")
        elif args.users_cmd == "unlink":
            admin = account_id(args.by) if args.by else account_id(args.worker)
            t.unlink(account_id(args.worker), account_id(args.service_user), by=admin)
            print(f"unlinked worker {args.worker} from {args.service_user}")
        elif args.users_cmd == "logout-everywhere":
            t.log_out_everywhere(account_id(args.username))
            print(f"every session of {args.username} has ended")
        elif args.users_cmd in ("reset-password", "deactivate", "erase"):
            return _manage(t, args)
    finally:
        t.close()
        if announcer is not None:
            announcer.close()
    return 0


def _manage(t: Any, args: argparse.Namespace) -> int:
    """The server console's way in when no admin can log in (an admin who forgot their password)."""
    from core.aggregates import account_id
    from core.errors import CommandError

    account = t.account(account_id(args.username))
    if account is None or account.erased:
        print(f"no account {args.username!r}", file=sys.stderr)
        return 1
    by = account_id(args.by) if args.by else account.id  # an operator at the console acts as the account itself
    try:
        if args.users_cmd == "reset-password":
            from web.admin import set_password_path

            token, _ = t.issue_reset_link(account.id, by)
            print(f"{args.username}'s password is reset and their sessions have ended.")
            print("Give them this link (it works once, for 24 hours) to choose a new password:")
            print(f"{args.base_url.rstrip('/')}{set_password_path(account.id, token)}")
        elif args.users_cmd == "deactivate":
            t.deactivate(account.id, by)
            print(f"{args.username} is deactivated")
        elif args.yes != args.username:
            print(
                f"to erase everything {args.username} wrote, repeat their username: --yes {args.username}",
                file=sys.stderr,
            )
            return 1
        else:
            t.erase(account.id, by)
            print(f"{args.username}'s key is destroyed: their answers and worksheet items can no longer be read")
    except CommandError as e:
        print(f"{e.field}: {e.message}" if e.field else e.message, file=sys.stderr)
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    from core.settings import listen_address

    p = argparse.ArgumentParser(
        prog="tandem", description="Tandem: a recovery website used together, event-sourced and live."
    )
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", help="run the web server (uvicorn)")
    s.add_argument("--host", default=listen_address()[0])
    s.add_argument("--port", type=int, default=None, help="default: $PORT or 8000")
    s.add_argument("--workers", type=int, default=1, help="server processes (needs PostgreSQL and Redis when > 1)")
    s.add_argument("--demo", action="store_true", help="seed the demo accounts first and print their passwords")
    s.set_defaults(func=_serve)

    d = sub.add_parser("seed-demo", help="create the demo accounts (idempotent)")
    d.set_defaults(func=_seed_demo)

    e = sub.add_parser("events", help="look at the event log")
    esub = e.add_subparsers(dest="events_cmd", required=True)
    tail = esub.add_parser("tail", help="print the newest events")
    tail.add_argument("-n", "--last", type=int, default=20)
    tail.add_argument("-f", "--follow", action="store_true")
    tail.set_defaults(func=_events_tail)

    u = sub.add_parser("users", help="create accounts and link workers to service users")
    usub = u.add_subparsers(dest="users_cmd", required=True)
    c = usub.add_parser("create")
    c.add_argument("username")
    c.add_argument("--role", required=True, choices=["service_user", "worker", "researcher", "admin"])
    c.add_argument("--password", required=True)
    c.add_argument("--name")
    c.set_defaults(func=_users)
    ln = usub.add_parser("link")
    ln.add_argument("worker")
    ln.add_argument("service_user")
    ln.add_argument("--by", help="the admin doing it")
    ln.set_defaults(func=_users)
    un = usub.add_parser("unlink")
    un.add_argument("worker")
    un.add_argument("service_user")
    un.add_argument("--by", help="the admin doing it")
    un.set_defaults(func=_users)
    lo = usub.add_parser("logout-everywhere", help="end every session of an account (e.g. a lost phone)")
    lo.add_argument("username")
    lo.set_defaults(func=_users)
    rp = usub.add_parser(
        "reset-password", help="print a single-use set-password link for someone who forgot theirs (their sessions end)"
    )
    rp.add_argument("username")
    rp.add_argument("--base-url", default="http://127.0.0.1:8000", help="where the server is reached")
    de = usub.add_parser("deactivate", help="stop an account from logging in (its sessions end)")
    de.add_argument("username")
    er = usub.add_parser("erase", help="destroy a service user's key: their free text becomes unreadable everywhere")
    er.add_argument("username")
    er.add_argument("--yes", metavar="USERNAME", help="the username again, to confirm")
    for p_ in (rp, de, er):
        p_.add_argument("--by", help="the admin doing it (default: recorded as the account itself)")
        p_.set_defaults(func=_users)

    # Packages that bring their own commands.
    for module in ("content.cli", "projections.cli", "realtime.cli", "core.cli", "web.research_cli", "web.journey_cli"):
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            continue
        mod.add_commands(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
