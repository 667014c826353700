"""The staff's accounts and what `followup serve` keeps: logins, the cookies' key, open entries."""

from __future__ import annotations

import sqlite3

__all__ = ["user_row", "users_rows", "insert_user", "update_user", "record_login", "failures_since",
           "web_secret", "store_web_secret", "claim_entry", "release_entry", "claims_of_day"]

_USER = "SELECT name, role, password, language, disabled_at, sessions FROM users"


def user_row(conn: sqlite3.Connection, name: str) -> tuple | None:
    """(name, role, password hash, language, disabled_at, sessions) of an account, by its name (any case)."""
    return conn.execute(f"{_USER} WHERE name = ?", (name,)).fetchone()


def users_rows(conn: sqlite3.Connection) -> list[dict]:
    cur = conn.execute("SELECT name, role, language, created_at, created_by, changed_at, disabled_at FROM users "
                       "ORDER BY disabled_at IS NOT NULL, name")
    cols = [c[0] for c in cur.description]
    return [dict(zip(cols, r)) for r in cur]


def insert_user(conn: sqlite3.Connection, name: str, role: str, password: str, *, by: str, at: str) -> bool:
    """A new account; False when the name is taken (in any case)."""
    cur = conn.execute("INSERT INTO users (name, role, password, created_at, created_by, changed_at) "
                       "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING", (name, role, password, at, by, at))
    return cur.rowcount == 1


_FIELDS = {"role", "password", "language", "disabled_at", "changed_at"}


def update_user(conn: sqlite3.Connection, name: str, *, end_sessions: bool = False, **fields) -> bool:
    """Change an account's fields (``end_sessions``: every cookie given before is no longer accepted).
    False when there is no such account."""
    assert fields.keys() <= _FIELDS, fields
    sets = [f"{k} = ?" for k in fields] + (["sessions = sessions + 1"] if end_sessions else [])
    cur = conn.execute(f"UPDATE users SET {', '.join(sets)} WHERE name = ?", (*fields.values(), name))
    return cur.rowcount == 1


def record_login(conn: sqlite3.Connection, name: str, address: str, ok: int, at: str) -> None:
    conn.execute("INSERT INTO logins (at, name, address, ok) VALUES (?, ?, ?, ?)", (at, name, address, ok))


def failures_since(conn: sqlite3.Connection, name: str, since: str) -> list[str]:
    """When the failed attempts to log in as ``name`` were, since ``since`` and since its last success."""
    return [r[0] for r in conn.execute(
        "SELECT at FROM logins WHERE name = ? AND at >= ? AND ok = 0 AND at > coalesce("
        "(SELECT max(at) FROM logins WHERE name = ? AND ok = 1), '') ORDER BY at", (name, since, name))]


def web_secret(conn: sqlite3.Connection) -> str | None:
    row = conn.execute("SELECT secret FROM web_keys WHERE id = 1").fetchone()
    return row[0] if row else None


def store_web_secret(conn: sqlite3.Connection, secret: str, at: str) -> None:
    conn.execute("INSERT INTO web_keys (id, secret, created_at) VALUES (1, ?, ?) ON CONFLICT (id) DO NOTHING",
                 (secret, at))


def claim_entry(conn: sqlite3.Connection, day: str, patient_id: str, channel: str, name: str, at: str,
                stale: str) -> str:
    """Mark an entry as opened by ``name`` unless another has it open since ``stale``: who has it now."""
    conn.execute("INSERT INTO claims (list_date, patient_id, channel, name, at) VALUES (?, ?, ?, ?, ?) "
                 "ON CONFLICT DO UPDATE SET name = excluded.name, at = excluded.at "
                 "WHERE claims.name = excluded.name OR claims.at < ?", (day, patient_id, channel, name, at, stale))
    return conn.execute("SELECT name FROM claims WHERE list_date = ? AND patient_id = ? AND channel = ?",
                        (day, patient_id, channel)).fetchone()[0]


def release_entry(conn: sqlite3.Connection, day: str, patient_id: str, channel: str, name: str | None = None) -> None:
    """The entry no longer open (by ``name`` only, when given)."""
    conn.execute("DELETE FROM claims WHERE list_date = ? AND patient_id = ? AND channel = ? "
                 "AND (? IS NULL OR name = ?)", (day, patient_id, channel, name, name))


def claims_of_day(conn: sqlite3.Connection, day: str, since: str) -> dict[tuple[str, str], str]:
    """(patient, channel) -> who has that entry of the day's list open (since ``since``)."""
    return {(p, c): n for p, c, n in conn.execute(
        "SELECT patient_id, channel, name FROM claims WHERE list_date = ? AND at >= ?", (day, since))}
