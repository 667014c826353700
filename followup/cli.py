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


class _Group(TyperGroup):
    """Catches every FollowupError once, at the edge: one line on stderr and its exit code."""

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


FORMAT_OPTION = typer.Option(Format.table, "--format", "-f", help="table for people; json or csv for scripts.")


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
    elif fmt is Format.csv:
        import csv

        w = csv.writer(sys.stdout, lineterminator="\n")
        w.writerow(columns)
        for r in rows:
            w.writerow(["" if r.get(c) is None else r.get(c) for c in columns])
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
    from followup import db
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
    out = _console()
    out.print(f"\nDemo clinic: {files.counts['patients']:,} patients, {files.counts['visits']:,} visits, "
              f"{files.counts['appointments']:,} appointments, {files.counts['plans']:,} plan stages.",
              markup=False)
    out.print(f"Exports (cp1251, ';', dd.mm.yyyy): {exports}", markup=False)
    out.print(f"Database: {db_file}", markup=False)
    out.print("\nTry:", markup=False)
    for line in (f'followup --db "{db_file}" patient find Иванов',
                 f'followup --db "{db_file}" patient show 000001',
                 f'followup --db "{db_file}" import "{exports}"      # again: every file is skipped as unchanged',
                 f'followup --db "{db_file}" import --history'):
        out.print(f"  {line}", markup=False, soft_wrap=True)


def main() -> None:
    app()
