"""The occasions the clinic greets its patients on (its holidays), and its own texts for each occasion."""

from __future__ import annotations

import sqlite3

__all__ = ["holiday_rows", "insert_holiday", "remove_holiday", "occasion_text_rows", "insert_occasion_text",
           "retire_occasion_text"]


def holiday_rows(conn: sqlite3.Connection, *, removed: bool = False) -> list[dict]:
    """The clinic's holidays (and, with ``removed``, those it stopped greeting on), by date."""
    cur = conn.execute("SELECT id, name, month, day, sex, created_by, created_at, removed_at FROM occasions "
                       f"{'' if removed else 'WHERE removed_at IS NULL '}ORDER BY month, day, id")
    cols = [c[0] for c in cur.description]
    return [dict(zip(cols, r)) for r in cur]


def insert_holiday(conn: sqlite3.Connection, name: str, month: int, day: int, sex: str | None, *, by: str,
                   at: str) -> int:
    return conn.execute("INSERT INTO occasions (name, month, day, sex, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                        (name, month, day, sex, by, at)).lastrowid


def remove_holiday(conn: sqlite3.Connection, holiday_id: int, *, by: str, at: str) -> bool:
    return conn.execute("UPDATE occasions SET removed_by = ?, removed_at = ? WHERE id = ? AND removed_at IS NULL",
                        (by, at, holiday_id)).rowcount == 1


def occasion_text_rows(conn: sqlite3.Connection, occasion: str | None = None) -> list[dict]:
    """The clinic's texts in use (not retired), of one occasion ("thanks", "birthday", "holiday:3") or all."""
    where, params = ("AND occasion = ? ", (occasion,)) if occasion else ("", ())
    cur = conn.execute(f"SELECT id, occasion, text, added_by, added_at FROM occasion_texts WHERE retired_at IS NULL "
                       f"{where}ORDER BY occasion, id", params)
    cols = [c[0] for c in cur.description]
    return [dict(zip(cols, r)) for r in cur]


def insert_occasion_text(conn: sqlite3.Connection, occasion: str, text: str, *, by: str, at: str) -> int:
    return conn.execute("INSERT INTO occasion_texts (occasion, text, added_by, added_at) VALUES (?, ?, ?, ?)",
                        (occasion, text, by, at)).lastrowid


def retire_occasion_text(conn: sqlite3.Connection, text_id: int, *, by: str, at: str) -> bool:
    return conn.execute("UPDATE occasion_texts SET retired_by = ?, retired_at = ? WHERE id = ? AND retired_at IS NULL",
                        (by, at, text_id)).rowcount == 1
