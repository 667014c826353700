"""The outbox of `followup send` (m018): a row committed before each call to a gateway, updated after."""

from __future__ import annotations

import sqlite3

from followup.db.connection import write_transaction


def outbox_begin(conn: sqlite3.Connection, row: dict) -> int | None:
    """Commit a 'sending' row for the entry (list_date, patient_id, channel); None when the entry has
    one 'sending' or 'sent' already (sent, or its fate unknown: never twice)."""
    with write_transaction(conn):
        try:
            return conn.execute(
                "INSERT INTO outbox (list_date, patient_id, channel, address, body, parts, state, provider, "
                "started_at, recorded_by) VALUES (:list_date, :patient_id, :channel, :address, :body, :parts, "
                "'sending', :provider, :started_at, :recorded_by)", row).lastrowid
        except sqlite3.IntegrityError:
            return None


def outbox_finish(conn: sqlite3.Connection, outbox_id: int, *, state: str, provider_id: str | None,
                  error: str | None, at: str) -> None:
    """Inside the caller's transaction: the gateway's answer."""
    conn.execute("UPDATE outbox SET state = ?, provider_id = ?, error = ?, finished_at = ? WHERE id = ?",
                 (state, provider_id, error, at, outbox_id))


def outbox_taken(conn: sqlite3.Connection, list_date: str) -> set[tuple[str, str]]:
    """(patient, channel) of the day's entries sent, or being sent or of unknown fate."""
    return {(r[0], r[1]) for r in conn.execute(
        "SELECT patient_id, channel FROM outbox WHERE list_date = ? AND state IN ('sending', 'sent')", (list_date,))}


def outbox_unknown(conn: sqlite3.Connection) -> list[dict]:
    """Rows left 'sending' (a crash, a timeout, an answer that made no sense): their fate is unknown."""
    cur = conn.execute("SELECT o.id, o.list_date, o.patient_id, p.full_name, o.channel, o.address, o.provider, "
                       "o.started_at, o.error FROM outbox o LEFT JOIN patients p ON p.patient_id = o.patient_id "
                       "WHERE o.state = 'sending' ORDER BY o.id")
    cols = [c[0] for c in cur.description]
    return [dict(zip(cols, r)) for r in cur]


def outbox_day(conn: sqlite3.Connection, list_date: str) -> dict[str, int]:
    """State -> messages of one day's list."""
    return dict(conn.execute("SELECT state, count(*) FROM outbox WHERE list_date = ? GROUP BY state", (list_date,)))


def outbox_sent(conn: sqlite3.Connection, outbox_id: int, provider_id: str, at: str, contacts: list[dict],
                entry_id: str, list_date: str) -> bool:
    """In one transaction: the message went out, and its entry is closed as 'sent' (unless a desk closed
    it meanwhile: then only the outbox says so). Whether the entry was closed here."""
    from followup.db.staff import _write_outcome, closed_entry

    with write_transaction(conn):
        outbox_finish(conn, outbox_id, state="sent", provider_id=provider_id, error=None, at=at)
        if closed_entry(conn, entry_id, list_date):
            return False
        _write_outcome(conn, contacts, (), ())
        return True


def outbox_failed(conn: sqlite3.Connection, outbox_id: int, *, state: str, error: str, at: str) -> None:
    """The gateway refused ('failed': may be tried again) or its answer left the fate unknown (the row
    stays 'sending', with what happened)."""
    with write_transaction(conn):
        outbox_finish(conn, outbox_id, state=state, provider_id=None, error=error, at=at)


def outbox_pending(conn: sqlite3.Connection) -> list[dict]:
    """Sent messages whose delivery is not known yet (oldest first), with the entry they closed."""
    cur = conn.execute("SELECT id, list_date, patient_id, channel, provider, provider_id FROM outbox "
                       "WHERE state = 'sent' AND delivery IS NULL AND provider_id IS NOT NULL ORDER BY id")
    cols = [c[0] for c in cur.description]
    return [dict(zip(cols, r)) for r in cur]


def outbox_delivery(conn: sqlite3.Connection, outbox_id: int, delivery: str, at: str) -> None:
    with write_transaction(conn):
        conn.execute("UPDATE outbox SET delivery = ?, checked_at = ? WHERE id = ?", (delivery, at, outbox_id))


def sent_entry(conn: sqlite3.Connection, list_date: str, patient_id: str, channel: str) -> str | None:
    """The entry id (as contacts keep it) that a sent message closed."""
    row = conn.execute("SELECT entry_id FROM contacts WHERE list_date = ? AND patient_id = ? AND channel = ? "
                       "AND outcome = 'sent' AND superseded_by IS NULL ORDER BY id DESC LIMIT 1",
                       (list_date, patient_id, channel)).fetchone()
    return row[0] if row else None
