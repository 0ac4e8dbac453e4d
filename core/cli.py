"""`tandem audit verify | head | checkpoint | public-key`: the log's hash chain from the console."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any


def add_commands(subparsers: Any) -> None:
    p = subparsers.add_parser("audit", help="the log's hash chain: verify it, print its head, sign a checkpoint")
    sub = p.add_subparsers(dest="audit_cmd", required=True)
    v = sub.add_parser("verify", help="walk the whole log and check every link and signed checkpoint")
    v.add_argument("--at", type=int, metavar="POSITION", help="check the log only up to this position ...")
    v.add_argument("--head", metavar="HASH", help="... and that its head there is this hash (from `audit head`)")
    v.add_argument("--public-key", metavar="HEX", help="the deployment's public key (default: from TANDEM_AUDIT_KEY)")
    v.set_defaults(func=_verify)
    h = sub.add_parser("head", help="print the position and hash of the chain's head (note them with an export)")
    h.set_defaults(func=_head)
    c = sub.add_parser("checkpoint", help="sign the chain's head now with the deployment key")
    c.set_defaults(func=_checkpoint)
    k = sub.add_parser("public-key", help="print the public key that verifies the checkpoints")
    k.set_defaults(func=_public_key)


def _open() -> Any:
    from core import settings as settings_mod
    from core.log import open_log

    settings = settings_mod.load()
    return settings, open_log(settings)


def _fail(message: str) -> int:
    print(f"tandem audit: {message}", file=sys.stderr)
    return 2


def _verify(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from core import audit

    if args.head is not None and args.at is None:
        return _fail("--head needs --at POSITION")
    if args.at is not None and args.at < 1:
        return _fail("--at must be a position of 1 or more")
    try:
        head = bytes.fromhex(args.head) if args.head is not None else None
        if head is not None and len(head) != 32:
            raise ValueError
    except ValueError:
        return _fail("--head must be 64 hex characters")
    settings, log = _open()
    try:
        try:
            key = (
                audit.public_key(args.public_key)
                if args.public_key
                else audit.signing_key(settings.audit_key).public_key()
            )
        except ValueError as exc:
            return _fail(str(exc))
        total = args.at or log.recorder.chain_end()
        started = time.perf_counter()
        with tqdm(total=total, desc="verifying", unit="ev", unit_scale=True, file=sys.stderr) as bar:
            report = audit.verify(log.recorder, key, at=args.at, progress=bar.update)
        elapsed = time.perf_counter() - started
    finally:
        log.close()
    if head is not None and report.intact and report.head != head:
        report.problems.append(
            audit.Problem(args.at, "the chain's head here is not the one given", head.hex(), report.head.hex())
        )
    print(f"checked {report.events} events in {elapsed:.1f}s ({report.events / max(elapsed, 1e-9):,.0f} events/s)")
    if not report.intact:
        first = report.problems[0]
        print(
            f"BROKEN at position {first.position} (links intact up to position {min(report.position, first.position - 1)})"
        )
        for problem in report.problems:
            print(problem)
        return 1
    print(f"intact up to position {report.position}, head {report.head.hex()}")
    print(f"{report.checkpoints} signed checkpoint(s) verified")
    if head is not None:
        print(f"the log up to position {args.at} is the one whose head was given")
    return 0


def _head(args: argparse.Namespace) -> int:
    _, log = _open()
    try:
        position, head = log.recorder.last_link()
    finally:
        log.close()
    print(f"position {position} head {head.hex()}")
    return 0


def _checkpoint(args: argparse.Namespace) -> int:
    from core import audit

    settings, log = _open()
    try:
        position, head = log.recorder.last_link()
        if position == 0:
            print("the log is empty: nothing to sign")
            return 0
        log.recorder.insert_checkpoint(audit.sign(audit.signing_key(settings.audit_key), position, head))
    finally:
        log.close()
    print(f"signed checkpoint at position {position} head {head.hex()}")
    return 0


def _public_key(args: argparse.Namespace) -> int:
    from core import audit
    from core import settings as settings_mod

    print(audit.public_hex(audit.signing_key(settings_mod.load().audit_key)))
    return 0
