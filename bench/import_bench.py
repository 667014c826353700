"""Import benchmark: followup's import against a standard-library baseline, in one run.

    python bench/import_bench.py [--patients 50000] [--visits-per-patient 10] [--repeat 3]

Generates (once, cached in bench/data/) a synthetic clinic as the demo writes it
(cp1251, ';', dd.mm.yyyy) and times, each in a fresh process and a fresh database:

- baseline: the same rows loaded with csv + sqlite3.executemany in one
  transaction into equivalent tables (same columns, keys and indexes: the read
  side's indexes on visits are followup's schema, so the baseline keeps them too);
- import:   `followup import` of the patients and visits files;
- reimport: the same command again (unchanged files are recognised and skipped);
- reread:   `followup import --force` (every row read and compared, none written).

Times are the median and the best of --repeat rounds, the runs interleaved, as
wall-clock and as CPU time (user + system); figures are ratios to the baseline of
the same run. The PASS line judges the median wall-clock time. Peak memory is the
import process's maximum resident set size.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# CPU-time ratios are printed beside wall-clock ones: this machine is shared and noisy.

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

BASELINE = r'''
import csv, sqlite3, sys
db, patients, visits = sys.argv[1:4]
conn = sqlite3.connect(db, isolation_level=None)
conn.execute("PRAGMA journal_mode = WAL"); conn.execute("PRAGMA synchronous = NORMAL")
conn.executescript("""
CREATE TABLE patients (patient_id TEXT PRIMARY KEY, last_name TEXT, first_name TEXT, middle_name TEXT,
  birth_date TEXT, phone TEXT, phone2 TEXT, email TEXT, household_id TEXT, status TEXT, first_visit TEXT);
CREATE INDEX patients_household ON patients(household_id);
CREATE TABLE visits (visit_id TEXT PRIMARY KEY, patient_id TEXT NOT NULL, doctor TEXT, date TEXT,
  kind TEXT, control_due TEXT);
CREATE INDEX visits_patient_date ON visits(patient_id, date, kind);
CREATE INDEX visits_kind_date ON visits(kind, date, patient_id);
CREATE INDEX visits_control_due ON visits(control_due) WHERE control_due IS NOT NULL;
""")
conn.execute("BEGIN")
for table, path in (("patients", patients), ("visits", visits)):
    with open(path, encoding="cp1251", newline="") as fh:
        reader = csv.reader(fh, delimiter=";")
        header = next(reader)
        marks = ", ".join("?" * len(header))
        conn.executemany(f"INSERT INTO {table} VALUES ({marks})", reader)
conn.execute("COMMIT")
'''


def run(cmd: list[str], env: dict | None = None) -> tuple[float, int, float]:
    """Wall time (s), peak RSS (KiB) and CPU time (user + system, s) of one process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode()
    proc.stderr.close()
    if proc.returncode not in (0, 3):
        raise SystemExit(f"{cmd[:3]} failed ({proc.returncode}): {err[-500:]}")
    return elapsed, usage.ru_maxrss, usage.ru_utime + usage.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--patients", type=int, default=50_000)
    ap.add_argument("--visits-per-patient", type=float, default=16.0)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    from followup.demo import write_clinic

    data = HERE / "data" / f"clinic-{args.patients}-{args.visits_per_patient:g}"
    if not (data / "visits.csv").exists():
        t = time.perf_counter()
        files = write_clinic(data, today=dt.date(2026, 11, 23), patients=args.patients,
                             visits_per_patient=args.visits_per_patient, seed=1)
        print(f"generated {files.counts} in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    patients, visits = data / "patients.csv", data / "visits.csv"
    n_visits = sum(1 for _ in open(visits, encoding="cp1251")) - 1
    n_patients = sum(1 for _ in open(patients, encoding="cp1251")) - 1
    size_mb = (patients.stat().st_size + visits.stat().st_size) / 1e6

    wall: dict[str, list[float]] = {k: [] for k in ("baseline", "import", "reimport", "reread")}
    cpu: dict[str, list[float]] = {k: [] for k in wall}
    peak_kib: list[int] = []
    followup = [sys.executable, "-m", "followup"]
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            env = dict(os.environ, FOLLOWUP_DB=str(Path(tmp) / "f.db"), FOLLOWUP_USER="bench")
            commands = {
                "baseline": [sys.executable, "-c", BASELINE, str(Path(tmp) / "b.db"), str(patients), str(visits)],
                "import": followup + ["import", "--quiet", str(patients), str(visits)],
                "reimport": followup + ["import", "--quiet", str(patients), str(visits)],
                "reread": followup + ["import", "--quiet", "--force", str(patients), str(visits)],
            }
            for name, cmd in commands.items():
                t, rss, c = run(cmd, env)
                wall[name].append(t)
                cpu[name].append(c)
                if name == "import":
                    peak_kib.append(rss)
    med = {k: statistics.median(v) for k, v in wall.items()}
    best = {k: min(v) for k, v in wall.items()}
    cmed = {k: statistics.median(v) for k, v in cpu.items()}
    print(f"clinic: {n_patients:,} patients, {n_visits:,} visits, {size_mb:.0f} MB of cp1251 CSV; "
          f"{args.repeat} rounds")
    print(f"{'run':<10} {'median s':>8} {'ratio':>6} {'best s':>7} {'ratio':>6} {'cpu s':>7} {'ratio':>6}  target")
    targets = {"baseline": "", "import": "<= 1.5", "reimport": "<= 0.2", "reread": "(no target)"}
    for k in wall:
        print(f"{k:<10} {med[k]:>8.2f} {med[k] / med['baseline']:>6.2f} {best[k]:>7.2f} "
              f"{best[k] / best['baseline']:>6.2f} {cmed[k]:>7.2f} {cmed[k] / cmed['baseline']:>6.2f}"
              f"  {targets[k]}")
    print(f"peak memory of the import: {max(peak_kib) / 1024:.0f} MB (target < 100 MB)")
    base = med["baseline"]
    ok = med["import"] <= 1.5 * base and med["reimport"] <= 0.2 * base and max(peak_kib) < 100 * 1024
    print("PASS" if ok else "FAIL")


if __name__ == "__main__":
    main()
