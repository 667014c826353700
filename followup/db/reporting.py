"""The clinic report's inputs."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3

from followup.db.patients import source_of

# ---------------------------------------------------------------------------
# The clinic report's inputs


def conversion_counts(conn: sqlite3.Connection, year: int, today: dt.date, months: int = 12, *,
                      by: str | tuple[str, ...] = "doctor") -> list[tuple]:
    """(doctor of the first visit or "-" — or, ``by`` "source", what brought the patient: the desk's
    latest answer, else the export's, else "-"; ``by`` both, the two —, quarter, first-time patients,
    returned within ``months``, pending) of the patients whose first visit was in ``year``, counted by
    SQLite (one pass for both groupings: reports.summed gives each of them): the first visit is
    the export's own first visit date ("Дата первого визита") where it has one, else the earliest
    imported visit; the return is the next visit day after it (a second visit on the first visit's
    day is no return), by the day ``months`` later (the last day of a shorter month: 29.02 + 12
    months is 28.02); a first visit less than ``months`` ago that has not returned yet is pending. One
    look-up a patient on the (patient, date) index, none for the other years' patients' visits."""
    groups = (by,) if isinstance(by, str) else tuple(by)
    named = ", ".join(f"{GROUPS[g]} AS g{i}" for i, g in enumerate(groups))
    judged = ", ".join(f"coalesce(g{i}, '-') AS g{i}" for i in range(len(groups)))
    keys = ", ".join(f"g{i}" for i in range(len(groups)))
    sql = f"""
        WITH firsts AS (
            SELECT p.patient_id, p.source,
                   coalesce(p.first_visit, (SELECT min(v.date) FROM visits v WHERE v.patient_id = p.patient_id))
                   AS first
              FROM patients p),
        of_year AS (
            SELECT f.patient_id, f.first, {named},
                   (SELECT min(v.date) FROM visits v WHERE v.patient_id = f.patient_id AND v.date > f.first)
                   AS second,
                   min(date(f.first, '+{int(months)} months'),
                       date(f.first, 'start of month', '+{int(months) + 1} months', '-1 day')) AS deadline
              FROM firsts f WHERE f.first >= :start AND f.first < :end),
        judged AS (
            SELECT {judged},
                   strftime('%Y', first) || '-Q' || ((CAST(strftime('%m', first) AS INTEGER) + 2) / 3) AS quarter,
                   second IS NOT NULL AND second <= deadline AS returned, deadline > :today AS open
              FROM of_year)
        SELECT {keys}, quarter, count(*), sum(returned), sum(NOT returned AND open)
          FROM judged GROUP BY {keys}, quarter ORDER BY {keys}, quarter
    """
    return conn.execute(sql, {"start": f"{year:04d}-01-01", "end": f"{year + 1:04d}-01-01",
                              "today": today.isoformat()}).fetchall()


GROUPS = {  # what the conversion is counted by (the first visit's doctor, or the patient's source)
    "doctor": "(SELECT d.name FROM visits v LEFT JOIN doctors d ON d.id = v.doctor_id "
              "WHERE v.patient_id = f.patient_id AND v.date = f.first ORDER BY v.visit_id LIMIT 1)",
    "source": source_of("f.patient_id", "f.source"),
}


def active_patients(conn: sqlite3.Connection) -> int:
    """How many patients are active (not archived, deceased or missing from the exports)."""
    return conn.execute("SELECT count(*) FROM patients WHERE status = 'active' AND missing_since IS NULL").fetchone()[0]


def dead_souls(conn: sqlite3.Connection, today: dt.date, cutoff: dt.date) -> list[tuple[str, str | None]]:
    """(patient, last visit or None) of the active patients with no visit since ``cutoff`` and no
    appointment booked from ``today`` on, by card number."""
    sql = ("SELECT x.patient_id, x.last FROM (SELECT p.patient_id, (SELECT max(v.date) FROM visits v "
           "WHERE v.patient_id = p.patient_id) AS last FROM patients p "
           "WHERE p.status = 'active' AND p.missing_since IS NULL) x "
           "WHERE (x.last IS NULL OR x.last < ?) AND NOT EXISTS (SELECT 1 FROM appointments a "
           "INDEXED BY appointments_patient_start WHERE a.patient_id = x.patient_id AND a.status = 'booked' "
           "AND a.start >= ?) ORDER BY x.patient_id")
    return conn.execute(sql, (cutoff.isoformat(), today.isoformat())).fetchall()


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
