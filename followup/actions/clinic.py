"""Use cases of the clinic's data as a whole: a night's import, the demo clinic."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from followup.errors import UsageError


def run_import(conn, db_file: Path, paths: list[Path], options, *, today: dt.date,
               on_rows: Optional[Callable[[str, int], None]] = None, now: Optional[dt.datetime] = None):
    """Import the export files (each all or nothing, recorded as a run); when anything was written,
    today's list is planned and stored at once, so that the morning's first `today` is a read."""
    from followup.actions.day import refresh_after_import
    from followup.importing import import_paths

    result = import_paths(conn, db_file, paths, options, today=today, on_rows=on_rows, now=now)
    if any(f.outcome == "imported" for f in result.files):
        refresh_after_import(conn, today=today)
    return result


DEMO_HISTORY_DAYS = 7


@dataclass(frozen=True)
class Demo:
    db_file: Path
    exports: Path
    import_result: object
    counts: dict                 # what the exports hold: patients, visits, appointments, plans
    consenting: int              # patients with a consent recorded
    next_contacts: int
    entries: list[dict]          # today's list, as `today --format json` has it
    reasons: dict                # reason code -> how many on today's list
    surveys: dict                # doctor -> (status, answers)
    flagged: int                 # reasons on the manager's flagged list today


def build_demo(directory: Path, *, patients: int, seed: int, language: str, by: str, today: dt.date,
               now: dt.datetime) -> Demo:
    """A demo clinic in ``directory``: its exports written like a real system's, imported by the real
    importer into a database of its own (any earlier demo there replaced), with staff records:
    consents, next contacts, survey answers."""
    from followup import db, reports, rules
    from followup.actions.day import day_list, entry_json, reason_counts
    from followup.actions.contacts import flagged as flagged_reasons
    from followup.actions.surveys import responses_by_doctor
    from followup.demo import private_dir, staff_records, survey_answers, write_clinic
    from followup.importing import ImportOptions

    private_dir(directory)
    exports = directory / "exports"
    db_file = directory / "demo.db"
    for suffix in ("", "-wal", "-shm"):
        Path(str(db_file) + suffix).unlink(missing_ok=True)
    files = write_clinic(exports, today=today, patients=patients, seed=seed)
    conn = db.connect(db_file)
    db.set_setting(conn, "language", language, by=by, at=now.isoformat(timespec="seconds"))
    # the demo clinic has used followup for a while: its patients list was first imported
    # DEMO_HISTORY_DAYS ago, so the reasons that lapsed since, never offered, are on the manager's list
    earlier = dt.timedelta(days=DEMO_HISTORY_DAYS)
    run_import(conn, db_file, [files.patients], ImportOptions(user=by), today=today - earlier, now=now - earlier)
    result = run_import(conn, db_file, [exports], ImportOptions(user=by, force=True), today=today, now=now)
    consents, nexts = staff_records(sorted(db.patient_ids(conn)), today=today, seed=seed)
    db.add_consents(conn, consents)
    for n in nexts:
        db.add_next_contact(conn, n)
    # what its manager set: the holidays it greets on, its discount steps, a campaign to its regulars
    from followup.actions.occasions import add_campaign, add_holiday
    from followup.i18n import tr

    for name, on, sex in ((tr("New Year"), "12-31", None), (tr("Dentist's Day"), "02-09", None),
                          (tr("International Women's Day"), "03-08", "female")):
        add_holiday(conn, name, on=on, sex=sex, by=by, now=now)
    db.set_setting(conn, "discount.steps", "50000:5, 150000:10", by=by, at=now.isoformat(timespec="seconds"))
    try:
        add_campaign(conn, tr("Hygiene in winter"),
                     text=tr("{greeting}! For our regular patients: a discount on professional hygiene until the end "
                             "of the month. {clinic}"),
                     channel="sms", audience="regulars", by=by, now=now, today=today)
    except UsageError:  # a small demo may have no regular patient who asked for advertising: no campaign then
        pass
    ends = db.treatment_ends(conn)
    treated = sorted({pid for pid, _, _, _ in ends})
    records_by = {r.patient.patient_id: r for r in db.load_records(conn, today, treated)}
    for row in survey_answers(ends, today=today, seed=seed):
        r = records_by[row["patient_id"]]
        end = next(v for v in r.visits if v.visit_id == row["visit_id"])
        db.add_survey(conn, row, rules.treatment_doctors(r.visits, end))
    entries, settings = day_list(conn, today)
    shown = rules.short_ids(entries)
    data = [entry_json(e, settings, shown[e.entry_id]) for e in entries]
    surveys = {d: (reports.doctor_report(d, rs)["status"], len(rs)) for d, rs in sorted(responses_by_doctor(conn).items())}
    flagged = len(flagged_reasons(conn, day=today))
    conn.close()
    return Demo(db_file, exports, result, dict(files.counts), len({c["patient_id"] for c in consents}), len(nexts),
                data, reason_counts(entries), surveys, flagged)


def import_history(conn, *, limit: int = 20) -> list[dict]:
    """The recorded import runs, newest first, each with its files; messages, notes and reject reasons
    as i18n.Msg (a record from before messages were stored as data keeps its text)."""
    from followup import db

    runs = db.import_history(conn, limit)
    for run in runs:
        run["message"] = _stored_message(run["message"])
        for f in run["files"]:
            f["message"] = _stored_message(f["message"])
            f["rejects"] = [dict(r, reason=_stored_message(r["reason"])) for r in f["rejects"]]
    return runs


def _stored_message(value):
    import json

    from followup.i18n import Msg

    if isinstance(value, str) and value.startswith("{"):
        try:
            return Msg.from_data(json.loads(value))
        except (ValueError, KeyError, TypeError):
            return value
    return Msg.from_data(value) if isinstance(value, dict) else value
