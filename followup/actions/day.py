"""Use cases of the day's list: plan it, read it as stored, find an entry in it.

The list is planned by the rules, stored in the database, read by `followup today` (and by any
other face: the same entries, order and ids everywhere).

Planning a 50,000-patient clinic's day takes a second or two; `today` is typed dozens of times a
day. So the plan is stored (tables of migration m007) and `today` reads it. It is never served
stale: SQLite triggers mark a patient whenever one of their staff records (consent, contact,
next contact, phone flag, complaint, survey) or the patient changes, and drop the whole plan
when a setting changes or an import writes. Before reading, `today` re-plans the marked patients
(and whoever shares a household call with them) inside one write transaction. The stamp also
holds the code's version, the files the plan is made of, and which doctors have completed their
survey wave (that changes the order of other patients' survey calls). The plan keeps its sentences
as messages; what each language reads is kept beside it (plan_texts; the whole list, in parts:
plan_parts).
"""

from __future__ import annotations

from dataclasses import dataclass

import datetime as dt
import json
import os
import sqlite3
from typing import Optional

from followup.i18n import N_

# how long `today` waits for the write lock to refresh the stored plan before planning the day
# itself without storing it (while a nightly import holds the lock, for example)
REFRESH_WAIT_MS = 1_000


def policy_of(conn, settings: dict):
    """The contact policy as the rules read it: the settings, and the day followup's lists began."""
    from followup import db, settings as config
    from followup.records import Campaign, Holiday

    texts: dict[str, list[tuple[str, str]]] = {}
    for t in db.occasion_text_rows(conn):
        texts.setdefault(t["occasion"], []).append((str(t["id"]), t["text"]))
    return config.policy(settings, lists_since=db.first_import_day(conn),
                         holidays=tuple(Holiday(h["id"], h["name"], h["month"], h["day"], h["sex"])
                                        for h in db.holiday_rows(conn)),
                         occasion_texts=tuple((k, tuple(v)) for k, v in texts.items()),
                         campaigns=tuple(Campaign(c["id"], c["name"], c["text"], c["channel"], c["audience"],
                                                  dt.date.fromisoformat(c["starts"]), dt.date.fromisoformat(c["ends"]))
                                         for c in db.campaign_rows(conn)))


def day_list(conn, day: dt.date, channel: Optional[str] = None, doctor: Optional[str] = None):
    """Plan the day with the rules (nothing stored). Returns (entries, settings). A doctor is named as
    every command names one: an unknown or ambiguous name is an error that lists the closest."""
    from followup import db, rules
    from followup.actions.lookup import known_doctor

    doctor = known_doctor(conn, doctor)
    settings = db.get_settings(conn)
    policy = policy_of(conn, settings)
    entries = rules.plan_day(db.iter_records(conn, day, rules.candidate_windows(day, policy)), day, policy)
    if policy.capacity:  # what the desks' list holds, then the channel's or doctor's part of it
        entries = within_capacity(conn, day, entries, policy)[0]
    return rules.filtered(entries, channel=channel, doctor=doctor), settings


def entries_named(conn, day: dt.date, given: str):
    """The day's entries whose id starts with ``given``, without planning the whole day.

    An entry id is a hash of (day, patient, channel), so only the patients whose hash fits (and
    their households, which may share the call) are planned: found in the stored plan when it is
    the day's, else among all the day's candidates. Returns (matches, entries, settings).
    """
    from followup import db, rules

    settings = db.get_settings(conn)
    given = given.strip().lower()
    if len(given) < rules.ENTRY_ID_LENGTH:
        return [], [], settings
    policy = policy_of(conn, settings)
    windows = rules.candidate_windows(day, policy)
    hits = _stored_hits(conn, day, given, policy)
    if hits is None:  # no stored plan for the day: every candidate whose hash fits
        hits = {pid for pid in db.candidate_patients(conn, windows) for ch in rules.CHANNELS
                if rules.entry_id(day, pid, ch).startswith(given)}
    if not hits:
        return [], [], settings
    pids = sorted(hits | set(db.household_members(conn, hits)))
    entries = rules.plan_day(db.load_records(conn, day, pids, windows), day, policy)
    return rules.find_entry(entries, given), entries, settings


def _stored_hits(conn, day: dt.date, given: str, policy) -> set[str] | None:
    """With the day's plan stored (for this day and stamp): the patients of its entries whose id fits,
    and the patients marked since whose id would fit; the rest of the plan is current by construction.
    None when no such plan is stored."""
    from followup import db, rules

    state = db.plan_state(conn)
    if state is None or state[0] != day.isoformat() or state[1] != _stamp(conn, policy.survey_wave):
        return None
    marked = {p for p in db.plan_dirty(conn) for ch in rules.CHANNELS if rules.entry_id(day, p, ch).startswith(given)}
    return set(db.plan_members_named(conn, given)) | marked


def _reasons_data(reasons) -> list[dict]:
    return [{"code": r.code, "text": r.text.data(), "doctor": r.doctor, "due": r.due.isoformat(), "ref": r.ref,
             "evidence": r.evidence} for r in reasons]


def entry_data(e, settings: dict) -> dict:
    """An entry as stored: its sentences as messages (data, the same in every language); the SMS or
    e-mail text in the clinic's language (the `language` setting), since it goes to the patient."""
    from followup import i18n, rules, settings as config

    with i18n.using(settings.get("language") or "en"):
        message = rules.message(e, config.templates(settings), config.clinic_name(settings))
    return {
        "patient_id": e.patient.patient_id, "patient": e.patient.name,
        "phone": e.address, "channel": e.channel, "section": e.section,
        "window": str(e.window) if e.window else None,
        "reasons": _reasons_data(e.reasons),
        "warnings": [w.data() for w in e.warnings],
        "household": [{"patient_id": m.patient.patient_id, "patient": m.patient.name,
                       "reasons": _reasons_data(m.reasons), "warnings": [w.data() for w in m.warnings]}
                      for m in e.household],
        "message": message,
    }


def rendered(d: dict) -> dict:
    """A stored entry (``entry_data``) as the JSON contract of `followup today` has it: its sentences
    (reasons' texts, warnings) in the reader's language. Changes ``d`` in place."""
    from followup.i18n import render

    for who in (d, *d["household"]):
        for r in who["reasons"]:
            r["text"] = render(r["text"])
        who["warnings"] = [render(w) for w in who["warnings"]]
    return d


def entry_json(e, settings: dict, shown_id: str) -> dict:
    """An entry as the JSON contract of `followup today` has it."""
    return rendered({"entry_id": shown_id, **entry_data(e, settings)})


def with_id(shown_id: str, payload: str) -> str:
    """The stored payload with the id shown put first, as `entry_json` orders the keys (see db.plan_json)."""
    return f'{{"entry_id": "{shown_id}", {payload[1:]}'


# what the stored plan's texts and decisions are made of, beyond the rows the triggers watch: a
# change to any of these files (an upgrade, a catalogue fix) makes the stored plan stale
_PLAN_SOURCES = ("records.py", "rules.py", "settings.py", "i18n.py", "entryids.py", os.path.join("actions", "day.py"),
                 os.path.join("db", "loading.py"), os.path.join("locale", "ru", "LC_MESSAGES", "followup.mo"))


def _stamp(conn, wave: int) -> str:
    """What the stored plan depends on beyond the rows the triggers watch: the code's version, its
    rules and catalogue (each file's size and time), and which doctors have completed their survey
    wave. Not the reader's language: the plan holds its sentences as messages, shown in each desk's
    own language when read."""
    from followup import __version__, db

    package = os.path.dirname(os.path.dirname(__file__))
    files = []
    for name in _PLAN_SOURCES:
        st = os.stat(os.path.join(package, name))
        files.append([st.st_mtime_ns, st.st_size])
    return json.dumps([__version__, files, db.completed_waves(conn, wave)], ensure_ascii=False)


def reason_counts(entries) -> dict[str, int]:
    """Reason code -> how many of the entries' reasons (household members' too) have it."""
    counts: dict[str, int] = {}
    for e in entries:
        for r in (*e.reasons, *(x for m in e.household for x in m.reasons)):
            counts[r.code] = counts.get(r.code, 0) + 1
    return counts


def _listed(entries):
    """(reason code, patient, ref) of every reason on the entries, household members' too."""
    for e in entries:
        for who in (e, *e.household):
            for r in who.reasons:
                yield r.code, who.patient.patient_id, r.ref


def _rows(entries, settings: dict, places: dict | None = None, language: str | None = None, *, whole: bool = True):
    """The entries as the stored plan keeps them, one at a time (a chain's day is tens of thousands:
    store_plan writes them as they come); with a ``language``, those on the list with their texts in it
    (as _translate keeps them: made here from the entry in hand, not read back from its payload). The
    ``whole`` day's entries come in list order, and go into its parts in turn; entries planned again
    among the others are put into theirs by store_plan."""
    from followup import db, i18n, rules

    for i, e in enumerate(entries):
        no_window, start, priority, name, channel, patient_id = rules.list_order(e)
        doctors, names, digits = rules.filter_keys(e)
        data = entry_data(e, settings)
        place = (places or {}).get(e.entry_id)
        # (the payload without its id: the prefix shown depends on the whole list)
        row = {"entry_id": e.entry_id, "patient_id": patient_id, "channel": channel, "no_window": no_window,
               "start": start, "priority": priority, "name": name, "payload": json.dumps(data, ensure_ascii=False),
               "members": [patient_id] + [m.patient.patient_id for m in e.household],
               "place": place, "doctors": doctors, "names": names, "digits": digits,
               "part": db.part_of(i) if whole else -1}
        if language is not None and place is None:
            with i18n.using(language):
                row["text"] = _json_text(rendered(data))
        yield row


def within_capacity(conn, day: dt.date, entries, policy):
    """The day's entries split as the desks' capacity allows (rules.within_capacity): those on the list
    and those waiting in line. Whoever was on the day's list before keeps their place, and what the
    desks closed today counts against the capacity."""
    from followup import db, rules

    if not policy.capacity:
        return list(entries), []
    return rules.within_capacity(entries, day, policy, first=db.listed_today(conn, day.isoformat()),
                                 used=db.day_closed(conn, day.isoformat()))


def _refresh(conn, day: dt.date, language: str | None = None) -> list[str] | None:
    """Inside a write transaction: bring the stored plan up to date for ``day``. Returns the entries
    stored anew when some patients were planned again (None: the whole day was, its texts kept in
    ``language`` if given)."""
    from followup import db, rules

    settings = db.get_settings(conn)
    policy = policy_of(conn, settings)
    stamp = _stamp(conn, policy.survey_wave)
    state = db.plan_state(conn)
    windows = rules.candidate_windows(day, policy)
    if state is None or state[0] != day.isoformat() or state[1] != stamp:
        new_day = state is None or state[0] != day.isoformat()
        if new_day:  # the day's list is made afresh: nobody was on it yet
            db.note_listed(conn, day.isoformat(), (), new_day=True)
        entries = rules.plan_day(db.iter_records(conn, day, windows), day, policy)
        listed, waiting = within_capacity(conn, day, entries, policy)
        places = {w.entry.entry_id: w.place for w in waiting}
        db.store_plan(conn, day.isoformat(), stamp, policy.survey_wave, _rows(entries, settings, places, language),
                      texts=language)
        if language is not None:
            db.plan_translated(conn, language)
        db.note_listed(conn, day.isoformat(), _listed(listed))
        db.note_waiting(conn, day.isoformat(), _listed(w.entry for w in waiting), _listed(listed))
        return None
    dirty = db.plan_dirty(conn)
    if not dirty:
        return []
    # the marked patients, their households (a member may now share their call or stop sharing
    # it) and whoever shares a stored entry with them are planned again, together
    affected = sorted(set(dirty) | set(db.household_members(conn, dirty)) | set(db.plan_entry_members(conn, dirty)))
    entries = rules.plan_day(db.load_records(conn, day, affected, windows), day, policy)
    places = _places_kept(conn, entries, policy)
    db.store_plan(conn, day.isoformat(), stamp, policy.survey_wave, _rows(entries, settings, places, whole=False),
                  replacing=affected)
    listed = [e for e in entries if places.get(e.entry_id) is None]
    db.note_listed(conn, day.isoformat(), _listed(listed))
    db.note_waiting(conn, day.isoformat(), _listed(e for e in entries if places.get(e.entry_id) is not None),
                    _listed(listed), patients=affected)
    return [e.entry_id for e in entries]


def _places_kept(conn, entries, policy) -> dict:
    """Entries planned again during the day keep where they were: on the list, or their place in line.
    A new one (a reason that came up today) goes on the list while its channel has room, else to the
    end of its line."""
    from followup import db

    if not policy.capacity:
        return {}
    capacity = dict(policy.capacity)
    old = db.plan_places(conn, [e.entry_id for e in entries])
    lines = db.plan_lines(conn)
    closed = db.day_closed(conn, db.plan_state(conn)[0])
    places = {}
    for e in entries:
        if e.entry_id in old or e.channel not in capacity or e.section != "care":
            places[e.entry_id] = old.get(e.entry_id)
            continue
        listed, last = lines.get(e.channel, (0, 0))
        if listed + closed.get(e.channel, 0) < capacity[e.channel]:
            lines[e.channel] = (listed + 1, last)
        else:
            places[e.entry_id] = last + 1
            lines[e.channel] = (listed, last + 1)
    return places


def _fresh(conn, day: dt.date, language: str) -> bool:
    from followup import db

    state = db.plan_state(conn)
    return (state is not None and state[0] == day.isoformat() and not db.plan_dirty(conn)
            and state[1] == _stamp(conn, state[2]) and db.plan_has_list(conn, language))


def _translate(conn, language: str, entry_ids: list[str] | None = None) -> None:
    """Inside the write transaction: keep the texts of the entries not read in ``language`` yet (of
    these entries, if named), as JSON that is safe to show (text.visible: what a terminal would act on
    is written as its \\u code, which JSON reads back as the character itself), so that the list is
    printed as it is read."""
    from followup import db, i18n

    missing = db.plan_untranslated(conn, language, entry_ids)
    with i18n.using(language):
        for start in range(0, len(missing), TEXTS_AT_ONCE):  # the payloads of a few at a time in memory
            db.store_plan_texts(conn, language, [(entry_id, _json_text(rendered(json.loads(payload))))
                                                 for entry_id, payload in db.plan_payloads(
                                                     conn, missing[start:start + TEXTS_AT_ONCE])])
        db.plan_translated(conn, language)


TEXTS_AT_ONCE = 2_000


def _json_text(d: dict) -> str:
    """An entry as the stored list keeps it: JSON, safe to show as it is (see _translate)."""
    from followup.text import visible

    return visible(json.dumps(d, ensure_ascii=False))


def stored_day(conn, day: dt.date, channel: Optional[str] = None, *, today: dt.date, as_json: bool = False,
               doctor: Optional[str] = None, find: Optional[str] = None):
    """The day's entries as (id shown, JSON payload without the id) in list order, or (``as_json``)
    the whole list as `today --format json` prints it, in UTF-8 bytes; their sentences in the
    reader's language (kept, once read in it, so that the next read in that language is a read).
    The JSON is safe to show as it is (text.visible applied when it was kept).
    Filtered (a channel; a doctor, named as every command names one; a text to find in a name, a
    card number or a phone) as rules.plan_day and rules.found filter the day's list: a read too.

    Read from the stored plan when it is current (a read transaction: no lock taken); else the
    plan is brought up to date and stored first. Only the calendar's ``today`` is stored,
    whatever the desk's language: another day (`--date`, a look at tomorrow's list) is
    planned here and nothing stored, so that it never displaces the list the desks are
    working through. So is the day when the write lock is not to be had within REFRESH_WAIT_MS
    (an import is writing) or the file is read-only.
    """
    from followup import db, i18n

    doctor, filters = _filters(conn, channel, doctor, find)
    language = i18n.language()
    read = db.plan_json if as_json else db.plan_entries
    whole = as_json and filters == db.Filters()  # the list kept ready as one value, once read
    assembled = None
    with db.read_snapshot(conn):
        if _fresh(conn, day, language):
            if not whole:
                return read(conn, language, filters)
            out, made = db.plan_list(conn, language)
            if not made:
                return out
            assembled = (out, made, conn.execute("PRAGMA data_version").fetchone()[0])
    if assembled is not None:  # parts put together from the entries: kept for the next read, if nobody wrote since
        out, made, version = assembled
        try:
            with db.busy_timeout(conn, 0), db.write_transaction(conn):
                if conn.execute("PRAGMA data_version").fetchone()[0] == version:
                    db.keep_plan_parts(conn, language, made)
        except sqlite3.OperationalError as exc:
            if not db.is_locked_or_readonly(exc):
                raise
        return out
    if day != today:
        return _unstored(conn, day, channel, doctor, find, as_json=as_json)
    try:
        with db.busy_timeout(conn, REFRESH_WAIT_MS), db.write_transaction(conn):
            refresh(conn, day, language)
            if not whole:
                return read(conn, language, filters)
            out, made = db.plan_list(conn, language)
            db.keep_plan_parts(conn, language, made)
            return out
    except sqlite3.OperationalError as exc:
        if not db.is_locked_or_readonly(exc):
            raise
    return _unstored(conn, day, channel, doctor, find, as_json=as_json)


def day_page(conn, day: dt.date, channel: Optional[str] = None, *, today: dt.date, page: int, size: int,
             doctor: Optional[str] = None, find: Optional[str] = None) -> tuple[list, int, int]:
    """One page of the day's list as a person reads it: (the page's entries as `stored_day` gives them,
    how many the list (filtered) holds, the place of the page's first entry). A page past the end is
    the last one. From the stored plan, only the page's entries are read."""
    from followup import db, i18n

    def first_of(total: int) -> int:
        return min((page - 1) * size, max(total - 1, 0) // size * size)

    doctor, filters = _filters(conn, channel, doctor, find)
    language = i18n.language()
    for _ in range(3):  # (a desk may record something between the refresh and the read: again, then)
        if not ensure_stored(conn, day, today=today):
            break
        with db.read_snapshot(conn):
            if _fresh(conn, day, language):
                total = db.plan_count(conn, filters)
                first = first_of(total)
                return db.plan_entries(conn, language, filters, (first, size)), total, first
    pairs = _unstored(conn, day, channel, doctor, find, as_json=False)
    first = first_of(len(pairs))
    return pairs[first:first + size], len(pairs), first


def entry_by_id(conn, day: dt.date, shown: str, *, today: dt.date) -> Optional[dict]:
    """The patient and channel of the stored list's entry shown as ``shown`` (None: not on it now)."""
    from followup import db

    if not ensure_stored(conn, day, today=today):
        return None
    with db.read_snapshot(conn):
        row = db.plan_entry_shown(conn, shown.strip().lower())
    return {"patient_id": row[0], "channel": row[1]} if row else None


def entry_patients(conn, day: dt.date, given: str) -> list[str]:
    """The card numbers an entry of the day's list names, open or closed that day: the patient, then the
    household members on the call (how a page names a patient without a card number in its address)."""
    from followup import db
    from followup.errors import NotFound

    given = given.strip().lower()
    matches = entries_named(conn, day, given)[0]
    if len(matches) == 1:
        e = matches[0]
        return [e.patient.patient_id, *(m.patient.patient_id for m in e.household)]
    closed = db.closed_entry_patients(conn, given, day.isoformat()) if not matches else []
    if len(closed) == 1:
        return closed[0]
    raise NotFound(N_("no entry {entry!r} on the list of {day} (see followup today)"), entry=given, day=day)


def _filters(conn, channel: Optional[str], doctor: Optional[str], find: Optional[str]):
    """(the doctor as the imports name them, the stored list's filters): a doctor named as every
    command names one (an unknown or ambiguous name is an error that lists the closest)."""
    from followup import db, rules
    from followup.actions.lookup import known_doctor
    from followup.text import fold

    doctor = known_doctor(conn, doctor)
    return doctor, db.Filters(channel, fold(doctor) if doctor else None, rules.find_terms(find) if find else None)


def ensure_stored(conn, day: dt.date, *, today: dt.date) -> bool:
    """The stored plan brought up to date, as `stored_day` does, without reading the list: for the use
    cases that read what the plan keeps beside it (places in line, the day's counts). False when it is
    not the day's (another day; the write lock not to be had; a read-only file)."""
    from followup import db, i18n

    language = i18n.language()
    with db.read_snapshot(conn):
        if _fresh(conn, day, language):
            return True
    if day != today:
        return False
    try:
        with db.busy_timeout(conn, REFRESH_WAIT_MS), db.write_transaction(conn):
            refresh(conn, day, language)
        return True
    except sqlite3.OperationalError as exc:
        if not db.is_locked_or_readonly(exc):
            raise
    return False


def refresh(conn, day: dt.date, language: str) -> None:
    """Inside a write transaction: the stored plan brought up to date for ``day``, its texts kept in
    ``language``, and in every language whose texts were all kept (the entries planned again only)."""
    from followup import db

    new = _refresh(conn, day, language)
    if new:
        for other in db.plan_languages(conn):
            _translate(conn, other, new)
    if not db.plan_has_list(conn, language):
        _translate(conn, language)


def _unstored(conn, day: dt.date, channel: Optional[str], doctor: Optional[str], find: Optional[str], *,
              as_json: bool):
    """The day planned here, nothing stored: what `stored_day` returns, in the same shapes."""
    from followup import db, rules
    from followup.entryids import shortest_prefixes

    with db.read_snapshot(conn):  # one snapshot, whoever commits meanwhile
        entries, settings = day_list(conn, day)
    shown = shortest_prefixes(e.entry_id for e in entries)  # the ids as the whole list shows them
    entries = rules.filtered(entries, channel=channel, doctor=doctor)
    pairs = [(shown[e.entry_id], _json_text(rendered(entry_data(e, settings))))
             for e in entries if not find or rules.found(e, find)]
    if as_json:
        return ("[" + ",\n".join(with_id(s, p) for s, p in pairs) + "]").encode()
    return pairs


def refresh_after_import(conn, *, today: dt.date) -> None:
    """After an import wrote something: plan and store today's list now, so that the morning's first
    `today` is a read. A failure leaves the import as it stands (`today` then plans the day itself)."""
    try:
        ensure_stored(conn, today, today=today)
    except sqlite3.Error:
        pass


@dataclass(frozen=True)
class Progress:
    """How far the desks are with a day's list."""

    day: dt.date
    done: int                # entries closed (an outcome recorded)
    left: int                # entries still on the list
    outcomes: dict           # outcome -> entries closed with it
    waiting: int = 0         # entries waiting in line for the next days (a desk's capacity)

    @property
    def total(self) -> int:
        return self.done + self.left

    def data(self) -> dict:
        return {"day": self.day.isoformat(), "total": self.total, "done": self.done, "left": self.left,
                "waiting": self.waiting, "outcomes": dict(sorted(self.outcomes.items()))}


def day_progress(conn, day: dt.date, left: int, channel: Optional[str] = None, *, today: dt.date) -> Progress:
    """The day's progress, given how many entries are left on its list (as the caller read it), and
    how many wait in line beyond it (today's stored plan knows; another day's is not kept)."""
    from followup import db

    outcomes = db.day_outcomes(conn, day.isoformat(), channel)
    waiting = 0
    if day == today:
        with db.read_snapshot(conn):
            state = db.plan_state(conn)
            if state is not None and state[0] == day.isoformat():
                counts = db.waiting_counts(conn)
                waiting = counts.get(channel, 0) if channel else sum(counts.values())
    return Progress(day, sum(outcomes.values()), left, outcomes, waiting)


@dataclass(frozen=True)
class Place:
    """Where one of a patient's entries waits: its channel's line, about which place, and the day it
    should come to the list if the desks do their capacity each day."""

    entry_id: str
    channel: str
    place: int
    expected: dt.date
    reasons: tuple        # (code, ref) of the reasons on that entry


def waiting_places(conn, patient_id: str, day: dt.date) -> list[Place]:
    """A patient's entries waiting in line on ``day`` (today's stored plan): none for another day, or
    when the desks have no capacity set."""
    from followup import db, rules

    with db.read_snapshot(conn):
        state = db.plan_state(conn)
        if state is None or state[0] != day.isoformat():
            return []
        capacity = dict(policy_of(conn, db.get_settings(conn)).capacity)
        rows = db.plan_waiting(conn, patient_id)
    places = []
    for entry_id, channel, place, payload in rows:
        if channel not in capacity:
            continue
        d = json.loads(payload)
        reasons = tuple((r["code"], r["ref"]) for who in (d, *d["household"]) for r in who["reasons"])
        places.append(Place(entry_id, channel, place, rules.expected_day(day, place, capacity[channel]), reasons))
    return places
