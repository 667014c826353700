"""`followup send`: the day's SMS and e-mails through the clinic's gateways (the sender face)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Optional

import typer

from followup.cli.core import FORMAT_OPTION, Format, _clock, _console, _db_path, _open, _print_rows, _today, _who, \
    app, echo
from followup.errors import ExitStatus, UsageError
from followup.i18n import N_, ntr, tr


# the states shown in the summary (JSON keeps the codes)
STATES = (N_("due"), N_("sent"), N_("failed"), N_("unknown"), N_("held"))


@app.command("send")
def send(
    ctx: typer.Context,
    channel: Optional[str] = typer.Option(None, "--channel", help="Only sms or email (default: both)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would go out now, with each SMS's parts; "
                                 "send nothing."),
    unknown: bool = typer.Option(False, "--unknown", help="List the messages whose fate is unknown (a crash or "
                                 "no answer mid-send), for a person to check with the provider."),
    status: bool = typer.Option(False, "--status", help="Ask the SMS gateway whether the messages sent arrived; "
                                "an undelivered one is due again (with a warning), counted as an attempt."),
    quiet: bool = typer.Option(False, "--quiet", help="Print only failures (for cron)."),
    fmt: Format = FORMAT_OPTION,
):
    """Send today's SMS and e-mail entries through the clinic's gateways, each at most once, within
    the sending hours and each patient's window; each sent entry is closed as 'sent'."""
    from followup.actions.sending import SENDABLE, begin, refused, sending_plan, sent, unknown_messages, unsure
    from followup.importing.run import exclusive_lock

    conn = _open(ctx, create=False)
    if unknown:
        rows = unknown_messages(conn)
        _print_rows(rows, ["id", "list_date", "patient_id", "channel", "provider", "started_at", "error"], fmt,
                    title=tr("Messages of unknown fate: check them with the provider before sending again"))
        return
    if status:
        _check_delivery(conn, fmt=fmt, quiet=quiet)
        return
    channels = (channel,) if channel else SENDABLE
    now_utc = dt.datetime.now(dt.timezone.utc)
    today = _today()
    if dry_run:
        plan = sending_plan(conn, today, channels, now_utc=now_utc, today=today)
        _report(plan, [], [], [], fmt=fmt, quiet=False, dry_run=True)
        return
    from followup import db
    from followup.gateways import Refused, Unsure, gateway_for

    with exclusive_lock(_db_path(ctx).with_name(_db_path(ctx).name + ".send.lock"),
                        N_("another followup send is running (lock held on {path}); try again later")):
        plan = sending_plan(conn, today, channels, now_utc=now_utc, today=today)
        settings = db.get_settings(conn)
        gateways = {}
        for ch in sorted({item.entry.channel for item in plan.due}):
            try:
                gateways[ch] = gateway_for(ch, settings)
            except UsageError as exc:
                if channel:  # asked for by name: its setup is the answer
                    raise
                # a channel the clinic has not set up (e-mail consents, SMS only, say): held, the rest goes
                plan.held.extend((item, exc.message) for item in plan.due if item.entry.channel == ch)
                plan.due = [item for item in plan.due if item.entry.channel != ch]
        done, failed, lost = [], [], []
        subject = tr("{clinic}: a message about your care", clinic=settings.get("clinic_name") or tr("The clinic"))
        try:
            by = _who(None)
            for item in plan.due:
                gateway = gateways[item.entry.channel]
                outbox_id = begin(conn, item, provider=gateway.name, by=by, now=_clock())
                if outbox_id is None:
                    continue  # another run sent it meanwhile
                try:
                    provider_id = gateway.send(item.entry.address, item.text, subject)
                except Refused as exc:
                    refused(conn, outbox_id, exc.code, now=_clock())
                    failed.append((item, exc.code))
                    continue
                except Unsure as exc:
                    unsure(conn, outbox_id, exc.code, now=_clock())
                    lost.append((item, exc.code))
                    continue
                sent(conn, plan, item, outbox_id, provider_id, by=by, now=_clock())
                done.append(item)
        finally:
            for g in gateways.values():
                g.close()
    _report(plan, done, failed, lost, fmt=fmt, quiet=quiet, dry_run=False)
    if failed or lost:
        raise typer.Exit(ExitStatus.FAILURE)


def _check_delivery(conn, *, fmt: Format, quiet: bool) -> None:
    """`send --status`: each SMS not known to have arrived, asked of its gateway."""
    from followup import db
    from followup.actions.sending import awaiting_delivery, delivery
    from followup.gateways import Refused, Unsure, gateway_for

    rows = awaiting_delivery(conn)
    counts = {"delivered": 0, "undelivered": 0, "pending": 0}
    if rows:
        gateway = gateway_for("sms", db.get_settings(conn))
        for row in rows:
            try:
                answer = gateway.status(row["provider_id"])
            except (Refused, Unsure):
                answer = "pending"
            counts[delivery(conn, row, answer, by=_who(None), now=_clock()) or "pending"] += 1
    if fmt is Format.json:
        echo(json.dumps(counts, ensure_ascii=False))
    elif not quiet:
        _console().print(tr("Delivered {delivered}; not delivered {undelivered} (due again, with a warning); "
                            "not known yet {pending}.", **counts), markup=False)


def _report(plan, done, failed, lost, *, fmt: Format, quiet: bool, dry_run: bool) -> None:
    """What went out, what waits and why, what failed: card numbers and entry ids, never a name,
    a number or a text (cron mails its output)."""
    from followup.i18n import Msg

    english = fmt is Format.json  # the same in every language: a held message's why in English

    def row(item, state, why=""):  # why: a gateway's code, or a message
        e = item.entry
        if isinstance(why, Msg):
            why = why.english() if english else str(why)
        return {"entry": item.shown_id, "patient_id": e.patient.patient_id, "channel": e.channel, "state": state,
                "parts": item.parts if e.channel == "sms" else None, "encoding": item.encoding, "why": why}
    rows = ([row(i, "sent") for i in done] + [row(i, "failed", code) for i, code in failed]
            + [row(i, "unknown", code) for i, code in lost] + [row(i, "held", why) for i, why in plan.held])
    if dry_run:
        rows = [row(i, "due") for i in plan.due] + [row(i, "held", why) for i, why in plan.held]
    if fmt is Format.json:
        echo(json.dumps({"day": plan.day.isoformat(), "dry_run": dry_run, "messages": rows,
                         "before": plan.done}, ensure_ascii=False, indent=2))
        return
    if quiet:
        for r in rows:
            if r["state"] in ("failed", "unknown"):
                echo(tr("{state}: {entry} ({patient_id}, {channel}): {why}", state=tr(r["state"]), **{
                    k: r[k] for k in ("entry", "patient_id", "channel", "why")}), err=True)
        return
    shown = [dict(r, state=tr(r["state"]), channel=tr(r["channel"])) for r in rows]
    if shown:
        _print_rows(shown, ["entry", "patient_id", "channel", "state", "parts", "why"], fmt)
    counts = {s: sum(1 for r in rows if r["state"] == s) for s in ("due", "sent", "failed", "unknown", "held")}
    line = (tr("Would send {due} now; {held} held.", **counts) if dry_run else
            tr("Sent {sent}; failed {failed}; unknown {unknown}; held {held}.", **counts))
    _console().print(line, markup=False)


@app.command("letters")
def letters(
    ctx: typer.Context,
    out: Optional[Path] = typer.Option(None, "--out", help="The printable file to write (HTML: open it in a browser "
                                       "and print; one page a letter)."),
    posted: bool = typer.Option(False, "--posted", help="The day's letters were printed and posted: close each "
                                "entry as sent."),
    date: Optional[str] = typer.Option(None, "--date", help="The list's day (default: today)."),
    force: bool = typer.Option(False, "--force", help="Overwrite the file if it exists."),
):
    """The day's letters (the channel post): a printable file with the clinic's header, one page a
    letter; then --posted once they are in the post."""
    from followup.actions.sending import letterhead, letters as day_letters, letters_posted
    from followup.cli.core import _date
    from followup.db import write_text_private

    day = _date(date)
    if not out and not posted:
        raise UsageError(N_("give --out FILE to print the letters, or --posted once they are posted"))
    conn = _open(ctx, create=False)
    if out:
        from followup.web.letters import letters_html

        found = day_letters(conn, day, today=_today())
        clinic, head = letterhead(conn)
        path = write_text_private(out, letters_html(found, clinic=clinic, letterhead=head, day=day, standalone=True),
                                  force=force)
        echo(ntr("{n} letter to print: {path}", "{n} letters to print: {path}", len(found), path=path))
    if posted:
        n = letters_posted(conn, day, today=_today(), by=_who(None), now=_clock())
        echo(ntr("{n} letter recorded as sent.", "{n} letters recorded as sent.", n))
