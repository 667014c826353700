"""`followup today` benchmark: the rules and queries must cost next to nothing.

    python bench/today_bench.py [--repeat 15]

Builds (once, cached in bench/data/) the 50,000-patient / 506,581-visit clinic of
import_bench.py, imported by followup, with consents recorded for about half of the
patients (as the demo records them), then times, interleaved round by round, each a
fresh process:

- deps:   python -c "import typer, rich.table, sqlite_utils, dateutil"  (the baseline)
- empty:  followup today --format json on a database with the schema and no data
- today:  followup today --format json on the big clinic, its stored plan current (a read)
- marked: the same after one listed patient was marked as changed (as `done` marks them)
- cold:   the same after the stored plan was dropped (as an import or a setting drops it)
- blocks: followup today, as the receptionist types it (printed for an 80-column terminal), plan current

Targets: today <= 1.2 x deps, and today <= 1.15 x empty. Medians and bests are printed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
DAY = dt.date.today().isoformat()  # only the calendar's today is stored (another --date is always planned)


def build(data: Path) -> Path:
    return built_clinic(data, "today-clinic", "clinic-50000-16", patients=50_000, visits_per_patient=16,
                        import_day=dt.date(2026, 11, 23))


def built_clinic(data: Path, name: str, exports_name: str, *, patients: int, visits_per_patient: int,
                 import_day: dt.date) -> Path:
    """``data/NAME.db``, built once: the demo generator's clinic (its exports cached in
    ``data/EXPORTS_NAME``) imported by followup on ``import_day``, with consents for about half of the
    patients as the demo records them. (scale_bench.py builds its clinics with it too.)"""
    from followup import db
    from followup.demo import staff_records, write_clinic
    from followup.importing import ImportOptions, import_paths

    big = data / f"{name}.db"
    if big.exists():
        return big
    exports = data / exports_name
    if not (exports / "visits.csv").exists():
        write_clinic(exports, today=dt.date(2026, 11, 23), patients=patients, visits_per_patient=visits_per_patient,
                     seed=1)
    tmp = data / f"{name}.tmp.db"
    for suffix in ("", "-wal", "-shm"):
        Path(str(tmp) + suffix).unlink(missing_ok=True)
    conn = db.connect(tmp)
    import_paths(conn, tmp, [exports], ImportOptions(user="bench"), today=import_day)
    ids = [r[0] for r in conn.execute("SELECT patient_id FROM patients")]
    consents, nexts = staff_records(ids, today=dt.date(2026, 11, 23), seed=1)
    db.add_consents(conn, consents)
    for n in nexts:
        db.add_next_contact(conn, n)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    tmp.rename(big)
    return big


def timed(cmd: list[str], env: dict) -> float:
    t = time.perf_counter()
    out = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if out.returncode:
        raise SystemExit(f"{cmd} failed: {out.stderr.decode()[-400:]}")
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=15)
    args = ap.parse_args()
    data = HERE / "data"
    data.mkdir(exist_ok=True)
    big = build(data)
    empty = data / "today-empty.db"
    if not empty.exists():
        from followup import db

        db.connect(empty).close()
    py = sys.executable
    today = [py, "-m", "followup", "--db", str(big), "today", "--format", "json", "--date", DAY]
    runs = {
        "deps": [py, "-c", "import typer, rich.table, sqlite_utils, dateutil"],
        "empty": [py, "-m", "followup", "--db", str(empty), "today", "--format", "json", "--date", DAY],
        "today": today,    # the stored plan is current: a read
        "marked": today,   # one patient's records changed since (a desk recorded an outcome)
        "cold": today,     # the plan was dropped (the first `today` after the nightly import)
        "blocks": today[:-4] + ["--date", DAY],  # what the receptionist reads: no --format
    }
    env = dict(os.environ)
    envs = {k: env for k in runs} | {"blocks": dict(env, COLUMNS="80")}
    for k, cmd in runs.items():  # warm the page cache once (and migrate the database, store the plan)
        timed(cmd, envs[k])
    conn = sqlite3.connect(big, isolation_level=None)
    listed = [r[0] for r in conn.execute("SELECT patient_id FROM plan_entries ORDER BY entry_id")]
    prepare = {
        "marked": lambda i: conn.execute("INSERT OR IGNORE INTO plan_dirty VALUES (?)", (listed[i % len(listed)],)),
        "cold": lambda i: conn.execute("DELETE FROM plan_meta"),
    }
    times: dict[str, list[float]] = {k: [] for k in runs}
    for i in range(args.repeat):
        for k, cmd in runs.items():
            if k in prepare:
                prepare[k](i)
            times[k].append(timed(cmd, envs[k]))
    med = {k: statistics.median(v) for k, v in times.items()}
    best = {k: min(v) for k, v in times.items()}
    entries = subprocess.run(runs["today"], capture_output=True, text=True, env=env).stdout.count('"entry_id"')
    print(f"clinic: {big.stat().st_size / 1e6:.0f} MB database; today's list: {entries} entries; "
          f"{args.repeat} rounds")
    print(f"{'run':<6} {'median s':>8} {'best s':>7}")
    for k in runs:
        print(f"{k:<6} {med[k]:>8.3f} {best[k]:>7.3f}")
    for k in ("today", "marked", "cold", "blocks"):
        print(f"{k} / deps:  median {med[k] / med['deps']:.2f}  best {best[k] / best['deps']:.2f}  (target <= 1.2)")
    for k in ("today", "marked", "cold", "blocks"):
        print(f"{k} / empty: median {med[k] / med['empty']:.2f}  best {best[k] / best['empty']:.2f}  "
              f"(target <= 1.15)")


if __name__ == "__main__":
    main()
