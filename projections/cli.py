"""`tandem projections rebuild [NAME]`, `status` and `follow`."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Any


def add_commands(subparsers: Any) -> None:
    p = subparsers.add_parser("projections", help="read models: status, rebuild, follow")
    sub = p.add_subparsers(dest="projections_cmd", required=True)
    r = sub.add_parser("rebuild", help="rebuild from position 0 into fresh tables, then swap them in")
    r.add_argument("name", nargs="?", help="one projection (default: all)")
    r.add_argument(
        "--no-content", action="store_true", help="do not check content ids (no dead letters for unknown content)"
    )
    r.set_defaults(func=_rebuild)
    s = sub.add_parser("status", help="position, log head, lag, version and dead letters of each projection")
    s.set_defaults(func=_status)
    f = sub.add_parser("follow", help="run the projections in this process until interrupted")
    f.add_argument("--no-content", action="store_true")
    f.set_defaults(func=_follow)


def _content(args: argparse.Namespace) -> Any:
    if getattr(args, "no_content", False):
        return None
    try:
        from content.loader import load

        return load()
    except Exception as exc:  # content may be mid-edit: project without checks rather than not at all
        print(f"content not loaded ({exc}); content ids are not checked", file=sys.stderr)
        return None


def _set(args: argparse.Namespace, **kw: Any) -> Any:
    from core import settings as settings_mod
    from projections import ProjectionSet

    return ProjectionSet(settings_mod.load(), content=_content(args), **kw)


def _rebuild(args: argparse.Namespace) -> int:
    from projections import ALL

    known = [c.name for c in ALL]
    if args.name and args.name not in known:
        print(f"unknown projection {args.name!r}; one of: {', '.join(known)}", file=sys.stderr)
        return 2
    from projections.store import RebuildBusy

    views = _set(args)
    try:
        try:
            position = views.rebuild([args.name] if args.name else None)
        except RebuildBusy as exc:
            print(f"{exc}; try again when it has finished", file=sys.stderr)
            return 1
        print(f"rebuilt {args.name or 'all projections'} up to position {position} in {views.rebuild_seconds:.1f}s")
    finally:
        views.close()
    return 0


def _status(args: argparse.Namespace) -> int:
    views = _set(argparse.Namespace(no_content=True))
    try:
        views.prepare()
        print(f"{'projection':<12} {'position':>10} {'head':>10} {'lag':>8} {'version':>8} {'dead':>6}  state")
        for name, s in views.status().items():
            version = f"{s['version']}" + ("" if s["version"] == s["code_version"] else f"->{s['code_version']}")
            print(
                f"{name:<12} {s['position']:>10} {s['head']:>10} {s['lag']:>8} {version:>8} {s['dead_letters']:>6}  {s['state']}"
            )
    finally:
        views.close()
    return 0


def _follow(args: argparse.Namespace) -> int:
    views = _set(args)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    views.start()
    try:
        done.wait()
    except KeyboardInterrupt:
        pass
    finally:
        views.close()
    return 0
