"""A patient's data rights: everything stored about them, and erasure."""

from __future__ import annotations

import sqlite3
from followup.db.connection import write_transaction
from followup.db.dayplan import drop_plan

# ---------------------------------------------------------------------------
# A patient's data rights: everything stored about them, and erasure


# in the order they are erased: a phone flag refers to the contact that raised it
PERSONAL_TABLES = ("visits", "appointments", "plan_stages", "consents", "next_contacts", "phone_flags",
                   "contacts", "complaints", "day_listed", "reason_actions",
                   "reason_waits")


def patient_data(conn: sqlite3.Connection, patient_id: str) -> dict | None:
    """Everything stored about one patient, table by table (GDPR art. 15; 152-FZ art. 14)."""
    def rows(sql: str, params=(patient_id,)) -> list[dict]:
        cur = conn.execute(sql, params)
        cols = [c[0] for c in cur.description]
        return [dict(zip(cols, r)) for r in cur]

    found = rows("SELECT * FROM patients WHERE patient_id = ?")
    if not found:
        return None
    out = {"patient": found[0]}
    for table in PERSONAL_TABLES:
        out[table] = rows(f"SELECT * FROM {table} WHERE patient_id = ?")
    out["surveys"] = rows("SELECT s.*, (SELECT group_concat(doctor, ', ') FROM survey_doctors d "
                          "WHERE d.survey_id = s.id) AS doctors FROM surveys s WHERE s.patient_id = ?")
    return out


def forget_patient(conn: sqlite3.Connection, patient_id: str, *, by: str, at: str) -> dict:
    """Erase a patient's personal data everywhere, keep their survey scores as anonymous answers,
    record the erasure (counts only), then compact the file so the data is gone from it."""
    conn.execute("PRAGMA secure_delete = ON")
    with write_transaction(conn):
        erasure = conn.execute("INSERT INTO erasures (erased_at, erased_by, rows_erased, surveys_kept) "
                               "VALUES (?, ?, 0, 0)", (at, by)).lastrowid
        anonymous = f"erased-{erasure}"
        kept = conn.execute("SELECT count(*) FROM surveys WHERE patient_id = ?", (patient_id,)).fetchone()[0]
        if kept:  # the scores keep counting for their doctors, attached to nobody
            conn.execute("INSERT INTO patients (patient_id, full_name, name_fold, status) "
                         "VALUES (?, NULL, NULL, 'archived')", (anonymous,))
            conn.execute("UPDATE surveys SET patient_id = ?, comment = NULL, visit_id = NULL WHERE patient_id = ?",
                         (anonymous, patient_id))
            conn.execute("DELETE FROM survey_themes WHERE survey_id IN (SELECT id FROM surveys WHERE patient_id = ?)",
                         (anonymous,))
        erased = 0
        for table in PERSONAL_TABLES:
            erased += conn.execute(f"DELETE FROM {table} WHERE patient_id = ?", (patient_id,)).rowcount
        erased += conn.execute("DELETE FROM patients WHERE patient_id = ?", (patient_id,)).rowcount
        conn.execute("UPDATE erasures SET rows_erased = ?, surveys_kept = ? WHERE id = ?", (erased, kept, erasure))
        drop_plan(conn)
    conn.execute("VACUUM")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return {"erasure": erasure, "rows_erased": erased, "surveys_kept": kept}
