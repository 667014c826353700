"""The receptionist's work: consent, next, today, why, flagged, done, log; and config."""

from __future__ import annotations

import json
import shutil
from typing import Optional

import typer

from followup.cli.core import FORMAT_OPTION, Format, QUESTIONS, QUESTIONS_VERSION, _Group, _choices, _console, _date, _known_patient, _now, _open, _print_rows, _user, app
from followup import i18n
from followup.errors import NotFound, UsageError
from followup.i18n import N_, ntr, tr


@app.command("consent")
def consent(
    ctx: typer.Context,
    patient: str = typer.Argument(..., help="The patient's card number (or 'show' followed by it)."),
    show_id: Optional[str] = typer.Argument(None, hidden=True),
    purpose: list[str] = typer.Option([], "--purpose", "-p", help="reminder, plan, control, survey, recall, "
                                      "agreed, marketing, or all; may be repeated."),
    channel: list[str] = typer.Option([], "--channel", "-c", help="call, sms, email, messenger, or all; "
                                      "may be repeated."),
    phone: Optional[str] = typer.Option(None, "--phone", help="The number (or address) to use, if not the "
                                        "patient's main one."),
    window: Optional[str] = typer.Option(None, "--window", help="Preferred time of day, e.g. 18:00-20:00."),
    days: Optional[str] = typer.Option(None, "--days", help="Days that suit, e.g. mon-fri or sat,sun."),
    how: str = typer.Option("in-person", "--how", help="How it was given: in-person, phone or form."),
    note: Optional[str] = typer.Option(None, "--note", help="A free note, e.g. 'prefers SMS'."),
    by: Optional[str] = typer.Option(None, "--by", help="Who records it (else $FOLLOWUP_USER, else you)."),
    withdraw: bool = typer.Option(False, "--withdraw", help="Record a withdrawal instead of a grant."),
    fmt: Format = FORMAT_OPTION,
):
    """Record a patient's consent to be contacted (or its withdrawal); 'consent show ID' shows it.

    Nothing is ever edited: a withdrawal is a new record, and the history stays.
    """
    from followup import db, rules

    if patient == "show":
        if not show_id:
            raise UsageError(tr("usage: followup consent show PATIENT"))
        return _consent_show(ctx, show_id, fmt)
    if show_id:
        raise UsageError(tr("unexpected argument {value!r}", value=show_id))
    purposes = _choices(purpose, rules.PURPOSES, "purpose")
    channels = _choices(channel, rules.CHANNELS, "channel")
    if how not in ("in-person", "phone", "form"):
        raise UsageError(tr("--how must be in-person, phone or form, not {value!r}", value=how))
    try:
        win = str(rules.parse_window(window)) if window else None
        day_set = rules.format_days(rules.parse_days(days)) if days else None
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    address = None
    if phone:
        from followup.importing.values import normalize_phone

        if "@" in phone:
            address = phone.strip()
        else:
            address, valid = normalize_phone(phone)
            if not valid:
                raise UsageError(tr("--phone is not a valid phone number"))
    conn = _open(ctx, create=False)
    pid = _known_patient(conn, patient)
    who, when = by or _user(), _now()
    rows = [{"patient_id": pid, "purpose": pu, "channel": ch, "granted": 0 if withdraw else 1,
             "address": address, "window": win, "days": day_set, "how": how, "note": note,
             "source": "followup", "recorded_by": who, "recorded_at": when}
            for pu in purposes for ch in channels]
    db.add_consents(conn, rows)
    text = N_("Consent withdrawn for {pid}: {purposes} by {channels} (recorded by {who}).") if withdraw else \
        N_("Consent granted for {pid}: {purposes} by {channels} (recorded by {who}).")
    typer.echo(tr(text, pid=pid, purposes=", ".join(map(tr, purposes)), channels=", ".join(map(tr, channels)), who=who))


def _consent_show(ctx, patient_id: str, fmt: Format) -> None:
    from followup import db

    conn = _open(ctx, create=False)
    pid = _known_patient(conn, patient_id)
    history = db.consent_history(conn, pid)
    current: dict[tuple, dict] = {}
    for h in history:
        current[(h["purpose"], h["channel"])] = h
    state = [dict(h, granted=bool(h["granted"])) for h in current.values()]
    if fmt is Format.json:
        typer.echo(json.dumps({"patient_id": pid, "current": state,
                               "history": [dict(h, granted=bool(h["granted"])) for h in history]},
                              ensure_ascii=False, indent=2))
        return
    cols = ["purpose", "channel", "state", "address", "window", "days", "how", "note", "recorded_by",
            "recorded_at"]
    def rows(items, word=tr):  # words for people; CSV keeps the codes
        return [dict(h, state=word(N_("granted")) if h["granted"] else word(N_("withdrawn")), purpose=word(h["purpose"]),
                     channel=word(h["channel"]), how=word(h["how"]),
                     days=",".join(word(d) for d in h["days"].split(",")) if h["days"] else h["days"]) for h in items]
    if fmt is Format.csv:
        _print_rows(rows(history, str), cols, fmt)
        return
    if not history:
        _console().print(tr("No consent recorded for {pid}: the patient is never contacted.", pid=pid), markup=False)
        return
    _print_rows(rows(sorted(current.values(), key=lambda h: (h["purpose"], h["channel"]))), cols, fmt,
                title=tr("Consent of {pid}: now", pid=pid))
    _print_rows(rows(history), cols, fmt, title=tr("History (nothing is ever edited)"))


@app.command("next")
def next_contact(
    ctx: typer.Context,
    patient: str = typer.Argument(..., help="The patient's card number."),
    on: str = typer.Option(..., "--on", help="The agreed date, e.g. 2026-12-15."),
    reason: str = typer.Option(..., "--reason", help="What the contact is about, as agreed."),
    channel: Optional[str] = typer.Option(None, "--channel", help="call, sms, email or messenger."),
    doctor: Optional[str] = typer.Option(None, "--doctor", help="The doctor who asked for it."),
    by: Optional[str] = typer.Option(None, "--by", help="Who records it."),
):
    """Record the date and form of the next contact agreed with the patient."""
    from followup import db, rules

    day = _date(on, "--on")
    if channel and channel not in rules.CHANNELS:
        raise UsageError(tr("unknown channel {value!r} (one of {allowed})", value=channel, allowed=", ".join(rules.CHANNELS)))
    if not reason.strip():
        raise UsageError(tr("--reason must say what the contact is about"))
    conn = _open(ctx, create=False)
    pid = _known_patient(conn, patient)
    who = by or _user()
    nid = db.add_next_contact(conn, {"patient_id": pid, "due": day.isoformat(), "reason": reason.strip(),
                                     "channel": channel, "doctor": doctor, "recorded_by": who,
                                     "recorded_at": _now()})
    typer.echo(tr("Next contact {nid} for {pid} agreed for {day} (recorded by {who}).", nid=nid, pid=pid, day=i18n.day(day), who=who))


@app.command("today")
def today(
    ctx: typer.Context,
    date: Optional[str] = typer.Option(None, "--date", help="The day to list (default: today)."),
    channel: Optional[str] = typer.Option(None, "--channel", help="Only call, sms, email or messenger."),
    doctor: Optional[str] = typer.Option(None, "--doctor", help="Only reasons of this doctor (a name part)."),
    fmt: Format = FORMAT_OPTION,
):
    """Today's list: consented patients with a concrete reason, each with its evidence.

    Ordered by the patient's preferred time of day. Record each outcome with `followup done ENTRY`.
    """
    from followup.cli.daylist import day_list, entry_json, stored_day, with_id
    from followup.entryids import CHANNELS, shortest_prefixes

    day = _date(date)
    if channel and channel not in CHANNELS:
        raise UsageError(tr("unknown channel {value!r} (one of {allowed})", value=channel, allowed=", ".join(CHANNELS)))
    conn = _open(ctx, create=False)
    if doctor:  # one doctor's reasons change who the cap lets through: planned afresh
        entries, settings = day_list(conn, day, channel, doctor)
        shown = shortest_prefixes(e.entry_id for e in entries)
        data = [entry_json(e, settings, shown[e.entry_id]) for e in entries]
        if fmt is Format.json:  # one entry a line
            typer.echo("[" + ",\n".join(json.dumps(d, ensure_ascii=False) for d in data) + "]")
            return
    elif fmt is Format.json:  # the stored plan's bytes, one entry a line
        typer.echo(stored_day(conn, day, channel, as_json=True))
        return
    else:
        data = [json.loads(with_id(shown, payload)) for shown, payload in stored_day(conn, day, channel)]
    if fmt is Format.table and data:
        width = shutil.get_terminal_size().columns
        if width < TABLE_WIDTH or len(data) > TABLE_ROWS:
            _print_cards(data, day, width)
            return
    readable = fmt in (Format.table, Format.md)  # CSV keeps the codes, before each reason's sentence
    flat = [{"entry": d["entry_id"], "window": d["window"] or "", "patient": f"{d['patient']} ({d['patient_id']})",
             "phone": d["phone"], "channel": tr(d["channel"]) if readable else d["channel"],
             "reasons": "\n".join(r["text"] if readable else f"{r['code']}: {r['text']}" for r in d["reasons"])
             + "".join(f"\n+ {m['patient']} ({m['patient_id']}): " + "; ".join(r["text"] for r in m["reasons"])
                       for m in d["household"]),
             "doctor": ", ".join(dict.fromkeys(r["doctor"] for r in d["reasons"] if r["doctor"])),
             "warnings": "\n".join(d["warnings"]), "message": d["message"] or ""} for d in data]
    if fmt is Format.csv:
        _print_rows(flat, list(flat[0]) if flat else ["entry"], fmt)
        return
    if not flat:
        _console().print(tr("Nobody to contact on {day}.", day=i18n.day(day)), markup=False)
        return
    _print_rows(flat, ["entry", "window", "patient", "phone", "channel", "reasons", "doctor", "warnings"], fmt,
                title=tr("Contacts for {day}: {n}", day=i18n.day(day), n=len(flat)))
    for d in data:
        if d["message"]:
            _console().print(tr("{entry} {channel} to {address}: {message}", entry=d["entry_id"], channel=tr(d["channel"]),
                                address=d["phone"], message=d["message"]), markup=False,
                             soft_wrap=True)


# below this many columns, or above this many entries, the day's list is printed as one block an
# entry instead of a table (rich takes about a millisecond a row to lay a table out: 5-7 s for a
# big clinic's 4,500 entries, where the blocks take 0.3 s)
TABLE_WIDTH, TABLE_ROWS = 120, 300


def _print_cards(data: list[dict], day, width: int) -> None:
    """The day's list for a narrow terminal or a long list: an entry's id, time, channel, number and
    patient on one line, then each reason, household member, warning and message on lines of their own."""
    import textwrap

    def lines(mark: str, text: str) -> str:
        return textwrap.fill(text, width=max(width - 1, 40), initial_indent=f"  {mark} ",
                             subsequent_indent="    ", break_on_hyphens=False)

    out = [tr("Contacts for {day}: {n}", day=i18n.day(day), n=len(data))]
    for d in data:
        out.append("")
        out.append(f"{d['entry_id']}  {d['window'] or tr('any time')}  {tr(d['channel'])} {d['phone'] or ''}  "
                   f"{d['patient']} ({d['patient_id']})")
        out.extend(lines("-", r["text"]) for r in d["reasons"])
        out.extend(lines("+", f"{m['patient']} ({m['patient_id']}): " + "; ".join(r["text"] for r in m["reasons"]))
                   for m in d["household"])
        out.extend(lines("!", w) for w in d["warnings"])
        if d["message"]:
            out.append(lines(">", d["message"]))
    typer.echo("\n".join(out))


@app.command("why")
def why(
    ctx: typer.Context,
    patient: str = typer.Argument(..., help="The patient's card number."),
    date: Optional[str] = typer.Option(None, "--date", help="The day to explain (default: today)."),
    fmt: Format = FORMAT_OPTION,
):
    """For every rule: whether it fires for this patient, and if not, why not."""
    from followup import db, rules

    day = _date(date)
    conn = _open(ctx, create=False)
    pid = _known_patient(conn, patient)
    policy = rules.policy_from(db.get_settings(conn))
    [records] = db.load_records(conn, day, [pid])
    findings = rules.assess(records, day, policy)
    shown = fmt in (Format.table, Format.md)
    rows = [{"rule": tr(f.code) if shown else f.code, "status": tr(f.status) if shown else f.status,
             "explanation": f.text,
             "excluded_by": f.excluded_by,
             "channels": ",".join(tr(c) if shown else c for c in f.channels)} for f in findings]
    if fmt is Format.table:
        _console().print(tr("{name} ({pid}) on {day}", name=records.patient.name, pid=pid, day=i18n.day(day)), markup=False)
    _print_rows(rows, ["rule", "status", "explanation", "channels"], fmt)


@app.command("flagged")
def flagged(
    ctx: typer.Context,
    date: Optional[str] = typer.Option(None, "--date", help="The day (default: today)."),
    fmt: Format = FORMAT_OPTION,
):
    """For the manager: reasons dropped from the list after the unanswered-attempt limit."""
    from followup import db, rules

    day = _date(date)
    conn = _open(ctx, create=False)
    policy = rules.policy_from(db.get_settings(conn))
    records = db.load_records(conn, day, windows=rules.candidate_windows(day, policy))
    word = tr if fmt in (Format.table, Format.md) else str
    rows = [{"patient_id": p.patient_id, "patient": p.name, "phone": p.phone, "rule": word(f.code),
             "explanation": f.text} for p, f in rules.for_manager(records, day, policy)]
    if not rows and fmt is Format.table:
        _console().print(tr("Nothing flagged on {day}.", day=i18n.day(day)), markup=False)
        return
    _print_rows(rows, ["patient_id", "patient", "phone", "rule", "explanation"], fmt,
                title=tr("Flagged for the manager on {day}", day=i18n.day(day)))


@app.command("done")
def done(
    ctx: typer.Context,
    entry: str = typer.Argument(..., help="The entry id from `followup today`."),
    outcome: str = typer.Option(..., "--outcome", help="reached, no-answer, busy, wrong-number, declined, "
                                "booked or call-back."),
    on: Optional[str] = typer.Option(None, "--on", help="With call-back: the date to call again."),
    note: Optional[str] = typer.Option(None, "--note", help="A note for the log."),
    by: Optional[str] = typer.Option(None, "--by", help="Who made the contact."),
    date: Optional[str] = typer.Option(None, "--date", help="The day of the list the entry is on (default: today)."),
):
    """Record the outcome of a contact and apply its next step.

    no-answer/busy: try again after the retry days, at another time of day (counts toward the attempt
    limit); wrong-number: that phone is flagged until a new one is imported; declined: consent for
    those purposes is withdrawn; booked: the reasons close; call-back: rescheduled to --on.
    """
    from followup import db, rules

    if outcome not in rules.OUTCOMES:
        raise UsageError(tr("unknown outcome {value!r} (one of {allowed})", value=outcome, allowed=", ".join(rules.OUTCOMES)))
    day = _date(date)
    callback = _date(on, "--on") if on else None
    if outcome == "call-back" and not callback:
        raise UsageError(tr("call-back needs --on DATE"))
    if on and outcome != "call-back":
        raise UsageError(tr("--on goes with --outcome call-back"))
    if callback and callback <= day:
        raise UsageError(tr("--on must be a later day than the list's"))
    conn = _open(ctx, create=False)
    from followup.cli.daylist import entries_named

    matches, entries, settings = entries_named(conn, day, entry)
    if len(matches) > 1:
        raise UsageError(tr("entry {entry!r} names {n} entries; give more of its characters", entry=entry, n=len(matches)))
    if not matches:
        closed = len(entry.strip()) >= rules.ENTRY_ID_LENGTH and db.closed_entry(conn, entry.strip().lower(), day.isoformat())
        if closed:
            raise UsageError(tr("entry {entry} of {day} is already closed (see followup log)", entry=entry.strip(),
                                day=i18n.day(day)))
        raise NotFound(tr("no entry {entry!r} on the list of {day} (see followup today)", entry=entry, day=i18n.day(day)))
    found = matches[0]
    steps = rules.next_steps(found, outcome, day, rules.policy_from(settings), by=by or _user(), at=_now(),
                             callback=callback, note=note)
    db.record_contact(conn, steps.contacts, withdrawals=steps.withdrawals, phone_flags=steps.phone_flags,
                      entry_id=found.entry_id[:16], list_date=day.isoformat())
    shown = rules.short_ids(entries)[found.entry_id]
    step = steps.text
    household = ntr(" + {n} in the household", " + {n} in the household", len(found.household)) if found.household else ""
    typer.echo(tr("Recorded {outcome} for entry {entry} ({pid}{household}): {step}.", outcome=tr(outcome), entry=shown,
                  pid=found.patient.patient_id, household=household, step=step))


@app.command("log")
def log(ctx: typer.Context, patient: str = typer.Argument(..., help="The patient's card number."),
        fmt: Format = FORMAT_OPTION):
    """The patient's contact history: who, when, how, the outcome and the reasons."""
    from followup import db

    conn = _open(ctx, create=False)
    pid = _known_patient(conn, patient)
    rows = db.contact_log(conn, pid)
    if fmt is Format.json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    word = tr if fmt in (Format.table, Format.md) else str
    flat = [dict(r, reasons=", ".join(f"{word(c)}:{ref}" for c, ref in r["reasons"]), channel=word(r["channel"]),
                 outcome=word(r["outcome"])) for r in rows]
    _print_rows(flat, ["recorded_at", "recorded_by", "channel", "outcome", "reasons", "retry_on", "callback_on",
                       "note"], fmt, title=tr("Contacts with {pid}", pid=pid))



config_app = typer.Typer(cls=_Group, help="The clinic's contact policy and texts, shared by every desk.",
                         no_args_is_help=True)
app.add_typer(config_app, name="config")


def _config_keys() -> dict[str, str]:
    from followup import rules

    keys = {name: str(f.default) for name, f in rules.Policy.__dataclass_fields__.items()}
    keys["clinic_name"] = tr("The clinic")
    keys["language"] = ""
    keys["survey.version"] = QUESTIONS_VERSION
    keys["report.positive_mean"] = "8.0"
    keys["report.positive_nps"] = "30.0"
    keys.update({f"survey.question.{k}": tr(text) for k, text in QUESTIONS.items()})
    keys.update({f"template.{code}": text for code, text in rules.default_templates().items()})
    return keys


@config_app.command("list")
def config_list(ctx: typer.Context, fmt: Format = FORMAT_OPTION):
    """Every setting with its value (and whether it is the default)."""
    from followup import db

    conn = _open(ctx, create=False)
    stored = db.get_settings(conn)
    rows = [{"key": k, "value": stored.get(k, v), "default": k not in stored} for k, v in _config_keys().items()]
    _print_rows(rows, ["key", "value", "default"], fmt)


@config_app.command("get")
def config_get(ctx: typer.Context, key: str = typer.Argument(..., help="A setting, e.g. cap_days.")):
    """Print one setting's value."""
    from followup import db

    keys = _config_keys()
    if key not in keys:
        raise UsageError(tr("unknown setting {key!r} (see followup config list)", key=key))
    conn = _open(ctx, create=False)
    typer.echo(db.get_settings(conn).get(key, keys[key]))


@config_app.command("set")
def config_set(ctx: typer.Context, key: str = typer.Argument(..., help="A setting, e.g. cap_days."),
               value: Optional[str] = typer.Argument(None, help="The new value (omit with --default)."),
               default: bool = typer.Option(False, "--default", help="Go back to the default value."),
               by: Optional[str] = typer.Option(None, "--by", help="Who changes it.")):
    """Change a setting for every desk and the cron job."""
    from followup import db, rules

    keys = _config_keys()
    if key not in keys:
        raise UsageError(tr("unknown setting {key!r} (see followup config list)", key=key))
    if default == (value is not None):
        raise UsageError(tr("give a value, or --default"))
    if value is not None and key in rules.Policy.__dataclass_fields__:
        if not value.isdigit() or int(value) > 3650:
            raise UsageError(tr("{key} takes a whole number of days/times (0-3650)", key=key))
    if value is not None and key.startswith("report."):
        try:
            float(value)
        except ValueError:
            raise UsageError(tr("{key} takes a number", key=key)) from None
    if value is not None and key == "language" and value not in i18n.LANGUAGES:
        raise UsageError(tr("language takes one of: {allowed}", allowed=", ".join(i18n.LANGUAGES)))
    if value is not None and key.startswith("template."):
        try:
            value.format_map(rules._Blank())
        except (ValueError, IndexError):
            raise UsageError(tr("{key}: braces must name fields like {{date}}", key=key)) from None
    conn = _open(ctx, create=False)
    db.set_setting(conn, key, value, by=by or _user(), at=_now())
    typer.echo(f"{key} = {value if value is not None else keys[key]}")
