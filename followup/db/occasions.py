"""The occasions the clinic greets its patients on (its holidays), its own texts for each occasion, and its
marketing campaigns."""

from __future__ import annotations

import sqlite3

from followup.db.patients import source_of

__all__ = ["holiday_rows", "insert_holiday", "remove_holiday", "occasion_text_rows", "insert_occasion_text",
           "retire_occasion_text", "campaign_rows", "insert_campaign", "stop_campaign", "campaign_results",
           "marketing_consents"]


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


def campaign_rows(conn: sqlite3.Connection, *, stopped: bool = False) -> list[dict]:
    cur = conn.execute("SELECT id, name, text, channel, audience, starts, ends, created_by, created_at, stopped_at "
                       f"FROM campaigns {'' if stopped else 'WHERE stopped_at IS NULL '}ORDER BY starts, id")
    cols = [c[0] for c in cur.description]
    return [dict(zip(cols, r)) for r in cur]


def insert_campaign(conn: sqlite3.Connection, row: dict) -> int:
    cols = ("name", "text", "channel", "audience", "starts", "ends", "created_by", "created_at")
    return conn.execute(f"INSERT INTO campaigns ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                        tuple(row[c] for c in cols)).lastrowid


def stop_campaign(conn: sqlite3.Connection, campaign_id: int, *, by: str, at: str) -> bool:
    return conn.execute("UPDATE campaigns SET stopped_by = ?, stopped_at = ? WHERE id = ? AND stopped_at IS NULL",
                        (by, at, campaign_id)).rowcount == 1


def marketing_consents(conn: sqlite3.Connection, channel: str) -> list[str]:
    """The patients with a record of the marketing consent on a channel, granted or withdrawn."""
    return [r[0] for r in conn.execute("SELECT DISTINCT patient_id FROM consents WHERE purpose = 'marketing' "
                                       "AND channel = ?", (channel,))]


def campaign_results(conn: sqlite3.Connection, campaign_id: int, days: int = 60) -> dict:
    """What a campaign did: the patients it reached (a message sent), those of them who came within
    ``days`` of it, and those who named a mailing as what brought them."""
    sql = f"""
        WITH reached AS (
            SELECT c.patient_id, min(c.list_date) AS day FROM contacts c, json_each(c.reasons) j
             WHERE c.outcome IN ('sent', 'reached', 'booked') AND c.superseded_by IS NULL
               AND json_extract(j.value, '$[0]') = 'campaign' AND json_extract(j.value, '$[1]') = ?
             GROUP BY c.patient_id)
        SELECT count(*),
               sum(EXISTS (SELECT 1 FROM visits v INDEXED BY visits_patient_date WHERE v.patient_id = r.patient_id
                            AND v.date > r.day AND v.date <= date(r.day, '+{int(days)} days'))),
               sum({source_of("r.patient_id", "(SELECT p.source FROM patients p WHERE p.patient_id = r.patient_id)")}
                   = 'mailing')
          FROM reached r
    """
    reached, came, named = conn.execute(sql, (str(campaign_id),)).fetchone()
    return {"reached": reached, "came_within_60_days": came or 0, "named_mailing": named or 0}
