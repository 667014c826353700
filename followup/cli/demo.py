"""The demo clinic."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from followup.cli.core import Format, _clock, _console, _today, _who, app
from followup.cli.imports import _report_import
from followup.i18n import ntr, tr


@app.command("demo")
def demo(
    directory: Optional[Path] = typer.Option(None, "--dir", help="Where to put the demo clinic (default: "
                                             "a 'demo' folder in the per-user data directory).",
                                             file_okay=False),
    patients: int = typer.Option(2000, "--patients", min=10, max=200_000, help="How many patients."),
    seed: int = typer.Option(20261123, "--seed", min=0, max=2**63 - 1, help="Same seed, same clinic."),
):
    """Build a demo clinic: write its exports like a real system would, import them, show the result.

    It never touches your real database: the demo has a database of its own.
    """
    from followup import db, i18n
    from followup.actions.clinic import build_demo

    if directory is None:  # never beside the clinic's database, wherever $FOLLOWUP_DB puts that
        directory = db.data_dir() / "demo"
    demo = build_demo(directory.expanduser(), patients=patients, seed=seed, language=i18n.language(), by=_who(None),
                      today=_today(), now=_clock())
    _report_import(demo.import_result, quiet=False, fmt=Format.table)
    db_file, exports, data = demo.db_file, demo.exports, demo.entries
    out = _console()
    c = demo.counts

    out.print("\n" + tr("Demo clinic: {patients}, {visits}, {appointments}, {stages}.",
                        patients=ntr("{n} patient", "{n} patients", c["patients"]),
                        visits=ntr("{n} visit", "{n} visits", c["visits"]),
                        appointments=ntr("{n} appointment", "{n} appointments", c["appointments"]),
                        stages=ntr("{n} plan stage", "{n} plan stages", c["plans"])), markup=False)
    out.print(tr("Consents recorded for {patients}; {contacts} for today.",
                 patients=ntr("{n} patient", "{n} patients", demo.consenting),
                 contacts=ntr("{n} next contact agreed", "{n} next contacts agreed", demo.next_contacts)), markup=False)
    out.print(tr("Exports (cp1251, ';', dd.mm.yyyy): {path}", path=exports), markup=False)
    out.print(tr("Database: {path}", path=db_file), markup=False)
    codes = demo.reasons
    out.print("\n" + tr("Today's list: {contacts} - {codes}", contacts=ntr("{n} contact", "{n} contacts", len(data)),
                        codes=", ".join(f"{tr(c)} {n}" for c, n in sorted(codes.items()))), markup=False)
    shown = [d for d in data if d["reasons"][0]["code"] in codes]
    sample = list({d["reasons"][0]["code"]: d for d in shown}.values())
    import textwrap

    for d in sample:  # each wrapped at word boundaries, however narrow the terminal
        window = d["window"] or tr("any time").center(11)
        out.print(textwrap.fill(f"{d['entry_id']}  {window}  {d['patient']} ({d['patient_id']}), "
                                f"{tr(d['channel'])} {d['phone']}: {d['reasons'][0]['text']}",
                                width=max(out.width - 1, 40), initial_indent="  ", subsequent_indent="      ",
                                break_long_words=False, break_on_hyphens=False), markup=False, soft_wrap=True)
    out.print("\n" + tr("Surveys: {list}", list="; ".join(
        f"{d}: {tr(status)} ({n})" for d, (status, n) in demo.surveys.items())), markup=False)
    out.print(tr("For the manager: {n} reasons lapsed since the clinic began its lists, never offered "
                 "(followup flagged).", n=demo.flagged), markup=False)
    out.print("\n" + tr("Try:"), markup=False)
    for line in (f'followup --db "{db_file}" today',
                 f'followup --db "{db_file}" report',
                 f'followup --db "{db_file}" flagged',
                 f'followup --db "{db_file}" why {sample[0]["patient_id"] if sample else "000001"}',
                 f'followup --db "{db_file}" patient find Иванов',
                 f'followup --db "{db_file}" patient show 000001',
                 f'followup --db "{db_file}" occasion list',
                 f'followup --db "{db_file}" campaign list',
                 f'followup --db "{db_file}" report clinic',
                 f'followup --db "{db_file}" import "{exports}"      # ' + tr("again: every file is skipped as unchanged"),
                 f'followup --db "{db_file}" import --history'):
        out.print(f"  {line}", markup=False, soft_wrap=True)
