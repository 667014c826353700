"""What the staff record: consents, agreed next contacts, the contact log, settings, complaints, surveys (imports never touch these)."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterable, Sequence
from followup.db.connection import write_transaction
from followup.i18n import N_

# ---------------------------------------------------------------------------
# Consents, agreed next contacts, the contact log (staff data; imports never touch it)


def patient_exists(conn: sqlite3.Connection, patient_id: str) -> bool:
    return conn.execute("SELECT 1 FROM patients WHERE patient_id = ?", (patient_id,)).fetchone() is not None


CONSENT_COLUMNS = ("patient_id", "purpose", "channel", "granted", "address", "window", "days", "how", "note",
                   "source", "recorded_by", "recorded_at")


def add_consents(conn: sqlite3.Connection, rows: Sequence[dict]) -> None:
    """Append consent records (a withdrawal is a record too); one transaction."""
    with write_transaction(conn):
        insert_consents(conn, rows)


def insert_consents(conn: sqlite3.Connection, rows: Sequence[dict]) -> None:
    """Append consent records inside the caller's transaction."""
    sql = (f"INSERT INTO consents ({', '.join(CONSENT_COLUMNS)}) "
           f"VALUES ({', '.join('?' * len(CONSENT_COLUMNS))})")
    conn.executemany(sql, [tuple(r[c] for c in CONSENT_COLUMNS) for r in rows])


def consent_states(conn: sqlite3.Connection, patient_ids: Sequence[str]) -> dict[tuple[str, str, str], dict]:
    """(patient, purpose, channel) -> its latest record, plus whether any record came from followup."""
    out: dict[tuple[str, str, str], dict] = {}
    sql = ("SELECT patient_id, purpose, channel, granted, source FROM consents "
           "WHERE patient_id IN (SELECT value FROM json_each(?)) ORDER BY recorded_at, id")
    for pid, purpose, channel, granted, source in conn.execute(sql, (json.dumps(list(patient_ids),
                                                                               ensure_ascii=False),)):
        key = (pid, purpose, channel)
        staff = source != "import" or (key in out and out[key]["source"] != "import")
        out[key] = {"granted": granted, "source": "followup" if staff else "import"}
    return out


def consent_history(conn: sqlite3.Connection, patient_id: str) -> list[dict]:
    cols = ("id",) + CONSENT_COLUMNS
    return [dict(zip(cols, r)) for r in conn.execute(
        f"SELECT {', '.join(cols)} FROM consents WHERE patient_id = ? ORDER BY recorded_at, id", (patient_id,))]


def add_reason_action(conn: sqlite3.Connection, row: dict) -> int:
    cols = ("patient_id", "code", "ref", "action", "on_day", "note", "recorded_by", "recorded_at")
    with write_transaction(conn):
        return conn.execute(f"INSERT INTO reason_actions ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                            tuple(row[c] for c in cols)).lastrowid


def add_next_contact(conn: sqlite3.Connection, row: dict, *, consents: Sequence[dict] = ()) -> int:
    """An agreed next contact, with any consent recorded with it, in one transaction."""
    cols = ("patient_id", "due", "reason", "channel", "doctor", "recorded_by", "recorded_at")
    with write_transaction(conn):
        insert_consents(conn, consents)
        return conn.execute(f"INSERT INTO next_contacts ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                            tuple(row[c] for c in cols)).lastrowid


CONTACT_COLUMNS = ("patient_id", "entry_id", "list_date", "channel", "outcome", "reasons", "retry_on",
                   "callback_on", "note", "recorded_by", "recorded_at", "texts", "consent_id")


def record_contact(conn: sqlite3.Connection, contacts: Sequence[dict], *, withdrawals: Sequence[dict] = (),
                   phone_flags: Sequence[dict] = (), entry_id: str | None = None, list_date: str | None = None
                   ) -> list[int]:
    """The outcome of one call (for each patient on it) and its next steps, in one transaction.

    Refuses (nothing written) when the entry was already closed for that list day.
    """
    from followup.errors import Conflict

    with write_transaction(conn):
        if entry_id and closed_entry(conn, entry_id, list_date):
            raise Conflict(N_("entry {entry} of {day} is already closed (see followup log)"), entry=entry_id,
                           day=dt.date.fromisoformat(list_date))
        return _write_outcome(conn, contacts, withdrawals, phone_flags)


def _write_outcome(conn: sqlite3.Connection, contacts: Sequence[dict], withdrawals: Sequence[dict],
                   phone_flags: Sequence[dict]) -> list[int]:
    """An outcome's records inside the caller's transaction: the contacts (one a patient on the call),
    the consents it withdrew, the phone flag it raised (pointing to the first contact)."""
    sql = (f"INSERT INTO contacts ({', '.join(CONTACT_COLUMNS)}) "
           f"VALUES ({', '.join('?' * len(CONTACT_COLUMNS))})")
    ids = []
    for c in contacts:
        row = dict(c, reasons=json.dumps(c["reasons"], ensure_ascii=False))
        ids.append(conn.execute(sql, tuple(row.get(k) for k in CONTACT_COLUMNS)).lastrowid)
    insert_consents(conn, withdrawals)
    for f in phone_flags:
        conn.execute("INSERT INTO phone_flags (patient_id, phone, flagged_on, contact_id, recorded_by) "
                     "VALUES (?, ?, ?, ?, ?)", (f["patient_id"], f["phone"], f["flagged_on"], ids[0],
                                                 f["recorded_by"]))
    return ids


def contacts_of_entry(conn: sqlite3.Connection, given: str, list_date: str) -> list[dict]:
    """The contacts (not corrected) recorded for the entry of that list day whose id starts with
    ``given``: the entry's patient first, then the household members on the same call."""
    cols = ("id",) + CONTACT_COLUMNS
    rows = conn.execute(f"SELECT {', '.join(cols)} FROM contacts WHERE list_date = ? AND entry_id >= ? "
                        f"AND entry_id < ? AND superseded_by IS NULL ORDER BY id", (list_date, given, given + "~"))
    out = [dict(zip(cols, r)) for r in rows]
    for row in out:
        row["reasons"] = json.loads(row["reasons"])
    return out


def correct_contact(conn: sqlite3.Connection, old: Sequence[dict], contacts: Sequence[dict], *,
                    withdrawals: Sequence[dict], phone_flags: Sequence[dict], by: str, at: str, day: str) -> list[int]:
    """Replace the outcome recorded in ``old`` (one call's contacts) by ``contacts``, in one transaction:
    what the old outcome did is undone as new records — a consent withdrawn by a refusal is granted
    again as it was, a wrong-number flag it raised is lifted — the new outcome's records are written,
    and the old contacts are marked as superseded (by whom, when). Nothing is deleted."""
    from followup.errors import Conflict

    old_ids = [c["id"] for c in old]
    marks = ", ".join("?" * len(old_ids))
    with write_transaction(conn):
        if conn.execute(f"SELECT count(*) FROM contacts WHERE id IN ({marks}) AND superseded_by IS NULL",
                        old_ids).fetchone()[0] != len(old_ids):
            raise Conflict(N_("that outcome was corrected meanwhile; see followup log"))
        restore = []
        for c in old:
            if c["outcome"] != "declined":
                continue
            withdrawn = conn.execute(
                "SELECT id, purpose, channel FROM consents WHERE patient_id = ? AND recorded_at = ? AND granted = 0 "
                "AND source = 'followup' AND note = 'declined when contacted'", (c["patient_id"], c["recorded_at"]))
            for wid, purpose, channel in withdrawn.fetchall():
                latest = conn.execute("SELECT id FROM consents WHERE patient_id = ? AND purpose = ? AND channel = ? "
                                      "ORDER BY recorded_at DESC, id DESC LIMIT 1",
                                      (c["patient_id"], purpose, channel)).fetchone()[0]
                if latest != wid:
                    continue  # recorded again since (a consent given or withdrawn at the desk): left as it is
                before = conn.execute(
                    "SELECT granted, address, window, days, how FROM consents WHERE patient_id = ? AND purpose = ? "
                    "AND channel = ? AND id < ? ORDER BY recorded_at DESC, id DESC LIMIT 1",
                    (c["patient_id"], purpose, channel, wid)).fetchone()
                if before and before[0]:
                    restore.append({"patient_id": c["patient_id"], "purpose": purpose, "channel": channel,
                                    "granted": 1, "address": before[1], "window": before[2], "days": before[3],
                                    "how": before[4], "note": "restored by a correction", "source": "followup",
                                    "recorded_by": by, "recorded_at": at})
        insert_consents(conn, restore)
        conn.execute(f"UPDATE phone_flags SET lifted_on = ?, lifted_by = ? WHERE contact_id IN ({marks}) "
                     f"AND lifted_on IS NULL", (day, by, *old_ids))
        ids = _write_outcome(conn, contacts, withdrawals, phone_flags)
        conn.execute(f"UPDATE contacts SET superseded_by = ?, corrected_at = ?, corrected_by = ? WHERE id IN ({marks})",
                     (ids[0], at, by, *old_ids))
        return ids


def closed_entry(conn: sqlite3.Connection, given: str, list_date: str) -> str | None:
    """The id of a contact recorded for that list day whose entry id starts with ``given``, if any."""
    row = conn.execute("SELECT entry_id FROM contacts WHERE list_date = ? AND entry_id >= ? AND entry_id < ? "
                       "AND superseded_by IS NULL LIMIT 1",
                       (list_date, given, given + "~")).fetchone()
    return row[0] if row else None


def closed_entry_patients(conn: sqlite3.Connection, given: str, list_date: str) -> list[list[str]]:
    """For each entry of that list day closed with an id starting with ``given``: the patients on it,
    in the order recorded (the patient, then the household on the call)."""
    out: dict[str, list[str]] = {}
    for entry_id, pid in conn.execute(
            "SELECT entry_id, patient_id FROM contacts WHERE list_date = ? AND entry_id >= ? AND entry_id < ? "
            "AND superseded_by IS NULL ORDER BY id", (list_date, given, given + "~")):
        if pid not in out.setdefault(entry_id, []):
            out[entry_id].append(pid)
    return list(out.values())


def contact_log(conn: sqlite3.Connection, patient_id: str) -> list[dict]:
    """Every contact with the patient, corrected ones too (superseded_by: the one that corrected it);
    for a message followup sent, what the gateway said of it (delivery: 'delivered', 'undelivered:CODE',
    None while unknown or for anything else)."""
    cols = ("id",) + CONTACT_COLUMNS + ("superseded_by", "corrected_at", "corrected_by")
    out = []
    for r in conn.execute(f"SELECT {', '.join('c.' + c for c in cols)}, o.delivery FROM contacts c "
                          f"LEFT JOIN outbox o ON c.outcome = 'sent' AND o.list_date = c.list_date "
                          f"AND o.patient_id = c.patient_id AND o.channel = c.channel AND o.state = 'sent' "
                          f"WHERE c.patient_id = ? ORDER BY c.recorded_at, c.id", (patient_id,)):
        row = dict(zip(cols + ("delivery",), r))
        row["reasons"] = json.loads(row["reasons"])
        out.append(row)
    return out


def day_outcomes(conn: sqlite3.Connection, list_date: str, channel: str | None = None) -> dict[str, int]:
    """Entries of one day's list closed so far, by outcome (one count an entry, whoever was on the call)."""
    sql = "SELECT outcome, count(DISTINCT entry_id) FROM contacts WHERE list_date = ? AND superseded_by IS NULL"
    params: list = [list_date]
    if channel:
        sql += " AND channel = ?"
        params.append(channel)
    return dict(conn.execute(sql + " GROUP BY outcome", params).fetchall())


def day_log(conn: sqlite3.Connection, list_date: str, by: str | None = None) -> list[dict]:
    """What the desks recorded for one day's list: each contact with the patient's name, in order."""
    cols = ("id",) + CONTACT_COLUMNS
    sql = (f"SELECT {', '.join('c.' + c for c in cols)}, p.full_name FROM contacts c "
           f"JOIN patients p ON p.patient_id = c.patient_id WHERE c.list_date = ? AND c.superseded_by IS NULL")
    params: list = [list_date]
    if by:
        sql += " AND c.recorded_by = ?"
        params.append(by)
    out = []
    for r in conn.execute(sql + " ORDER BY c.recorded_at, c.id", params):
        row = dict(zip(cols + ("patient",), r))
        row["reasons"] = json.loads(row["reasons"])
        out.append(row)
    return out


def household_members(conn: sqlite3.Connection, patient_ids: Iterable[str]) -> list[str]:
    """Everyone in the households of these patients."""
    return [r[0] for r in conn.execute(
        "SELECT p.patient_id FROM patients p WHERE p.household_id IN (SELECT household_id FROM patients "
        "WHERE patient_id IN (SELECT value FROM json_each(?)) AND household_id IS NOT NULL)",
        (json.dumps(list(patient_ids), ensure_ascii=False),))]


def next_contacts(conn: sqlite3.Connection, patient_id: str) -> list[dict]:
    cols = ("id", "due", "reason", "channel", "doctor", "recorded_by", "recorded_at")
    return [dict(zip(cols, r)) for r in conn.execute(
        f"SELECT {', '.join(cols)} FROM next_contacts WHERE patient_id = ? ORDER BY due", (patient_id,))]


# ---------------------------------------------------------------------------
# Settings shared by every desk and cron


def get_settings(conn: sqlite3.Connection) -> dict[str, str]:
    return dict(conn.execute("SELECT key, value FROM settings"))


def get_setting(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
    return row[0] if row else None


def set_setting(conn: sqlite3.Connection, key: str, value: str | None, *, by: str, at: str) -> None:
    with write_transaction(conn):
        if value is None:
            conn.execute("DELETE FROM settings WHERE key = ?", (key,))
        else:
            conn.execute("INSERT INTO settings (key, value, updated_at, updated_by) VALUES (?, ?, ?, ?) "
                         "ON CONFLICT(key) DO UPDATE SET value = excluded.value, "
                         "updated_at = excluded.updated_at, updated_by = excluded.updated_by",
                         (key, value, at, by))


# ---------------------------------------------------------------------------
# Complaints


COMPLAINT_COLUMNS = ("id", "patient_id", "doctor", "text", "opened_by", "opened_at", "action", "resolved_by",
                     "resolved_at", "informed_by", "informed_at", "survey_id")


def add_complaint(conn: sqlite3.Connection, row: dict) -> int:
    cols = ("patient_id", "doctor", "text", "opened_by", "opened_at", "survey_id")
    with write_transaction(conn):
        return conn.execute(f"INSERT INTO complaints ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                            tuple(row.get(c) for c in cols)).lastrowid


def get_complaint(conn: sqlite3.Connection, complaint_id: int) -> dict | None:
    row = conn.execute(f"SELECT {', '.join(COMPLAINT_COLUMNS)} FROM complaints WHERE id = ?",
                       (complaint_id,)).fetchone()
    return dict(zip(COMPLAINT_COLUMNS, row)) if row else None


def list_complaints(conn: sqlite3.Connection, *, open_only: bool = False) -> list[dict]:
    where = "WHERE c.resolved_at IS NULL" if open_only else ""
    cols = ", ".join(f"c.{c}" for c in COMPLAINT_COLUMNS)
    return [dict(zip(COMPLAINT_COLUMNS + ("patient",), r)) for r in conn.execute(
        f"SELECT {cols}, p.full_name FROM complaints c JOIN patients p ON p.patient_id = c.patient_id "
        f"{where} ORDER BY c.opened_at, c.id")]


def update_complaint(conn: sqlite3.Connection, complaint_id: int, *, expect: str, changes: dict) -> bool:
    """Set fields if the complaint is still in the expected state ('open' / 'resolved', not informed)."""
    guard = {"open": "resolved_at IS NULL", "resolved": "resolved_at IS NOT NULL AND informed_at IS NULL"}[expect]
    sets = ", ".join(f"{k} = ?" for k in changes)
    with write_transaction(conn):
        cur = conn.execute(f"UPDATE complaints SET {sets} WHERE id = ? AND {guard}", (*changes.values(), complaint_id))
        return cur.rowcount == 1


def doctor_names(conn: sqlite3.Connection) -> list[str]:
    return [r[0] for r in conn.execute("SELECT name FROM doctors ORDER BY name")]


# ---------------------------------------------------------------------------
# Surveys


def current_survey(conn: sqlite3.Connection, patient_id: str, visit_id: str) -> int | None:
    """The survey recorded for that treatment and not corrected since, if any."""
    row = conn.execute("SELECT id FROM surveys WHERE patient_id = ? AND visit_id = ? AND superseded_by IS NULL",
                       (patient_id, visit_id)).fetchone()
    return row[0] if row else None


def add_survey(conn: sqlite3.Connection, row: dict, doctors: Sequence[str], *, contact: dict | None = None,
               replaces: int | None = None) -> int:
    """A survey (answered or declined) with the doctors it counts for, and its contact, in one transaction;
    ``replaces``: the survey it corrects, kept and marked as superseded by this one."""
    from followup.errors import Conflict, UsageError

    cols = ("patient_id", "visit_id", "status", "score", "recommend", "expectations", "comment", "questions",
            "recorded_by", "recorded_at")
    with write_transaction(conn):
        if replaces is not None:
            if not conn.execute("UPDATE surveys SET superseded_by = id WHERE id = ? AND superseded_by IS NULL",
                                (replaces,)).rowcount:
                raise Conflict(N_("that survey was corrected meanwhile; see followup report"))
        try:
            sid = conn.execute(f"INSERT INTO surveys ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                               tuple(row[c] for c in cols)).lastrowid
        except sqlite3.IntegrityError:
            raise UsageError(N_("a survey for treatment {visit} is already recorded"), visit=row["visit_id"]) from None
        conn.executemany("INSERT INTO survey_doctors (survey_id, doctor) VALUES (?, ?)",
                         [(sid, d) for d in dict.fromkeys(doctors)])
        if contact:
            c = dict(contact, reasons=json.dumps(contact["reasons"], ensure_ascii=False))
            conn.execute(f"INSERT INTO contacts ({', '.join(CONTACT_COLUMNS)}) "
                         f"VALUES ({', '.join('?' * len(CONTACT_COLUMNS))})", tuple(c.get(k) for k in CONTACT_COLUMNS))
        if replaces is not None:
            conn.execute("UPDATE surveys SET superseded_by = ?, corrected_at = ?, corrected_by = ? WHERE id = ?",
                         (sid, row["recorded_at"], row["recorded_by"], replaces))
        return sid


def survey_responses(conn: sqlite3.Connection) -> list[dict]:
    """Every survey (not corrected since) with the doctors it counts for, oldest first."""
    cols = ("id", "patient_id", "visit_id", "status", "score", "recommend", "expectations", "comment",
            "questions", "recorded_at")
    out: dict[int, dict] = {}
    for r in conn.execute(f"SELECT {', '.join('s.' + c for c in cols)}, sd.doctor FROM surveys s "
                          f"LEFT JOIN survey_doctors sd ON sd.survey_id = s.id WHERE s.superseded_by IS NULL "
                          f"ORDER BY s.recorded_at, s.id"):
        row = out.setdefault(r[0], dict(zip(cols, r[:-1]), doctors=[]))
        if r[-1]:
            row["doctors"].append(r[-1])
    return list(out.values())


def treatment_ends(conn: sqlite3.Connection) -> list[tuple[str, str, str, str]]:
    """(patient, visit, date, doctor) of every treatment_end visit."""
    return conn.execute("SELECT v.patient_id, v.visit_id, v.date, d.name FROM visits v JOIN doctors d "
                        "ON d.id = v.doctor_id WHERE v.kind = 'treatment_end' ORDER BY v.date").fetchall()


def unassign_theme(conn: sqlite3.Connection, survey_id: int, theme: str) -> bool:
    with write_transaction(conn):
        return conn.execute("DELETE FROM survey_themes WHERE survey_id = ? AND theme = ?",
                            (survey_id, theme)).rowcount > 0


def rename_theme(conn: sqlite3.Connection, old: str, new: str, *, by: str, at: str) -> int:
    """A clinic's own theme under a new name: its words (setting theme.OLD) and its comments assigned
    by hand, in one transaction. Returns the comments moved."""
    with write_transaction(conn):
        conn.execute("UPDATE settings SET key = ?, updated_by = ?, updated_at = ? WHERE key = ?",
                     (f"theme.{new}", by, at, f"theme.{old}"))
        conn.execute("DELETE FROM survey_themes WHERE theme = ? AND survey_id IN "
                     "(SELECT survey_id FROM survey_themes WHERE theme = ?)", (old, new))
        return conn.execute("UPDATE survey_themes SET theme = ? WHERE theme = ?", (new, old)).rowcount


def assigned_themes(conn: sqlite3.Connection) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for sid, theme in conn.execute("SELECT survey_id, theme FROM survey_themes ORDER BY assigned_at"):
        out.setdefault(sid, []).append(theme)
    return out


def assign_theme(conn: sqlite3.Connection, survey_id: int, theme: str, *, by: str, at: str) -> None:
    with write_transaction(conn):
        conn.execute("INSERT OR IGNORE INTO survey_themes (survey_id, theme, assigned_by, assigned_at) "
                     "VALUES (?, ?, ?, ?)", (survey_id, theme, by, at))
