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

from followup.db import DatabaseError
from followup.errors import Busy, FollowupError, NotFound, UsageError


# Click's own error classes, as the Click that Typer vendors defines them.
_CLICK_ERROR = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


class _Group(TyperGroup):
    """Catches every FollowupError once, at the edge: one line on stderr and its exit code.

    Mistyped options and values (Click's usage errors) get one line too, instead of a box.
    """

    def main(self, *args, standalone_mode: bool = True, **kwargs):
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        try:
            rv = super().main(*args, standalone_mode=False, **kwargs)
        except _CLICK_ERROR as exc:
            ctx = getattr(exc, "ctx", None)
            if type(exc).__name__ == "NoArgsIsHelpError" and ctx is not None:
                typer.echo(ctx.get_help())
            else:
                hint = f" (see: {ctx.command_path} --help)" if ctx is not None else ""
                typer.echo(f"Error: {exc.format_message()}{hint}", err=True)
            sys.exit(exc.exit_code)
        except typer.Abort:
            typer.echo("Aborted.", err=True)
            sys.exit(1)
        except Exception as exc:  # a bug: its message may hold a value from the data, so it is never shown
            if os.environ.get("FOLLOWUP_DEBUG"):
                raise
            _report_bug(exc)
            sys.exit(INTERNAL_ERROR)
        sys.exit(rv if isinstance(rv, int) else 0)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except FollowupError as exc:
            typer.echo(f"Error: {exc}", err=True)
            raise typer.Exit(exc.exit_code) from None
        except sqlite3.DatabaseError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                typer.echo(f"Error: {Busy('the database is busy; try again in a moment')}", err=True)
                raise typer.Exit(Busy.exit_code) from None
            if type(exc) not in (sqlite3.OperationalError, sqlite3.DatabaseError):
                raise  # a constraint or programming error is a bug (see main)
            # disk full, read-only file, damaged file: SQLite's message names no data
            typer.echo(f"Error: the database cannot be used: {exc} (see followup check)", err=True)
            raise typer.Exit(DatabaseError.exit_code) from None


INTERNAL_ERROR = 70  # EX_SOFTWARE


def _report_bug(exc: BaseException) -> None:
    """Where it happened (files, lines, functions) and the exception's type: no message, no locals."""
    import traceback

    typer.echo(f"Error: internal error in followup ({type(exc).__name__}). Please report it with the lines "
               f"below; they carry no patient data (FOLLOWUP_DEBUG=1 shows the full traceback).", err=True)
    for frame in traceback.extract_tb(exc.__traceback__)[-10:]:
        typer.echo(f"  {os.path.basename(frame.filename)}:{frame.lineno} in {frame.name}", err=True)


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


class Format(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    md = "md"


FORMAT_OPTION = typer.Option(Format.table, "--format", "-f", help="table for people; json or csv for scripts; "
                             "md (Markdown) for a document.")


def _excel_safe(value) -> str:
    """A CSV cell Excel shows as text: '=', '+', '-', '@', tab or CR first gets a leading quote
    ('+79161234567 stays readable as a phone)."""
    if value is None:
        return ""
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _version(value: bool):
    if value:
        from followup import __version__

        typer.echo(f"followup {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    db: Optional[Path] = typer.Option(None, "--db", help="Database file (else $FOLLOWUP_DB, else the "
                                      "per-user data directory).", dir_okay=False),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
):
    """followup: justified, consented contacts with a dental clinic's patients."""
    ctx.obj = {"db": db}


def _db_path(ctx: typer.Context) -> Path:
    from followup import db

    given = (ctx.find_root().obj or {}).get("db")
    return Path(given).expanduser() if given else db.default_path()


def _open(ctx: typer.Context, *, create: bool):
    from followup import db

    return db.connect(_db_path(ctx), create=create)


def _user() -> str:
    return os.environ.get("FOLLOWUP_USER") or getpass.getuser()


def _console(err: bool = False):
    from rich.console import Console

    return Console(stderr=err, highlight=False)


def _print_rows(rows: list[dict], columns: list[str], fmt: Format, title: str | None = None,
                labels: dict[str, str] | None = None) -> None:
    """One place for table/json/csv output of a list of flat records (labels: table headings)."""
    if fmt is Format.json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
    elif fmt is Format.md:
        def cell(v) -> str:
            return "" if v is None else str(v).replace("|", "\\|").replace("\n", "<br>")
        if title:
            typer.echo(f"\n**{title}**\n")
        typer.echo("| " + " | ".join((labels or {}).get(c, c.replace("_", " ")) for c in columns) + " |")
        typer.echo("|" + "---|" * len(columns))
        for r in rows:
            typer.echo("| " + " | ".join(cell(r.get(c)) for c in columns) + " |")
    elif fmt is Format.csv:
        import csv

        # For Excel: UTF-8 with a BOM so Cyrillic shows, and no cell that Excel would run as a formula.
        sys.stdout.write("\ufeff")
        w = csv.writer(sys.stdout, lineterminator="\r\n")
        w.writerow(columns)
        for r in rows:
            w.writerow([_excel_safe(r.get(c)) for c in columns])
    else:
        from rich.table import Table

        table = Table(title=title)
        for c in columns:
            table.add_column((labels or {}).get(c, c.replace("_", " ")), overflow="fold")
        for r in rows:
            table.add_row(*("" if r.get(c) is None else str(r.get(c)) for c in columns))
        _console().print(table)



def _date(text: Optional[str], what: str = "--date") -> dt.date:
    """A date from the command line (2026-12-03 or 03.12.2026); default: the real today."""
    if text is None:
        return dt.date.today()
    from followup.importing.values import BadValue, parse_date

    try:
        return parse_date(text.strip())
    except (BadValue, ValueError):
        raise UsageError(f"{what} {text!r} is not a date (use 2026-12-03 or 03.12.2026)") from None


def _now() -> str:
    return dt.datetime.now().isoformat(sep=" ", timespec="seconds")


def _known_patient(conn, patient_id: str) -> str:
    from followup import db

    patient_id = patient_id.strip()
    if not db.patient_exists(conn, patient_id):
        raise NotFound(f"no patient with card number {patient_id!r}")
    return patient_id


def _choices(values: list[str], allowed: tuple[str, ...], what: str) -> list[str]:
    out: list[str] = []
    for v in values:
        for part in v.split(","):
            part = part.strip().lower()
            if part == "all":
                out.extend(allowed)
            elif part in allowed:
                out.append(part)
            else:
                raise UsageError(f"unknown {what} {part!r} (one of {', '.join(allowed)}, or all)")
    if not out:
        raise UsageError(f"give at least one --{what}")
    return list(dict.fromkeys(out))



def _known_doctor(conn, name: Optional[str]) -> Optional[str]:
    """A doctor as named in the imports; a name that is not there suggests the closest ones."""
    if not name:
        return None
    import difflib

    from followup import db

    names = db.doctor_names(conn)
    wanted = " ".join(name.split())
    exact = [n for n in names if n.casefold() == wanted.casefold()]
    if exact:
        return exact[0]
    partial = [n for n in names if wanted.casefold() in n.casefold()]
    if len(partial) == 1:
        return partial[0]
    surnames = {n.split()[0]: n for n in names if n.split()}
    close = difflib.get_close_matches(wanted, names, n=3, cutoff=0.5) or partial[:3] or \
        [surnames[m] for m in difflib.get_close_matches(wanted.split()[0], list(surnames), n=3, cutoff=0.6)]
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    raise UsageError(f"unknown doctor {name!r}{hint}")



QUESTIONS_VERSION = "v1"
QUESTIONS = {
    "score": "Overall, how satisfied are you with your treatment, from 1 to 10?",
    "recommend": "How likely are you to recommend us to friends or family, from 0 to 10?",
    "expectations": "Did the treatment meet your expectations: yes, partly or no?",
    "comment": "What should we improve?",
}
