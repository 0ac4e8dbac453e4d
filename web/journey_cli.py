"""`tandem journey export USER [--out FILE]`: everything Tandem holds about a service user, as the
same ZIP the web download gives them, with a progress bar (web.usecases.export)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def add_commands(subparsers: Any) -> None:
    p = subparsers.add_parser("journey", help="a service user's journey")
    sub = p.add_subparsers(dest="journey_cmd", required=True)
    e = sub.add_parser("export", help="write everything Tandem holds about USER to a ZIP (recorded as an export)")
    e.add_argument("username")
    e.add_argument("--out", help="the ZIP to write (default: tandem-USER-DATE.zip here)")
    e.set_defaults(func=_export)


def _export(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from content.loader import load
    from core import settings as settings_mod
    from core.aggregates import account_id
    from core.commands import Actor
    from core.service import Tandem
    from projections import ProjectionSet
    from web.usecases import export as X

    content = load()
    tandem = Tandem(settings_mod.load(), catalogue=content.knows)
    views = ProjectionSet(tandem.settings, tandem=tandem, content=content)
    try:
        views.start()
        views.wait_for(tandem.head(), 600)  # the report's timeline comes from the read models
        su_id = account_id(args.username)
        try:
            plan = X.plan(tandem, views, su_id)
        except (LookupError, PermissionError) as exc:
            print(f"{args.username}: {exc}", file=sys.stderr)
            return 1
        out = Path(args.out or plan.filename)
        part = out.with_name(out.name + ".part")  # a half-written export is never left under the real name
        with tqdm(total=plan.total, unit="event", desc=f"exporting {args.username}") as bar, part.open("wb") as f:

            def advance(events: int) -> None:
                bar.update(events)

            for chunk in X.zip_chunks(plan, content, progress=advance):
                f.write(chunk)
        part.replace(out)
        tandem.record_export(Actor(su_id, "service_user", device="cli"))
        print(f"wrote {out} ({out.stat().st_size:,} bytes, {plan.total:,} events)")
    finally:
        views.close()
        tandem.close()
    return 0
