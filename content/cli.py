"""`content check`, `content make-media` and `content snapshot`.

web/cli.py calls `add_commands(subparsers)`; each command sets `func`, which takes the parsed
args and returns the exit code. `python -m content ...` uses `main()` with the same commands.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from content.loader import ContentError, load


def cmd_check(args: argparse.Namespace) -> int:
    try:
        cs = load(args.root)
    except ContentError as e:
        for problem in e.errors:
            print(problem, file=sys.stderr)
        print(f"content check failed: {len(e.errors)} problem(s)", file=sys.stderr)
        return 1
    counts = {
        "topics": len(cs.topics),
        "sections": sum(1 for _ in cs.sections()),
        "peers": len(cs.peers),
        "videos": len(cs.videos),
        "questions": sum(1 for _ in cs.questions()),
        "trackers": len(cs.trackers),
        "worksheets": len(cs.worksheets),
    }
    print(f"content OK, version {cs.version}")
    for name, n in counts.items():
        print(f"  {name:<11}{n:>4}")
    return 0


def cmd_make_media(args: argparse.Namespace) -> int:
    from content.media_tool import make_media  # imported late: only this command needs ffmpeg

    try:
        make_media(args.root, args.only or None)
    except (RuntimeError, OSError) as e:
        print(f"make-media failed: {e}", file=sys.stderr)
        return 1
    return 0


def cmd_snapshot(args: argparse.Namespace) -> int:
    from content import versions

    try:
        cs = load(args.root)
    except ContentError as e:
        print(f"content is invalid ({len(e.errors)} problem(s)); run `content check`", file=sys.stderr)
        return 1
    print(versions.remember(cs, args.dir or versions.COMMITTED_DIR))
    return 0


def _add_inner(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    check = sub.add_parser("check", help="validate content/data and print a summary")
    check.add_argument("--root", type=Path, default=None, help="content data directory (default: content/data)")
    check.set_defaults(func=cmd_check)
    media = sub.add_parser("make-media", help="regenerate the narrated peer videos, captions and durations")
    media.add_argument("--root", type=Path, default=None, help="content data directory (default: content/data)")
    media.add_argument("--only", nargs="*", metavar="VIDEO_ID", help="only these videos")
    media.set_defaults(func=cmd_make_media)
    snap = sub.add_parser(
        "snapshot", help="save the current content version's snapshot (default: content/data/versions, to commit)"
    )
    snap.add_argument("--root", type=Path, default=None, help="content data directory (default: content/data)")
    snap.add_argument("--dir", type=Path, default=None, help="where to write <version>.json")
    snap.set_defaults(func=cmd_snapshot)


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `content check|make-media|snapshot` on a parent CLI."""
    parser = subparsers.add_parser("content", help="check content and regenerate media")
    _add_inner(parser.add_subparsers(dest="content_command", required=True))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m content", description="Tandem content tools")
    _add_inner(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code
