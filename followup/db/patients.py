"""Patients: one card, and search."""

from __future__ import annotations

import sqlite3

# ---------------------------------------------------------------------------
# Patients


PATIENT_COLUMNS = ("patient_id", "full_name", "birth_date", "phone", "phone_valid", "phone2",
                   "phone2_valid", "email", "household_id", "status", "first_visit", "missing_since", "phone_sms",
                   "phones_other", "address")


def get_patient(conn: sqlite3.Connection, patient_id: str) -> dict | None:
    row = conn.execute(f"SELECT {', '.join(PATIENT_COLUMNS)} FROM patients WHERE patient_id = ?",
                       (patient_id,)).fetchone()
    if row is None:
        return None
    patient = dict(zip(PATIENT_COLUMNS, row))
    patient["source"] = patient_source(conn, patient_id)
    patient["visits"] = [
        dict(zip(("visit_id", "date", "kind", "doctor", "control_due", "amount"), r))
        for r in conn.execute(
            "SELECT v.visit_id, v.date, v.kind, d.name, v.control_due, v.amount FROM visits v "
            "LEFT JOIN doctors d ON d.id = v.doctor_id WHERE v.patient_id = ? ORDER BY v.date, v.visit_id",
            (patient_id,))
    ]
    patient["appointments"] = [
        dict(zip(("appointment_id", "start", "status", "doctor"), r))
        for r in conn.execute(
            "SELECT a.appointment_id, a.start, a.status, d.name FROM appointments a "
            "LEFT JOIN doctors d ON d.id = a.doctor_id WHERE a.patient_id = ? ORDER BY a.start",
            (patient_id,))
    ]
    patient["plan_stages"] = [
        dict(zip(("plan_id", "stage", "stage_title", "due_date", "status", "signed_date", "doctor"), r))
        for r in conn.execute(
            "SELECT p.plan_id, p.stage, p.stage_title, p.due_date, p.status, p.signed_date, d.name "
            "FROM plan_stages p LEFT JOIN doctors d ON d.id = p.doctor_id WHERE p.patient_id = ? "
            "ORDER BY p.plan_id, p.due_date, p.stage", (patient_id,))
    ]
    patient["household"] = [
        r[0] for r in conn.execute(
            "SELECT patient_id FROM patients WHERE household_id = ? AND patient_id != ? ORDER BY patient_id",
            (patient["household_id"], patient_id))
    ] if patient["household_id"] else []
    return patient


def source_of(patient: str, imported: str) -> str:
    """SQL for what brought a patient: the desk's latest answer, else the export's (``imported``: the
    patients.source column as the query names it); ``patient`` names the patient's id in the query."""
    return (f"coalesce((SELECT s.source FROM patient_sources s INDEXED BY patient_sources_patient "
            f"WHERE s.patient_id = {patient} ORDER BY s.id DESC LIMIT 1), {imported})")


def patient_source(conn: sqlite3.Connection, patient_id: str) -> dict | None:
    """What brought the patient: the desk's latest answer (patient show, `patient source`), else what the
    export said; None when neither says."""
    row = conn.execute("SELECT source, detail, recorded_by, recorded_at FROM patient_sources WHERE patient_id = ? "
                       "ORDER BY id DESC LIMIT 1", (patient_id,)).fetchone()
    if row:
        return {"source": row[0], "detail": row[1], "recorded_by": row[2], "recorded_at": row[3], "from": "desk"}
    row = conn.execute("SELECT source, source_detail FROM patients WHERE patient_id = ? AND source IS NOT NULL",
                       (patient_id,)).fetchone()
    return {"source": row[0], "detail": row[1], "recorded_by": None, "recorded_at": None, "from": "import"} \
        if row else None


def insert_patient_source(conn: sqlite3.Connection, patient_id: str, source: str, detail: str | None, *, by: str,
                          at: str) -> None:
    conn.execute("INSERT INTO patient_sources (patient_id, source, detail, recorded_by, recorded_at) "
                 "VALUES (?, ?, ?, ?, ?)", (patient_id, source, detail, by, at))


def source_words(conn: sqlite3.Connection) -> list[str]:
    """The clinic's own sources, beyond the vocabulary's (followup source add)."""
    return [r[0] for r in conn.execute("SELECT code FROM sources ORDER BY code")]


def insert_source_word(conn: sqlite3.Connection, code: str, *, by: str, at: str) -> bool:
    return conn.execute("INSERT INTO sources (code, added_by, added_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                        (code, by, at)).rowcount == 1


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def find_patients(conn: sqlite3.Connection, *, name_fold: str | None = None, phone: str | None = None,
                  digits: str | None = None, limit: int = 50) -> list[dict]:
    """By a folded name part, an exact E.164 phone, or a run of digits inside a stored phone (limit -1:
    every match)."""
    cols = ", ".join(PATIENT_COLUMNS)
    if phone:
        sql, params = f"SELECT {cols} FROM patients WHERE phone = ? OR phone2 = ?", [phone, phone]
    elif digits:
        pattern = f"%{_like_escape(digits)}%"
        sql = (f"SELECT {cols} FROM patients WHERE replace(replace(replace(replace(replace(phone, '+', ''), "
               f"' ', ''), '-', ''), '(', ''), ')', '') LIKE ? ESCAPE '\\' OR phone2 LIKE ? ESCAPE '\\'")
        params = [pattern, pattern]
    else:
        sql = f"SELECT {cols} FROM patients WHERE name_fold LIKE ? ESCAPE '\\'"
        params = [f"%{_like_escape(name_fold or '')}%"]
    sql += " ORDER BY name_fold, patient_id LIMIT ?"
    return [dict(zip(PATIENT_COLUMNS, r)) for r in conn.execute(sql, (*params, limit))]


def table_counts(conn: sqlite3.Connection) -> dict[str, int]:
    """Rows of the imported tables, then of the records the staff made."""
    return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("patients", "doctors", "visits", "appointments", "plan_stages", "consents", "next_contacts",
                      "contacts", "surveys", "complaints")}
