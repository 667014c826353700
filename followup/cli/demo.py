"""The demo clinic."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Optional

import typer

from followup.cli.core import Format, _console, _user, app
from followup.cli.imports import _report_import
from followup.cli.daylist import day_list, entry_json
from followup.cli.surveys import _responses_by_doctor
from followup.i18n import ntr, tr


@app.command("demo")
def demo(
    directory: Optional[Path] = typer.Option(None, "--dir", help="Where to put the demo clinic (default: "
                                             "a 'demo' folder in the per-user data directory).",
                                             file_okay=False),
    patients: int = typer.Option(2000, "--patients", min=10, max=200_000, help="How many patients."),
    seed: int = typer.Option(20261123, "--seed", help="Same seed, same clinic."),
):
    """Build a demo clinic: write its exports like a real system would, import them, show the result.

    It never touches your real database: the demo has a database of its own.
    """
    from followup import db, i18n, rules
    from followup.demo import write_clinic
    from followup.importing import ImportOptions, import_paths

    if directory is None:
        directory = db.default_path().parent / "demo"
    directory = directory.expanduser()
    exports = directory / "exports"
    db_file = directory / "demo.db"
    for suffix in ("", "-wal", "-shm"):
        Path(str(db_file) + suffix).unlink(missing_ok=True)
    today = dt.date.today()
    files = write_clinic(exports, today=today, patients=patients, seed=seed)
    conn = db.connect(db_file)
    db.set_setting(conn, "language", i18n.language(), by=_user(), at=dt.datetime.now().isoformat(timespec="seconds"))
    result = import_paths(conn, db_file, [exports], ImportOptions(user=_user()), today=today)
    _report_import(result, quiet=False, fmt=Format.table)
    from followup.demo import staff_records

    consents, nexts = staff_records(sorted(db.patient_ids(conn)), today=today, seed=seed)
    db.add_consents(conn, consents)
    for n in nexts:
        db.add_next_contact(conn, n)
    from followup.demo import survey_answers

    ends = db.treatment_ends(conn)
    visits_of = {}
    for pid, vid, day, doc in ends:
        visits_of.setdefault(pid, []).append((vid, day, doc))
    [records_by] = [{r.patient.patient_id: r for r in db.load_records(conn, today, sorted(visits_of))}]
    for row in survey_answers(ends, today=today, seed=seed):
        r = records_by[row["patient_id"]]
        end = next(v for v in r.visits if v.visit_id == row["visit_id"])
        db.add_survey(conn, row, rules.treatment_doctors(r.visits, end))
    entries, settings = day_list(conn, today)
    shown = rules.short_ids(entries)
    data = [entry_json(e, settings, shown[e.entry_id]) for e in entries]
    out = _console()
    c = files.counts
    out.print("\n" + tr("Demo clinic: {patients}, {visits}, {appointments}, {stages}.",
                        patients=ntr("{n} patient", "{n} patients", c["patients"]),
                        visits=ntr("{n} visit", "{n} visits", c["visits"]),
                        appointments=ntr("{n} appointment", "{n} appointments", c["appointments"]),
                        stages=ntr("{n} plan stage", "{n} plan stages", c["plans"])), markup=False)
    out.print(tr("Consents recorded for {patients}; {contacts} for today.",
                 patients=ntr("{n} patient", "{n} patients", len({c["patient_id"] for c in consents})),
                 contacts=ntr("{n} next contact agreed", "{n} next contacts agreed", len(nexts))), markup=False)
    out.print(tr("Exports (cp1251, ';', dd.mm.yyyy): {path}", path=exports), markup=False)
    out.print(tr("Database: {path}", path=db_file), markup=False)
    codes = {}
    for d in data:
        for r in d["reasons"] + [r for m in d["household"] for r in m["reasons"]]:
            codes[r["code"]] = codes.get(r["code"], 0) + 1
    out.print("\n" + tr("Today's list: {contacts} - {codes}", contacts=ntr("{n} contact", "{n} contacts", len(data)),
                        codes=", ".join(f"{tr(c)} {n}" for c, n in sorted(codes.items()))), markup=False)
    shown = [d for d in data if d["reasons"][0]["code"] in codes]
    sample = list({d["reasons"][0]["code"]: d for d in shown}.values())
    for d in sample:
        window = d["window"] or tr("any time").center(11)
        out.print(f"  {d['entry_id']}  {window}  {d['patient']} ({d['patient_id']}), "
                  f"{tr(d['channel'])} {d['phone']}: {d['reasons'][0]['text']}", markup=False, soft_wrap=True)
    from followup import reports

    by_doctor = _responses_by_doctor(conn)
    out.print("\n" + tr("Surveys: {list}", list="; ".join(
        f"{d}: {tr(reports.doctor_report(d, rs)['status'])} ({len(rs)})" for d, rs in sorted(by_doctor.items()))),
        markup=False)
    out.print("\n" + tr("Try:"), markup=False)
    for line in (f'followup --db "{db_file}" today',
                 f'followup --db "{db_file}" report',
                 f'followup --db "{db_file}" why {sample[0]["patient_id"] if sample else "000001"}',
                 f'followup --db "{db_file}" patient find Иванов',
                 f'followup --db "{db_file}" patient show 000001',
                 f'followup --db "{db_file}" import "{exports}"      # ' + tr("again: every file is skipped as unchanged"),
                 f'followup --db "{db_file}" import --history'):
        out.print(f"  {line}", markup=False, soft_wrap=True)
