"""`tandem research export STUDY --format csv|sessions|jsonl|xapi|parquet --by RESEARCHER`.

The same access rule, consent filter and audit event as a download from the dashboard; a
progress bar counts participants as their events are written.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

FORMATS = ("csv", "sessions", "jsonl", "xapi", "parquet")


def add_commands(subparsers: Any) -> None:
    p = subparsers.add_parser("research", help="research studies: exports")
    sub = p.add_subparsers(dest="research_cmd", required=True)
    e = sub.add_parser("export", help="export a study's data (audited), with a progress bar")
    e.add_argument("study", help="the study's code")
    e.add_argument("--format", choices=FORMATS, default="csv")
    e.add_argument("--by", required=True, help="the researcher (username) doing the export")
    e.add_argument("--out", help="file (directory for parquet); default: STUDY-events.EXT in the current directory")
    e.add_argument("--shift-dates", action="store_true", help="shift each participant's dates by their offset")
    e.add_argument("--text", action="store_true", help="include answer text where agreed (the study must allow it)")
    e.set_defaults(func=_export)


def _export(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from content.loader import load
    from core import aggregates as A
    from core import settings as settings_mod
    from core.commands import Actor
    from core.service import Tandem
    from projections import ProjectionSet
    from web.usecases import exports
    from web.usecases import research as uc

    settings = settings_mod.load()
    tandem = Tandem(settings)
    views = ProjectionSet(settings, tandem=tandem, content=load(), names=["research"])
    try:
        views.start()
        if not views.wait_for(tandem.head(), 600):
            print("the research read model did not catch up with the log", file=sys.stderr)
            return 1
        account = tandem.account(A.account_id(args.by))
        if account is None:
            print(f"no account {args.by!r}", file=sys.stderr)
            return 1
        actor = Actor(account.id, account.role, "cli")

        async def audit(subject: Any, resource: str, allowed: bool, reason: str) -> Any:
            return await tandem.audit(actor, subject, resource, allowed=allowed, reason=reason)

        async def check() -> uc.Study:
            study = await uc.open_study(views, actor, str(A.study_id(args.study)), audit, f"export:{args.format}")
            if args.text:
                await uc.require_text(study, audit, f"research:{study.code}:export-text")
            await audit(None, f"research:{study.code}:export:{args.format}", True, "command-line export")
            return study

        try:
            study = asyncio.run(check())
        except uc.Refused as e:
            print(e.message, file=sys.stderr)
            return 3
        opts = uc.ExportOptions(shift_dates=args.shift_dates, text=args.text)
        state = type("State", (), {"projections": views, "tandem": tandem, "content": load()})()
        n = len(uc.participants(views, study))

        def wrap(people: list[uc.Participant]) -> Any:
            return tqdm(people, total=n, desc=f"{study.code} {args.format}", unit="participant", file=sys.stderr)

        if args.format == "parquet":
            out = Path(args.out or f"{study.code}-events-parquet")
            rows = exports.write_parquet(state, study, opts, out, wrap)
            print(f"{rows} events from {n} participants in {out}/ (partitioned by arm)")
            return 0
        name = exports.FORMATS[args.format]
        out = Path(args.out or f"{study.code}-{name}")
        _media, chunks = exports.export_stream(state, study, name, opts, wrap)
        size = 0
        with out.open("wb") as fh:
            for chunk in chunks:
                fh.write(chunk)
                size += len(chunk)
        print(f"{size} bytes from {n} participants in {out}")
        return 0
    finally:
        views.close()
        tandem.close()
