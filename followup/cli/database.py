"""Where the database is, what is in it, its backup and its check."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from followup.cli.core import echo, FORMAT_OPTION, Format, _db_path, _open, _print_rows, _structured, app, db_app
from followup.errors import ExitStatus
from followup.i18n import ntr, tr


@db_app.command("path")
def db_path(ctx: typer.Context):
    """Print where the database is (--db, else $FOLLOWUP_DB, else the per-user data directory)."""
    echo(str(_db_path(ctx)))


@db_app.command("info")
def db_info(ctx: typer.Context, fmt: Format = FORMAT_OPTION):
    """Show the schema version and how many rows each table holds."""
    from followup import db

    conn = _open(ctx, create=False)
    info = {"path": str(_db_path(ctx)), "schema": db.schema_version(conn), **db.table_counts(conn)}
    _print_rows([info], list(info), fmt)


@app.command("backup")
def backup(ctx: typer.Context, dest: Path = typer.Argument(..., help="The backup file to write."),
           force: bool = typer.Option(False, "--force", help="Replace the file if it exists.")):
    """A consistent copy of the database while others keep working (readable by its owner only)."""
    from followup import db

    conn = _open(ctx, create=False)
    written = db.backup(conn, dest.expanduser(), force=force)
    echo(tr("Backup written: {path}", path=written))


@app.command("check")
def check(ctx: typer.Context,
          quick: bool = typer.Option(False, "--quick", help="SQLite's quick check only (pages and rows, not every "
                                     "index, foreign key and text): for the nightly cron."),
          fmt: Format = FORMAT_OPTION):
    """Check the database: integrity, foreign keys, schema version. Exit 1 if anything is wrong."""
    from followup import db

    conn = _open(ctx, create=False)
    result = db.check(conn, quick=quick)
    if fmt is Format.json:
        echo(json.dumps(result, ensure_ascii=False))
    elif fmt is Format.xlsx:
        _structured(result, fmt, "check")
    else:
        problems = [p for p in result["integrity"][:3] if p != "ok"] + [
            tr("{where}: {n} texts not valid UTF-8", where=where, n=n) for where, n in (result["not_utf8"] or {}).items()]
        state = tr("ok") if result["ok"] else tr("PROBLEMS: {list}", list="; ".join(problems))
        if quick:
            echo(tr("{state} (schema {schema}; the quick check: followup check does the full one)", state=state,
                    schema=result["schema"]))
        else:
            echo(tr("{state} (schema {schema}, {problems})", state=state, schema=result["schema"],
                    problems=ntr("{n} foreign-key problem", "{n} foreign-key problems",
                                 result["foreign_key_problems"])))
    if not result["ok"]:
        raise typer.Exit(ExitStatus.FAILURE)
