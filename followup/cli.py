"""The command line: thin Typer commands that parse options, call the API and render.

Heavy modules (sqlite-utils, rich.table, rich.progress, openpyxl, phonenumbers,
dateutil) are imported inside the commands that need them: `followup today`
is typed dozens of times a day.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import getpass
import json
import os
import sqlite3
import sys
import tempfile
from enum import Enum
from pathlib import Path
from typing import Optional

import typer
from typer.core import TyperGroup

from followup.errors import Busy, FollowupError, NotFound, RowsRejected, UsageError


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
        sys.exit(rv if isinstance(rv, int) else 0)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except FollowupError as exc:
            typer.echo(f"Error: {exc}", err=True)
            raise typer.Exit(exc.exit_code) from None
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                typer.echo(f"Error: {Busy('the database is busy; try again in a moment')}", err=True)
                raise typer.Exit(Busy.exit_code) from None
            raise


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


# ---------------------------------------------------------------------------
# db


@db_app.command("path")
def db_path(ctx: typer.Context):
    """Print where the database is (--db, else $FOLLOWUP_DB, else the per-user data directory)."""
    typer.echo(str(_db_path(ctx)))


@db_app.command("info")
def db_info(ctx: typer.Context, fmt: Format = FORMAT_OPTION):
    """Show the schema version and how many rows each table holds."""
    from followup import db

    conn = _open(ctx, create=False)
    info = {"path": str(_db_path(ctx)), "schema": db.schema_version(conn), **db.table_counts(conn)}
    _print_rows([info], list(info), fmt)


@app.command("backup")
def backup(ctx: typer.Context, dest: Path = typer.Argument(..., help="The backup file to write.")):
    """A consistent copy of the database while others keep working (readable by its owner only)."""
    from followup import db

    conn = _open(ctx, create=False)
    written = db.backup(conn, dest.expanduser())
    typer.echo(f"Backup written: {written}")


@app.command("check")
def check(ctx: typer.Context, fmt: Format = FORMAT_OPTION):
    """Check the database: integrity, foreign keys, schema version. Exit 1 if anything is wrong."""
    from followup import db

    conn = _open(ctx, create=False)
    result = db.check(conn)
    if fmt is Format.json:
        typer.echo(json.dumps(result, ensure_ascii=False))
    else:
        state = "ok" if result["ok"] else "PROBLEMS: " + "; ".join(result["integrity"][:3])
        typer.echo(f"{state} (schema {result['schema']}, {result['foreign_key_problems']} foreign-key problems)")
    if not result["ok"]:
        raise typer.Exit(1)


# ---------------------------------------------------------------------------
# import


@app.command("import")
def import_(
    ctx: typer.Context,
    paths: Optional[list[Path]] = typer.Argument(None, help="Export files, or directories of them "
                                                 "(patients are imported first)."),
    kind: Optional[str] = typer.Option(None, "--kind", help="patients, visits, appointments or plans "
                                       "(else told from the headers)."),
    mapping: Optional[Path] = typer.Option(None, "--mapping", help="A TOML file naming the columns of "
                                           "an unusual layout.", dir_okay=False),
    full_export: bool = typer.Option(False, "--full-export", help="The patients file is the whole list: "
                                     "mark patients it leaves out as missing (never deleted)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Report what would change; write nothing."),
    force: bool = typer.Option(False, "--force", help="Read a file even if it is the same as last time."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print nothing on success (for cron); "
                               "errors still go to stderr."),
    history: bool = typer.Option(False, "--history", help="Show the recorded import runs instead."),
    max_rejects: float = typer.Option(5.0, "--max-rejects", help="Percent of bad rows above which a "
                                      "file is not imported at all.", min=0, max=100),
    max_missing: float = typer.Option(10.0, "--max-missing", help="With --full-export: percent of "
                                      "patients left out above which the file is taken as truncated.",
                                      min=0, max=100),
    encoding: str = typer.Option("cp1251", "--fallback-encoding", help="Encoding of CSV files that are "
                                 "not UTF-8."),
    region: str = typer.Option("RU", "--region", help="Country for phone numbers written without +code."),
    fmt: Format = FORMAT_OPTION,
):
    """Import the clinic's exports: patients, visits, appointments and treatment plans.

    Each file is all or nothing; bad rows are listed with line, column and reason.
    Exit codes: 0 done, 3 done but some rows rejected, 65 a file not imported,
    66 a file not found, 75 another import is running.
    """
    if history:
        return _import_history(ctx, fmt)
    if not paths:
        raise UsageError("name the export files or a directory to import (or --history)")
    from followup.importing import ImportOptions, import_paths
    from followup.importing.fields import Mapping, load_mapping

    options = ImportOptions(
        kind=kind, mapping=load_mapping(mapping) if mapping else Mapping(), full_export=full_export,
        dry_run=dry_run, force=force, reject_threshold=max_rejects / 100,
        deactivate_threshold=max_missing / 100, region=region.upper(), fallback_encoding=encoding,
        user=_user())
    db_file = _db_path(ctx)
    with contextlib.ExitStack() as stack:
        if dry_run and not db_file.exists():  # a dry run on a new install leaves no file behind
            db_file = Path(stack.enter_context(tempfile.TemporaryDirectory())) / "dry-run.db"
        from followup import db

        conn = db.connect(db_file)
        stack.callback(conn.close)
        with _progress(quiet) as on_rows:
            result = import_paths(conn, db_file, list(paths), options, today=dt.date.today(), on_rows=on_rows)
    _report_import(result, quiet=quiet, fmt=fmt)
    failed = [f for f in result.files if f.outcome == "failed"]
    if failed:
        raise typer.Exit(failed[0].exit_code)
    if any(f.rejected for f in result.files):
        raise typer.Exit(RowsRejected.exit_code)


class _progress:
    """A Rich progress line on stderr, only on a terminal and never under --quiet."""

    def __init__(self, quiet: bool):
        self.enabled = not quiet and sys.stderr.isatty()
        self.progress = None
        self.tasks: dict[str, int] = {}

    def __enter__(self):
        if not self.enabled:
            return None
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self.progress = Progress(SpinnerColumn(), TextColumn("{task.description}"),
                                 TextColumn("{task.completed:,} rows"), TimeElapsedColumn(),
                                 console=_console(err=True), transient=True)
        self.progress.start()

        def on_rows(path: str, rows: int) -> None:
            if path not in self.tasks:
                self.tasks[path] = self.progress.add_task(Path(path).name, total=None)
            self.progress.update(self.tasks[path], completed=rows)

        return on_rows

    def __exit__(self, *exc):
        if self.progress:
            self.progress.stop()
        return False


FILE_COLUMNS = ["file", "kind", "outcome", "rows_read", "inserted", "updated", "unchanged", "rejected",
                "deactivated"]
COUNT_LABELS = {"rows_read": "read", "inserted": "new", "updated": "changed", "unchanged": "same",
                "deactivated": "missing", "started_at": "started", "duration_s": "sec"}


def _file_row(f) -> dict:
    return {"file": Path(f.path).name, "kind": f.kind, "outcome": f.outcome, "rows_read": f.rows_read,
            "inserted": f.inserted, "updated": f.updated, "unchanged": f.unchanged, "rejected": f.rejected,
            "deactivated": f.deactivated}


def _report_import(result, *, quiet: bool, fmt: Format) -> None:
    if quiet and all(f.outcome != "failed" and not f.rejected for f in result.files):
        return  # nothing to say: not even Rich is imported
    err = _console(err=True)
    for f in result.files:
        if f.outcome == "failed":
            err.print(f"Error: {f.message}", markup=False, soft_wrap=True)
            continue
        shown = f.rejects[:20]
        for r in shown:
            col = f", {r.column}" if r.column else ""
            err.print(f"{f.path}: line {r.line}{col}: {r.reason}", markup=False, soft_wrap=True)
        if f.rejected > len(shown):
            err.print(f"{f.path}: ... {f.rejected - len(shown)} more rejected rows "
                      f"(followup import --history --format json lists up to 200)", markup=False)
    if quiet:
        return
    if fmt is not Format.table:
        rows = [dict(_file_row(f), path=f.path, sha256=f.sha256, encoding=f.encoding, message=f.message,
                     notes=f.notes) for f in result.files]
        if fmt is Format.json:
            typer.echo(json.dumps({"run_id": result.run_id, "outcome": result.outcome,
                                   "duration_s": round(result.duration_s, 3), "files": rows},
                                  ensure_ascii=False, indent=2))
        else:
            _print_rows(rows, FILE_COLUMNS, fmt)
        return
    _print_rows([_file_row(f) for f in result.files], FILE_COLUMNS, fmt, labels=COUNT_LABELS,
                title=f"Import run {result.run_id}: {result.outcome} in {result.duration_s:.1f} s")
    out = _console()
    for f in result.files:
        for note in f.notes:
            out.print(f"{Path(f.path).name}: {note}", markup=False)
        if f.outcome in ("unchanged", "dry-run") and f.message:
            out.print(f"{Path(f.path).name}: {f.message}", markup=False)
        if f.outcome == "dry-run":
            out.print(f"{Path(f.path).name}: dry run - nothing was written", markup=False)


def _import_history(ctx: typer.Context, fmt: Format) -> None:
    from followup import db

    conn = _open(ctx, create=False)
    runs = db.import_history(conn)
    if fmt is Format.json:
        typer.echo(json.dumps(runs, ensure_ascii=False, indent=2))
        return
    rows = []
    for run in runs:
        for f in run["files"] or [{}]:
            rows.append({"run": run["id"], "started_at": run["started_at"][:16].replace("T", " "),
                         "user": run["user"], "duration_s": run["duration_s"],
                         "file": Path(f["path"]).name if f.get("path") else "",
                         **{k: f.get(k) for k in FILE_COLUMNS[1:]}})
        if not run["files"]:
            rows[-1]["outcome"] = run["outcome"]
    columns = ["run", "started_at", "file", *FILE_COLUMNS[1:], "duration_s"]
    if fmt is Format.csv:
        columns.insert(2, "user")
    _print_rows(rows, columns, fmt, title="Import runs, newest first", labels=COUNT_LABELS)


# ---------------------------------------------------------------------------
# patients


PATIENT_LIST_COLUMNS = ["patient_id", "full_name", "birth_date", "phone", "household_id", "status"]


def _patient_row(p: dict) -> dict:
    """A patient for people to read: an invalid phone and a missing patient are said so."""
    row = {c: p.get(c) for c in PATIENT_LIST_COLUMNS}
    if p.get("phone") and not p.get("phone_valid"):
        row["phone"] = f"{p['phone']} (invalid)"
    if p.get("missing_since"):
        row["status"] = f"{p['status']}, missing since {p['missing_since']}"
    return row


@patient_app.command("show")
def patient_show(ctx: typer.Context, patient_id: str = typer.Argument(..., help="The patient's card number."),
                 fmt: Format = FORMAT_OPTION):
    """Everything imported about one patient: details, visits, appointments, plan stages."""
    from followup import db

    conn = _open(ctx, create=False)
    patient = db.get_patient(conn, patient_id.strip())
    if patient is None:
        raise NotFound(f"no patient with card number {patient_id!r}")
    if fmt is Format.json:
        typer.echo(json.dumps(patient, ensure_ascii=False, indent=2))
        return
    if fmt is Format.csv:
        _print_rows(patient["visits"], ["visit_id", "date", "kind", "doctor", "control_due"], fmt)
        return
    out = _console()
    out.print(f"[bold]{patient['full_name']}[/bold]  card {patient['patient_id']}")
    for label, key in (("born", "birth_date"), ("phone", "phone"), ("phone 2", "phone2"), ("e-mail", "email"),
                       ("status", "status"), ("first visit", "first_visit"), ("household", "household_id")):
        value = _patient_row(patient).get(key, patient.get(key)) if key in ("phone", "status") else patient[key]
        if key == "phone2" and patient["phone2"] and not patient["phone2_valid"]:
            value = f"{patient['phone2']} (invalid)"
        if value:
            out.print(f"  {label:<12} {value}", markup=False)
    if patient["household"]:
        out.print(f"  {'same family':<12} {', '.join(patient['household'])}", markup=False)
    for title, rows, cols in (
        ("Visits", patient["visits"], ["date", "kind", "doctor", "control_due", "visit_id"]),
        ("Appointments", patient["appointments"], ["start", "status", "doctor", "appointment_id"]),
        ("Plan stages", patient["plan_stages"], ["plan_id", "stage", "stage_title", "due_date", "status",
                                                 "doctor"]),
    ):
        if rows:
            _print_rows(rows, cols, Format.table, title=title)


@patient_app.command("find")
def patient_find(ctx: typer.Context, text: str = typer.Argument(..., help="A part of the name, or a phone "
                                                                "number in any format."),
                 fmt: Format = FORMAT_OPTION):
    """Find patients by a part of the name (any case, ё = е) or by phone in any format."""
    from followup import db
    from followup.importing.values import fold, normalize_phone

    text = text.strip()
    if not text:
        raise UsageError("give a part of a name or a phone number")
    conn = _open(ctx, create=False)
    digits = "".join(ch for ch in text if ch.isdigit())
    if len(digits) >= 5 and len(digits) >= len(text.replace(" ", "")) // 2:
        number, valid = normalize_phone(text)
        found = db.find_patients(conn, phone=number) if valid else []
        if not found:
            tail = digits[1:] if len(digits) == 11 and digits[0] in "78" else digits
            found = db.find_patients(conn, digits=tail)
    else:
        found = db.find_patients(conn, name_fold=fold(text))
    if not found and fmt is Format.table:
        raise NotFound("no patient matches")
    if fmt is Format.table:
        _print_rows([_patient_row(p) for p in found], PATIENT_LIST_COLUMNS, fmt)
    else:
        _print_rows(found, list(db.PATIENT_COLUMNS), fmt)


# ---------------------------------------------------------------------------
# consent, next, today, why, done, log, config


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
            raise UsageError("usage: followup consent show PATIENT")
        return _consent_show(ctx, show_id, fmt)
    if show_id:
        raise UsageError(f"unexpected argument {show_id!r}")
    purposes = _choices(purpose, rules.PURPOSES, "purpose")
    channels = _choices(channel, rules.CHANNELS, "channel")
    if how not in ("in-person", "phone", "form"):
        raise UsageError(f"--how must be in-person, phone or form, not {how!r}")
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
                raise UsageError("--phone is not a valid phone number")
    conn = _open(ctx, create=False)
    pid = _known_patient(conn, patient)
    who, when = by or _user(), _now()
    rows = [{"patient_id": pid, "purpose": pu, "channel": ch, "granted": 0 if withdraw else 1,
             "address": address, "window": win, "days": day_set, "how": how, "note": note,
             "source": "followup", "recorded_by": who, "recorded_at": when}
            for pu in purposes for ch in channels]
    db.add_consents(conn, rows)
    verb = "withdrawn" if withdraw else "granted"
    typer.echo(f"Consent {verb} for {pid}: {', '.join(purposes)} by {', '.join(channels)} "
               f"(recorded by {who}).")


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
    def rows(items):
        return [dict(h, state="granted" if h["granted"] else "withdrawn") for h in items]
    if fmt is Format.csv:
        _print_rows(rows(history), cols, fmt)
        return
    if not history:
        _console().print(f"No consent recorded for {pid}: the patient is never contacted.", markup=False)
        return
    _print_rows(rows(sorted(current.values(), key=lambda h: (h["purpose"], h["channel"]))), cols, fmt,
                title=f"Consent of {pid}: now")
    _print_rows(rows(history), cols, fmt, title="History (nothing is ever edited)")


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
        raise UsageError(f"unknown channel {channel!r} (one of {', '.join(rules.CHANNELS)})")
    if not reason.strip():
        raise UsageError("--reason must say what the contact is about")
    conn = _open(ctx, create=False)
    pid = _known_patient(conn, patient)
    who = by or _user()
    nid = db.add_next_contact(conn, {"patient_id": pid, "due": day.isoformat(), "reason": reason.strip(),
                                     "channel": channel, "doctor": doctor, "recorded_by": who,
                                     "recorded_at": _now()})
    typer.echo(f"Next contact {nid} for {pid} agreed for {day.isoformat()} (recorded by {who}).")


def _day_list(conn, day: dt.date, channel: Optional[str] = None, doctor: Optional[str] = None):
    from followup import db, rules

    settings = db.get_settings(conn)
    policy = rules.policy_from(settings)
    records = db.load_records(conn, day, windows=rules.candidate_windows(day, policy))
    entries = rules.plan_day(records, day, policy, channel=channel, doctor=doctor)
    return entries, settings


def _entry_json(e, settings: dict, shown_id: str) -> dict:
    from followup import rules

    templates = {k.removeprefix("template."): v for k, v in settings.items() if k.startswith("template.")}
    return {
        "entry_id": shown_id, "patient_id": e.patient.patient_id, "patient": e.patient.name,
        "phone": e.address, "channel": e.channel, "window": str(e.window) if e.window else None,
        "reasons": [{"code": r.code, "text": r.text, "doctor": r.doctor, "due": r.due.isoformat(),
                     "ref": r.ref, "evidence": r.evidence} for r in e.reasons],
        "warnings": list(e.warnings),
        "household": [{"patient_id": m.patient.patient_id, "patient": m.patient.name,
                       "reasons": [{"code": r.code, "text": r.text, "doctor": r.doctor, "due": r.due.isoformat(),
                                    "ref": r.ref, "evidence": r.evidence} for r in m.reasons],
                       "warnings": list(m.warnings)} for m in e.household],
        "message": rules.message(e, templates, settings.get("clinic_name", "The clinic")),
    }


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
    from followup import rules

    day = _date(date)
    if channel and channel not in rules.CHANNELS:
        raise UsageError(f"unknown channel {channel!r} (one of {', '.join(rules.CHANNELS)})")
    conn = _open(ctx, create=False)
    entries, settings = _day_list(conn, day, channel, doctor)
    shown = rules.short_ids(entries)  # filtered lists may show a shorter id; `done` refuses an ambiguous one
    data = [_entry_json(e, settings, shown[e.entry_id]) for e in entries]
    if fmt is Format.json:  # compact: the C encoder, one entry a line
        typer.echo("[" + ",\n".join(json.dumps(d, ensure_ascii=False) for d in data) + "]")
        return
    flat = [{"entry": d["entry_id"], "window": d["window"] or "", "patient": f"{d['patient']} ({d['patient_id']})",
             "phone": d["phone"], "channel": d["channel"],
             "reasons": "\n".join(f"{r['code']}: {r['text']}" for r in d["reasons"])
             + "".join(f"\n+ {m['patient']} ({m['patient_id']}): " + "; ".join(r["text"] for r in m["reasons"])
                       for m in d["household"]),
             "doctor": ", ".join(dict.fromkeys(r["doctor"] for r in d["reasons"] if r["doctor"])),
             "warnings": "\n".join(d["warnings"]), "message": d["message"] or ""} for d in data]
    if fmt is Format.csv:
        _print_rows(flat, list(flat[0]) if flat else ["entry"], fmt)
        return
    if not flat:
        _console().print(f"Nobody to contact on {day.isoformat()}.", markup=False)
        return
    _print_rows(flat, ["entry", "window", "patient", "phone", "channel", "reasons", "doctor", "warnings"], fmt,
                title=f"Contacts for {day.isoformat()}: {len(flat)}")
    for d in data:
        if d["message"]:
            _console().print(f"{d['entry_id']} {d['channel']} to {d['phone']}: {d['message']}", markup=False,
                             soft_wrap=True)


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
    rows = [{"rule": f.code, "status": f.status, "explanation": f.text, "excluded_by": f.excluded_by,
             "channels": ",".join(f.channels)} for f in findings]
    if fmt is Format.table:
        _console().print(f"{records.patient.name} ({pid}) on {day.isoformat()}", markup=False)
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
    rows = [{"patient_id": p.patient_id, "patient": p.name, "phone": p.phone, "rule": f.code,
             "explanation": f.text} for p, f in rules.for_manager(records, day, policy)]
    if not rows and fmt is Format.table:
        _console().print(f"Nothing flagged on {day.isoformat()}.", markup=False)
        return
    _print_rows(rows, ["patient_id", "patient", "phone", "rule", "explanation"], fmt,
                title=f"Flagged for the manager on {day.isoformat()}")


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
        raise UsageError(f"unknown outcome {outcome!r} (one of {', '.join(rules.OUTCOMES)})")
    day = _date(date)
    callback = _date(on, "--on") if on else None
    if outcome == "call-back" and not callback:
        raise UsageError("call-back needs --on DATE")
    if on and outcome != "call-back":
        raise UsageError("--on goes with --outcome call-back")
    if callback and callback <= day:
        raise UsageError("--on must be a later day than the list's")
    conn = _open(ctx, create=False)
    entries, settings = _day_list(conn, day)
    matches = rules.find_entry(entries, entry)
    if len(matches) > 1:
        raise UsageError(f"entry {entry!r} names {len(matches)} entries; give more of its characters")
    if not matches:
        raise NotFound(f"no entry {entry!r} on the list of {day.isoformat()} (see followup today)")
    found = matches[0]
    steps = rules.next_steps(found, outcome, day, rules.policy_from(settings), by=by or _user(), at=_now(),
                             callback=callback, note=note)
    db.record_contact(conn, steps.contacts, withdrawals=steps.withdrawals, phone_flags=steps.phone_flags,
                      entry_id=found.entry_id[:16], list_date=day.isoformat())
    shown = rules.short_ids(entries)[found.entry_id]
    step = steps.text
    typer.echo(f"Recorded {outcome} for entry {shown} ({found.patient.patient_id}"
               f"{' + ' + str(len(found.household)) + ' in the household' if found.household else ''}): {step}.")


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
    flat = [dict(r, reasons=", ".join(f"{c}:{ref}" for c, ref in r["reasons"])) for r in rows]
    _print_rows(flat, ["recorded_at", "recorded_by", "channel", "outcome", "reasons", "retry_on", "callback_on",
                       "note"], fmt, title=f"Contacts with {pid}")


QUESTIONS_VERSION = "v1"
QUESTIONS = {
    "score": "Overall, how satisfied are you with your treatment, from 1 to 10?",
    "recommend": "How likely are you to recommend us to friends or family, from 0 to 10?",
    "expectations": "Did the treatment meet your expectations: yes, partly or no?",
    "comment": "What should we improve?",
}


@app.command("survey")
def survey(
    ctx: typer.Context,
    target: str = typer.Argument(..., help="An entry id from today's list, or a patient's card number."),
    score: Optional[int] = typer.Option(None, "--score", help="Overall satisfaction, 1-10."),
    recommend: Optional[int] = typer.Option(None, "--recommend", help="Likelihood to recommend, 0-10."),
    expectations: Optional[str] = typer.Option(None, "--expectations", help="yes, partly or no."),
    comment: Optional[str] = typer.Option(None, "--comment", help="What should we improve (their words)."),
    decline: bool = typer.Option(False, "--decline", help="The patient declined the survey."),
    doctor: Optional[str] = typer.Option(None, "--doctor", help="Attribute to this doctor (required when the "
                                         "patient has no finished treatment)."),
    complaint: bool = typer.Option(False, "--complaint", help="Also open a complaint from the comment."),
    ask: bool = typer.Option(False, "--ask", help="Ask the questions even when not on a terminal."),
    by: Optional[str] = typer.Option(None, "--by", help="Who called."),
    date: Optional[str] = typer.Option(None, "--date", help="The day of the list (default: today)."),
):
    """Record the post-treatment survey: on a terminal it reads the script and asks the questions;
    with --score/--recommend/--expectations/--comment (or --decline) it records them directly.

    The answer counts for every doctor of the treatment.
    """
    from followup import db, rules

    day = _date(date)
    conn = _open(ctx, create=False)
    pid, visit_id = _survey_target(conn, target, day)
    [records] = db.load_records(conn, day, [pid])
    ends = sorted((v for v in records.visits if v.kind == "treatment_end"), key=lambda v: v.date)
    surveyed = {x.visit_id for x in records.surveys}
    end = next((v for v in ends if v.visit_id == visit_id), None) if visit_id else \
        next((v for v in reversed(ends) if v.visit_id not in surveyed), None)
    if end is not None and end.visit_id in surveyed:
        raise UsageError(f"a survey for treatment {end.visit_id} is already recorded")
    if end is None and not doctor:
        raise UsageError(f"{pid} has no finished treatment to ask about; name the doctor with --doctor")
    doctors = [_known_doctor(conn, doctor)] if doctor else rules.treatment_doctors(records.visits, end)
    answers = {"score": score, "recommend": recommend, "expectations": expectations, "comment": comment}
    interactive = ask or (not decline and all(v is None for v in answers.values()))
    if interactive:
        if not (ask or sys.stdin.isatty()):
            raise UsageError("give the answers (--score, --recommend, --expectations, --comment) or --decline, "
                             "or run on a terminal to be asked")
        asked, decline = _ask_survey(records.patient.name, doctors, by or _user(), conn)
        answers = {k: asked.get(k) for k in QUESTIONS}
    if not decline:
        _check_answers(answers)
    who, when = by or _user(), _now()
    settings = db.get_settings(conn)
    row = {"patient_id": pid, "visit_id": end.visit_id if end else None,
           "status": "declined" if decline else "answered", **({k: None for k in answers} if decline else answers),
           "questions": settings.get("survey.version", QUESTIONS_VERSION), "recorded_by": who, "recorded_at": when}
    if row["expectations"]:
        row["expectations"] = row["expectations"].lower()
    contact = {"patient_id": pid, "entry_id": None, "list_date": day.isoformat(), "channel": "call",
               "outcome": "declined" if decline else "reached", "reasons": [["survey_call", end.visit_id]] if end
               else [], "retry_on": None, "callback_on": None, "note": "survey", "recorded_by": who,
               "recorded_at": when}
    sid = db.add_survey(conn, row, doctors, contact=contact if end else None)
    if decline:
        typer.echo(f"Survey #{sid}: {pid} declined; the survey call for this treatment is closed.")
        return
    typer.echo(f"Survey #{sid} recorded for {pid} (counts for {', '.join(doctors)}).")
    from followup import reports

    policy = rules.policy_from(settings)
    problems = set(reports.classify(answers["comment"], reports.theme_keywords(settings))) & reports.PROBLEM_THEMES
    low = (answers["score"] is not None and answers["score"] <= policy.low_score) or bool(problems)
    if complaint:
        if not (answers["comment"] or "").strip():
            raise UsageError("--complaint needs a --comment to open it with")
        cid = db.add_complaint(conn, {"patient_id": pid, "doctor": doctors[0] if len(doctors) == 1 else None,
                                      "text": answers["comment"].strip(), "opened_by": who, "opened_at": when})
        typer.echo(f"Complaint #{cid} opened from the comment.")
    elif low or answers["expectations"] == "no":
        typer.echo(f"A negative answer: open a complaint? followup complaint add {pid} --text \"...\"")


def _survey_target(conn, target: str, day: dt.date) -> tuple[str, Optional[str]]:
    """A patient, and the treatment when the target is a survey entry of the day's list."""
    from followup import db, rules

    target = target.strip()
    if db.patient_exists(conn, target):
        return target, None
    if len(target) >= rules.ENTRY_ID_LENGTH:
        entries, _ = _day_list(conn, day)
        matches = rules.find_entry(entries, target)
        if len(matches) == 1:
            survey_reasons = [r for r in matches[0].reasons if r.code == "survey_call"]
            return matches[0].patient.patient_id, survey_reasons[0].ref if survey_reasons else None
    raise NotFound(f"no patient or entry {target!r}")


def _check_answers(answers: dict) -> None:
    score, recommend, expectations = answers["score"], answers["recommend"], answers["expectations"]
    if score is None or not 1 <= score <= 10:
        raise UsageError("--score must be a whole number from 1 to 10")
    if recommend is not None and not 0 <= recommend <= 10:
        raise UsageError("--recommend must be a whole number from 0 to 10")
    if expectations is not None and expectations.lower() not in ("yes", "partly", "no"):
        raise UsageError("--expectations must be yes, partly or no")


def _ask_survey(patient: str, doctors: list[str], caller: str, conn) -> tuple[dict, bool]:
    """The phone script and the questions, in order, each answer checked; confirmed before saving."""
    from rich.prompt import Confirm, IntPrompt, Prompt

    from followup import db

    settings = db.get_settings(conn)
    clinic = settings.get("clinic_name", "the clinic")
    questions = {k: settings.get(f"survey.question.{k}", text) for k, text in QUESTIONS.items()}
    out = _console()
    out.print(f"[bold]Script[/bold]: Hello, this is {caller} from {clinic}. As agreed after your treatment "
              f"with {', '.join(doctors) or 'us'}, may I ask you two or three short questions? It takes two "
              f"minutes.")
    out.print(f"Patient: {patient}", markup=False)
    if not Confirm.ask("Does the patient agree?"):
        return {}, True
    answers: dict = {}
    while not 1 <= (answers.setdefault("score", IntPrompt.ask(questions["score"])) or 0) <= 10:
        answers.pop("score")
        out.print("From 1 to 10, please.")
    while not 0 <= answers.setdefault("recommend", IntPrompt.ask(questions["recommend"])) <= 10:
        answers.pop("recommend")
        out.print("From 0 to 10, please.")
    answers["expectations"] = Prompt.ask(questions["expectations"], choices=["yes", "partly", "no"])
    answers["comment"] = Prompt.ask(questions["comment"], default="") or None
    out.print(answers)
    if not Confirm.ask("Save these answers?"):
        raise UsageError("not saved")
    return answers, False


@app.command("report")
def report(
    ctx: typer.Context,
    what: Optional[str] = typer.Argument(None, help="'clinic' for the clinic report; else survey results."),
    year: Optional[int] = typer.Option(None, "--year", help="With clinic: the year (default: this year)."),
    doctor: Optional[str] = typer.Option(None, "--doctor", help="One doctor (a name part will do); "
                                         "without it, one line per doctor."),
    date_from: Optional[str] = typer.Option(None, "--from", help="Only answers from this day."),
    date_to: Optional[str] = typer.Option(None, "--to", help="Only answers up to this day."),
    fmt: Format = FORMAT_OPTION,
):
    """Survey results per doctor, shown only from 20 respondents on (waves of 20); `report clinic` for the
    clinic: conversion of first-time patients, dead souls, the contact funnel, consent coverage, complaints."""
    from followup import db, reports, rules

    if what is not None:
        if what != "clinic":
            raise UsageError(f"unknown report {what!r} (use: followup report clinic, or --doctor NAME)")
        return _clinic_report(ctx, year or dt.date.today().year, fmt)
    lo = _date(date_from, "--from") if date_from else None
    hi = _date(date_to, "--to") if date_to else None
    conn = _open(ctx, create=False)
    settings = db.get_settings(conn)
    defaults = reports.Thresholds()
    t = reports.Thresholds(respondents=int(settings.get("survey_wave", rules.Policy().survey_wave)),
                           positive_mean=float(settings.get("report.positive_mean", defaults.positive_mean)),
                           positive_nps=float(settings.get("report.positive_nps", defaults.positive_nps)))
    policy = rules.policy_from(settings)
    today = dt.date.today()
    by_doctor = {name: [] for name in db.doctor_names(conn)}
    by_doctor.update(_responses_by_doctor(conn))
    names = [_known_doctor(conn, doctor)] if doctor else sorted(by_doctor)
    results = [reports.doctor_report(name, by_doctor.get(name, []), t, lo, hi) for name in names]
    complaints = db.list_complaints(conn)
    for r in results:
        mine = [c for c in complaints if c["doctor"] == r["doctor"]]
        overdue = [c for c in mine if rules.complaint_overdue(rules.Complaint(
            c["id"], c["patient_id"], c["doctor"], dt.date.fromisoformat(c["opened_at"][:10])), today, policy)]
        r["complaints"] = {"open": sum(1 for c in mine if not c["resolved_at"]),
                           "overdue": len(overdue), "resolved": sum(1 for c in mine if c["resolved_at"])}
    if fmt is Format.json:
        typer.echo(json.dumps(results[0] if doctor else results, ensure_ascii=False, indent=2))
        return
    rows = [{"doctor": r["doctor"], "status": r["status"],
             "n": f"{r['current_wave']['responses']} / {r['threshold']}" if r["status"] == "collecting"
             else r["responses"], "mean": r.get("mean_score"), "median": r.get("median_score"),
             "nps": r.get("nps"), "nps_ci": r.get("nps_ci"), "expectations_met": r.get("expectations_met"),
             "trend": r.get("trend")} for r in results]
    _print_rows(rows, list(rows[0]) if rows else ["doctor"], fmt, title="Survey results by doctor")
    if doctor and fmt is Format.table and results[0]["status"] != "collecting":
        r = results[0]
        _print_rows(r["waves"], ["wave", "from", "to", "mean_score", "nps", "positive"], fmt, title="Waves")
        _print_rows([dict(x, examples=" | ".join(x["examples"])) for x in r["themes"]],
                    ["theme", "count", "examples"], fmt, title="Themes of comments")
        out = _console()
        top = max(r["distribution"].values()) or 1
        for k, n in r["distribution"].items():
            out.print(f"{k:>3} {'█' * round(30 * n / top)} {n}", markup=False)


def _clinic_report(ctx, year: int, fmt: Format) -> None:
    from followup import db, reports, rules

    today = dt.date.today()
    conn = _open(ctx, create=False)
    active = db.active_patients_last_visit(conn)
    entries, _ = _day_list(conn, today)
    due: dict[str, int] = {}
    for e in entries:
        for r in e.reasons + tuple(x for m in e.household for x in m.reasons):
            due[r.code] = due.get(r.code, 0) + 1
    data = {
        "year": year,
        "conversion": reports.conversion(db.first_and_second_visits(conn), year, today),
        "dead_souls": reports.dead_souls(active, today),
        "funnel": reports.funnel(db.contact_reasons(conn, year), due),
        "consent_coverage": reports.consent_coverage(len(active), db.consent_decisions(conn), rules.PURPOSES),
        "complaints": reports.complaint_stats(db.complaint_dates(conn, year)),
    }
    if fmt is Format.json:
        typer.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    if fmt is Format.csv:  # the exportable list of dead souls
        _print_rows(data["dead_souls"], ["patient_id", "last_visit"], fmt)
        return
    _print_rows(data["conversion"], ["doctor", "quarter", "first_time", "returned", "pending", "conversion", "final"],
                fmt,
                title=f"First-time patients of {year} who came back within 12 months")
    _console().print(f"Dead souls: {len(data['dead_souls'])} active patients with no visit for 24 months "
                     f"(list: followup report clinic --format csv)", markup=False)
    _print_rows(data["funnel"], ["reason", "due_today", "attempted", "reached", "booked", "declined"], fmt,
                title=f"Contacts in {year}, by reason")
    _print_rows(data["consent_coverage"], ["purpose", "patients", "share"], fmt,
                title="Active patients with a recorded contact decision")
    c = data["complaints"]
    _console().print(f"Complaints in {year}: {c['opened']} opened, {c['resolved']} resolved (median "
                     f"{c['median_days_to_resolve']} days), {c['informed']} patients informed.", markup=False)


def _responses_by_doctor(conn) -> dict[str, list]:
    """Answered surveys as reports.Response, per doctor they count for, with their themes."""
    from followup import db, reports

    keywords = reports.theme_keywords(db.get_settings(conn))
    assigned = db.assigned_themes(conn)
    by_doctor: dict[str, list] = {}
    for s in db.survey_responses(conn):
        if s["status"] != "answered":
            continue
        r = reports.Response(s["id"], dt.date.fromisoformat(s["recorded_at"][:10]), s["score"], s["recommend"],
                             s["expectations"], s["comment"],
                             tuple(reports.classify(s["comment"], keywords, assigned.get(s["id"], ()))))
        for d in s["doctors"]:
            by_doctor.setdefault(d, []).append(r)
    return by_doctor


themes_app = typer.Typer(cls=_Group, help="Themes of survey comments: what patients talk about.",
                         invoke_without_command=True)
app.add_typer(themes_app, name="themes")


@themes_app.callback()
def themes(ctx: typer.Context, fmt: Format = FORMAT_OPTION):
    """List the comments no theme matches, so that themes can be assigned and keywords added."""
    if ctx.invoked_subcommand:
        return
    from followup import db, reports

    conn = _open(ctx, create=False)
    keywords = reports.theme_keywords(db.get_settings(conn))
    assigned = db.assigned_themes(conn)
    rows = [{"survey": s["id"], "date": s["recorded_at"][:10], "comment": s["comment"]}
            for s in db.survey_responses(conn)
            if s["comment"] and not reports.classify(s["comment"], keywords, assigned.get(s["id"], ()))]
    if not rows and fmt is Format.table:
        _console().print("Every comment has a theme. Themes: " + ", ".join(keywords), markup=False)
        return
    _print_rows(rows, ["survey", "date", "comment"], fmt, title="Comments without a theme")


@themes_app.command("add")
def themes_add(ctx: typer.Context, name: str = typer.Argument(..., help="A theme, new or built-in."),
               keywords: str = typer.Option(..., "--keywords", help="Comma-separated words or stems."),
               by: Optional[str] = typer.Option(None, "--by", help="Who changes it.")):
    """Add keywords to a theme; every comment is classified again with them."""
    from followup import db

    words = [w.strip() for w in keywords.split(",") if w.strip()]
    if not name.strip() or not words:
        raise UsageError("give a theme name and at least one keyword")
    conn = _open(ctx, create=False)
    key = f"theme.{name.strip()}"
    old = db.get_settings(conn).get(key)
    merged = ",".join(dict.fromkeys(([w for w in old.split(",") if w] if old else []) + words))
    db.set_setting(conn, key, merged, by=by or _user(), at=_now())
    typer.echo(f"Theme {name.strip()!r}: {merged}")


@themes_app.command("assign")
def themes_assign(ctx: typer.Context, survey_id: int = typer.Argument(..., help="The survey's number."),
                  theme: str = typer.Argument(..., help="The theme."),
                  by: Optional[str] = typer.Option(None, "--by", help="Who assigns it.")):
    """Give one comment a theme by hand."""
    from followup import db

    conn = _open(ctx, create=False)
    if not any(s["id"] == survey_id and s["comment"] for s in db.survey_responses(conn)):
        raise NotFound(f"no survey #{survey_id} with a comment")
    db.assign_theme(conn, survey_id, theme.strip(), by=by or _user(), at=_now())
    typer.echo(f"Survey #{survey_id}: theme {theme.strip()!r}.")


complaint_app = typer.Typer(cls=_Group, help="Complaints: record, answer fast, tell the patient what was done.",
                            no_args_is_help=True)
app.add_typer(complaint_app, name="complaint")


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


def _complaint(conn, complaint_id: int) -> dict:
    from followup import db

    found = db.get_complaint(conn, complaint_id)
    if found is None:
        raise NotFound(f"no complaint #{complaint_id}")
    return found


@complaint_app.command("add")
def complaint_add(
    ctx: typer.Context,
    patient: str = typer.Argument(..., help="The patient's card number."),
    text: str = typer.Option(..., "--text", help="What the patient complains about, in their words."),
    doctor: Optional[str] = typer.Option(None, "--doctor", help="The doctor it concerns (a name part will do)."),
    by: Optional[str] = typer.Option(None, "--by", help="Who records it."),
):
    """Record a complaint; it shows as a warning on the call list until resolved."""
    from followup import db

    if not text.strip():
        raise UsageError("--text must say what the complaint is")
    conn = _open(ctx, create=False)
    pid = _known_patient(conn, patient)
    cid = db.add_complaint(conn, {"patient_id": pid, "doctor": _known_doctor(conn, doctor), "text": text.strip(),
                                  "opened_by": by or _user(), "opened_at": _now()})
    typer.echo(f"Complaint #{cid} opened for {pid}.")


@complaint_app.command("list")
def complaint_list(
    ctx: typer.Context,
    open_only: bool = typer.Option(False, "--open", help="Only complaints not yet resolved."),
    date: Optional[str] = typer.Option(None, "--date", help="The day overdue is judged on (default: today)."),
    fmt: Format = FORMAT_OPTION,
):
    """Complaints, oldest first; open ones older than the policy's days are flagged overdue."""
    from followup import db, rules

    day = _date(date)
    conn = _open(ctx, create=False)
    policy = rules.policy_from(db.get_settings(conn))
    rows = []
    for c in db.list_complaints(conn, open_only=open_only):
        record = rules.Complaint(c["id"], c["patient_id"], c["doctor"], dt.date.fromisoformat(c["opened_at"][:10]),
                                 dt.date.fromisoformat(c["resolved_at"][:10]) if c["resolved_at"] else None)
        state = "informed" if c["informed_at"] else "resolved" if c["resolved_at"] else "open"
        rows.append(dict(c, state=state, overdue=rules.complaint_overdue(record, day, policy)))
    if fmt is Format.table:
        for r in rows:
            r["state"] = r["state"] + (" - OVERDUE" if r["overdue"] else "")
            r["opened_at"] = r["opened_at"][:16]
    _print_rows(rows, ["id", "state", "opened_at", "patient_id", "patient", "doctor", "text", "action"], fmt,
                title="Complaints")


@complaint_app.command("resolve")
def complaint_resolve(
    ctx: typer.Context,
    complaint_id: int = typer.Argument(..., help="The complaint's number."),
    action: str = typer.Option(..., "--action", help="What was done about it."),
    by: Optional[str] = typer.Option(None, "--by", help="Who resolved it."),
):
    """Record what was done; then tell the patient and record that with `complaint informed`."""
    from followup import db

    if not action.strip():
        raise UsageError("--action must say what was done")
    conn = _open(ctx, create=False)
    _complaint(conn, complaint_id)
    if not db.update_complaint(conn, complaint_id, expect="open", changes={
            "action": action.strip(), "resolved_by": by or _user(), "resolved_at": _now()}):
        raise UsageError(f"complaint #{complaint_id} is already resolved")
    typer.echo(f"Complaint #{complaint_id} resolved. Tell the patient what was done, then: "
               f"followup complaint informed {complaint_id}")


@complaint_app.command("informed")
def complaint_informed(
    ctx: typer.Context,
    complaint_id: int = typer.Argument(..., help="The complaint's number."),
    by: Optional[str] = typer.Option(None, "--by", help="Who told the patient."),
):
    """Record that the patient was told what was done about the complaint."""
    from followup import db

    conn = _open(ctx, create=False)
    c = _complaint(conn, complaint_id)
    if not c["resolved_at"]:
        raise UsageError(f"complaint #{complaint_id} is not resolved yet: resolve it first")
    if not db.update_complaint(conn, complaint_id, expect="resolved",
                               changes={"informed_by": by or _user(), "informed_at": _now()}):
        raise UsageError(f"complaint #{complaint_id}: the patient was already informed")
    typer.echo(f"Complaint #{complaint_id}: the patient was informed.")


config_app = typer.Typer(cls=_Group, help="The clinic's contact policy and texts, shared by every desk.",
                         no_args_is_help=True)
app.add_typer(config_app, name="config")


def _config_keys() -> dict[str, str]:
    from followup import rules

    keys = {name: str(f.default) for name, f in rules.Policy.__dataclass_fields__.items()}
    keys["clinic_name"] = "The clinic"
    keys["survey.version"] = QUESTIONS_VERSION
    keys["report.positive_mean"] = "8.0"
    keys["report.positive_nps"] = "30.0"
    keys.update({f"survey.question.{k}": text for k, text in QUESTIONS.items()})
    keys.update({f"template.{code}": text for code, text in rules.DEFAULT_TEMPLATES.items()})
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
        raise UsageError(f"unknown setting {key!r} (see followup config list)")
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
        raise UsageError(f"unknown setting {key!r} (see followup config list)")
    if default == (value is not None):
        raise UsageError("give a value, or --default")
    if value is not None and key in rules.Policy.__dataclass_fields__:
        if not value.isdigit() or int(value) > 3650:
            raise UsageError(f"{key} takes a whole number of days/times (0-3650)")
    if value is not None and key.startswith("report."):
        try:
            float(value)
        except ValueError:
            raise UsageError(f"{key} takes a number") from None
    if value is not None and key.startswith("template."):
        try:
            value.format_map(rules._Blank())
        except (ValueError, IndexError):
            raise UsageError(f"{key}: braces must name fields like {{date}}") from None
    conn = _open(ctx, create=False)
    db.set_setting(conn, key, value, by=by or _user(), at=_now())
    typer.echo(f"{key} = {value if value is not None else keys[key]}")


# ---------------------------------------------------------------------------
# demo


@app.command("demo")
def demo(
    directory: Optional[Path] = typer.Option(None, "--dir", help="Where to put the demo clinic (default: "
                                             "a 'demo' folder in the per-user data directory).",
                                             file_okay=False),
    patients: int = typer.Option(2000, "--patients", min=10, max=200_000, help="How many patients."),
    seed: int = typer.Option(20261123, "--seed", help="Same seed, same clinic."),
):
    """Build a demo clinic: write its exports like a real system would, import them, show the result.

    It never touches your real database: the demo has a database of its own.
    """
    from followup import db, rules
    from followup.demo import write_clinic
    from followup.importing import ImportOptions, import_paths

    if directory is None:
        directory = db.default_path().parent / "demo"
    directory = directory.expanduser()
    exports = directory / "exports"
    db_file = directory / "demo.db"
    for suffix in ("", "-wal", "-shm"):
        Path(str(db_file) + suffix).unlink(missing_ok=True)
    today = dt.date.today()
    files = write_clinic(exports, today=today, patients=patients, seed=seed)
    conn = db.connect(db_file)
    result = import_paths(conn, db_file, [exports], ImportOptions(user=_user()), today=today)
    _report_import(result, quiet=False, fmt=Format.table)
    from followup.demo import staff_records

    consents, nexts = staff_records(sorted(db.patient_ids(conn)), today=today, seed=seed)
    db.add_consents(conn, consents)
    for n in nexts:
        db.add_next_contact(conn, n)
    from followup.demo import survey_answers

    ends = db.treatment_ends(conn)
    visits_of = {}
    for pid, vid, day, doc in ends:
        visits_of.setdefault(pid, []).append((vid, day, doc))
    [records_by] = [{r.patient.patient_id: r for r in db.load_records(conn, today, sorted(visits_of))}]
    for row in survey_answers(ends, today=today, seed=seed):
        r = records_by[row["patient_id"]]
        end = next(v for v in r.visits if v.visit_id == row["visit_id"])
        db.add_survey(conn, row, rules.treatment_doctors(r.visits, end))
    entries, settings = _day_list(conn, today)
    shown = rules.short_ids(entries)
    data = [_entry_json(e, settings, shown[e.entry_id]) for e in entries]
    out = _console()
    out.print(f"\nDemo clinic: {files.counts['patients']:,} patients, {files.counts['visits']:,} visits, "
              f"{files.counts['appointments']:,} appointments, {files.counts['plans']:,} plan stages.",
              markup=False)
    out.print(f"Consents recorded for {len({c['patient_id'] for c in consents}):,} patients; "
              f"{len(nexts)} next contacts agreed for today.", markup=False)
    out.print(f"Exports (cp1251, ';', dd.mm.yyyy): {exports}", markup=False)
    out.print(f"Database: {db_file}", markup=False)
    codes = {}
    for d in data:
        for r in d["reasons"] + [r for m in d["household"] for r in m["reasons"]]:
            codes[r["code"]] = codes.get(r["code"], 0) + 1
    out.print(f"\nToday's list: {len(data)} contacts - " + ", ".join(f"{c} {n}" for c, n in sorted(codes.items())),
              markup=False)
    shown = [d for d in data if d["reasons"][0]["code"] in codes]
    sample = list({d["reasons"][0]["code"]: d for d in shown}.values())
    for d in sample:
        out.print(f"  {d['entry_id']}  {d['window'] or '     any     '}  {d['patient']} ({d['patient_id']}), "
                  f"{d['channel']} {d['phone']}: {d['reasons'][0]['text']}", markup=False, soft_wrap=True)
    from followup import reports

    by_doctor = _responses_by_doctor(conn)
    out.print("\nSurveys: " + "; ".join(f"{d}: {reports.doctor_report(d, rs)['status']} ({len(rs)})"
                                        for d, rs in sorted(by_doctor.items())), markup=False)
    out.print("\nTry:", markup=False)
    for line in (f'followup --db "{db_file}" today',
                 f'followup --db "{db_file}" report',
                 f'followup --db "{db_file}" why {sample[0]["patient_id"] if sample else "000001"}',
                 f'followup --db "{db_file}" patient find Иванов',
                 f'followup --db "{db_file}" patient show 000001',
                 f'followup --db "{db_file}" import "{exports}"      # again: every file is skipped as unchanged',
                 f'followup --db "{db_file}" import --history'):
        out.print(f"  {line}", markup=False, soft_wrap=True)


def main() -> None:
    app()
