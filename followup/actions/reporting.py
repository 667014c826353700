"""Use cases of the manager's reports: survey results per doctor, and the clinic report."""

from __future__ import annotations

import datetime as dt
from typing import Optional

from followup.actions.lookup import known_doctor
from followup.actions.day import policy_of


def doctor_reports(conn, *, doctor: Optional[str] = None, date_from: Optional[dt.date] = None,
                   date_to: Optional[dt.date] = None, today: dt.date) -> list[dict]:
    """The survey report of one doctor (a name part will do), or of every doctor, each with its
    complaints: open, overdue on ``today`` (open ones only), resolved."""
    from followup import db, reports, settings as config
    from followup.actions.complaints import as_record
    from followup.actions.surveys import responses_by_doctor
    from followup.rules import complaint_overdue

    stored = db.get_settings(conn)
    thresholds, policy = config.thresholds(stored), policy_of(conn, stored)
    by_doctor = {name: [] for name in db.doctor_names(conn)}
    by_doctor.update(responses_by_doctor(conn))
    names = [known_doctor(conn, doctor)] if doctor else sorted(by_doctor)
    results = [reports.doctor_report(name, by_doctor.get(name, []), thresholds, date_from, date_to) for name in names]
    complaints = db.list_complaints(conn)
    survey_doctors = {s["id"]: s["doctors"] for s in db.survey_responses(conn)}
    for r in results:  # a complaint names its doctor, or counts for each doctor of the survey it came from
        mine = [c for c in complaints if c["doctor"] == r["doctor"]
                or (c["doctor"] is None and r["doctor"] in survey_doctors.get(c["survey_id"], ()))]
        r["complaints"] = {"open": sum(1 for c in mine if not c["resolved_at"]),
                           "overdue": sum(1 for c in mine if complaint_overdue(as_record(c), today, policy)),
                           "resolved": sum(1 for c in mine if c["resolved_at"])}
    return results


def clinic_report(conn, *, year: int, today: dt.date) -> dict:
    """Conversion of first-time patients, dead souls, the contact funnel, consent coverage and
    complaints of ``year`` (the JSON contract of `followup report clinic`)."""
    from followup import db, reports
    from followup.actions.day import ensure_stored
    from followup.actions.occasions import campaigns
    from followup.records import PURPOSES

    if year == today.year:  # today's list counts too: stored (and counted) if nobody has asked for it yet
        ensure_stored(conn, today, today=today)
    counted = db.conversion_counts(conn, year, today, by=("doctor", "source"))
    return {
        "year": year,
        "conversion": reports.conversion(reports.summed(counted, 0)),
        # the new patients by what brought them ("-": nobody asked), and how many came back
        "sources": reports.conversion(reports.summed(counted, 1), by="source"),
        "dead_souls": reports.dead_souls(db.dead_souls(conn, today, reports.dead_soul_cutoff(today))),
        "funnel": reports.funnel(db.contact_reasons(conn, year), db.due_counts(conn, year)),
        "consent_coverage": reports.consent_coverage(db.active_patients(conn), db.consent_decisions(conn), PURPOSES),
        "complaints": reports.complaint_stats(db.complaint_dates(conn, year)),
        # each campaign of the year: how many it reached, how many came within 60 days, how many named a mailing
        "campaigns": [{k: c[k] for k in ("id", "name", "starts", "ends", "channel", "audience", "reached",
                                         "came_within_60_days", "named_mailing")}
                      for c in campaigns(conn) if c["starts"][:4] <= str(year) <= c["ends"][:4]],
    }
