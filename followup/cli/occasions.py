"""The occasions the clinic greets its patients on: `occasion list|add|text|retire|remove`."""

from __future__ import annotations

import json
from typing import Optional

import typer

from followup import i18n

from followup.cli.core import BY_OPTION, FORMAT_OPTION, Format, _Group, _clock, _open, _print_rows, _who, app, echo
from followup.i18n import ntr, tr

occasion_app = typer.Typer(cls=_Group, help="Thanks, birthdays and the clinic's holidays: the texts the patients "
                           "who agreed to them get.", no_args_is_help=True)
app.add_typer(occasion_app, name="occasion")


def _rows(found, fmt: Format) -> list[dict]:
    readable = fmt in (Format.table, Format.md)
    rows = []
    for o in found:
        on = f"{o.month:02d}-{o.day:02d}" if o.month else None
        if readable:
            name = tr(o.name) if o.key == o.name else o.name
            texts = "\n".join(f"#{t['id']}: {t['text']}" for t in o.texts) or tr("the built-in texts")
            when = {"thanks": tr("the day after a first visit or a treatment's end"),
                    "birthday": tr("the patient's birthday"),
                    "discount_step": tr("the patient's visits pass a step of discount.steps")}.get(o.key)
            rows.append({"occasion": name, "on": f"{o.day:02d}.{o.month:02d}" if o.month else when,
                         "for": tr(o.sex) if o.sex else tr("everyone"), "texts": texts})
        else:
            rows.append({"key": o.key, "name": o.name, "on": on, "sex": o.sex,
                         "texts": [dict(t) for t in o.texts] if fmt is Format.json else
                         " | ".join(t["text"] for t in o.texts)})
    return rows


@occasion_app.command("list")
def occasion_list(ctx: typer.Context, fmt: Format = FORMAT_OPTION):
    """Thanks, birthdays and the clinic's holidays, with the clinic's own texts of each."""
    from followup.actions.occasions import occasions

    rows = _rows(occasions(_open(ctx, create=False)), fmt)
    _print_rows(rows, list(rows[0]), fmt, title=tr("Occasions"))


@occasion_app.command("add")
def occasion_add(ctx: typer.Context,
                 name: str = typer.Argument(..., help="The holiday's name as the texts say it, e.g. "
                                            "\"Новый год\"."),
                 on: str = typer.Option(..., "--on", help="Its day every year: 12-31 (month-day) or 31.12."),
                 sex: Optional[str] = typer.Option(None, "--sex", help="Only the female or the male patients (as "
                                                   "the patronymic tells)."),
                 text: list[str] = typer.Option([], "--text", help="A text of the greeting (may be repeated; "
                                                "placeholders as in the templates, {occasion} is the name). "
                                                "Without: the built-in texts."),
                 by: Optional[str] = BY_OPTION):
    """Greet the patients who agreed to greetings on a holiday, every year."""
    from followup.actions.occasions import add_holiday

    found = add_holiday(_open(ctx, create=False), name, on=on, sex=sex, texts=tuple(text), by=_who(by), now=_clock())
    echo(tr("Holiday {name} added: on {day} every year, {texts}.", name=found.name,
            day=f"{found.day:02d}.{found.month:02d}",
            texts=ntr("{n} text of the clinic's", "{n} texts of the clinic's", len(found.texts))
            if found.texts else tr("the built-in texts")))


@occasion_app.command("text")
def occasion_text(ctx: typer.Context,
                  occasion: str = typer.Argument(..., help="thanks, birthday, or a holiday's name."),
                  text: str = typer.Argument(..., help="The text: placeholders {greeting}, {clinic}, {doctor}, "
                                             "{date}, {last_visit}, {occasion}."),
                  by: Optional[str] = BY_OPTION):
    """Add a text of the clinic's for an occasion: its patients get one of these, never the one they got
    the last time."""
    from followup.actions.occasions import add_text

    found, tid = add_text(_open(ctx, create=False), occasion, text, by=_who(by), now=_clock())
    echo(tr("Text #{id} added to {occasion}: {texts}.", id=tid,
            occasion=tr(found.name) if found.key == found.name else found.name,
            texts=ntr("{n} text of the clinic's", "{n} texts of the clinic's", len(found.texts))))


@occasion_app.command("retire")
def occasion_retire(ctx: typer.Context, text_id: int = typer.Argument(..., help="The text's number (#) in "
                                                                      "followup occasion list."),
                    by: Optional[str] = BY_OPTION):
    """Stop using a text (it stays recorded for the patients who got it)."""
    from followup.actions.occasions import retire_text

    retire_text(_open(ctx, create=False), text_id, by=_who(by), now=_clock())
    echo(tr("Text #{id} retired.", id=text_id))


@occasion_app.command("remove")
def occasion_remove(ctx: typer.Context, name: str = typer.Argument(..., help="The holiday's name."),
                    by: Optional[str] = BY_OPTION):
    """Stop greeting on a holiday."""
    from followup.actions.occasions import remove_holiday

    found = remove_holiday(_open(ctx, create=False), name, by=_who(by), now=_clock())
    echo(tr("Holiday {name} removed: no more greetings on it.", name=found.name))





campaign_app = typer.Typer(cls=_Group, help="Marketing campaigns: only to the patients who gave the marketing consent "
                           "on the campaign's channel.", no_args_is_help=True)
app.add_typer(campaign_app, name="campaign")


@campaign_app.command("add")
def campaign_add(ctx: typer.Context,
                 name: str = typer.Argument(..., help="The campaign's name, e.g. \"Гигиена весной\"."),
                 text: str = typer.Option(..., "--text", help="The message: placeholders {greeting}, {clinic}, "
                                          "{doctor}, {last_visit}."),
                 channel: str = typer.Option(..., "--channel", help="sms, email or messenger."),
                 audience: str = typer.Option("all", "--audience", help="all, regulars (regular patients and "
                                              "big spenders) or families (households of two or more)."),
                 start: Optional[str] = typer.Option(None, "--from", help="Its first day (default: today)."),
                 end: Optional[str] = typer.Option(None, "--to", help="Its last day (default: two weeks on)."),
                 by: Optional[str] = BY_OPTION):
    """Add a campaign: followup send sends it once to each patient of the audience who gave the marketing
    consent on its channel, from its first day to its last."""
    from followup.actions.occasions import add_campaign
    from followup.cli.core import _date, _today

    shown = add_campaign(_open(ctx, create=False), name, text=text, channel=channel, audience=audience,
                         starts=_date(start, "--from") if start else None, ends=_date(end, "--to") if end else None,
                         by=_who(by), now=_clock(), today=_today())
    c = shown.campaign
    echo(tr("Campaign {name} added: {start} to {end}, by {channel}; on {day} it reaches {n} (followup campaign show "
            "for who and who not).", name=c.name, start=i18n.day(c.starts), end=i18n.day(c.ends),
            channel=tr(c.channel), day=i18n.day(shown.day), n=len(shown.would_get)))


@campaign_app.command("list")
def campaign_list(ctx: typer.Context, fmt: Format = FORMAT_OPTION):
    """Every campaign: its days, channel and audience; how many it reached, how many of them came within 60
    days, and how many named a mailing as what brought them."""
    from followup.actions.occasions import campaigns

    rows = campaigns(_open(ctx, create=False))
    if fmt in (Format.table, Format.md):
        rows = [dict(r, channel=tr(r["channel"]), audience=tr(r["audience"]),
                     stopped_at=r["stopped_at"] or "") for r in rows]
    _print_rows(rows, ["id", "name", "starts", "ends", "channel", "audience", "reached", "came_within_60_days",
                       "named_mailing", "stopped_at"], fmt, title=tr("Campaigns"))


@campaign_app.command("show")
def campaign_show(ctx: typer.Context, name: str = typer.Argument(..., help="The campaign's name or number."),
                  date: Optional[str] = typer.Option(None, "--date", help="The day to look at (default: today, or "
                                                     "its first day)."),
                  fmt: Format = FORMAT_OPTION):
    """Who a campaign reaches and who not, and why; and what it did so far."""
    from followup.actions.occasions import campaign_preview
    from followup.cli.core import _date, _today

    row, shown = campaign_preview(_open(ctx, create=False), name, day=_date(date) if date else None, today=_today())
    if fmt in (Format.json, Format.xlsx):
        data = {"campaign": row, "day": shown.day.isoformat(), "would_get": shown.would_get,
                "not_sent": [dict(n, why=str(n["why"])) for n in shown.not_sent],
                "outside_audience": shown.outside, "no_consent": shown.no_consent}
        if fmt is Format.json:
            echo(json.dumps(data, ensure_ascii=False, indent=2))
        else:
            _print_rows(data["would_get"] + data["not_sent"], ["patient_id", "patient"], fmt, title=row["name"])
        return
    echo(tr("Campaign {name}: {start} to {end}, by {channel}, audience {audience}{stopped}.", name=row["name"],
            start=row["starts"], end=row["ends"], channel=tr(row["channel"]), audience=tr(row["audience"]),
            stopped=tr(", stopped {date}", date=row["stopped_at"][:10]) if row["stopped_at"] else ""))
    echo(tr("So far: reached {reached}, of whom {came} came within 60 days and {named} named a mailing as what "
            "brought them.", reached=row["reached"], came=row["came_within_60_days"], named=row["named_mailing"]))
    _print_rows([{"patient_id": w["patient_id"], "patient": w["patient"]} for w in shown.would_get],
                ["patient_id", "patient"], fmt, title=tr("Reached on {day}: {n}", day=i18n.day(shown.day),
                                                          n=len(shown.would_get)))
    if shown.not_sent:
        _print_rows([{"patient_id": n["patient_id"], "patient": n["patient"], "why": str(n["why"])}
                     for n in shown.not_sent], ["patient_id", "patient", "why"], fmt,
                    title=tr("Not reached: {n}", n=len(shown.not_sent)))
    echo(tr("Not of the audience: {outside}. Without a marketing consent by {channel}: {none} active patients.",
            outside=shown.outside, channel=tr(row["channel"]), none=shown.no_consent))


@campaign_app.command("stop")
def campaign_stop(ctx: typer.Context, name: str = typer.Argument(..., help="The campaign's name or number."),
                  by: Optional[str] = BY_OPTION):
    """Stop a campaign at once: nothing more of it is listed or sent."""
    from followup.actions.occasions import stop_campaign

    row = stop_campaign(_open(ctx, create=False), name, by=_who(by), now=_clock())
    echo(tr("Campaign {name} stopped.", name=row["name"]))
