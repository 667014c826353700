"""Use cases of the receptionist's work: consents, next contacts, outcomes, why, the manager's
flagged list, the contact log."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Optional, Sequence

from followup.errors import Conflict, NotFound, UsageError
from followup.i18n import N_, msg
from followup.actions.lookup import known_patient
from followup.records import HOW, understood
from followup.actions.day import policy_of


# ---------------------------------------------------------------------------
# Consent


@dataclass(frozen=True)
class ConsentRecorded:
    patient_id: str
    purposes: tuple[str, ...]
    channels: tuple[str, ...]
    granted: bool
    by: str


def record_consent(conn, patient: str, *, purposes: Sequence[str], channels: Sequence[str], granted: bool = True,
                   address: Optional[str] = None, window: Optional[str] = None, days: Optional[str] = None,
                   how: str = "in-person", note: Optional[str] = None, by: str, now: dt.datetime
                   ) -> ConsentRecorded:
    """A grant (or a withdrawal) for each purpose and channel: new records, never an edit."""
    from followup import db
    from followup.records import format_days, parse_days, parse_window

    from followup.records import CHANNELS, PURPOSES

    purposes = [_code(p, PURPOSES, "purpose") for p in purposes]
    channels = [_code(c, CHANNELS, "channel") for c in channels]
    if not purposes or not channels:
        raise UsageError(N_("a consent names at least one purpose and one channel"))
    how = understood(how, HOW, "how") or how
    if how not in HOW:
        raise UsageError(N_("--how must be in-person, phone or form, not {value!r}"), value=how)
    win = str(parse_window(window)) if window else None
    day_set = format_days(parse_days(days)) if days else None
    if address:
        if "@" in address:
            address = address.strip()
        else:
            from followup.phones import normalize_phone

            address, valid = normalize_phone(address)
            if not valid:
                raise UsageError(N_("--phone is not a valid phone number"))
    pid = known_patient(conn, patient)
    at = _stamp(now)
    db.add_consents(conn, [{"patient_id": pid, "purpose": pu, "channel": ch, "granted": 1 if granted else 0,
                            "address": address or None, "window": win, "days": day_set, "how": how, "note": note,
                            "source": "followup", "recorded_by": by, "recorded_at": at}
                           for pu in purposes for ch in channels])
    return ConsentRecorded(pid, tuple(purposes), tuple(channels), granted, by)


@dataclass(frozen=True)
class ConsentState:
    patient_id: str
    current: list[dict]      # the latest record per (purpose, channel), in the order first recorded
    history: list[dict]      # every record, oldest first


def consent_state(conn, patient: str) -> ConsentState:
    """A patient's consents now and their whole history ('granted' as true/false)."""
    from followup import db

    pid = known_patient(conn, patient)
    history = [dict(h, granted=bool(h["granted"])) for h in db.consent_history(conn, pid)]
    current: dict[tuple, dict] = {}
    for h in history:
        current[(h["purpose"], h["channel"])] = h
    return ConsentState(pid, list(current.values()), history)


# ---------------------------------------------------------------------------
# Next contact


@dataclass(frozen=True)
class NextAgreed:
    id: int
    patient_id: str
    due: dt.date
    by: str


def agree_next_contact(conn, patient: str, *, on: dt.date, reason: str, channel: Optional[str] = None,
                       doctor: Optional[str] = None, consent: bool = False, by: str, now: dt.datetime
                       ) -> NextAgreed:
    """The date and form of the next contact agreed with the patient.

    Checked before anything is written: the date is not in the past, the doctor is one the imports
    know (stored by full name), and the patient has a consent to agreed contacts on that channel (any
    channel when none is named) — else nothing is written and the refusal names the consent command.
    With ``consent``, the patient agrees to such contacts on the spot: the consent is recorded too
    (on the channel named, else by call), in the same transaction.
    """
    from followup import db
    from followup.actions.lookup import known_doctor
    from followup.records import CHANNELS

    channel = (understood(channel, CHANNELS, "channel") or channel) if channel else channel
    if channel and channel not in CHANNELS:
        raise UsageError(N_("unknown channel {value!r} (one of {allowed})"), value=channel, allowed=", ".join(CHANNELS))
    if not reason.strip():
        raise UsageError(N_("--reason must say what the contact is about"))
    if on < now.date():
        raise UsageError(N_("the agreed date {date} is in the past"), date=on)
    doctor = known_doctor(conn, doctor)
    pid = known_patient(conn, patient)
    granted = {ch for (_, purpose, ch), state in db.consent_states(conn, [pid]).items()
               if purpose == "agreed" and state["granted"]}
    if not consent and not (granted if channel is None else channel in granted):
        raise Conflict(N_("patient {id} has no consent to agreed contacts{by}; record it first (followup consent "
                          "{id} --purpose agreed --channel CHANNEL), or add --consent if the patient agrees now"),
                       id=pid, by=msg(N_(" by {channel}"), channel=msg(channel)) if channel else "")
    at = _stamp(now)
    grant = [] if not consent else [{
        "patient_id": pid, "purpose": "agreed", "channel": channel or "call", "granted": 1, "address": None,
        "window": None, "days": None, "how": "in-person", "note": None, "source": "followup", "recorded_by": by,
        "recorded_at": at}]
    nid = db.add_next_contact(conn, {"patient_id": pid, "due": on.isoformat(), "reason": reason.strip(),
                                     "channel": channel, "doctor": doctor, "recorded_by": by, "recorded_at": at},
                              consents=grant)
    return NextAgreed(nid, pid, on, by)


# ---------------------------------------------------------------------------
# Outcomes


@dataclass(frozen=True)
class OutcomeRecorded:
    outcome: str
    entry: str               # the id as the list shows it
    patient_id: str
    household: int           # others on the same call
    step: str                # what happens next, as a sentence in the chosen language


def _checked_outcome(outcome: str, *, day: dt.date, callback: Optional[dt.date], now: dt.datetime) -> str:
    """The outcome's code (any word for it), checked with its call-back day and the list's day."""
    from followup.records import OUTCOMES

    outcome = understood(outcome, OUTCOMES, "outcome") or outcome
    if outcome not in OUTCOMES:
        raise UsageError(N_("unknown outcome {value!r} (one of {allowed})"), value=outcome, allowed=", ".join(OUTCOMES))
    if day > now.date():
        raise UsageError(N_("the list of {day} is in the future: an outcome is recorded on its day or later"),
                         day=day)
    if outcome == "call-back" and not callback:
        raise UsageError(N_("call-back needs --on DATE"))
    if callback and outcome != "call-back":
        raise UsageError(N_("--on goes with --outcome call-back"))
    if callback and callback <= day:
        raise UsageError(N_("--on must be a later day than the list's"))
    return outcome


def record_outcome(conn, entry: str, outcome: str, *, day: dt.date, callback: Optional[dt.date] = None,
                   note: Optional[str] = None, by: str, now: dt.datetime) -> OutcomeRecorded:
    """The outcome of a contact on the list of ``day``, and its next step (rules.next_steps), in one
    transaction. An entry already closed that day is refused."""
    from followup import db, rules
    from followup.actions.day import entries_named

    outcome = _checked_outcome(outcome, day=day, callback=callback, now=now)
    matches, entries, settings = _by_card(conn, day, entry) or entries_named(conn, day, entry)
    if len(matches) > 1:
        raise UsageError(N_("entry {entry!r} names {n} entries; give more of its characters"), entry=entry,
                         n=len(matches))
    if not matches:
        given = entry.strip().lower()
        if len(given) >= rules.ENTRY_ID_LENGTH and db.closed_entry(conn, given, day.isoformat()):
            raise Conflict(N_("entry {entry} of {day} is already closed (see followup log)"), entry=entry.strip(),
                           day=day)
        raise NotFound(N_("no entry {entry!r} on the list of {day} (see followup today)"), entry=entry, day=day)
    found = matches[0]
    steps = rules.next_steps(found, outcome, day, policy_of(conn, settings), by=by, at=_stamp(now),
                             callback=callback, note=note)
    db.record_contact(conn, steps.contacts, withdrawals=steps.withdrawals, phone_flags=steps.phone_flags,
                      entry_id=found.entry_id[:16], list_date=day.isoformat())
    return OutcomeRecorded(outcome, rules.short_ids(entries)[found.entry_id], found.patient.patient_id,
                           len(found.household), steps.text)


def record_all(conn, channel: Optional[str], outcome: str, *, day: dt.date, note: Optional[str] = None, by: str,
               now: dt.datetime) -> int:
    """Close every open entry of a written channel of the day as 'sent' (the clinic sent them by hand,
    through a bulk-SMS site): each in its own transaction, an entry closed meanwhile left alone. How many."""
    from followup import db, rules
    from followup.actions.day import day_list, policy_of
    from followup.errors import Conflict
    from followup.records import understood

    outcome = understood(outcome, ("sent",), "outcome") or outcome
    if outcome != "sent" or channel not in ("sms", "email", "messenger"):
        raise UsageError(N_("--all closes the written channels' entries as sent: --all --channel sms|email|messenger "
                            "--outcome sent"))
    entries, settings = day_list(conn, day, channel)
    policy = policy_of(conn, settings)
    closed = 0
    for e in entries:
        steps = rules.next_steps(e, outcome, day, policy, by=by, at=_stamp(now), note=note)
        try:
            db.record_contact(conn, steps.contacts, entry_id=e.entry_id[:16], list_date=day.isoformat())
        except Conflict:
            continue
        closed += 1
    return closed


def correct_outcome(conn, entry: str, outcome: str, *, day: dt.date, callback: Optional[dt.date] = None,
                    note: Optional[str] = None, by: str, now: dt.datetime) -> OutcomeRecorded:
    """Replace the outcome recorded for an entry of the list of ``day`` (named by its id as shown, or
    the patient's card number): the earlier record stays in the history marked as corrected (by whom,
    when); what it did is undone as new records (a withdrawal by "declined" is granted back as it
    was, a wrong-number flag is lifted, closed reasons reopen, an attempt no longer counts); then the
    corrected outcome's own next step applies. All in one transaction."""
    from followup import db, rules
    from followup.entryids import CHANNELS, entry_id
    from followup.records import Entry, Patient, Reason

    outcome = _checked_outcome(outcome, day=day, callback=callback, now=now)
    given = entry.strip().lower()
    old = db.contacts_of_entry(conn, given, day.isoformat()) if len(given) >= rules.ENTRY_ID_LENGTH else []
    if not old and db.patient_exists(conn, entry.strip()):  # a card number: its entry closed that day
        for channel in CHANNELS:
            old = db.contacts_of_entry(conn, entry_id(day, entry.strip(), channel)[:16], day.isoformat())
            if old:
                break
    if not old:
        raise NotFound(N_("nothing recorded for entry {entry!r} on the list of {day} to correct (see followup log "
                          "--date)"), entry=entry.strip(), day=day)
    if len({c["entry_id"] for c in old}) > 1:
        raise UsageError(N_("entry {entry!r} names {n} entries; give more of its characters"), entry=entry,
                         n=len({c["entry_id"] for c in old}))
    if old[0]["outcome"] == outcome:
        raise Conflict(N_("entry {entry} of {day} is already recorded as {outcome}"), entry=entry.strip(), day=day,
                       outcome=msg(outcome))
    main = db.get_patient(conn, old[0]["patient_id"])

    def as_entry(c: dict, patient: dict, address=None, household=()) -> Entry:
        reasons = tuple(Reason(code, ref, msg(code), None, day, {}) for code, ref in c["reasons"])
        return Entry(c["entry_id"], Patient(patient["patient_id"], patient["full_name"] or ""), c["channel"], address,
                     None, reasons, (), household)

    members = tuple(as_entry(c, db.get_patient(conn, c["patient_id"])) for c in old[1:])
    address = main["phone"] if old[0]["channel"] in ("call", "sms", "messenger") else main["email"]
    found = as_entry(old[0], main, address, members)
    settings = db.get_settings(conn)
    steps = rules.next_steps(found, outcome, day, policy_of(conn, settings), by=by, at=_stamp(now),
                             callback=callback, note=note)
    db.correct_contact(conn, old, steps.contacts, withdrawals=steps.withdrawals, phone_flags=steps.phone_flags,
                       by=by, at=_stamp(now), day=now.date().isoformat())
    return OutcomeRecorded(outcome, old[0]["entry_id"][:rules.ENTRY_ID_LENGTH], main["patient_id"], len(members),
                           steps.text)


def _by_card(conn, day: dt.date, given: str):
    """A card number names the patient's open entry of the day, when there is exactly one: (matches,
    entries, settings) as entries_named gives them; None when ``given`` is no card number or the
    patient has no open entry (then it is read as an entry id)."""
    from followup import db
    from followup.actions.day import entries_named
    from followup.entryids import CHANNELS, entry_id

    pid = given.strip()
    if not pid or not db.patient_exists(conn, pid):
        return None
    found, entries, settings = [], [], None
    for channel in CHANNELS:
        matches, listed, settings = entries_named(conn, day, entry_id(day, pid, channel))
        if matches:
            found += matches
            entries = listed
    if len(found) > 1:
        from followup.entryids import shortest_prefixes

        shown = shortest_prefixes(e.entry_id for e in entries)
        raise UsageError(N_("patient {id} has {n} open entries on the list of {day} ({entries}); name the entry"),
                         id=pid, n=len(found), day=day, entries=", ".join(shown.get(e.entry_id, e.entry_id[:6])
                                                                           for e in found))
    return (found, entries, settings) if found else None


# ---------------------------------------------------------------------------
# Why, the manager's list, the log


@dataclass(frozen=True)
class Explanation:
    patient: object          # records.Patient
    findings: list           # records.Finding, one a rule and channel


def explain(conn, patient: str, *, day: dt.date, today: Optional[dt.date] = None) -> Explanation:
    """For every rule: whether it fires for this patient on ``day``, and if not, why not. The patient
    is named by card number, or by an entry id of the day's list. On ``today``, with the desks'
    capacity set, a due reason the day's list has no room for is "waiting", with its place in line."""
    from dataclasses import replace

    from followup import db, rules
    from followup.i18n import N_, msg

    given = patient.strip()
    if not db.patient_exists(conn, given) and len(given) >= rules.ENTRY_ID_LENGTH:
        from followup.actions.day import entries_named

        matches = entries_named(conn, day, given)[0]  # an entry id of the day names its patient
        if len(matches) == 1:
            given = matches[0].patient.patient_id
    pid = known_patient(conn, given)
    policy = policy_of(conn, db.get_settings(conn))
    [records] = db.load_records(conn, day, [pid])
    findings = rules.assess(records, day, policy)
    if policy.capacity and day == today:
        from followup.actions.day import ensure_stored, waiting_places

        ensure_stored(conn, day, today=today)  # the day's list as the desks have it (a read when current)
        for place in waiting_places(conn, pid, day):
            findings = [replace(f, status="waiting", text=msg(
                N_("{text} - waiting: about number {place} in line ({channel}), expected around {date}"), text=f.text,
                place=place.place, channel=msg(place.channel), date=place.expected))
                if f.status == "due" and f.reason and (f.reason.code, f.reason.ref) in place.reasons else f
                for f in findings]
    return Explanation(records.patient, findings)


def flagged(conn, *, day: dt.date) -> list:
    """(patient, finding) for the reasons dropped after the unanswered-attempt limit, for the manager."""
    from followup import db, rules

    policy = policy_of(conn, db.get_settings(conn))
    return rules.for_manager(db.iter_records(conn, day, rules.flagged_windows(day, policy)), day, policy)


@dataclass(frozen=True)
class ReasonDecided:
    patient_id: str
    code: str
    ref: str
    action: str


def decide_flagged(conn, patient: str, rule: str, action: str, *, ref: Optional[str] = None,
                   note: Optional[str] = None, day: dt.date, by: str, now: dt.datetime) -> ReasonDecided:
    """The manager's decision on a reason that lapsed without ever being offered: ``requeue`` puts it
    back on the list from ``day`` (for its usual window), ``close`` closes it (a note says why). Only a
    reason on the flagged list of ``day`` can be decided on."""
    from followup import db, rules

    if action not in ("requeue", "close"):
        raise UsageError(N_("unknown decision {value!r} (requeue or close)"), value=action)
    if action == "close" and not (note or "").strip():
        raise UsageError(N_("closing a reason needs --note saying why"))
    pid = known_patient(conn, patient)
    policy = policy_of(conn, db.get_settings(conn))
    [records] = db.load_records(conn, day, [pid])
    lapsed = [f for f in rules.assess(records, day, policy) if f.excluded_by == "lapsed" and f.code == rule
              and (ref is None or f.reason.ref == ref)]
    if not lapsed:
        raise NotFound(N_("patient {id} has no lapsed {rule} on the flagged list of {day}"), id=pid, rule=msg(rule),
                       day=day)
    if len(lapsed) > 1:
        raise UsageError(N_("patient {id} has {n} lapsed {rule}: name one with --ref ({refs})"), id=pid,
                         n=len(lapsed), rule=msg(rule), refs=", ".join(f.reason.ref for f in lapsed))
    reason = lapsed[0].reason
    db.add_reason_action(conn, {"patient_id": pid, "code": reason.code, "ref": reason.ref, "action": action,
                                "on_day": day.isoformat(), "note": (note or "").strip() or None, "recorded_by": by,
                                "recorded_at": _stamp(now)})
    return ReasonDecided(pid, reason.code, reason.ref, action)


def contact_log(conn, patient: str) -> tuple[str, list[dict]]:
    """The patient's contact history, oldest first: (card number, records)."""
    from followup import db

    pid = known_patient(conn, patient)
    return pid, db.contact_log(conn, pid)


def agreed_contacts(conn, patient: str) -> list[dict]:
    """The next contacts agreed with the patient, by date: when, what about, how, for which doctor, who
    recorded it."""
    from followup import db

    return db.next_contacts(conn, known_patient(conn, patient))


def day_log(conn, *, day: dt.date, by: Optional[str] = None) -> list[dict]:
    """What was done for the list of ``day`` (by one person, if named): every contact, in order, with
    the patient's name."""
    from followup import db

    return db.day_log(conn, day.isoformat(), by.strip() if by else None)


def _code(word: str, codes: tuple[str, ...], kind: str) -> str:
    found = understood(word, codes, kind)
    if found is None:
        raise UsageError(N_("unknown {what} {value!r} (one of {allowed}, or all)"), what=msg(kind), value=word,
                         allowed=", ".join(codes))
    return found


def _stamp(now: dt.datetime) -> str:
    """A moment as the records store it."""
    return now.isoformat(sep=" ", timespec="seconds")
