"""The occasions the clinic greets its patients on: `occasion list|add|text|retire|remove`."""

from __future__ import annotations

from typing import Optional

import typer

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
                    "birthday": tr("the patient's birthday")}.get(o.key)
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
                 name: str = typer.Argument(..., help="The holiday's name as the texts say it, e.g. \"Новый год\"."),
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



