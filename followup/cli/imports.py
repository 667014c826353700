"""The nightly import: `followup import`, its report and its history."""

from __future__ import annotations

import contextlib
import sys
import tempfile
from pathlib import Path
from typing import Optional

import typer

from followup.cli.core import FORMAT_OPTION, echo, Format, _console, _db_path, _open, _print_rows, _structured, _today, _user, app
from followup.errors import ExitStatus, RowsRejected, UsageError
from followup.i18n import N_, ntr, tr
from followup.text import visible


@app.command("import")
def import_(
    ctx: typer.Context,
    paths: Optional[list[Path]] = typer.Argument(None, help="Export files, or directories of them "
                                                 "(patients are imported first)."),
    kind: Optional[str] = typer.Option(None, "--kind", help="patients, visits, appointments or plans "
                                       "(else told from the headers)."),
    mapping: Optional[list[Path]] = typer.Option(None, "--mapping", help="A TOML file naming the columns "
                                                 "of an unusual layout; repeat it for several layouts (each "
                                                 "applies to the files it names or whose headers it fits).",
                                                 dir_okay=False),
    full_export: bool = typer.Option(False, "--full-export", help="The patients file is the whole list: "
                                     "mark patients it leaves out as missing (never deleted)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Report what would change; write nothing."),
    force: bool = typer.Option(False, "--force", help="Read a file even if it is the same as last time."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print nothing on success (for cron); "
                               "errors still go to stderr."),
    history: bool = typer.Option(False, "--history", help="Show the recorded import runs instead."),
    fields: bool = typer.Option(False, "--fields", help="List every field of every kind: what it means "
                                "and the headers recognised without a mapping file."),
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
    if fields:
        return _field_reference(fmt)
    if not paths:
        raise UsageError(N_("name the export files or a directory to import (or --history)"))
    from followup.actions.clinic import run_import
    from followup.importing import ImportOptions
    from followup.importing.fields import load_mapping

    options = ImportOptions(
        kind=kind, mappings=tuple(load_mapping(m) for m in mapping or ()), full_export=full_export,
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
        try:
            with _interruptible(), _progress(quiet) as on_rows:
                result = run_import(conn, db_file, list(paths), options, today=_today(), on_rows=on_rows)
        except KeyboardInterrupt:
            echo(tr("Interrupted: the file being imported was not written (each file is all or nothing); "
                    "the run is recorded as interrupted (followup import --history)."), err=True)
            raise typer.Exit(ExitStatus.INTERRUPTED) from None
    _report_import(result, quiet=quiet, fmt=fmt)
    failed = [f for f in result.files if f.outcome == "failed"]
    if failed:
        raise typer.Exit(failed[0].exit_code)
    if any(f.rejected for f in result.files):
        raise typer.Exit(RowsRejected.exit_code)


@contextlib.contextmanager
def _interruptible():
    """SIGTERM (a service stopped, a cron job killed politely) and Windows' Ctrl-Break end the import
    as Ctrl-C does: the file's transaction undone, the run recorded as interrupted."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame):
        raise KeyboardInterrupt

    signals = [s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGBREAK", None)) if s is not None]
    before = {s: signal.signal(s, stop) for s in signals}
    try:
        yield
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)


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

        # a file's name is shown as it is (never read as markup: "[bold]x.csv" is a name)
        self.progress = Progress(SpinnerColumn(), TextColumn("{task.description}", markup=False),
                                 TextColumn(tr("rows: {count}", count="{task.completed:,}"), markup=False),
                                 TimeElapsedColumn(), console=_console(err=True), transient=True)
        self.progress.start()

        def on_rows(path: str, rows: int) -> None:
            if path not in self.tasks:
                self.tasks[path] = self.progress.add_task(visible(Path(path).name), total=None)
            self.progress.update(self.tasks[path], completed=rows)

        return on_rows

    def __exit__(self, *exc):
        if self.progress:
            self.progress.stop()
        return False


FILE_COLUMNS = ["file", "kind", "outcome", "rows_read", "inserted", "updated", "unchanged", "rejected",
                "deactivated"]
COUNT_LABELS = {"rows_read": N_("read"), "inserted": N_("new"), "updated": N_("changed"), "unchanged": N_("same"),
                "deactivated": N_("missing"), "started_at": N_("started"), "duration_s": N_("sec")}
# the kinds and outcomes shown in the tables (JSON and CSV keep the codes)
WORDS = (N_("patients"), N_("visits"), N_("appointments"), N_("plans"), N_("imported"), N_("unchanged"),
         N_("dry-run"), N_("failed"), N_("interrupted"), N_("running"), N_("partial"), N_("ok"))


def _shown(row: dict) -> dict:
    return dict(row, kind=tr(row["kind"]) if row.get("kind") else row.get("kind"),
                outcome=tr(row["outcome"]) if row.get("outcome") else row.get("outcome"))


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
            err.print(tr("Error: {message}", message=f.message), markup=False, soft_wrap=True)
            continue
        shown = f.rejects[:20]
        for r in shown:
            col = f", {r.column}" if r.column else ""
            err.print(tr("{path}: line {line}{column}: {reason}", path=f.path, line=r.line, column=col, reason=r.reason),
                      markup=False, soft_wrap=True)
        if f.rejected > len(shown):
            err.print(ntr("{path}: ... {n} more rejected row (followup import --history --format json lists up to 200)",
                          "{path}: ... {n} more rejected rows (followup import --history --format json lists up to "
                          "200)", f.rejected - len(shown), path=f.path), markup=False)
    if quiet:
        return
    if fmt is not Format.table:
        # JSON and CSV say it in English, the same in every language (a script reads them)
        rows = [dict(_file_row(f), path=f.path, sha256=f.sha256, encoding=f.encoding,
                     message=_english(f.message), notes=[_english(n) for n in f.notes]) for f in result.files]
        if fmt in (Format.json, Format.xlsx):
            _structured({"run_id": result.run_id, "outcome": result.outcome,
                         "duration_s": round(result.duration_s, 3), "files": rows}, fmt, "import")
        else:
            _print_rows(rows, FILE_COLUMNS, fmt)
        return
    _print_rows([_shown(_file_row(f)) for f in result.files], FILE_COLUMNS, fmt, labels=COUNT_LABELS,
                title=tr("Import run {id}: {outcome} in {seconds} s", id=result.run_id, outcome=tr(result.outcome),
                         seconds=f"{result.duration_s:.1f}"))
    out = _console()
    for f in result.files:
        for note in f.notes:
            out.print(f"{Path(f.path).name}: {note}", markup=False)
        if f.outcome in ("unchanged", "dry-run") and f.message:
            out.print(f"{Path(f.path).name}: {f.message}", markup=False)
        if f.outcome == "dry-run":
            out.print(tr("{file}: dry run - nothing was written", file=Path(f.path).name), markup=False)


def _field_reference(fmt: Format) -> None:
    """The field reference, from the importer's own field table (the README's copy is tested
    against it)."""
    from followup.importing.fields import field_reference

    rows = field_reference()
    if fmt in (Format.json, Format.xlsx, Format.csv):  # for scripts: meanings in English, lists as lists
        if fmt is Format.csv:
            rows = [dict(r, headers="; ".join(r["headers"])) for r in rows]
        return _print_rows(rows, ["kind", "field", "required", "meaning", "headers"], fmt)
    shown = [{"kind": tr(r["kind"]), "field": r["field"], "required": tr("yes") if r["required"] else "",
              "meaning": tr(r["meaning"]), "headers": ", ".join(h for h in r["headers"] if h != r["field"])}
             for r in rows]
    _print_rows(shown, ["kind", "field", "required", "meaning", "headers"], fmt,
                labels={"kind": N_("file"), "field": N_("field"), "required": N_("required"),
                        "meaning": N_("meaning"), "headers": N_("headers recognised")})


def _english(message):
    """A message for JSON and CSV: in English whatever the reader's language (None stays None)."""
    return message.english() if hasattr(message, "english") else message


def _import_history(ctx: typer.Context, fmt: Format) -> None:
    from followup.actions.clinic import import_history

    conn = _open(ctx, create=False)
    runs = import_history(conn)
    if fmt in (Format.json, Format.xlsx):
        for run in runs:
            run["message"] = _english(run["message"])
            for f in run["files"]:
                f["message"] = _english(f["message"])
                f["rejects"] = [dict(r, reason=_english(r["reason"])) for r in f["rejects"]]
        _structured(runs, fmt, "imports")
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
    columns = ["run", "started_at", "user", "file", *FILE_COLUMNS[1:], "duration_s"]
    if fmt in (Format.table, Format.md):
        rows = [_shown(r) for r in rows]
    _print_rows(rows, columns, fmt, title=tr("Import runs, newest first"), labels=COUNT_LABELS)
