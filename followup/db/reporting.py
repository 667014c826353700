"""The clinic report's inputs."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3

# ---------------------------------------------------------------------------
# The clinic report's inputs


def first_and_second_visits(conn: sqlite3.Connection) -> list[tuple[str, str | None, dt.date, dt.date | None]]:
    """(patient, doctor of the first visit, first visit date, second visit date) for every patient."""
    sql = """
        SELECT patient_id, doctor, date, second FROM (
            SELECT v.patient_id, d.name AS doctor, v.date,
                   lead(v.date) OVER (PARTITION BY v.patient_id ORDER BY v.date, v.visit_id) AS second,
                   row_number() OVER (PARTITION BY v.patient_id ORDER BY v.date, v.visit_id) AS n
              FROM visits v LEFT JOIN doctors d ON d.id = v.doctor_id)
         WHERE n = 1
    """
    return [(p, doc, dt.date.fromisoformat(a), dt.date.fromisoformat(b) if b else None)
            for p, doc, a, b in conn.execute(sql)]


def active_patients_last_visit(conn: sqlite3.Connection) -> list[tuple[str, dt.date | None]]:
    sql = ("SELECT p.patient_id, (SELECT max(v.date) FROM visits v WHERE v.patient_id = p.patient_id) "
           "FROM patients p WHERE p.status = 'active' AND p.missing_since IS NULL ORDER BY p.patient_id")
    return [(p, dt.date.fromisoformat(d) if d else None) for p, d in conn.execute(sql)]


def contact_reasons(conn: sqlite3.Connection, year: int) -> list[tuple[str, str]]:
    """(reason code, outcome) for every reason of every contact in the year."""
    out = []
    for reasons, outcome in conn.execute("SELECT reasons, outcome FROM contacts WHERE list_date LIKE ?",
                                         (f"{year}-%",)):
        out.extend((code, outcome) for code, _ in json.loads(reasons))
    return out


def consent_decisions(conn: sqlite3.Connection) -> dict[str, int]:
    """Purpose -> active patients with any consent record for it."""
    return dict(conn.execute(
        "SELECT c.purpose, count(DISTINCT c.patient_id) FROM consents c JOIN patients p "
        "ON p.patient_id = c.patient_id WHERE p.status = 'active' AND p.missing_since IS NULL GROUP BY c.purpose"))


def complaint_dates(conn: sqlite3.Connection, year: int) -> list[tuple[dt.date, dt.date | None, bool]]:
    return [(dt.date.fromisoformat(o[:10]), dt.date.fromisoformat(r[:10]) if r else None, bool(i))
            for o, r, i in conn.execute("SELECT opened_at, resolved_at, informed_at FROM complaints "
                                        "WHERE opened_at LIKE ?", (f"{year}-%",))]
