"""A patient: `patient show`, `patient find`, and the patient's rights: `patient export`, `patient forget`."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Optional

import typer

from followup import i18n
from followup.cli.core import (echo, BY_OPTION, FORMAT_OPTION, Format, _cell, _clock, _console, _open, _phone, _print_rows,
                               _prompts, _structured, _who, _Group, app, patient_app)
from followup.errors import NotFound, UsageError
from followup.i18n import NC_, N_, ntr, tr, trc


PATIENT_LIST_COLUMNS = ["patient_id", "full_name", "birth_date", "phone", "household_id", "status"]
# the codes of imported values, shown in the chosen language (JSON and CSV keep the codes)
CODES = (N_("consultation"), N_("treatment"), N_("treatment_end"), N_("hygiene"), N_("other"))
# statuses, each in its role (a gettext context)
STATUSES = (NC_("appointment", "booked"), NC_("appointment", "cancelled"), NC_("appointment", "no_show"),
            NC_("appointment", "done"), NC_("plan stage", "planned"), NC_("plan stage", "done"),
            NC_("plan stage", "cancelled"))


def _patient_row(p: dict) -> dict:
    """A patient for people to read: an invalid phone and a missing patient are said so."""
    row = {c: p.get(c) for c in PATIENT_LIST_COLUMNS}
    row["status"] = tr(p["status"]) if p.get("status") else p.get("status")
    if p.get("phone") and not p.get("phone_valid"):
        row["phone"] = tr("{phone} (invalid)", phone=p["phone"])
    elif p.get("phone"):
        row["phone"] = _phone(p["phone"])
        if p.get("phone_sms") == 0:
            row["phone"] = tr("{phone} (no SMS)", phone=row["phone"])
    if p.get("missing_since"):
        row["status"] = tr("{status}, left out of the full export since {date}", status=row["status"],
                           date=i18n.day(dt.date.fromisoformat(p["missing_since"][:10])))
    return row


@patient_app.command("show")
def patient_show(ctx: typer.Context, patient_id: str = typer.Argument(..., help="The patient's card number."),
                 fmt: Format = FORMAT_OPTION):
    """Everything imported about one patient: details, visits, appointments, plan stages."""
    from followup.actions.patients import patient_card

    conn = _open(ctx, create=False)
    patient = patient_card(conn, patient_id)
    if fmt in (Format.json, Format.xlsx):
        _structured(patient, fmt, "patient")
        return
    if fmt is Format.csv:
        _print_rows(patient["visits"], ["visit_id", "date", "kind", "doctor", "control_due"], fmt)
        return
    out = _console()
    from rich.markup import escape

    out.print(tr("[bold]{name}[/bold]  card {id}", name=escape(patient["full_name"]), id=escape(patient["patient_id"])))
    for label, key in ((N_("born"), "birth_date"), (N_("phone"), "phone"), (N_("phone 2"), "phone2"),
                       (N_("other phones"), "phones_other"), (N_("e-mail"), "email"), (N_("status"), "status"),
                       (N_("first visit"), "first_visit"), (N_("household"), "household_id"),
                       (N_("came through"), "source")):
        value = _patient_row(patient).get(key, patient.get(key)) if key in ("phone", "status") else patient[key]
        if key == "phone2" and patient["phone2"]:
            value = (tr("{phone} (invalid)", phone=patient["phone2"]) if not patient["phone2_valid"]
                     else _phone(patient["phone2"]))
        if key == "phones_other" and value:
            value = ", ".join(_phone(n) for n in value.split(", "))
        if key == "source" and value:
            value = tr(value["source"]) + (f" ({value['detail']})" if value["detail"] else "")
        if value:
            out.print(f"  {tr(label):<12} {_cell(value)}", markup=False)
    if patient["household"]:
        out.print(f"  {tr('same family'):<12} {', '.join(patient['household'])}", markup=False)
    for title, rows, cols, role in (
        (tr("Visits"), patient["visits"], ["date", "kind", "doctor", "control_due", "visit_id"], None),
        (tr("Appointments"), patient["appointments"], ["start", "status", "doctor", "appointment_id"], "appointment"),
        (tr("Plan stages"), patient["plan_stages"], ["plan_id", "stage", "stage_title", "due_date", "status",
                                                     "doctor"], "plan stage"),
    ):
        if rows:  # a status in its role: an appointment 'booked' is not a call's outcome 'booked'
            shown = [{k: (trc(role, v) if k == "status" else tr(v)) if k in ("kind", "status") and v else v
                      for k, v in r.items()} for r in rows]
            _print_rows(shown, cols, Format.table, title=title)


@patient_app.command("find")
def patient_find(ctx: typer.Context, text: str = typer.Argument(..., help="A part of the name, or a phone "
                                                                "number in any format."),
                 limit: int = typer.Option(50, "--limit", min=1, max=100_000, help="Show at most this many (by name)."),
                 fmt: Format = FORMAT_OPTION):
    """Find patients by a part of the name (any case, ё = е) or by phone in any format."""
    from followup import db
    from followup.actions.patients import find_patients

    conn = _open(ctx, create=False)
    found = find_patients(conn, text, limit=limit)
    if not found.total and fmt is Format.table:
        raise NotFound(N_("no patient matches"))
    if fmt is Format.table:
        title = tr("{shown} of {total} shown (--limit for more)", shown=len(found.patients), total=found.total) \
            if found.total > len(found.patients) else None
        _print_rows([_patient_row(p) for p in found.patients], PATIENT_LIST_COLUMNS, fmt, title=title)
    else:
        _print_rows(found.patients, list(db.PATIENT_COLUMNS), fmt)


@patient_app.command("export")
def patient_export(ctx: typer.Context, patient_id: str = typer.Argument(..., help="The patient's card number."),
                   out: Optional[Path] = typer.Option(None, "--out", help="Write to this file (mode 0600) "
                                                      "instead of the standard output.", dir_okay=False),
                   force: bool = typer.Option(False, "--force", help="With --out: replace the file if it exists.")):
    """Everything stored about one patient, as JSON (the patient's right of access)."""
    from followup.actions.patients import patient_data
    from followup.db.files import check_target, write_text_private

    if out is not None:
        check_target(out, force=force)  # before any work
    conn = _open(ctx, create=False)
    data = patient_data(conn, patient_id)
    text = json.dumps(data, ensure_ascii=False, indent=2, default=str)
    if out is None:
        echo(text)
        return
    write_text_private(out, text + "\n", force=force)
    echo(tr("Written: {path}", path=out))


@patient_app.command("forget")
def patient_forget(ctx: typer.Context, patient_id: str = typer.Argument(..., help="The patient's card number."),
                   yes: bool = typer.Option(False, "--yes", help="Do it without asking."),
                   wait: int = typer.Option(30, "--wait", min=0, max=3600, help="Seconds to wait for other programs to "
                                            "close the database."),
                   by: Optional[str] = BY_OPTION):
    """Erase a patient's personal data everywhere (the right to erasure); survey scores stay, anonymous.

    Backups made before keep what they had; no new one is made. A later import brings the patient
    back as new, without the consent column's consents: nobody is contacted without a new consent.
    """
    from followup.actions.patients import erased_before, forget_patient, patient_data

    conn = _open(ctx, create=False, backup=False)  # an older schema is migrated without a copy
    pid = patient_id.strip()
    finishing = erased_before(conn, pid) is not None
    if not finishing:
        patient_data(conn, pid)
        if not yes and not _prompts()[0].ask(tr("Erase everything about {pid}? This cannot be undone", pid=pid),
                                             default=False):
            raise UsageError(N_("nothing erased"))

    def waiting() -> None:
        echo(tr("Waiting for other programs to close the database (up to {n} s)...", n=wait), err=True)

    result = forget_patient(conn, pid, by=_who(by), now=_clock(), wait_s=wait, on_wait=waiting)
    if finishing:
        echo(tr("Erasure #{id} finished: the file no longer holds the records.", id=result["erasure"]))
        return
    echo(tr("Erased (erasure #{id}): {records}; {scores} kept without the patient.", id=result["erasure"],
                  records=ntr("{n} record", "{n} records", result["rows_erased"]),
                  scores=ntr("{n} survey score", "{n} survey scores", result["surveys_kept"])))


@patient_app.command("source")
def patient_source(ctx: typer.Context, patient_id: str = typer.Argument(..., help="The patient's card number."),
                   value: str = typer.Argument(..., help="What brought them: recommendation, mailing, search, map, "
                                               "passing_by, insurance, social, advert, other (in Russian too), or "
                                               "the clinic's own (followup source list)."),
                   detail: Optional[str] = typer.Option(None, "--detail", help="Who recommended the clinic, or the "
                                                        "patient's own words."),
                   by: Optional[str] = BY_OPTION):
    """Record what brought the patient ("what brought you?"): the clinic report counts the new patients
    by it, and each mailing by those who name it."""
    from followup.actions.patients import record_source

    done = record_source(_open(ctx, create=False), patient_id, value, detail=detail, by=_who(by), now=_clock())
    echo(tr("Recorded for {pid}: {source}{detail}.", pid=done.patient_id, source=tr(done.source),
            detail=f" ({done.detail})" if done.detail else ""))


source_app = typer.Typer(cls=_Group, help="The words for what brings patients to the clinic.", no_args_is_help=True)
app.add_typer(source_app, name="source")


@source_app.command("list")
def source_list(ctx: typer.Context, fmt: Format = FORMAT_OPTION):
    """The sources a desk may record: the usual ones, then the clinic's own."""
    from followup.actions.patients import source_vocabulary
    from followup.records import SOURCES

    readable = fmt in (Format.table, Format.md)
    rows = [{"source": code, "shown": tr(code) if code in SOURCES else code,
             "clinic's own": code not in SOURCES} for code in source_vocabulary(_open(ctx, create=False))]
    if readable:
        rows = [{"source": r["source"], "shown": r["shown"], "clinic's own": tr("yes") if r["clinic's own"] else ""}
                for r in rows]
    _print_rows(rows, ["source", "shown", "clinic's own"], fmt)


@source_app.command("add")
def source_add(ctx: typer.Context,
               word: str = typer.Argument(..., help="The new source, e.g. \"газета Район\"."),
               by: Optional[str] = BY_OPTION):
    """Add a source of the clinic's own to the words a desk may record."""
    from followup.actions.patients import add_source_word

    code = add_source_word(_open(ctx, create=False), word, by=_who(by), now=_clock())
    echo(tr("Source {value!r} added.", value=code))
