"""Use cases of `followup send`: what goes out now, and the outbox's records around each call to a
gateway (the call itself is the sender face's, followup.gateways).

The messages are the day's list as the rules plan it (the same entries, consents, cap and capacity
as `today`), its SMS and e-mail entries. Each is sent at most once: a row is committed in the
outbox before the call and completed after it; an entry with a row 'sending' or 'sent' is never
sent again (a row left 'sending' by a crash is a message of unknown fate, listed for a person).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Optional

from followup.errors import UsageError
from followup.i18n import N_, msg

SENDABLE = ("sms", "email")


@dataclass(frozen=True)
class Outgoing:
    entry: object            # records.Entry
    shown_id: str
    text: str
    encoding: str            # gsm7 | ucs2 (SMS), utf-8 (e-mail)
    length: int
    parts: int
    day: dt.date             # the list's day


@dataclass
class SendPlan:
    day: dt.date
    due: list = field(default_factory=list)        # Outgoing, to send now
    held: list = field(default_factory=list)       # (Outgoing, Msg why not now)
    done: dict = field(default_factory=dict)       # outbox state -> messages of the day already
    policy: object = None                          # records.Policy, as the day was planned with it


def clinic_time(settings: dict, now_utc: dt.datetime) -> dt.datetime:
    """The clinic's wall-clock time (`clinic.timezone`, Europe/Moscow by default)."""
    from zoneinfo import ZoneInfo

    from followup import settings as settings_table

    return now_utc.astimezone(ZoneInfo(settings_table.get(settings, "clinic.timezone")))


def sending_plan(conn, day: dt.date, channels: tuple[str, ...] = SENDABLE, *, now_utc: dt.datetime,
                 today: dt.date) -> SendPlan:
    """The day's SMS / e-mail entries: those to send now, those held (with why and until when), and
    what the outbox holds for the day already."""
    from followup import db, rules, settings as settings_table
    from followup.records import parse_days, parse_window

    if day != today:
        raise UsageError(N_("a day's messages go out on that day only ({day})"), day=day)
    unknown = [c for c in channels if c not in SENDABLE]
    if unknown:
        raise UsageError(N_("followup sends {allowed}, not {value!r}"), allowed=", ".join(SENDABLE), value=unknown[0])
    taken = db.outbox_taken(conn, day.isoformat())
    entries, settings, shown = _message_entries(conn, day, channels, today, taken)
    hours = parse_window(settings_table.get(settings, "send.hours"))
    days = parse_days(settings_table.get(settings, "send.days"))
    local = clinic_time(settings, now_utc)
    max_parts = int(settings_table.get(settings, "send.sms.max_parts"))
    from followup.actions.day import policy_of

    plan = SendPlan(day, done=db.outbox_day(conn, day.isoformat()), policy=policy_of(conn, settings))
    for e in entries:
        if e.channel not in channels or (e.patient.patient_id, e.channel) in taken:
            continue
        text = entry_text(e, settings)
        if e.channel == "sms":
            encoding, length, parts = rules.sms_parts(text)
        else:
            encoding, length, parts = "utf-8", len(text), 1
        item = Outgoing(e, shown[e.entry_id], text, encoding, length, parts, day)
        why = rules.send_held(local, hours, days, e.window)
        if why is None and e.channel == "sms" and parts > max_parts:
            why = msg(N_("{parts} SMS parts, more than send.sms.max_parts ({max}): shorten the template"),
                      parts=parts, max=max_parts)
        if why is None and not e.address:
            why = msg(N_("no address for this channel"))
        (plan.held.append((item, why)) if why is not None else plan.due.append(item))
    return plan


def _message_entries(conn, day: dt.date, channels: tuple[str, ...], today: dt.date, taken: set = frozenset()):
    """(the day's entries on these channels, the settings, entry id -> id shown): the stored list's
    (the desks' list, as `today` shows it), its patients alone planned again for their messages (not
    those the outbox has already: ``taken``, (patient, channel)); the day planned whole when no stored
    list is to be had (a read-only file, the lock held)."""
    from followup import db, rules
    from followup.actions.day import day_list, ensure_stored, policy_of

    if ensure_stored(conn, day, today=today):
        with db.read_snapshot(conn):
            listed = {entry_id: (shown, members) for entry_id, (shown, patient, channel, members)
                      in db.plan_on_channels(conn, channels).items() if (patient, channel) not in taken}
            settings = db.get_settings(conn)
            policy = policy_of(conn, settings)
            patients = sorted({pid for _, members in listed.values() for pid in members})
            records = db.load_records(conn, day, patients, rules.candidate_windows(day, policy))
        entries = [e for e in rules.plan_day(records, day, policy) if e.entry_id in listed]
        return entries, settings, {e.entry_id: listed[e.entry_id][0] for e in entries}
    entries, settings = day_list(conn, day)
    return entries, settings, rules.short_ids(entries)


def sms_size(text: str) -> tuple[str, int, int]:
    """(encoding, length, parts) of an SMS text (rules.sms_parts), for the faces that show it."""
    from followup import rules

    return rules.sms_parts(text)


def entry_text(entry, settings: dict) -> str:
    """The SMS / e-mail text of an entry, in the clinic's language (as `today` shows it)."""
    from followup import i18n, rules, settings as config

    with i18n.using(settings.get("language") or "en"):
        return rules.message(entry, config.templates(settings), config.clinic_name(settings)) or ""


def begin(conn, item: Outgoing, *, provider: str, by: str, now: dt.datetime) -> Optional[int]:
    """Commit the outbox row before the call; None when the entry was sent (or is being sent) already."""
    from followup import db

    e = item.entry
    return db.outbox_begin(conn, {"list_date": _day(item), "patient_id": e.patient.patient_id, "channel": e.channel,
                                  "address": e.address, "body": item.text, "parts": item.parts,
                                  "provider": provider, "started_at": _stamp(now), "recorded_by": by})


def sent(conn, plan: SendPlan, item: Outgoing, outbox_id: int, provider_id: str, *, by: str,
         now: dt.datetime) -> bool:
    """The gateway took the message: the outbox says so and the entry is closed as 'sent', together."""
    from followup import db, rules

    steps = rules.next_steps(item.entry, "sent", item.day, plan.policy, by=by, at=_stamp(now), note=provider_id)
    return db.outbox_sent(conn, outbox_id, provider_id, _stamp(now), steps.contacts, item.entry.entry_id[:16],
                          item.day.isoformat())


def refused(conn, outbox_id: int, code: str, *, now: dt.datetime) -> None:
    """The gateway refused it: nothing went out; the entry stays on the list, and a later run tries again."""
    from followup import db

    db.outbox_failed(conn, outbox_id, state="failed", error=code, at=_stamp(now))


def unsure(conn, outbox_id: int, code: str, *, now: dt.datetime) -> None:
    """The gateway's answer never came or made no sense: the message may have gone out. Never sent
    again by itself: listed by `send --unknown` for a person to check."""
    from followup import db

    db.outbox_failed(conn, outbox_id, state="sending", error=code, at=_stamp(now))


def unknown_messages(conn) -> list[dict]:
    from followup import db

    return db.outbox_unknown(conn)


def _day(item: Outgoing) -> str:
    return item.day.isoformat()


def _stamp(now: dt.datetime) -> str:
    return now.isoformat(sep=" ", timespec="seconds")


def awaiting_delivery(conn) -> list[dict]:
    """Sent SMS whose delivery the gateway has not told yet."""
    from followup import db

    return [r for r in db.outbox_pending(conn) if r["channel"] == "sms"]


def delivery(conn, row: dict, status: str, *, by: str, now: dt.datetime) -> Optional[str]:
    """What the gateway said of a sent message: 'delivered', 'pending' (ask again later), or
    'undelivered:CODE'. Undelivered, the entry's 'sent' is corrected to 'undelivered' (kept in the log):
    its reasons are due again after the retry days, with a warning, and count as an attempt (after the
    limit, the manager's). Returns what was recorded (None: nothing yet)."""
    from followup import db
    from followup.actions.contacts import correct_outcome

    if status == "pending":
        return None
    if status == "delivered":
        db.outbox_delivery(conn, row["id"], "delivered", _stamp(now))
        return "delivered"
    code = status.partition(":")[2] or "unknown"
    entry = db.sent_entry(conn, row["list_date"], row["patient_id"], row["channel"])
    if entry is not None:
        correct_outcome(conn, entry, "undelivered", day=dt.date.fromisoformat(row["list_date"]), note=code, by=by,
                        now=now)
    db.outbox_delivery(conn, row["id"], f"undelivered:{code}", _stamp(now))
    return "undelivered"


# ---------------------------------------------------------------------------
# Letters: the day's entries on the channel `post`, printed one a page, posted by the desk


def letters(conn, day: dt.date, *, today: dt.date) -> list[dict]:
    """The day's letters still to post, as the list has them (the entry as `today --format json` gives
    it: its id, patient, the address in ``phone``, the text in ``message``), in list order."""
    import json

    from followup.actions.day import stored_day, with_id

    return [json.loads(with_id(shown, payload)) for shown, payload in stored_day(conn, day, "post", today=today)]


def letterhead(conn) -> tuple[str, str]:
    """(the clinic's name, the lines under it on a letter: setting clinic.letterhead)."""
    from followup import db, settings as config

    stored = db.get_settings(conn)
    return config.clinic_name(stored), stored.get("clinic.letterhead", "")


def letters_posted(conn, day: dt.date, *, today: dt.date, by: str, now: dt.datetime) -> int:
    """The day's letters were printed and posted: each entry closed as 'sent' (as `done` closes it).
    Returns how many; one a desk closed meanwhile is left as it is."""
    from followup.actions.contacts import record_outcome
    from followup.errors import Conflict

    n = 0
    for letter in letters(conn, day, today=today):
        try:
            record_outcome(conn, letter["entry_id"], "sent", day=day, by=by, now=now)
            n += 1
        except Conflict:
            continue
    return n
