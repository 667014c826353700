"""The stored day plan (m007): `followup today` reads it; triggers keep it honest."""

from __future__ import annotations

import itertools
import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from followup.entryids import prefix_between, shortest_prefixes

# ---------------------------------------------------------------------------
# The stored day plan (m007): `followup today` reads it; triggers keep it honest


PLAN_COLUMNS = ("entry_id", "patient_id", "channel", "no_window", "start", "priority", "name", "payload", "place",
                "doctors", "names", "digits", "part")
# entries a part of the whole list holds (m028): a change to a patient re-assembles the part holding them
PART_SIZE = 500


def part_of(place: int) -> int:
    """The part of the whole list the entry at this place of a day's plan (from 0) goes into."""
    return place // PART_SIZE


def plan_state(conn: sqlite3.Connection) -> tuple[str, str, int] | None:
    """(day, stamp, survey wave) of the stored plan, or None when it was dropped or never made."""
    return conn.execute("SELECT day, stamp, survey_wave FROM plan_meta").fetchone()


def plan_dirty(conn: sqlite3.Connection) -> list[str]:
    """Patients whose records changed since the plan was stored (marked by triggers)."""
    return [r[0] for r in conn.execute("SELECT patient_id FROM plan_dirty")]


def completed_waves(conn: sqlite3.Connection, wave: int) -> list[str]:
    """Doctors with a full survey wave: their survey calls lose their priority on the list."""
    return [r[0] for r in conn.execute(
        "SELECT sd.doctor FROM survey_doctors sd JOIN surveys s ON s.id = sd.survey_id "
        "WHERE s.status = 'answered' AND s.superseded_by IS NULL GROUP BY sd.doctor HAVING count(*) >= ? "
        "ORDER BY sd.doctor", (wave,))]


_PLAN_ORDER = "ORDER BY no_window, start, priority, name, channel, patient_id"


@dataclass(frozen=True)
class Filters:
    """Which entries of the day's list to read: a channel; a doctor and a text to find, as
    rules.filter_keys and rules.find_terms have them (folded; digits of a phone, or None)."""

    channel: str | None = None
    doctor: str | None = None
    find: tuple[str, str | None] | None = None

    def sql(self) -> tuple[str, tuple]:
        where, params = "", ()
        if self.channel:
            where, params = where + "AND e.channel = ? ", params + (self.channel,)
        if self.doctor:
            where, params = where + "AND instr(e.doctors, ?) > 0 ", params + (self.doctor,)
        if self.find:
            wanted, digits = self.find
            where += "AND ((? != '' AND instr(e.names, ?) > 0) OR (? IS NOT NULL AND instr(e.digits, ?) > 0)) "
            params += (wanted, wanted, digits, digits)
        return where, params


def plan_entries(conn: sqlite3.Connection, language: str, filters: Filters = Filters(),
                 page: tuple[int, int] | None = None) -> list[tuple[str, str]]:
    """(id shown, JSON payload without the id, in ``language``) of the stored plan's entries, in list
    order; ``page``: (offset, how many) of them."""
    where, params = filters.sql()
    limit = f" LIMIT {int(page[1])} OFFSET {int(page[0])}" if page else ""
    # (CROSS JOIN: the entries in list order first, by their index, each one's text then: a page
    # reads its own rows only)
    return conn.execute(f"SELECT e.shown, t.payload FROM plan_entries e CROSS JOIN plan_texts t "
                        f"ON t.entry_id = e.entry_id AND t.language = ? WHERE e.place IS NULL {where}"
                        f"{_PLAN_ORDER}{limit}", (language, *params)).fetchall()


def plan_on_channels(conn: sqlite3.Connection, channels: Sequence[str]) -> dict[str, tuple[str, str, str, list[str]]]:
    """Entry id -> (id shown, the patient, the channel, everyone on the call) of the stored list's
    entries on these channels."""
    out: dict[str, tuple[str, str, str, list[str]]] = {}
    for entry_id, shown, patient, channel, pid in conn.execute(
            "SELECT e.entry_id, e.shown, e.patient_id, e.channel, m.patient_id FROM plan_entries e "
            "INDEXED BY plan_entries_listed JOIN plan_members m ON m.entry_id = e.entry_id WHERE e.place IS NULL "
            "AND e.channel IN (SELECT value FROM json_each(?))", (json.dumps(list(channels)),)):
        out.setdefault(entry_id, (shown, patient, channel, []))[3].append(pid)
    return out


def plan_entry_shown(conn: sqlite3.Connection, shown: str) -> tuple[str, str] | None:
    """(patient, channel) of the stored list's entry shown with this id."""
    # (an id shown is the start of the entry's id, a hex digest: its rows are a range of the key)
    return conn.execute("SELECT patient_id, channel FROM plan_entries WHERE entry_id >= ? AND entry_id < ? "
                        "AND shown = ? AND place IS NULL", (shown, shown + "~", shown)).fetchone()


def plan_count(conn: sqlite3.Connection, filters: Filters = Filters()) -> int:
    """How many entries of the stored plan a filter selects."""
    where, params = filters.sql()
    return conn.execute(f"SELECT count(*) FROM plan_entries e WHERE e.place IS NULL {where}", params).fetchone()[0]


def plan_json(conn: sqlite3.Connection, language: str, filters: Filters = Filters()) -> bytes:
    """The stored plan as `followup today --format json` prints it in ``language``, as UTF-8 bytes.

    The whole list is kept ready in parts (plan_list: a read of a few megabytes, never decoded); a
    filtered list is put together from the entries.
    """
    if filters == Filters():
        return plan_list(conn, language)[0]
    return b"[" + _plan_body(conn, language, *filters.sql()) + b"]"


def _plan_body(conn: sqlite3.Connection, language: str, where: str = "", params: tuple = ()) -> bytes:
    """The entries on the list (of ``where``) as JSON objects, one a line, without the brackets."""
    factory, conn.text_factory = conn.text_factory, bytes
    try:
        rows = conn.execute(f"SELECT e.shown, t.payload FROM plan_entries e CROSS JOIN plan_texts t "
                            f"ON t.entry_id = e.entry_id AND t.language = ? WHERE e.place IS NULL {where}{_PLAN_ORDER}",
                            (language, *params)).fetchall()
    finally:
        conn.text_factory = factory
    return b",\n".join([b'{"entry_id": "' + shown + b'", ' + payload[1:] for shown, payload in rows])


def plan_list(conn: sqlite3.Connection, language: str) -> tuple[bytes, list[tuple[int, bytes]]]:
    """The whole list as `today --format json` prints it in ``language``, from its parts kept ready;
    and the parts that were not, put together here from their entries (for keep_plan_parts)."""
    parts = [r[0] for r in conn.execute("SELECT DISTINCT part FROM plan_entries INDEXED BY plan_entries_part "
                                        "ORDER BY part")]
    kept = dict(conn.execute("SELECT part, list FROM plan_parts WHERE language = ?", (language,)))
    made, bodies = [], []
    for part in parts:
        body = kept.get(part)
        if body is None:
            body = _plan_body(conn, language, "AND e.part = ? ", (part,))
            made.append((part, body))
        if body:
            bodies.append(body)
    return b"[" + b",\n".join(bodies) + b"]", made


def keep_plan_parts(conn: sqlite3.Connection, language: str, parts: Sequence[tuple[int, bytes]]) -> None:
    """Keep parts of the whole list as read in ``language`` (plan_list's), in the caller's write
    transaction; the caller checked that nothing was written since they were read."""
    conn.executemany("INSERT OR REPLACE INTO plan_parts (language, part, list) VALUES (?, ?, ?)",
                     [(language, part, body) for part, body in parts])


def plan_has_list(conn: sqlite3.Connection, language: str) -> bool:
    """Whether the stored plan's texts are all kept in ``language`` (its whole list is, then)."""
    return conn.execute("SELECT 1 FROM plan_lists WHERE language = ?", (language,)).fetchone() is not None


def plan_untranslated(conn: sqlite3.Connection, language: str, entry_ids: Sequence[str] | None = None) -> list[str]:
    """The entries (of these, if named) whose texts are not kept in ``language`` yet."""
    among, params = "", (language,)
    if entry_ids is not None:
        among, params = "AND entry_id IN (SELECT value FROM json_each(?)) ", (json.dumps(list(entry_ids)), language)
    return [r[0] for r in conn.execute(
        f"SELECT entry_id FROM plan_entries e WHERE place IS NULL {among}AND NOT EXISTS "
        f"(SELECT 1 FROM plan_texts t WHERE t.entry_id = e.entry_id AND t.language = ?)", params)]


def plan_payloads(conn: sqlite3.Connection, entry_ids: Sequence[str]) -> list[tuple[str, str]]:
    """(entry id, stored payload) of these entries."""
    return conn.execute("SELECT entry_id, payload FROM plan_entries WHERE entry_id IN (SELECT value FROM json_each(?))",
                        (json.dumps(list(entry_ids)),)).fetchall()


def plan_languages(conn: sqlite3.Connection) -> list[str]:
    """The languages the stored plan's texts are all kept in."""
    return [r[0] for r in conn.execute("SELECT language FROM plan_lists")]


def store_plan_texts(conn: sqlite3.Connection, language: str, rows: Sequence[tuple[str, str]]) -> None:
    """Keep entries' payloads as read in ``language`` (then every entry has its text in it); inside the
    caller's write transaction. The whole list in that language is kept later, by the first read of
    it (keep_plan_parts): a change to one patient rewrites that patient's rows, not megabytes."""
    conn.executemany("INSERT OR REPLACE INTO plan_texts (entry_id, language, payload) VALUES (?, ?, ?)",
                     [(entry_id, language, payload) for entry_id, payload in rows])


def plan_translated(conn: sqlite3.Connection, language: str) -> None:
    """Every entry's text is kept in ``language`` now (its whole list, not yet: keep_plan_parts)."""
    conn.execute("INSERT OR REPLACE INTO plan_lists (language, list) VALUES (?, x'')", (language,))


def plan_members_named(conn: sqlite3.Connection, prefix: str) -> list[str]:
    """Everyone on a stored entry whose id starts with ``prefix`` (lower-case hex)."""
    return [r[0] for r in conn.execute(
        "SELECT DISTINCT m.patient_id FROM plan_entries e JOIN plan_members m ON m.entry_id = e.entry_id "
        "WHERE e.entry_id >= ? AND e.entry_id < ?", (prefix, prefix + "g"))]


def plan_entry_members(conn: sqlite3.Connection, patient_ids: Iterable[str]) -> list[str]:
    """Everyone who shares a stored entry (a household call) with one of these patients."""
    return [r[0] for r in conn.execute(
        "SELECT DISTINCT patient_id FROM plan_members WHERE entry_id IN (SELECT entry_id FROM plan_members "
        "WHERE patient_id IN (SELECT value FROM json_each(?)))", (json.dumps(list(patient_ids), ensure_ascii=False),))]


def store_plan(conn: sqlite3.Connection, day: str, stamp: str, wave: int, rows: Iterable[dict],
               replacing: Iterable[str] | None = None, texts: str | None = None) -> None:
    """Store the day's entries: all of them, or (``replacing``) those of these patients only; the rows
    that have a "text" with it, as read in the language ``texts``.

    The caller holds the write transaction in which it read the marked patients; they are all
    re-planned here, so the marks go.
    """
    # a new plan has no texts yet in any language (an entry planned again gets them from the caller,
    # in the languages that have them all); the parts of the whole list its entries are in go with
    # them (triggers: m028)
    if replacing is None:
        conn.execute("DELETE FROM plan_lists")
        conn.execute("DELETE FROM plan_parts")
        conn.execute("DELETE FROM plan_entries")
        conn.execute("DELETE FROM plan_members")
        conn.execute("DELETE FROM plan_texts")
    else:  # those patients' entries only, each by its key
        gone = [r[0] for r in conn.execute(
            "SELECT DISTINCT entry_id FROM plan_members WHERE patient_id IN (SELECT value FROM json_each(?))",
            (json.dumps(list(replacing), ensure_ascii=False),))]
        for table in ("plan_entries", "plan_members", "plan_texts"):
            conn.executemany(f"DELETE FROM {table} WHERE entry_id = ?", [(e,) for e in gone])
    stored = []
    rows = iter(rows)
    while batch := list(itertools.islice(rows, 1_000)):  # as they come: a chain's day is tens of thousands
        conn.executemany(f"INSERT INTO plan_entries (shown, {', '.join(PLAN_COLUMNS)}) "
                         f"VALUES ('', {', '.join('?' * len(PLAN_COLUMNS))})",
                         [tuple(r[c] for c in PLAN_COLUMNS) for r in batch])
        conn.executemany("INSERT INTO plan_members (patient_id, entry_id) VALUES (?, ?)",
                         [(pid, r["entry_id"]) for r in batch for pid in r["members"]])
        if texts:  # the entries' texts in a language, made with them (see store_plan_texts)
            store_plan_texts(conn, texts, [(r["entry_id"], r["text"]) for r in batch if "text" in r])
        stored.extend(r["entry_id"] for r in batch)
    if replacing is None:
        ids = conn.execute("SELECT entry_id FROM plan_entries").fetchall()
        prefixes = shortest_prefixes(full for (full,) in ids)
        conn.executemany("UPDATE plan_entries SET shown = ? WHERE entry_id = ?",
                         [(shown, full) for full, shown in prefixes.items()])
    else:  # a new entry may lengthen its neighbours' prefixes, a gone one shorten them: those only
        _reprefix(conn, set(gone) | set(stored))
        _into_parts(conn, stored)
    conn.execute("DELETE FROM plan_dirty")
    conn.execute("INSERT OR REPLACE INTO plan_meta (id, day, stamp, survey_wave, list) VALUES (1, ?, ?, ?, '')",
                 (day, stamp, wave))


def _into_parts(conn: sqlite3.Connection, entry_ids: Sequence[str]) -> None:
    """Entries stored among the others go into the part of the entry before them in list order (the
    first, into the first part): the parts, in order, still hold the list in order."""
    rows = conn.execute(f"SELECT entry_id, no_window, start, priority, name, channel, patient_id FROM plan_entries "
                        f"WHERE entry_id IN (SELECT value FROM json_each(?)) {_PLAN_ORDER}",
                        (json.dumps(list(entry_ids)),)).fetchall()
    for entry_id, *key in rows:
        before = conn.execute(
            "SELECT part FROM plan_entries INDEXED BY plan_entries_order "
            "WHERE (no_window, start, priority, name, channel, patient_id) < (?, ?, ?, ?, ?, ?) "
            "ORDER BY no_window DESC, start DESC, priority DESC, name DESC, channel DESC, patient_id DESC LIMIT 1",
            key).fetchone()
        part = before[0] if before else conn.execute(
            "SELECT coalesce(min(part), 0) FROM plan_entries WHERE entry_id != ?", (entry_id,)).fetchone()[0]
        conn.execute("UPDATE plan_entries SET part = ? WHERE entry_id = ? AND part != ?", (part, entry_id, part))


def _reprefix(conn: sqlite3.Connection, around: set[str]) -> None:
    """The shown prefix of these entries (those stored) and of their neighbours in id order: a prefix
    depends on the ids just before and after it only (entryids.shortest_prefixes)."""
    def neighbours(full: str) -> tuple[str, str]:
        before = conn.execute("SELECT max(entry_id) FROM plan_entries WHERE entry_id < ?", (full,)).fetchone()[0]
        after = conn.execute("SELECT min(entry_id) FROM plan_entries WHERE entry_id > ?", (full,)).fetchone()[0]
        return before or "", after or ""

    targets = {full for full in around if conn.execute("SELECT 1 FROM plan_entries WHERE entry_id = ?",
                                                        (full,)).fetchone()}
    for full in around:
        targets.update(n for n in neighbours(full) if n)
    conn.executemany("UPDATE plan_entries SET shown = ? WHERE entry_id = ? AND shown != ?",
                     [(p, full, p) for full in targets for p in [prefix_between(*neighbours(full), full)]])


def note_listed(conn: sqlite3.Connection, day: str, reasons: Iterable[tuple[str, str, str]], *,
                new_day: bool = False) -> None:
    """The funnel's history: the reasons (code, patient, ref) just planned onto the list of ``day``,
    each once a day. On a new day's first plan the days before are counted and their notes go."""
    if new_day:
        conn.execute("INSERT OR REPLACE INTO day_counts (day, reason, due) SELECT day, reason, count(*) "
                     "FROM day_listed WHERE day != ? GROUP BY day, reason", (day,))
        conn.execute("DELETE FROM day_listed WHERE day != ?", (day,))
    conn.executemany("INSERT OR IGNORE INTO day_listed (day, reason, patient_id, ref) VALUES (?, ?, ?, ?)",
                     [(day, code, pid, ref) for code, pid, ref in reasons])


def plan_places(conn: sqlite3.Connection, entry_ids: Iterable[str]) -> dict[str, int | None]:
    """Entry id -> its place in its channel's line (None: on the list) of the stored entries named."""
    return dict(conn.execute("SELECT entry_id, place FROM plan_entries WHERE entry_id IN "
                             "(SELECT value FROM json_each(?))", (json.dumps(list(entry_ids)),)))


def plan_lines(conn: sqlite3.Connection) -> dict[str, tuple[int, int]]:
    """Channel -> (entries on the stored list, the last place in its line)."""
    return {ch: (listed, last or 0) for ch, listed, last in conn.execute(
        "SELECT channel, count(*) FILTER (WHERE place IS NULL), max(place) FROM plan_entries GROUP BY channel")}


def plan_waiting(conn: sqlite3.Connection, patient_id: str | None = None,
                 channel: str | None = None) -> list[tuple[str, str, int, str]]:
    """(entry id, channel, place, payload) of the stored entries waiting in line: a patient's (on
    whichever entry they are), or every one of a channel, or all, in the order of their places."""
    sql, params = "SELECT e.entry_id, e.channel, e.place, e.payload FROM plan_entries e WHERE e.place IS NOT NULL", []
    if patient_id is not None:
        sql += " AND e.entry_id IN (SELECT entry_id FROM plan_members WHERE patient_id = ?)"
        params.append(patient_id)
    if channel is not None:
        sql += " AND e.channel = ?"
        params.append(channel)
    return conn.execute(sql + " ORDER BY e.channel, e.place", params).fetchall()


def waiting_counts(conn: sqlite3.Connection) -> dict[str, int]:
    """Channel -> entries of the stored plan waiting in line."""
    return dict(conn.execute("SELECT channel, count(*) FROM plan_entries WHERE place IS NOT NULL GROUP BY channel"))


def day_closed(conn: sqlite3.Connection, list_date: str) -> dict[str, int]:
    """Channel -> entries of one day's list closed so far (a desk's capacity counts them)."""
    return dict(conn.execute("SELECT channel, count(DISTINCT entry_id) FROM contacts WHERE list_date = ? "
                             "AND superseded_by IS NULL GROUP BY channel", (list_date,)))


def listed_today(conn: sqlite3.Connection, day: str) -> set[str]:
    """Patients with a reason on the list of ``day`` so far (they keep their place when it is re-planned)."""
    return {r[0] for r in conn.execute("SELECT DISTINCT patient_id FROM day_listed WHERE day = ?", (day,))}


def note_waiting(conn: sqlite3.Connection, day: str, waiting: Iterable[tuple[str, str, str]],
                 listed: Iterable[tuple[str, str, str]], patients: Iterable[str] | None = None) -> None:
    """Keep the reasons (code, patient, ref) waiting in line since the day they began to; those now on
    the list are kept as listed on ``day`` (protected from lapsing through it); the others of these
    patients (or of everyone) go."""
    waiting, listed = list(waiting), list(listed)
    keep = json.dumps([[pid, code, ref] for code, pid, ref in waiting + listed], ensure_ascii=False)
    scope = "" if patients is None else "AND patient_id IN (SELECT value FROM json_each(:patients))"
    conn.execute(f"DELETE FROM reason_waits WHERE json_array(patient_id, code, ref) NOT IN "
                 f"(SELECT value FROM json_each(:keep)) {scope}",
                 {"keep": keep, "patients": json.dumps(list(patients or []), ensure_ascii=False)})
    conn.executemany("INSERT INTO reason_waits (patient_id, code, ref, since) VALUES (?, ?, ?, ?) "
                     "ON CONFLICT DO UPDATE SET listed_on = NULL", [(pid, code, ref, day) for code, pid, ref in waiting])
    conn.executemany("UPDATE reason_waits SET listed_on = ? WHERE patient_id = ? AND code = ? AND ref = ? "
                     "AND listed_on IS NULL", [(day, pid, code, ref) for code, pid, ref in listed])


def drop_plan(conn: sqlite3.Connection) -> None:
    """Forget the stored plan entirely (it holds names and phones: `patient forget` drops it)."""
    for table in ("plan_meta", "plan_entries", "plan_members", "plan_dirty", "plan_texts", "plan_lists", "plan_parts"):
        conn.execute(f"DELETE FROM {table}")
