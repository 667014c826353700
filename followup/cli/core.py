"""What every command shares: the app and its error edge, the output formats, and small helpers."""

from __future__ import annotations

import datetime as dt
import getpass
import json
import os
import sqlite3
import sys
from enum import Enum
from pathlib import Path
from typing import Optional

import typer
from typer.core import TyperGroup

from followup.errors import ExitStatus, FollowupError, UsageError
from followup.i18n import LANGUAGES, N_, choose, language, set_language, tr
from followup.text import visible


# Click's own error classes, as the Click that Typer vendors defines them.
_CLICK_ERROR = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


class _Group(TyperGroup):
    """Catches every FollowupError once, at the edge: one line on stderr and its exit code.

    Mistyped options and values (Click's usage errors) get one line too, instead of a box.
    """

    def main(self, args=None, *rest, standalone_mode: bool = True, **kwargs):
        argv = list(sys.argv[1:] if args is None else args)
        _choose_language(argv)
        _translate_help(self, argv)
        if not standalone_mode:
            return super().main(argv, *rest, standalone_mode=False, **kwargs)
        try:
            rv = super().main(argv, *rest, standalone_mode=False, **kwargs)
        except _CLICK_ERROR as exc:
            ctx = getattr(exc, "ctx", None)
            if type(exc).__name__ == "NoArgsIsHelpError":
                pass  # `followup db`, say: the help page is printed already (see parse_args)
            else:
                hint = tr(" (see: {command} --help)", command=ctx.command_path) if ctx is not None else ""
                echo(tr("Error: {message}", message=_click_message(exc.format_message())) + hint, err=True)
            sys.exit(exc.exit_code)
        except typer.Abort:
            echo(tr("Aborted."), err=True)
            sys.exit(ExitStatus.FAILURE)
        except Exception as exc:  # a bug: its message may hold a value from the data, so it is never shown
            if os.environ.get("FOLLOWUP_DEBUG"):
                raise
            _report_bug(exc)
            sys.exit(INTERNAL_ERROR)
        sys.exit(rv if isinstance(rv, int) else 0)

    def parse_args(self, ctx, args):
        if not args and self.no_args_is_help:  # the help page is printed as the error is raised
            _translate_help_words()
        return super().parse_args(ctx, args)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except FollowupError as exc:
            echo(tr("Error: {message}", message=str(exc)), err=True)
            raise typer.Exit(exc.exit_code) from None
        except sqlite3.DatabaseError as exc:
            from followup.db import as_error

            error = as_error(exc)
            if error is None:
                raise  # a constraint or programming error is a bug (see main)
            echo(tr("Error: {message}", message=str(error)), err=True)
            raise typer.Exit(error.exit_code) from None


def _option_value(argv: list[str], name: str) -> Optional[str]:
    """The value of a global option (--lang, --db) before Click parses the command line."""
    for i, a in enumerate(argv):
        if a == name and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith(name + "="):
            return a.split("=", 1)[1]
    return None


def _choose_language(argv: list[str]) -> None:
    """--lang, else $FOLLOWUP_LANG, else the clinic's setting, else the locale (see i18n.choose)."""
    given = _option_value(argv, "--lang")
    setting = None
    if not (given or os.environ.get("FOLLOWUP_LANG")):
        setting = _language_setting(_option_value(argv, "--db"))
    set_language(choose(given, setting))


def _language_setting(db_option: Optional[str]) -> Optional[str]:
    """The clinic's `language` setting, read without migrating or creating anything."""
    from followup.db import default_path, peek_setting

    given = db_option or os.environ.get("FOLLOWUP_DB")
    return peek_setting(Path(given).expanduser() if given else default_path(), "language")


def _translate_help(group, argv: list[str]) -> None:
    """Help texts are English in the code (the catalogue's keys): put them in the chosen language."""
    helping = "--help" in argv or not argv
    if helping:
        _translate_help_words()
    if language() == "en" and not helping:
        return
    import inspect

    def walk(cmd):
        if cmd.help:
            text = tr(inspect.cleandoc(cmd.help))
            cmd.help = _reflowed(text) if helping else text
        if cmd.short_help:
            cmd.short_help = tr(cmd.short_help)
        for param in cmd.params:
            if getattr(param, "help", None):
                param.help = tr(param.help)
        for sub in getattr(cmd, "commands", {}).values():
            walk(sub)

    walk(group)


def _phone(number: str | None) -> str:
    """A stored number for people: an extension after the word for it ("+74951234567 доб. 123")."""
    from followup.phones import shown_phone

    return shown_phone(number, tr("ext."))


def _reflowed(text: str) -> str:
    """A help text's paragraphs as flowing text, for the terminal to wrap at its own width: the line
    breaks of the source (or the catalogue) inside a paragraph become spaces."""
    return "\n\n".join(" ".join(paragraph.split()) for paragraph in text.split("\n\n"))


def _translate_help_words() -> None:
    """The words of a help page that come from Typer and Click (panel titles, 'Usage:', the --help
    option's text), for a help page in the chosen language. Only when a help page is printed:
    `typer.rich_utils` imports rich, which `today` should not pay for."""
    import typer.rich_utils as ru
    from typer import _click

    ru.OPTIONS_PANEL_TITLE, ru.COMMANDS_PANEL_TITLE = tr("Options"), tr("Commands")
    ru.ARGUMENTS_PANEL_TITLE, ru.REQUIRED_LONG_STRING = tr("Arguments"), tr("[required]")
    ru.DEFAULT_STRING = tr("[default: {}]")

    command, formatter = _click.core.Command, _click.formatting.HelpFormatter
    if getattr(command, "_followup_translated", False):
        return
    get_help_option, write_usage = command.get_help_option, formatter.write_usage

    def translated_help_option(self, ctx):
        option = get_help_option(self, ctx)
        if option is not None:
            option.help = tr(N_("Show this message and exit."))
        return option

    def translated_usage(self, prog, args="", prefix=None):
        return write_usage(self, prog, args, tr(N_("Usage: ")) if prefix is None else prefix)

    command.get_help_option, formatter.write_usage = translated_help_option, translated_usage
    command._followup_translated = True


INTERNAL_ERROR = ExitStatus.INTERNAL_ERROR


def _report_bug(exc: BaseException) -> None:
    """Where it happened (files, lines, functions) and the exception's type: no message, no locals."""
    import traceback

    echo(tr("Error: internal error in followup ({kind}). Please report it with the lines below; they carry "
                  "no patient data (FOLLOWUP_DEBUG=1 shows the full traceback).", kind=type(exc).__name__), err=True)
    for frame in traceback.extract_tb(exc.__traceback__)[-10:]:
        echo(tr("  {file}:{line} in {function}", file=os.path.basename(frame.filename), line=frame.lineno,
                      function=frame.name), err=True)


app = typer.Typer(
    cls=_Group,
    help="followup: justified, consented contacts with a dental clinic's patients.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
db_app = typer.Typer(cls=_Group, help="Where the database is, and what is in it.", no_args_is_help=True)
patient_app = typer.Typer(cls=_Group, help="Look up a patient.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(patient_app, name="patient")


RECORD_ID_MAX = 2 ** 63 - 1  # the largest number SQLite keeps: a record's number (complaint, survey) is no larger


class Format(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    md = "md"
    xlsx = "xlsx"


FORMAT_OPTION = typer.Option(Format.table, "--format", "-f", help="table for people; json or csv for scripts; "
                             "md (Markdown) for a document; xlsx for Excel (redirect it to a file).")


def _structured(data, fmt: Format, name: str = "data") -> None:
    """A command's JSON contract, printed as JSON, or (xlsx) as a workbook: a list of records is one
    sheet; a record's lists of records are sheets of their own, its other fields a first sheet."""
    if fmt is Format.json:
        echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    if isinstance(data, list):
        sheets = [(name, data)]
    else:
        tables = {k: v for k, v in data.items() if isinstance(v, list) and all(isinstance(x, dict) for x in v)}
        scalars = {k: v for k, v in data.items() if k not in tables}
        sheets = ([(name, [scalars])] if scalars else []) + list(tables.items())
    _write_workbook([(title, rows, list(dict.fromkeys(k for r in rows for k in r))) for title, rows in sheets])


def _write_workbook(sheets: list[tuple[str, list[dict], list[str]]]) -> None:
    """Sheets of records as an .xlsx workbook on the standard output (followup.tables.workbook)."""
    from followup.tables import workbook

    if sys.stdout.isatty():
        raise UsageError(N_("an .xlsx workbook is not for the terminal: redirect it to a file (> report.xlsx)"))
    data = workbook(sheets)
    sys.stdout.flush()
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


def _excel_safe(value) -> str:
    from followup.tables import excel_safe

    return excel_safe(value)


def _csv_line(cells: list[str], delimiter: str) -> str:
    from followup.tables import csv_line

    return csv_line(cells, delimiter)


def _md_text(text: str) -> str:
    """Text in a Markdown document as text: no raw HTML, no link, no table cell break, no code span."""
    return (visible(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("|", "\\|").replace("[", "\\[").replace("]", "\\]").replace("`", "\\`"))


def _version(value: bool):
    if value:
        from followup import __version__

        echo("followup " + __version__)
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    db: Optional[Path] = typer.Option(None, "--db", help="Database file (else $FOLLOWUP_DB, else the "
                                      "per-user data directory).", dir_okay=False),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
    lang: Optional[str] = typer.Option(None, "--lang", help="Language: en or ru (else $FOLLOWUP_LANG, else the "
                                       "clinic's setting 'language', else the locale)."),
):
    """followup: justified, consented contacts with a dental clinic's patients."""
    if lang is not None and lang.strip().lower() not in LANGUAGES:
        raise UsageError(N_("unknown language {lang!r} (en or ru)"), lang=lang)
    ctx.obj = {"db": db}


def _db_path(ctx: typer.Context) -> Path:
    from followup import db

    given = (ctx.find_root().obj or {}).get("db")
    return Path(given).expanduser() if given else db.default_path()


def _open(ctx: typer.Context, *, create: bool, backup: bool = True):
    from followup import db

    return db.connect(_db_path(ctx), create=create, backup=backup)


def _user() -> str:
    return os.environ.get("FOLLOWUP_USER") or getpass.getuser()


def echo(text="", err: bool = False, nl: bool = True, *, shown_safely: bool = False) -> None:
    """Every line the commands print (str, or bytes of UTF-8) goes out here: text from outside shown
    safely (text.visible), whatever the format; ``shown_safely``: the text went through it already
    (the stored day's JSON, kept that way: a scan of megabytes saved on every `today`)."""
    typer.echo(text if shown_safely else visible(text), err=err, nl=nl)


def _console(err: bool = False):
    """rich's console for tables and prompts: what it is given to print is shown safely (text.visible)."""
    from rich.console import Console

    class SafeConsole(Console):
        def print(self, *objects, **kwargs):
            super().print(*(visible(o) if isinstance(o, str) else o for o in objects), **kwargs)

    return SafeConsole(stderr=err, highlight=False)


def _print_rows(rows: list[dict], columns: list[str], fmt: Format, title: str | None = None,
                labels: dict[str, str] | None = None) -> None:
    """One place for table/json/csv/xlsx output of a list of flat records (labels: table headings)."""
    if fmt is Format.json:
        echo(json.dumps(rows, ensure_ascii=False, indent=2))
    elif fmt is Format.xlsx:  # every field, as the JSON has them
        _write_workbook([(title or "data", rows, list(dict.fromkeys(k for r in rows for k in r)) or columns)])
    elif fmt is Format.md:
        def cell(v) -> str:
            return "" if v is None else _md_text(str(v)).replace("\n", "<br>")
        # blank lines around the table: Markdown reads a line right after a table as one more row
        echo(f"\n**{_md_text(title)}**\n" if title else "")
        echo("| " + " | ".join(_heading(c, labels) for c in columns) + " |")
        echo("|" + "---|" * len(columns))
        for r in rows:
            echo("| " + " | ".join(cell(_cell(r.get(c), c)) for c in columns) + " |")
        echo("")
    elif fmt is Format.csv:
        # For Excel: UTF-8 with a BOM so Cyrillic shows, and no cell that Excel would run as a formula.
        # A text cell holding a comma or a semicolon is quoted whatever the delimiter: a Russian Excel
        # splits a comma-separated file on semicolons, and must not find a formula inside a cell.
        delimiter = _csv_delimiter()
        sys.stdout.write("\ufeff")
        sys.stdout.write(_csv_line(columns, delimiter))
        for r in rows:
            sys.stdout.write(_csv_line([_excel_safe(r.get(c)) for c in columns], delimiter))
    else:
        from rich.table import Table

        console = _console()
        cells = [[_heading(c, labels)] + [visible(_cell(r.get(c), c)) for r in rows]
                 for c in columns]
        widths = _column_widths(cells, console.width - 3 * len(columns) - 1)  # less the borders and padding
        if rows and widths is None:
            _print_records(rows, columns, title, labels)
            return
        from rich.text import Text

        table = Table(title=Text(visible(title), style="table.title") if title else None)
        for c, width in zip(columns, widths):
            table.add_column(_heading(c, labels), overflow="fold", width=width)
        for i in range(len(rows)):
            table.add_row(*(Text(col[i + 1]) for col in cells))  # as plain text: "[...]" in data is no markup
        console.print(table)


def _csv_delimiter() -> str:
    """The clinic's `csv.delimiter` (a comma unless it chose ';' for a Russian Excel, or tab)."""
    from typer._click.globals import get_current_context

    from followup.db import peek_setting

    ctx = get_current_context(silent=True)
    chosen = peek_setting(_db_path(ctx), "csv.delimiter") if ctx is not None else None
    from followup.settings import delimiter_char

    return delimiter_char(chosen)


def _column_widths(cells: list[list[str]], room: int) -> list[int] | None:
    """Each column's width for a table in ``room`` characters, no word broken: every column as
    wide as its longest line, the widest cut down to one common limit but never below their
    longest word. None when even the longest words do not fit."""
    longest_line = [max((len(line) for text in col for line in text.split("\n")), default=1) or 1 for col in cells]
    longest_word = [max((len(w) for text in col for w in text.split()), default=1) or 1 for col in cells]
    if sum(longest_word) > room:
        return None

    def cut(limit: int) -> list[int]:
        return [max(word, min(line, limit)) for line, word in zip(longest_line, longest_word)]

    low, high = 1, max(longest_line)  # the largest limit that fits
    while low < high:
        mid = (low + high + 1) // 2
        low, high = (mid, high) if sum(cut(mid)) <= room else (low, mid - 1)
    return cut(low)


def _print_records(rows: list[dict], columns: list[str], title: str | None, labels: dict[str, str] | None) -> None:
    """A table too wide for the terminal, a record at a time: one 'heading: value' line a column."""
    heads = [_heading(c, labels) for c in columns]
    width = max(len(h) for h in heads)
    records = ["\n".join((f"{h:<{width}}  " + _cell(r.get(c), c).replace("\n", "\n" + " " * (width + 2))).rstrip()
                         for c, h in zip(columns, heads)) for r in rows]
    echo("\n\n".join(([title] if title else []) + records))



# Table headings (column names with spaces), for the catalogue; CSV and JSON keep the field names
HEADINGS = (N_("entry"), N_("time"), N_("consents"), N_("next contacts"), N_("contacts"), N_("surveys"),
            N_("complaints"), N_("window"), N_("patient"), N_("phone"), N_("channel"), N_("reasons"), N_("doctor"),
            N_("warnings"), N_("message"), N_("rule"), N_("status"), N_("explanation"), N_("channels"),
            N_("patient id"), N_("recorded at"), N_("recorded by"), N_("outcome"), N_("retry on"),
            N_("callback on"), N_("note"), N_("key"), N_("value"), N_("default"), N_("file"), N_("kind"),
            N_("rejected"), N_("run"), N_("user"), N_("visit id"), N_("date"), N_("control due"), N_("start"),
            N_("appointment id"), N_("plan id"), N_("stage"), N_("stage title"), N_("due date"), N_("full name"),
            N_("birth date"), N_("household id"), N_("phone valid"), N_("phone2"), N_("phone2 valid"), N_("email"),
            N_("first visit"), N_("missing since"), N_("purpose"), N_("state"), N_("address"), N_("days"),
            N_("how"), N_("n"), N_("mean"), N_("median"), N_("nps"), N_("nps ci"), N_("expectations met"),
            N_("trend"), N_("wave"), N_("from"), N_("to"), N_("mean score"), N_("positive"), N_("theme"),
            N_("count"), N_("examples"), N_("last visit"), N_("quarter"), N_("first time"), N_("returned"),
            N_("pending"), N_("conversion"), N_("final"), N_("reason"), N_("attempted"),
            N_("reached"), N_("booked"), N_("declined"), N_("patients"), N_("share"), N_("survey"), N_("comment"),
            N_("id"), N_("opened at"), N_("text"), N_("action"), N_("path"), N_("schema"), N_("doctors"),
            N_("plan stages"), N_("words"), N_("problems"), N_("praise"), N_("parts"), N_("why"), N_("name"), N_("role"),
            N_("language"), N_("created at"), N_("created by"), N_("changed at"), N_("disabled at"),
            N_("starts"), N_("ends"), N_("named mailing"), N_("stopped at"), N_("shown"), N_("clinic's own"),
            N_("occasion"), N_("on"), N_("texts"))


def _prompts():
    """rich's prompts, answered and complaining in the chosen language: (yes/no, whole number, text).

    A yes/no question takes да/нет (or д/н) in Russian, and y/n/yes/no in any language."""
    from rich.prompt import Confirm, IntPrompt, InvalidResponse, Prompt
    from rich.text import Text as Plain

    yes, no = tr("yes"), tr("no")

    class Safe:
        """A question shown safely (its patient's name, a clinic's wording): plain text, never markup."""

        def __init__(self, prompt="", **kwargs):
            kwargs["console"] = kwargs.get("console") or _console()
            super().__init__(Plain(visible(str(prompt))), **kwargs)

    class YesNo(Safe, Confirm):
        choices = [yes, no]
        validate_error_message = "[prompt.invalid]" + tr("Please answer {yes} or {no}", yes=yes, no=no)

        def process_response(self, value: str) -> bool:
            answer = value.strip().lower()
            if answer in {yes, yes[:1], "y", "yes"}:
                return True
            if answer in {no, no[:1], "n", "no"}:
                return False
            raise InvalidResponse(self.validate_error_message)

    class Number(Safe, IntPrompt):
        validate_error_message = "[prompt.invalid]" + tr("Please enter a whole number")

    class Text(Safe, Prompt):
        illegal_choice_message = "[prompt.invalid.choice]" + tr("Please answer one of the choices shown")

    return YesNo, Number, Text


# fields that are shares (0.596): shown as percentages to people (59.6 %); JSON and CSV keep the fraction
from followup.tables import SHARES  # noqa: E402 (fractions shown as percentages)


def _cell(value, column: str = "") -> str:
    """A value in a table for people: yes/no in the chosen language, dates as its people write them
    (03.12.2026 14:30 in Russian; CSV and JSON keep 2026-12-03), shares as percentages, and a decimal
    comma in Russian (8,25; 59,6 %)."""
    if isinstance(value, bool):
        return tr(N_("yes")) if value else tr(N_("no"))
    if value is None:
        return ""
    if isinstance(value, float):
        text = f"{round(100 * value, 1):g} %" if column in SHARES else f"{value:g}"
        return text.replace(".", ",") if language() == "ru" else text
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, float) for v in value):  # an interval
        return "[" + "; ".join(_cell(v) for v in value) + "]" if language() == "ru" else \
            "[" + ", ".join(_cell(v) for v in value) + "]"
    text = str(value)
    if language() == "ru" and len(text) >= 10 and text[4] == "-":
        import re

        m = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}:\d{2})(?::\d{2}(?:\.\d+)?)?)?", text)
        if m:
            return f"{m[3]}.{m[2]}.{m[1]}" + (f" {m[4]}" if m[4] else "")
    return text


def _heading(column: str, labels: dict[str, str] | None) -> str:
    """A table's column heading in the chosen language (CSV and JSON keep the field names)."""
    return tr((labels or {}).get(column) or column.replace("_", " "))


def _click_message(text: str) -> str:
    """Click's own usage errors, in the chosen language (their values kept as typed)."""
    if language() == "en":
        return text
    import re

    for pattern, msgid in _CLICK_ERRORS:
        m = re.fullmatch(pattern, text, re.S)
        if m:
            return tr(msgid, **m.groupdict())
    return text


_CLICK_ERRORS = (
    (r"No such option: (?P<option>\S+)(?P<rest>.*)", N_("No such option: {option}{rest}")),
    (r"No such command '(?P<command>.+?)'\. Did you mean '(?P<guess>.+)'\?",
     N_("No such command '{command}'. Did you mean '{guess}'?")),
    (r"No such command '(?P<command>.+)'\.", N_("No such command '{command}'.")),
    (r"Missing option '(?P<option>.+)'\.", N_("Missing option '{option}'.")),
    (r"Missing argument '(?P<argument>.+)'\.", N_("Missing argument '{argument}'.")),
    (r"Got unexpected extra arguments? \((?P<args>.+)\)", N_("Got unexpected extra arguments ({args})")),
    (r"Invalid value for '(?P<option>.+?)': (?P<reason>.+)", N_("Invalid value for '{option}': {reason}")),
    (r"Option '(?P<option>.+)' requires an argument\.", N_("Option '{option}' requires an argument.")),
    (r"Missing command\.", N_("Missing command.")),
)


def _date(text: Optional[str], what: str = "--date") -> dt.date:
    """A date from the command line (2026-12-03 or 03.12.2026); default: the real today."""
    if text is None:
        return _today()
    from followup.importing.values import BadValue, parse_date

    from followup.records import FIRST_DAY, LAST_DAY, usable_day

    try:
        day = parse_date(text.strip())
    except (BadValue, ValueError):
        raise UsageError(N_("{what} {value!r} is not a date (use 2026-12-03 or 03.12.2026)"), what=what,
                         value=text) from None
    if not usable_day(day):
        raise UsageError(N_("{what} {value!r} is out of range ({first} to {last})"), what=what, value=text,
                         first=FIRST_DAY.isoformat(), last=LAST_DAY.isoformat())
    return day


# The clock and the user are read here, at the edge, and passed to the use cases.
def _today() -> dt.date:
    return dt.date.today()


def _clock() -> dt.datetime:
    return dt.datetime.now().replace(microsecond=0)


def _who(by: Optional[str]) -> str:
    """Who records it: --by, else $FOLLOWUP_USER, else the login name."""
    return by or _user()


# options many commands share, declared once
BY_OPTION = typer.Option(None, "--by", help="Who records it (else $FOLLOWUP_USER, else your login name).")
DAY_OPTION = typer.Option(None, "--date", help="The day of the list (default: today).")


def _choices(values: list[str], allowed: tuple[str, ...], what: str, every: tuple[str, ...] | None = None) -> list[str]:
    """The codes named by comma-separated words in either language ("напоминание, смс"), or all
    (``every``, when "all" means fewer than all the codes)."""
    from followup.records import understood

    out: list[str] = []
    for v in values:
        for part in v.split(","):
            part = part.strip()
            code = understood(part, allowed, what)
            if part.lower() in ("all", "все", "всё"):
                out.extend(every or allowed)
            elif code:
                out.append(code)
            else:
                raise UsageError(N_("unknown {what} {value!r} (one of {allowed}, or all)"), what=tr(what), value=part,
                                    allowed=", ".join(allowed))
    if not out:
        raise UsageError(N_("give at least one --{what}"), what=what)
    return list(dict.fromkeys(out))
