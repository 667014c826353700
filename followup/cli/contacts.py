"""The receptionist's work: consent, next, today, why, flagged, done, log; and config."""

from __future__ import annotations

import json
import shutil
from typing import Optional

import typer

from followup.cli.core import (RECORD_ID_MAX, echo, BY_OPTION, DAY_OPTION, FORMAT_OPTION, Format, _Group, _choices, _clock, _console,
                               _date, _open, _phone, _print_rows, _structured, _today, _who, app)
from followup import i18n
from followup.errors import UsageError
from followup.i18n import N_, ntr, tr


@app.command("consent")
def consent(
    ctx: typer.Context,
    patient: str = typer.Argument(..., help="The patient's card number (or 'show' followed by it)."),
    show_id: Optional[str] = typer.Argument(None, hidden=True),
    purpose: list[str] = typer.Option([], "--purpose", "-p", help="reminder, plan, control, survey, recall, "
                                      "agreed (all: these six), marketing, thanks, greetings; may be repeated."),
    channel: list[str] = typer.Option([], "--channel", "-c", help="call, sms, email, messenger, or all; "
                                      "may be repeated."),
    phone: Optional[str] = typer.Option(None, "--phone", help="The number (or address) to use, if not the "
                                        "patient's main one."),
    window: Optional[str] = typer.Option(None, "--window", help="Preferred time of day, e.g. 18:00-20:00."),
    days: Optional[str] = typer.Option(None, "--days", help="Days that suit, e.g. mon-fri or sat,sun."),
    how: str = typer.Option("in-person", "--how", help="How it was given: in-person, phone or form."),
    note: Optional[str] = typer.Option(None, "--note", help="A free note, e.g. 'prefers SMS'."),
    by: Optional[str] = BY_OPTION,
    withdraw: bool = typer.Option(False, "--withdraw", help="Record a withdrawal instead of a grant."),
    fmt: Format = FORMAT_OPTION,
):
    """Record a patient's consent to be contacted (or its withdrawal); 'consent show ID' shows it.

    Nothing is ever edited: a withdrawal is a new record, and the history stays.
    """
    from followup.actions.contacts import record_consent
    from followup.records import CARE_PURPOSES, CHANNELS, PURPOSES

    if patient == "show":
        if not show_id:
            raise UsageError(N_("usage: followup consent show PATIENT"))
        return _consent_show(ctx, show_id, fmt)
    if show_id:
        raise UsageError(N_("unexpected argument {value!r}"), value=show_id)
    # "all": the care purposes when granted (marketing, thanks, greetings are asked for by name); every
    # purpose when withdrawn (advertising stops at the first request)
    purposes = _choices(purpose, PURPOSES, "purpose", None if withdraw else CARE_PURPOSES)
    channels = _choices(channel, CHANNELS, "channel")
    conn = _open(ctx, create=False)
    done = record_consent(conn, patient, purposes=purposes, channels=channels, granted=not withdraw, address=phone,
                          window=window, days=days, how=how, note=note, by=_who(by), now=_clock())
    text = N_("Consent withdrawn for {pid}: {purposes} by {channels} (recorded by {who}).") if withdraw else \
        N_("Consent granted for {pid}: {purposes} by {channels} (recorded by {who}).")
    echo(tr(text, pid=done.patient_id, purposes=", ".join(map(tr, purposes)),
                  channels=", ".join(map(tr, channels)), who=done.by))


def _consent_show(ctx, patient_id: str, fmt: Format) -> None:
    from followup.actions.contacts import consent_state

    conn = _open(ctx, create=False)
    state = consent_state(conn, patient_id)
    pid, history = state.patient_id, state.history
    if fmt in (Format.json, Format.xlsx):
        _structured({"patient_id": pid, "current": state.current, "history": history}, fmt, "consent")
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
    _print_rows(rows(sorted(state.current, key=lambda h: (h["purpose"], h["channel"]))), cols, fmt,
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
    consent: bool = typer.Option(False, "--consent", help="The patient agrees to such contacts now: record "
                                 "that consent too (on --channel, else by call)."),
    by: Optional[str] = BY_OPTION,
):
    """Record the date and form of the next contact agreed with the patient.

    Refused, with nothing written, for a past date, an unknown doctor, or a patient without a
    consent to agreed contacts on that channel (unless --consent).
    """
    from followup.actions.contacts import agree_next_contact

    day = _date(on, "--on")
    conn = _open(ctx, create=False)
    done = agree_next_contact(conn, patient, on=day, reason=reason, channel=channel, doctor=doctor,
                              consent=consent, by=_who(by), now=_clock())
    echo(tr("Next contact {nid} for {pid} agreed for {day} (recorded by {who}).", nid=done.id,
                  pid=done.patient_id, day=i18n.day(done.due), who=done.by))


@app.command("today")
def today(
    ctx: typer.Context,
    date: Optional[str] = typer.Option(None, "--date", help="The day to list (default: today)."),
    channel: Optional[str] = typer.Option(None, "--channel", help="Only call, sms, email or messenger."),
    doctor: Optional[str] = typer.Option(None, "--doctor", help="Only the calls that concern this doctor: a reason "
                                         "of theirs (a name part); each shown whole."),
    find: Optional[str] = typer.Option(None, "--find", help="Only entries whose patient has this in the name "
                                       "or phone."),
    summary: bool = typer.Option(False, "--summary", help="Only how far the day is: done, left, by outcome."),
    page: int = typer.Option(1, "--page", min=1, max=RECORD_ID_MAX, help="Which page of the list a person reads "
                             "(50 entries a page)."),
    everything: bool = typer.Option(False, "--all", help="The whole list at once, not a page of it."),
    fmt: Format = FORMAT_OPTION,
):
    """Today's list: consented patients with a concrete reason, each with its evidence.

    Ordered by the patient's preferred time of day. Record each outcome with `followup done ENTRY`.
    """
    from followup.actions.day import day_page, day_progress, stored_day, with_id
    from followup.entryids import CHANNELS

    day = _date(date)
    if channel and channel not in CHANNELS:  # a word for it ("смс"): the records' vocabulary, only then
        from followup.records import understood

        channel = understood(channel, CHANNELS, "channel") or channel
    if channel and channel not in CHANNELS:
        raise UsageError(N_("unknown channel {value!r} (one of {allowed})"), value=channel, allowed=", ".join(CHANNELS))
    if summary and (doctor or find):
        raise UsageError(N_("--summary is for the whole list (without --doctor or --find)"))
    conn = _open(ctx, create=False)
    if fmt is Format.json and not summary:  # the stored plan's bytes, one entry a line
        echo(stored_day(conn, day, channel, today=_today(), as_json=True, doctor=doctor, find=find), shown_safely=True)
        return
    if fmt in (Format.table, Format.md) and not everything and not summary:  # a person reads a page of it
        pairs, total, first = day_page(conn, day, channel, today=_today(), page=page, size=PAGE, doctor=doctor,
                                       find=find)
    else:
        pairs = stored_day(conn, day, channel, today=_today(), doctor=doctor, find=find)
        total, first = len(pairs), 0
    data = [json.loads(with_id(shown, payload)) for shown, payload in pairs]
    # the header says how far the day is; for a doctor's or a search's part of it, how many match
    progress = day_progress(conn, day, total, channel, today=_today()) if not (doctor or find) else None
    if summary:
        if fmt in (Format.json, Format.xlsx):
            _structured(progress.data(), fmt, "summary")
        else:
            echo(_progress_line(progress))
            for outcome, n in sorted(progress.outcomes.items()):
                echo(f"  {tr(outcome)}: {n}")
        return
    more = _more_line(first, len(data), total, page) if len(data) < total else ""
    if fmt is Format.table and data:
        width = shutil.get_terminal_size().columns
        if width < TABLE_WIDTH or len(data) > TABLE_ROWS:
            _print_cards(data, day, width, progress, total, more)
            return
    readable = fmt in (Format.table, Format.md)  # CSV keeps the codes, before each reason's sentence
    flat = [{"entry": d["entry_id"], "window": d["window"] or "", "patient": f"{d['patient']} ({d['patient_id']})",
             "phone": _phone(d["phone"]) if readable else d["phone"],
             "channel": tr(d["channel"]) if readable else d["channel"],
             "reasons": "\n".join(r["text"] if readable else f"{r['code']}: {r['text']}" for r in d["reasons"])
             + "".join(f"\n+ {m['patient']} ({m['patient_id']}): " + "; ".join(r["text"] for r in m["reasons"])
                       for m in d["household"]),
             "doctor": ", ".join(dict.fromkeys(r["doctor"] for r in d["reasons"] if r["doctor"])),
             "warnings": "\n".join(d["warnings"]), "message": d["message"] or ""} for d in data]
    if fmt in (Format.csv, Format.xlsx):
        _print_rows(flat, list(flat[0]) if flat else ["entry"], fmt, title=day.isoformat())
        return
    if not flat:
        if progress and progress.done:
            _console().print(tr("Nobody left to contact on {day}: all {n} done.", day=i18n.day(day), n=progress.done),
                             markup=False)
            return
        _console().print(tr("Nobody to contact on {day}.", day=i18n.day(day)), markup=False)
        return
    columns = ["entry", "window", "patient", "phone", "channel", "reasons", "doctor", "warnings"]
    if fmt is Format.table and not _reasons_fit(flat, columns):
        _print_cards(data, day, shutil.get_terminal_size().columns, progress, total, more)
        return
    sections: dict[str, list[dict]] = {}
    for row, d in zip(flat, data):
        sections.setdefault(d.get("section", "care"), []).append(row)
    title = _title(day, total, progress)
    for name, rows in sections.items():  # the sections in list order: care, occasions, marketing
        _print_rows(rows, columns, fmt, title=title if name == "care" else
                    (title + "\n" if title else "") + section_heading(name))
        title = ""
    import textwrap

    width = max(_console().width - 1, 40)
    for d in data:
        if d["message"]:
            echo(textwrap.fill(tr("{entry} {channel} to {address}: {message}", entry=d["entry_id"],
                                        channel=tr(d["channel"]), address=_phone(d["phone"]), message=d["message"])
                               + _sms_size(d), width=width, subsequent_indent="  ", break_long_words=False,
                               break_on_hyphens=False))
    if more:
        echo(more)


def section_heading(section: str) -> str:
    """The heading of the list's sections after the care contacts."""
    if section == "marketing":
        return tr("Marketing (only with the marketing consent on its channel):")
    return tr("Thanks and greetings (written; not counted against the care contacts):")


# a person reads the day's list a page at a time (--page, --all): a big clinic's list is thousands of entries
PAGE = 50


def _more_line(first: int, shown: int, total: int, page: int) -> str:
    """The line under a page of the list: which entries these are, and how to see the others."""
    if first + shown < total:
        return tr("Entries {a}-{b} of {total}. Next: followup today --page {next} (or --all; narrow it with "
                  "--channel, --doctor, --find)", a=first + 1, b=first + shown, total=total, next=first // PAGE + 2)
    return tr("Entries {a}-{b} of {total} (the last page; --all for the whole list)", a=first + 1, b=first + shown,
              total=total)


# the reasons are the list's substance: a table gives them at least this many columns, or the list
# is printed as blocks (a narrow reasons column makes the table longer and slower than the blocks)
REASONS_MIN_WIDTH = 40


def _reasons_fit(flat: list[dict], columns: list[str]) -> bool:
    from followup.cli.core import _cell, _column_widths, _heading

    cells = [[_heading(c, None)] + [_cell(r.get(c), c) for r in flat] for c in columns]
    widths = _column_widths(cells, _console().width - 3 * len(columns) - 1)
    return widths is not None and widths[columns.index("reasons")] >= min(
        REASONS_MIN_WIDTH, max(len(line) for r in flat for line in r["reasons"].split("\n")))


def _title(day, n: int, progress) -> str:
    """The list's heading: how many, and once the desks have closed some, how far the day is."""
    if progress is None or not progress.done:
        title = tr("Contacts for {day}: {n}", day=i18n.day(day), n=n)
    else:
        title = tr("Contacts for {day}: {done} of {total} done, {left} left", day=i18n.day(day), done=progress.done,
                   total=progress.total, left=progress.left)
    return title + _waiting(progress)


def _waiting(progress) -> str:
    if progress is None or not progress.waiting:
        return ""
    return " " + tr("(waiting for the next days, beyond the desks' capacity: {n})", n=progress.waiting)


def _progress_line(progress) -> str:
    return tr("{day}: {done} of {total} done, {left} left", day=i18n.day(progress.day), done=progress.done,
              total=progress.total, left=progress.left) + _waiting(progress)


# below this many columns, or above this many entries, the day's list is printed as one block an
# entry instead of a table (rich takes about a millisecond a row to lay a table out: 5-7 s for a
# big clinic's 4,500 entries, where the blocks take 0.3 s)
TABLE_WIDTH, TABLE_ROWS = 120, 300


def _print_cards(data: list[dict], day, width: int, progress=None, total: int | None = None, more: str = "") -> None:
    """The day's list for a narrow terminal or a long list: an entry's id, time, channel, number and
    patient on one line, then each reason, household member, warning and message on lines of their own."""
    import textwrap

    def lines(mark: str, text: str) -> str:
        return textwrap.fill(text, width=max(width - 1, 40), initial_indent=f"  {mark} ",
                             subsequent_indent="    ", break_on_hyphens=False)

    out = [_title(day, len(data) if total is None else total, progress)]
    section = "care"
    for d in data:
        if d.get("section", "care") != section:  # the occasions, then the marketing, after the care contacts
            section = d["section"]
            out.extend(["", section_heading(section)])
        out.append("")
        out.append(f"{d['entry_id']}  {d['window'] or tr('any time')}  {tr(d['channel'])} {_phone(d['phone'])}  "
                   f"{d['patient']} ({d['patient_id']})")
        out.extend(lines("-", r["text"]) for r in d["reasons"])
        out.extend(lines("+", f"{m['patient']} ({m['patient_id']}): " + "; ".join(r["text"] for r in m["reasons"]))
                   for m in d["household"])
        out.extend(lines("!", w) for w in d["warnings"])
        if d["message"]:
            out.append(lines(">", d["message"] + _sms_size(d)))
    if more:
        out.extend(["", more])
    echo("\n".join(out))


def _sms_size(d: dict) -> str:
    """What an SMS costs, after its text: " [134 characters, 2 parts]" (Cyrillic: 70 in one part, 67 a part
    after); nothing for other channels."""
    if d["channel"] != "sms" or not d["message"]:
        return ""
    from followup.actions.sending import sms_size

    _, length, parts = sms_size(d["message"])
    return " " + tr("[{length} characters, {parts} parts]", length=length, parts=parts)


@app.command("why")
def why(
    ctx: typer.Context,
    patient: str = typer.Argument(..., help="The patient's card number, or an entry id of the day's list."),
    date: Optional[str] = typer.Option(None, "--date", help="The day to explain (default: today)."),
    fmt: Format = FORMAT_OPTION,
):
    """For every rule: whether it fires for this patient, and if not, why not."""
    from followup.actions.contacts import explain

    day = _date(date)
    conn = _open(ctx, create=False)
    found = explain(conn, patient, day=day, today=_today())
    shown = fmt in (Format.table, Format.md)
    rows = [{"rule": tr(f.code) if shown else f.code, "status": tr(f.status) if shown else f.status,
             "explanation": str(f.text),
             "excluded_by": f.excluded_by,
             "channels": ",".join(tr(c) if shown else c for c in f.channels)} for f in found.findings]
    if fmt is Format.table:
        _console().print(tr("{name} ({pid}) on {day}", name=found.patient.name, pid=found.patient.patient_id,
                            day=i18n.day(day)), markup=False)
    _print_rows(rows, ["rule", "status", "explanation", "channels"], fmt)


@app.command("flagged")
def flagged(
    ctx: typer.Context,
    decision: Optional[str] = typer.Argument(None, help="requeue (back on the list) or close, followed by "
                                             "the card number and the rule."),
    patient: Optional[str] = typer.Argument(None, help="With a decision: the patient's card number."),
    rule: Optional[str] = typer.Argument(None, help="With a decision: the rule, e.g. hygiene_recall."),
    ref: Optional[str] = typer.Option(None, "--ref", help="Which one, when the patient has several."),
    note: Optional[str] = typer.Option(None, "--note", help="Why (needed to close)."),
    by: Optional[str] = BY_OPTION,
    date: Optional[str] = typer.Option(None, "--date", help="The day (default: today)."),
    fmt: Format = FORMAT_OPTION,
):
    """For the manager: reasons the list gave up on — after the unanswered-attempt limit, or lapsed
    without ever being offered. 'flagged requeue CARD RULE' puts a lapsed one back on the list;
    'flagged close CARD RULE --note ...' closes it."""
    from followup.actions.contacts import decide_flagged, flagged as flagged_reasons

    day = _date(date)
    if decision is not None:
        if not patient or not rule:
            raise UsageError(N_("a decision names the card number and the rule: followup flagged {decision} CARD "
                                "RULE"), decision=decision)
        conn = _open(ctx, create=False)
        done = decide_flagged(conn, patient, rule, decision, ref=ref, note=note, day=day, by=_who(by), now=_clock())
        echo(tr("{rule} of {pid} ({ref}): put back on the list.", rule=tr(done.code), pid=done.patient_id,
                      ref=done.ref) if done.action == "requeue" else
                   tr("{rule} of {pid} ({ref}): closed.", rule=tr(done.code), pid=done.patient_id, ref=done.ref))
        return
    conn = _open(ctx, create=False)
    word = tr if fmt in (Format.table, Format.md) else str
    rows = [{"patient_id": p.patient_id, "patient": p.name, "phone": p.phone, "rule": word(f.code),
             "ref": f.reason.ref if f.reason else None, "why": f.excluded_by,
             "explanation": str(f.text)} for p, f in flagged_reasons(conn, day=day)]
    if not rows and fmt is Format.table:
        _console().print(tr("Nothing flagged on {day}.", day=i18n.day(day)), markup=False)
        return
    _print_rows(rows, ["patient_id", "patient", "phone", "rule", "explanation"], fmt,
                title=tr("Flagged for the manager on {day}", day=i18n.day(day)))


@app.command("done")
def done(
    ctx: typer.Context,
    entry: Optional[str] = typer.Argument(None, help="The entry id from `followup today`, or the patient's card "
                                          "number when the patient has one open entry."),
    outcome: str = typer.Option(..., "--outcome", help="reached, no-answer, busy, wrong-number, declined, "
                                "booked, call-back or sent."),
    every: bool = typer.Option(False, "--all", help="With --channel and --outcome sent: every open entry of that "
                               "channel (SMS uploaded to a bulk-SMS site by hand)."),
    channel: Optional[str] = typer.Option(None, "--channel", help="With --all: sms, email or messenger."),
    on: Optional[str] = typer.Option(None, "--on", help="With call-back: the date to call again."),
    note: Optional[str] = typer.Option(None, "--note", help="A note for the log."),
    correct: bool = typer.Option(False, "--correct", help="Replace the outcome recorded for this entry (a "
                                 "mistake): the earlier one stays in the log, marked corrected, and what it did "
                                 "is undone."),
    by: Optional[str] = BY_OPTION,
    date: Optional[str] = DAY_OPTION,
):
    """Record the outcome of a contact and apply its next step.

    no-answer/busy: try again after the retry days, at another time of day (counts toward the attempt
    limit); wrong-number: that phone is flagged until a new one is imported; declined: consent for
    those purposes is withdrawn; booked: the reasons close; call-back: rescheduled to --on.
    """
    from followup.actions.contacts import correct_outcome, record_all, record_outcome

    day = _date(date)
    callback = _date(on, "--on") if on else None
    if every or entry is None:
        if not every or entry is not None or correct:
            raise UsageError(N_("name one entry, or use --all --channel CHANNEL --outcome sent"))
        conn = _open(ctx, create=False)
        n = record_all(conn, channel, outcome, day=day, note=note, by=_who(by), now=_clock())
        echo(tr("Recorded {outcome} for {n} open {channel} entries of {day}.", outcome=tr(outcome), n=n,
                channel=tr(channel), day=i18n.day(day)))
        return
    conn = _open(ctx, create=False)
    record = correct_outcome if correct else record_outcome
    done = record(conn, entry, outcome, day=day, callback=callback, note=note, by=_who(by), now=_clock())
    if correct:
        echo(tr("Corrected entry {entry} ({pid}) to {outcome}: {step}.", entry=done.entry, pid=done.patient_id,
                      outcome=tr(done.outcome), step=done.step))
        return
    household = ntr(" + {n} in the household", " + {n} in the household", done.household) if done.household else ""
    echo(tr("Recorded {outcome} for entry {entry} ({pid}{household}): {step}.", outcome=tr(done.outcome),
                  entry=done.entry, pid=done.patient_id, household=household, step=done.step))


@app.command("log")
def log(ctx: typer.Context,
        patient: Optional[str] = typer.Argument(None, help="The patient's card number (or --date for a day)."),
        date: Optional[str] = typer.Option(None, "--date", help="The day's log instead: what the desks did for "
                                           "that day's list."),
        who: Optional[str] = typer.Option(None, "--by", help="With --date: only what this person recorded."),
        fmt: Format = FORMAT_OPTION):
    """The patient's contact history (who, when, how, the outcome and the reasons), or with --date
    the day's log: every contact recorded for that day's list, with names and outcomes in words."""
    if patient is None and date is None:
        raise UsageError(N_("name a patient's card number, or a day with --date"))
    if who and date is None:
        raise UsageError(N_("--by goes with --date"))
    if patient is not None and date is not None:
        raise UsageError(N_("name a patient or a day (--date), not both"))
    conn = _open(ctx, create=False)
    word = tr if fmt in (Format.table, Format.md) else str
    if date is not None:
        from followup.actions.contacts import day_log

        day = _date(date)
        rows = day_log(conn, day=day, by=who)
        if fmt in (Format.json, Format.xlsx):
            _structured(rows, fmt, "contacts")
            return
        if not rows and fmt is Format.table:
            _console().print(tr("Nothing recorded for the list of {day}.", day=i18n.day(day)), markup=False)
            return
        flat = [dict(r, time=r["recorded_at"][11:16], patient=f"{r['patient']} ({r['patient_id']})",
                     reasons=", ".join(word(c) for c, _ in r["reasons"]), channel=word(r["channel"]),
                     outcome=word(r["outcome"])) for r in rows]
        _print_rows(flat, ["time", "recorded_by", "patient", "channel", "outcome", "reasons", "note"], fmt,
                    title=tr("Done for the list of {day}: {n}", day=i18n.day(day), n=len(rows)))
        return
    from followup.actions.contacts import contact_log

    pid, rows = contact_log(conn, patient)
    if fmt in (Format.json, Format.xlsx):
        _structured(rows, fmt, "contacts")
        return
    def outcome(r: dict) -> str:
        if r["superseded_by"]:
            return tr("{outcome} (corrected by {who} at {at})", outcome=word(r["outcome"]), who=r["corrected_by"],
                      at=r["corrected_at"][:16])
        if r["delivery"] == "delivered":
            return tr("{outcome}, delivered", outcome=word(r["outcome"]))
        return word(r["outcome"])
    flat = [dict(r, reasons=", ".join(f"{word(c)}:{ref}" for c, ref in r["reasons"]), channel=word(r["channel"]),
                 outcome=outcome(r)) for r in rows]
    _print_rows(flat, ["recorded_at", "recorded_by", "channel", "outcome", "reasons", "retry_on", "callback_on",
                       "note"], fmt, title=tr("Contacts with {pid}", pid=pid))


config_app = typer.Typer(cls=_Group, help="The clinic's contact policy and texts, shared by every desk.",
                         no_args_is_help=True)
app.add_typer(config_app, name="config")


@config_app.command("list")
def config_list(ctx: typer.Context, fmt: Format = FORMAT_OPTION):
    """Every setting with its value (and whether it is the default)."""
    from followup.actions.config import list_settings

    conn = _open(ctx, create=False)
    rows = [{"key": k, "value": v, "default": is_default} for k, v, is_default in list_settings(conn)]
    _print_rows(rows, ["key", "value", "default"], fmt)


@config_app.command("get")
def config_get(ctx: typer.Context, key: str = typer.Argument(..., help="A setting, e.g. cap_days.")):
    """Print one setting's value."""
    from followup import settings
    from followup.actions.config import get_setting

    settings.setting(key)  # an unknown key is refused before the database is opened
    conn = _open(ctx, create=False)
    echo(get_setting(conn, key))


@config_app.command("set")
def config_set(ctx: typer.Context, key: str = typer.Argument(..., help="A setting, e.g. cap_days."),
               value: Optional[str] = typer.Argument(None, help="The new value (omit with --default)."),
               default: bool = typer.Option(False, "--default", help="Go back to the default value."),
               by: Optional[str] = BY_OPTION):
    """Change a setting for every desk and the cron job."""
    from followup import settings
    from followup.actions.config import change_setting, require_value_or_default

    settings.setting(key)
    require_value_or_default(value, default)
    if value is not None:
        settings.check(key, value)  # refused before the database is opened
    conn = _open(ctx, create=False)
    echo(f"{key} = {change_setting(conn, key, value, by=_who(by), now=_clock())}")
    from followup.actions.config import template_cost

    cost = template_cost(conn, key)
    if cost:
        echo(tr("Warning: with long names this text takes {parts} SMS parts, more than send.sms.max_parts ({most}): "
                "followup send will hold such messages", parts=cost[0], most=cost[1]), err=True)
