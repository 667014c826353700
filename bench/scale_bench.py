"""Scale benchmark (issue 15): what a person waits for, at 50,000 and at 500,000 patients.

    python bench/scale_bench.py --size 50000 --repeat 5
    python bench/scale_bench.py --size 500000 --repeat 3

Builds once (cached in bench/data/, git-ignored) a clinic of the demo's generator imported by
followup, with consents for about half of the patients, then times each command in a fresh process,
interleaved round by round, as a ratio to the "deps floor" timed in the same rounds: the time Python
needs to import followup's dependencies (`python -c "import typer, rich.table, sqlite_utils,
dateutil"`). Peak memory is each process's max RSS (GNU time's %M: `apt-get install time`).

Runs: the stored day (JSON; a person's page; --doctor, --channel, --find), another day (--date
tomorrow), a cold plan (the stored plan dropped, as an import or a setting drops it), `today` right
after a `done`, `done` and `why` themselves, `report clinic`, `check --quick`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))  # today_bench (the clinics are built alike)
TODAY = dt.date.today()
EXPORTS = {50_000: ("clinic-50000-16", 16), 500_000: ("clinic-500000-10", 10)}


def build(data: Path, size: int) -> Path:
    from today_bench import built_clinic

    exports, visits = EXPORTS[size]
    return built_clinic(data, f"scale-{size}", exports, patients=size, visits_per_patient=visits, import_day=TODAY)


def run(cmd: list[str], env: dict) -> tuple[float, int]:
    """Seconds and peak memory (MB: the command's max RSS as GNU time reports it; a child's own
    rusage would count the benchmark's memory it was forked from) of one process."""
    t = time.perf_counter()
    out = subprocess.run(["/usr/bin/time", "-f", "maxrss %M", *cmd], env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - t
    err = out.stderr.decode(errors="replace")
    if out.returncode not in (0, 3):
        raise SystemExit(f"{cmd[3:]} failed ({out.returncode}): {err[-400:]}")
    return elapsed, int(err.rsplit("maxrss ", 1)[1].split()[0]) // 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=50_000, choices=sorted(EXPORTS))
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--only", help="comma-separated runs to time (and deps)")
    args = ap.parse_args()
    data = HERE / "data"
    data.mkdir(exist_ok=True)
    source = build(data, args.size)
    path = data / f"scale-{args.size}.work.db"  # the runs write (done): a copy, fresh each time
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    shutil.copyfile(source, path)
    py = sys.executable
    fu = [py, "-m", "followup", "--db", str(path)]
    env = dict(os.environ, FOLLOWUP_USER="bench", COLUMNS="100", FOLLOWUP_LANG="en")
    subprocess.run(fu + ["today", "--format", "json"], env=env, stdout=subprocess.DEVNULL, check=True)  # migrate, store
    conn = sqlite3.connect(path, isolation_level=None)
    doctor = conn.execute("SELECT name FROM doctors ORDER BY name LIMIT 1").fetchone()[0].split()[0]
    entries = [r for r in conn.execute("SELECT shown, patient_id FROM plan_entries WHERE place IS NULL "
                                       "ORDER BY entry_id")]
    tomorrow = (TODAY + dt.timedelta(days=1)).isoformat()
    k = {"i": 0}

    def next_entry() -> str:
        k["i"] += 1
        return entries[(k["i"] * 7919) % len(entries)][0]

    runs = {
        "deps": lambda: [py, "-c", "import typer, rich.table, sqlite_utils, dateutil"],
        "today json": lambda: fu + ["today", "--format", "json"],
        "today (a page)": lambda: fu + ["today"],
        "--doctor": lambda: fu + ["today", "--doctor", doctor, "--format", "json"],
        "--channel sms": lambda: fu + ["today", "--channel", "sms", "--format", "json"],
        "--find": lambda: fu + ["today", "--find", "иванова", "--format", "json"],
        "why": lambda: fu + ["why", entries[(k["i"] * 31) % len(entries)][1], "--format", "json"],
        "done": lambda: fu + ["done", next_entry(), "--outcome", "no-answer"],
        "today after done": lambda: fu + ["today", "--format", "json"],
        "--date tomorrow": lambda: fu + ["today", "--date", tomorrow, "--format", "json"],
        "cold": lambda: fu + ["today", "--format", "json"],
        "report clinic": lambda: fu + ["report", "clinic", "--format", "json"],
        "check --quick": lambda: fu + ["check", "--quick"],
    }
    if args.only:
        wanted = {"deps", *args.only.split(",")}
        runs = {name: cmd for name, cmd in runs.items() if name in wanted}
    prepare = {"cold": lambda: conn.execute("DELETE FROM plan_meta")}
    times: dict[str, list[float]] = {name: [] for name in runs}
    memory: dict[str, int] = {name: 0 for name in runs}
    for _ in range(args.repeat):
        for name, cmd in runs.items():
            if name in prepare:
                prepare[name]()
            seconds, mb = run(cmd(), env)
            times[name].append(seconds)
            memory[name] = max(memory[name], mb)
    floor = statistics.median(times["deps"])
    print(f"{args.size} patients; {len(entries)} entries on the list; {args.repeat} rounds; "
          f"{source.stat().st_size / 1e6:.0f} MB database")
    print("| run | median s | best s | / deps floor | peak MB |")
    print("|---|---|---|---|---|")
    for name in runs:
        med = statistics.median(times[name])
        print(f"| {name} | {med:.2f} | {min(times[name]):.2f} | {med / floor:.2f} | {memory[name]} |")


if __name__ == "__main__":
    main()
