"""The clinic report's inputs."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3

# ---------------------------------------------------------------------------
# The clinic report's inputs


def first_and_second_visits(conn: sqlite3.Connection) -> list[tuple[str, str | None, dt.date, dt.date | None]]:
    """(patient, doctor of the first visit, first visit date, the next visit day after it) for every
    patient with a first visit: the export's own first visit date ("Дата первого визита") where it
    has one, else the earliest imported visit. A second visit on the first visit's day is no return.
    One look-up a patient on the (patient, date) index: no sort of the whole visits table."""
    sql = """
        WITH firsts AS (
            SELECT p.patient_id,
                   coalesce(p.first_visit, (SELECT min(v.date) FROM visits v WHERE v.patient_id = p.patient_id))
                   AS first
              FROM patients p)
        SELECT f.patient_id,
               (SELECT d.name FROM visits v LEFT JOIN doctors d ON d.id = v.doctor_id
                 WHERE v.patient_id = f.patient_id AND v.date = f.first ORDER BY v.visit_id LIMIT 1),
               f.first,
               (SELECT min(v.date) FROM visits v WHERE v.patient_id = f.patient_id AND v.date > f.first)
          FROM firsts f WHERE f.first IS NOT NULL ORDER BY f.patient_id
    """
    return [(p, doc, dt.date.fromisoformat(a), dt.date.fromisoformat(b) if b else None)
            for p, doc, a, b in conn.execute(sql)]


def active_patients_last_visit(conn: sqlite3.Connection, today: dt.date) -> list[tuple[str, dt.date | None, bool]]:
    """(patient, last visit, whether an appointment is booked from ``today`` on) for every active patient."""
    sql = ("SELECT p.patient_id, (SELECT max(v.date) FROM visits v WHERE v.patient_id = p.patient_id), "
           "EXISTS (SELECT 1 FROM appointments a INDEXED BY appointments_patient_start "
           "WHERE a.patient_id = p.patient_id AND a.status = 'booked' "
           "AND a.start >= ?) "
           "FROM patients p WHERE p.status = 'active' AND p.missing_since IS NULL ORDER BY p.patient_id")
    return [(p, dt.date.fromisoformat(d) if d else None, bool(b)) for p, d, b in conn.execute(sql, (today.isoformat(),))]


def due_counts(conn: sqlite3.Connection, year: int) -> dict[str, int]:
    """Reason code -> the reasons the day's lists of ``year`` held (each once a day), summed over its days."""
    return dict(conn.execute(
        "SELECT reason, sum(n) FROM (SELECT reason, due AS n FROM day_counts WHERE day LIKE :year "
        "UNION ALL SELECT reason, count(*) FROM day_listed WHERE day LIKE :year GROUP BY day, reason) "
        "GROUP BY reason", {"year": f"{year}-%"}))


def contact_reasons(conn: sqlite3.Connection, year: int) -> list[tuple[str, str]]:
    """(reason code, outcome) for every reason of every contact in the year."""
    out = []
    for reasons, outcome in conn.execute("SELECT reasons, outcome FROM contacts WHERE list_date LIKE ? AND superseded_by IS NULL",
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
