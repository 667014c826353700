"""Import benchmark: followup's import against a standard-library baseline, in one run.

    python bench/import_bench.py [--patients 50000] [--visits-per-patient 10] [--repeat 3]

Generates (once, cached in bench/data/) a synthetic clinic as the demo writes it
(cp1251, ';', dd.mm.yyyy) and times, each in a fresh process and a fresh database:

- baseline: a careful standard-library load of the same rows into the same
  tables: followup's schema, each value converted the plain way into what
  followup stores, the secondary indexes dropped and built once after the
  load, one transaction;
- import:   `followup import` of the patients and visits files;
- reimport: the same command again (unchanged files are recognised and skipped);
- reread:   `followup import --force` (every row read, converted and compared, none written; each
  row's digest kept, as the first import after an upgrade does once);
- changed:  the same export with 1 % of its rows changed (a patient's phone, a visit's kind; made
  once, beside the export): compared, and only what changed converted and written (issue 15:
  <= 0.7 x the first import).

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
# A careful standard-library load of the same rows into the same tables: followup's own schema
# (made by its migrations), the secondary indexes dropped and built once after the load, one
# transaction; each value converted the plain way (strptime, a digits rule for phones, dicts for
# kinds, statuses and doctors) into what followup stores. No checks beyond that.
import csv, datetime as dt, functools, sqlite3, sys
root, db, patients, visits = sys.argv[1:5]
sys.path.insert(0, root)
from followup import db as followup_db
followup_db.connect(db).close()  # the schema, by followup's migrations
conn = sqlite3.connect(db, isolation_level=None)
conn.execute("PRAGMA journal_mode = WAL"); conn.execute("PRAGMA synchronous = NORMAL")
conn.execute("BEGIN")
indexes = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
                       "AND tbl_name IN ('patients', 'visits')").fetchall()
for name, _ in indexes:
    conn.execute(f"DROP INDEX {name}")

@functools.lru_cache(maxsize=None)  # dates repeat: each distinct text is parsed once
def day(s):
    return dt.datetime.strptime(s, "%d.%m.%Y").date().isoformat() if s else None

def phone(s):
    d = "".join(ch for ch in s if ch.isdigit())
    if len(d) == 11 and d[0] in "78":
        return "+7" + d[1:], 1, int(d[1] == "9")
    return (s or None), (0 if s else None), (0 if s else None)

STATUS = {"Активен": "active", "Архив": "archived", "Умер": "deceased", "": "active"}

def phones(p1, p2):
    """Of the two cells' numbers, the first that takes SMS is the phone, the other the second phone."""
    found = [x for x in (phone(p1), phone(p2)) if x[0]]
    if not found:
        return None, None, None, None, None
    best = next((x for x in found if x[2]), None) or next((x for x in found if x[1]), found[0])
    rest = [x for x in found if x is not best]
    return best[0], best[1], rest[0][0] if rest else None, rest[0][1] if rest else None, best[2]
with open(patients, encoding="cp1251", newline="") as fh:
    reader = csv.reader(fh, delimiter=";")
    next(reader)
    households, rows = set(), []
    for pid, last, first, middle, birth, p1, p2, email, house, status, first_visit in reader:
        full = " ".join(x for x in (last, first, middle) if x)
        n1, v1, n2, v2, sms = phones(p1, p2)
        if house:
            households.add(house)
        rows.append((pid, full, last or None, first or None, middle or None, full.casefold().replace("ё", "е"),
                     day(birth), n1, v1, n2, v2, email or None, house or None, STATUS.get(status, "active"),
                     day(first_visit), sms, None, 1))
        if len(rows) >= 10000:
            conn.executemany("INSERT INTO patients (patient_id, full_name, last_name, first_name, middle_name, "
                             "name_fold, birth_date, phone, phone_valid, phone2, phone2_valid, email, household_id, "
                             "status, first_visit, phone_sms, phones_other, import_file) VALUES "
                             "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
            rows = []
    conn.executemany("INSERT INTO households (household_id) VALUES (?)", [(h,) for h in households])
    conn.executemany("INSERT INTO patients (patient_id, full_name, last_name, first_name, middle_name, name_fold, "
                     "birth_date, phone, phone_valid, phone2, phone2_valid, email, household_id, status, first_visit, "
                     "phone_sms, phones_other, import_file) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
KIND = {"Консультация": "consultation", "Лечение": "treatment", "Окончание лечения": "treatment_end",
        "Профгигиена": "hygiene", "Контрольный осмотр": "control"}
doctors = {}

def visit_rows(reader):
    for vid, pid, doctor, date, kind, control in reader:
        d = doctors.get(doctor)
        if d is None:
            d = doctors[doctor] = len(doctors) + 1
        yield vid, pid, d, day(date), KIND.get(kind, "other"), day(control), 1

with open(visits, encoding="cp1251", newline="") as fh:
    reader = csv.reader(fh, delimiter=";")
    next(reader)
    conn.executemany("INSERT INTO visits (visit_id, patient_id, doctor_id, date, kind, control_due, import_file) "
                     "VALUES (?,?,?,?,?,?,?)", visit_rows(reader))
conn.executemany("INSERT INTO doctors (id, name, name_fold) VALUES (?,?,?)",
                 [(i, n, n.casefold()) for n, i in doctors.items()])
for _, sql in indexes:
    conn.execute(sql)
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


def changed(path: Path, share: float = 0.01) -> Path:
    """The export with ``share`` of its rows changed (made once, beside it): in every 100th row, a
    patient's mobile phone or a visit's kind altered."""
    out = path.with_name(f"{path.stem}-changed{path.suffix}")
    if out.exists():
        return out
    import csv

    step = round(1 / share)
    with open(path, encoding="cp1251", newline="") as src, open(out, "w", encoding="cp1251", newline="") as dst:
        rows, w = csv.reader(src, delimiter=";"), csv.writer(dst, delimiter=";", lineterminator="\r\n")
        w.writerow(next(rows))
        for i, row in enumerate(rows):
            if i % step == step // 2:
                col = 4 if "visits" in path.name else 5  # a visit's kind; a patient's mobile phone
                row[col] = {"Консультация": "Лечение"}.get(row[col], "Консультация") if col == 4 else \
                    "8916" + f"{i:07d}"[-7:]
            w.writerow(row)
    return out


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

    changed_patients, changed_visits = changed(patients), changed(visits)
    wall: dict[str, list[float]] = {k: [] for k in ("baseline", "import", "reimport", "reread", "changed")}
    cpu: dict[str, list[float]] = {k: [] for k in wall}
    peak_kib: list[int] = []
    peaks: dict[str, int] = {}
    followup = [sys.executable, "-m", "followup"]
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            env = dict(os.environ, FOLLOWUP_DB=str(Path(tmp) / "f.db"), FOLLOWUP_USER="bench")
            commands = {
                "baseline": [sys.executable, "-c", BASELINE, str(ROOT), str(Path(tmp) / "b.db"), str(patients),
                             str(visits)],
                "import": followup + ["import", "--quiet", str(patients), str(visits)],
                "reimport": followup + ["import", "--quiet", str(patients), str(visits)],
                "reread": followup + ["import", "--quiet", "--force", str(patients), str(visits)],
                "changed": followup + ["import", "--quiet", str(changed_patients), str(changed_visits)],
            }
            for name, cmd in commands.items():
                t, rss, c = run(cmd, env)
                wall[name].append(t)
                cpu[name].append(c)
                peaks[name] = max(peaks.get(name, 0), rss)
                if name == "import":
                    peak_kib.append(rss)
    med = {k: statistics.median(v) for k, v in wall.items()}
    best = {k: min(v) for k, v in wall.items()}
    cmed = {k: statistics.median(v) for k, v in cpu.items()}
    print(f"clinic: {n_patients:,} patients, {n_visits:,} visits, {size_mb:.0f} MB of cp1251 CSV; "
          f"{args.repeat} rounds")
    print(f"{'run':<10} {'median s':>8} {'ratio':>6} {'best s':>7} {'ratio':>6} {'cpu s':>7} {'ratio':>6}  target")
    targets = {"baseline": "", "import": "<= 1.1", "reimport": "<= 0.1", "reread": "(no target)",
               "changed": "<= 0.7 x import"}
    for k in wall:
        print(f"{k:<10} {med[k]:>8.2f} {med[k] / med['baseline']:>6.2f} {best[k]:>7.2f} "
              f"{best[k] / best['baseline']:>6.2f} {cmed[k]:>7.2f} {cmed[k] / cmed['baseline']:>6.2f}"
              f"  {targets[k]}")
    print(f"changed / import: median {med['changed'] / med['import']:.2f}, cpu {cmed['changed'] / cmed['import']:.2f}")
    print(f"peak memory of the import: {max(peak_kib) / 1024:.0f} MB (target < 100 MB); of each run (MB): "
          + ", ".join(f"{k} {v // 1024}" for k, v in peaks.items()))
    base = med["baseline"]
    ok = (med["import"] <= 1.1 * base and med["reimport"] <= 0.1 * base and max(peak_kib) < 100 * 1024
          and med["changed"] <= 0.7 * med["import"])
    print("PASS" if ok else "FAIL")


if __name__ == "__main__":
    main()
