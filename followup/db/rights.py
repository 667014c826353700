"""A patient's data rights: everything stored about them, and erasure."""

from __future__ import annotations

import json
import sqlite3
from followup.db.connection import write_transaction
from followup.db.dayplan import drop_plan

# ---------------------------------------------------------------------------
# A patient's data rights: everything stored about them, and erasure


# in the order they are erased: a phone flag refers to the contact that raised it
PERSONAL_TABLES = ("visits", "appointments", "plan_stages", "consents", "next_contacts", "phone_flags",
                   "contacts", "complaints", "day_listed", "reason_actions",
                   "reason_waits", "erased_returns", "outbox", "patient_sources")


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


def card_hash(conn: sqlite3.Connection, patient_id: str) -> str:
    """A one-way hash of a card number: scrypt with this database's own salt (made at the first
    erasure), so that the number is not kept, and is costly to guess from the hash."""
    import hashlib
    import secrets

    row = conn.execute("SELECT salt FROM erasure_salt WHERE id = 1").fetchone()
    if row is None:
        conn.execute("INSERT OR IGNORE INTO erasure_salt (id, salt) VALUES (1, ?)", (secrets.token_bytes(16),))
        row = conn.execute("SELECT salt FROM erasure_salt WHERE id = 1").fetchone()
    return hashlib.scrypt(patient_id.encode("utf-8"), salt=row[0], n=2 ** 12, r=8, p=1, dklen=32).hex()


def erased_cards(conn: sqlite3.Connection, patient_ids, new_ids) -> set[str]:
    """Which of these card numbers belong to patients erased earlier who are back: those found so
    before, and those of ``new_ids`` (hashed, when anybody was ever erased) found now, remembered."""
    ids = json.dumps(sorted(set(patient_ids)), ensure_ascii=False)
    back = {r[0] for r in conn.execute("SELECT patient_id FROM erased_returns WHERE patient_id IN "
                                       "(SELECT value FROM json_each(?))", (ids,))}
    if conn.execute("SELECT 1 FROM erasures WHERE card_hash IS NOT NULL LIMIT 1").fetchone() is None:
        return back
    found = {pid for pid in new_ids if conn.execute(
        "SELECT 1 FROM erasures WHERE card_hash = ?", (card_hash(conn, pid),)).fetchone()}
    conn.executemany("INSERT OR IGNORE INTO erased_returns (patient_id) VALUES (?)", [(pid,) for pid in found])
    return back | found


def forget_patient(conn: sqlite3.Connection, patient_id: str, *, by: str, at: str) -> dict:
    """Erase a patient's personal data everywhere, keep their survey scores as anonymous answers,
    record the erasure (counts, and the card number's one-way hash). The caller then compacts the
    file (``compact``) so that the data is gone from it."""
    conn.execute("PRAGMA secure_delete = ON")
    with write_transaction(conn):
        erasure = conn.execute("INSERT INTO erasures (erased_at, erased_by, rows_erased, surveys_kept, card_hash) "
                               "VALUES (?, ?, 0, 0, ?)", (at, by, card_hash(conn, patient_id))).lastrowid
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
    return {"erasure": erasure, "rows_erased": erased, "surveys_kept": kept}


def erasure_of(conn: sqlite3.Connection, patient_id: str) -> int | None:
    """The latest erasure of this card number, if it was erased (its hash is kept)."""
    if conn.execute("SELECT 1 FROM erasures WHERE card_hash IS NOT NULL LIMIT 1").fetchone() is None:
        return None
    row = conn.execute("SELECT max(id) FROM erasures WHERE card_hash = ?", (card_hash(conn, patient_id),)).fetchone()
    return row[0]


def compact(conn: sqlite3.Connection, wait_s: float, on_wait=None) -> bool:
    """Rewrite the file without the free pages that held erased rows, and fold the write-ahead log
    into it (then empty it): True once the file no longer holds them. Another program reading the
    database keeps its snapshot, and so the old pages, until it closes: retried for ``wait_s``
    seconds (``on_wait`` is called once, the first time it has to wait); False if it never closed."""
    import time

    from followup.db.connection import busy_timeout

    deadline = time.monotonic() + wait_s
    waited = False
    while True:
        try:
            with busy_timeout(conn, 200):
                conn.execute("PRAGMA secure_delete = ON")
                conn.execute("VACUUM")
                busy = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            busy = 1
        if not busy:
            return True
        if time.monotonic() >= deadline:
            return False
        if not waited and on_wait is not None:
            on_wait()
        waited = True
        time.sleep(0.2)
