"""How fast `tandem audit verify` walks the log's hash chain.

Seeds the realistic log of bench/rebuild.py (sealed as Tandem seals it: links in each
insert transaction, a signed checkpoint every 10,000 events), then verifies every link
and checkpoint and prints events/s.

    .venv/bin/python bench/verify.py --store sqlite   --events 1000000
    .venv/bin/python bench/verify.py --store postgres --events 1000000   # TANDEM_TEST_POSTGRES or 127.0.0.1/test
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from rebuild import Seeder
from tqdm import tqdm

from core import audit
from core import settings as settings_mod
from core.log import open_log


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()

    var = Path(tempfile.mkdtemp(prefix="tandem-bench-"))
    base = os.environ.get("TANDEM_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
    schema = "bench_" + uuid.uuid4().hex[:8] if args.store == "postgres" else None
    overrides = {"tandem_var_dir": str(var), "tandem_secret_key": "bench", "tandem_master_key": "22" * 32}
    if schema:
        overrides["tandem_database_url"] = f"{base}?schema={schema}"
    settings = settings_mod.load(**overrides)
    log = open_log(settings)
    try:
        t0 = time.monotonic()
        Seeder(log, args.events, random.Random(args.seed)).run()
        print(
            f"seeded {log.head():,} events in {time.monotonic() - t0:.0f}s ({args.store}), sealed as they were stored"
        )
        key = audit.signing_key(settings.audit_key).public_key()
        started = time.perf_counter()
        with tqdm(total=log.recorder.chain_end(), desc="verifying", unit="ev", unit_scale=True) as bar:
            report = audit.verify(log.recorder, key, progress=bar.update)
        secs = time.perf_counter() - started
        print(f"\nstore:        {args.store}")
        print(
            f"verified:     {report.events:,} events, {report.checkpoints} signed checkpoints, intact={report.intact}"
        )
        print(f"verify speed: {report.events / secs:,.0f} events/s ({secs:.1f}s)")
    finally:
        log.close()
        shutil.rmtree(var, ignore_errors=True)
        if schema:
            import psycopg

            with psycopg.connect(base, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}_keys" CASCADE')
    return 0 if report.intact else 1


if __name__ == "__main__":
    sys.exit(main())
