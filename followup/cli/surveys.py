"""Surveys, themes of comments, complaints and the reports."""

from __future__ import annotations

import datetime as dt
import json
import sys
from typing import Optional

import typer

from followup.cli.core import FORMAT_OPTION, Format, QUESTIONS, QUESTIONS_VERSION, _Group, _console, _prompts, _date, _known_doctor, _known_patient, _now, _open, _print_rows, _user, app
from followup.errors import NotFound, UsageError
from followup import i18n
from followup.i18n import N_, ntr, tr
from followup.cli.daylist import day_list, entries_named


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
        raise UsageError(tr("a survey for treatment {visit} is already recorded", visit=end.visit_id))
    if end is None and not doctor:
        raise UsageError(tr("{pid} has no finished treatment to ask about; name the doctor with --doctor", pid=pid))
    doctors = [_known_doctor(conn, doctor)] if doctor else rules.treatment_doctors(records.visits, end)
    answers = {"score": score, "recommend": recommend, "expectations": expectations, "comment": comment}
    interactive = ask or (not decline and all(v is None for v in answers.values()))
    if interactive:
        if not (ask or sys.stdin.isatty()):
            raise UsageError(tr("give the answers (--score, --recommend, --expectations, --comment) or --decline, "
                                "or run on a terminal to be asked"))
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
        typer.echo(tr("Survey #{id}: {pid} declined; the survey call for this treatment is closed.", id=sid, pid=pid))
        return
    typer.echo(tr("Survey #{id} recorded for {pid} (counts for {doctors}).", id=sid, pid=pid, doctors=", ".join(doctors)))
    from followup import reports

    policy = rules.policy_from(settings)
    problems = reports.problems(answers["comment"], reports.theme_keywords(settings))
    low = (answers["score"] is not None and answers["score"] <= policy.low_score) or bool(problems)
    if complaint:
        if not (answers["comment"] or "").strip():
            raise UsageError(tr("--complaint needs a --comment to open it with"))
        cid = db.add_complaint(conn, {"patient_id": pid, "doctor": doctors[0] if len(doctors) == 1 else None,
                                      "text": answers["comment"].strip(), "opened_by": who, "opened_at": when})
        typer.echo(tr("Complaint #{id} opened from the comment.", id=cid))
    elif low or answers["expectations"] == "no":
        typer.echo(tr("A negative answer: open a complaint? followup complaint add {pid} --text \"...\"", pid=pid))


def _survey_target(conn, target: str, day: dt.date) -> tuple[str, Optional[str]]:
    """A patient, and the treatment when the target is a survey entry of the day's list."""
    from followup import db, rules

    target = target.strip()
    if db.patient_exists(conn, target):
        return target, None
    if len(target) >= rules.ENTRY_ID_LENGTH:
        matches, _, _ = entries_named(conn, day, target)
        if len(matches) == 1:
            survey_reasons = [r for r in matches[0].reasons if r.code == "survey_call"]
            return matches[0].patient.patient_id, survey_reasons[0].ref if survey_reasons else None
    raise NotFound(tr("no patient or entry {value!r}", value=target))


def _check_answers(answers: dict) -> None:
    score, recommend, expectations = answers["score"], answers["recommend"], answers["expectations"]
    if score is None or not 1 <= score <= 10:
        raise UsageError(tr("--score must be a whole number from 1 to 10"))
    if recommend is not None and not 0 <= recommend <= 10:
        raise UsageError(tr("--recommend must be a whole number from 0 to 10"))
    if expectations is not None and expectations.lower() not in ("yes", "partly", "no"):
        raise UsageError(tr("--expectations must be yes, partly or no"))


def _ask_survey(patient: str, doctors: list[str], caller: str, conn) -> tuple[dict, bool]:
    """The phone script and the questions, in order, each answer checked; confirmed before saving."""
    from rich.markup import escape  # names, and questions the clinic set, are data: never markup

    from followup import db

    Confirm, IntPrompt, Prompt = _prompts()
    settings = db.get_settings(conn)
    clinic = settings.get("clinic_name") or tr("the clinic")
    questions = {k: escape(settings.get(f"survey.question.{k}") or tr(text)) for k, text in QUESTIONS.items()}
    out = _console()
    out.print(tr("[bold]Script[/bold]: Hello, this is {caller} from {clinic}. As agreed after your treatment with "
                 "{doctors}, may I ask you two or three short questions? It takes two minutes.", caller=escape(caller),
                 clinic=escape(clinic), doctors=escape(", ".join(doctors) or tr("us"))))
    out.print(tr("Patient: {name}", name=patient), markup=False)
    if not Confirm.ask(tr("Does the patient agree?")):
        return {}, True
    answers: dict = {}
    while not 1 <= (answers.setdefault("score", IntPrompt.ask(questions["score"])) or 0) <= 10:
        answers.pop("score")
        out.print(tr("From 1 to 10, please."))
    while not 0 <= answers.setdefault("recommend", IntPrompt.ask(questions["recommend"])) <= 10:
        answers.pop("recommend")
        out.print(tr("From 0 to 10, please."))
    choices = {tr("yes"): "yes", tr("partly"): "partly", tr("no"): "no"}  # answered in the language, stored as codes
    answers["expectations"] = choices[Prompt.ask(questions["expectations"], choices=list(choices))]
    answers["comment"] = Prompt.ask(questions["comment"], default="") or None
    out.print(tr("Answers: satisfied {score}/10, would recommend {recommend}/10, expectations met: {expectations}; "
                 "comment: {comment}", score=answers["score"], recommend=answers["recommend"],
                 expectations=tr(answers["expectations"]), comment=answers["comment"] or "-"), markup=False)
    if not Confirm.ask(tr("Save these answers?")):
        raise UsageError(tr("not saved"))
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
            raise UsageError(tr("unknown report {value!r} (use: followup report clinic, or --doctor NAME)", value=what))
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
    rows = [{"doctor": r["doctor"], "status": tr(r["status"]) if fmt in (Format.table, Format.md) else r["status"],
             "n": f"{r['current_wave']['responses']} / {r['threshold']}" if r["status"] == "collecting"
             else r["responses"], "mean": r.get("mean_score"), "median": r.get("median_score"),
             "nps": r.get("nps"), "nps_ci": r.get("nps_ci"), "expectations_met": r.get("expectations_met"),
             "trend": r.get("trend")} for r in results]
    _print_rows(rows, list(rows[0]) if rows else ["doctor"], fmt, title=tr("Survey results by doctor"))
    if doctor and fmt is Format.table and results[0]["status"] != "collecting":
        r = results[0]
        waves = [dict(w, **{k: i18n.day(dt.date.fromisoformat(w[k])) for k in ("from", "to") if w.get(k)})
                 for w in r["waves"]]
        _print_rows(waves, ["wave", "from", "to", "mean_score", "nps", "positive"], fmt, title=tr("Waves"))
        _print_rows([dict(x, theme=tr(x["theme"]), examples=" | ".join(x["examples"])) for x in r["themes"]],
                    ["theme", "count", "examples"], fmt, title=tr("Themes of comments"))
        out = _console()
        out.print("\n" + tr("Scores (1-10), how many patients gave each:"), markup=False)
        top = max(r["distribution"].values()) or 1
        for k, n in r["distribution"].items():
            out.print(f"{k:>3} {'█' * round(30 * n / top)} {n}", markup=False)


def _clinic_report(ctx, year: int, fmt: Format) -> None:
    from followup import db, reports, rules

    today = dt.date.today()
    conn = _open(ctx, create=False)
    active = db.active_patients_last_visit(conn)
    entries, _ = day_list(conn, today)
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
                title=tr("First-time patients of {year} who came back within 12 months", year=year))
    _console().print(tr("Dead souls: {patients} with no visit for 24 months (list: followup report clinic --format csv)",
                        patients=ntr("{n} active patient", "{n} active patients", len(data["dead_souls"]))),
                     markup=False)
    _print_rows([dict(r, reason=tr(r["reason"])) for r in data["funnel"]],
                ["reason", "due_today", "attempted", "reached", "booked", "declined"], fmt,
                title=tr("Contacts in {year}, by reason", year=year))
    _print_rows([dict(r, purpose=tr(r["purpose"])) for r in data["consent_coverage"]], ["purpose", "patients", "share"],
                fmt,
                title=tr("Active patients with a recorded contact decision"))
    c = data["complaints"]
    _console().print(tr("Complaints in {year}: {opened} opened, {resolved} resolved (median {days} days), {informed} "
                        "patients informed.", year=year, opened=c["opened"], resolved=c["resolved"],
                        days="—" if c["median_days_to_resolve"] is None else c["median_days_to_resolve"],
                        informed=c["informed"]), markup=False)


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
        _console().print(tr("Every comment has a theme. Themes: {list}", list=", ".join(map(tr, keywords))), markup=False)
        return
    _print_rows(rows, ["survey", "date", "comment"], fmt, title=tr("Comments without a theme"))


@themes_app.command("add")
def themes_add(ctx: typer.Context, name: str = typer.Argument(..., help="A theme, new or built-in."),
               keywords: str = typer.Option(..., "--keywords", help="Comma-separated words or stems."),
               by: Optional[str] = typer.Option(None, "--by", help="Who changes it.")):
    """Add keywords to a theme; every comment is classified again with them."""
    from followup import db

    words = [w.strip() for w in keywords.split(",") if w.strip()]
    if not name.strip() or not words:
        raise UsageError(tr("give a theme name and at least one keyword"))
    conn = _open(ctx, create=False)
    key = f"theme.{name.strip()}"
    old = db.get_settings(conn).get(key)
    merged = ",".join(dict.fromkeys(([w for w in old.split(",") if w] if old else []) + words))
    db.set_setting(conn, key, merged, by=by or _user(), at=_now())
    typer.echo(tr("Theme {name!r}: {keywords}", name=name.strip(), keywords=merged))


@themes_app.command("assign")
def themes_assign(ctx: typer.Context, survey_id: int = typer.Argument(..., help="The survey's number."),
                  theme: str = typer.Argument(..., help="The theme."),
                  by: Optional[str] = typer.Option(None, "--by", help="Who assigns it.")):
    """Give one comment a theme by hand."""
    from followup import db

    conn = _open(ctx, create=False)
    if not any(s["id"] == survey_id and s["comment"] for s in db.survey_responses(conn)):
        raise NotFound(tr("no survey #{id} with a comment", id=survey_id))
    db.assign_theme(conn, survey_id, theme.strip(), by=by or _user(), at=_now())
    typer.echo(tr("Survey #{id}: theme {theme!r}.", id=survey_id, theme=theme.strip()))


complaint_app = typer.Typer(cls=_Group, help="Complaints: record, answer fast, tell the patient what was done.",
                            no_args_is_help=True)
app.add_typer(complaint_app, name="complaint")


def _complaint(conn, complaint_id: int) -> dict:
    from followup import db

    found = db.get_complaint(conn, complaint_id)
    if found is None:
        raise NotFound(tr("no complaint #{id}", id=complaint_id))
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
        raise UsageError(tr("--text must say what the complaint is"))
    conn = _open(ctx, create=False)
    pid = _known_patient(conn, patient)
    cid = db.add_complaint(conn, {"patient_id": pid, "doctor": _known_doctor(conn, doctor), "text": text.strip(),
                                  "opened_by": by or _user(), "opened_at": _now()})
    typer.echo(tr("Complaint #{id} opened for {pid}.", id=cid, pid=pid))


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
        state = N_("informed") if c["informed_at"] else N_("resolved") if c["resolved_at"] else N_("open")
        rows.append(dict(c, state=state, overdue=rules.complaint_overdue(record, day, policy)))
    if fmt is Format.table:
        for r in rows:
            r["state"] = tr(r["state"]) + (tr(" - OVERDUE") if r["overdue"] else "")
            r["opened_at"] = r["opened_at"][:16]
    _print_rows(rows, ["id", "state", "opened_at", "patient_id", "patient", "doctor", "text", "action"], fmt,
                title=tr("Complaints"))


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
        raise UsageError(tr("--action must say what was done"))
    conn = _open(ctx, create=False)
    _complaint(conn, complaint_id)
    if not db.update_complaint(conn, complaint_id, expect="open", changes={
            "action": action.strip(), "resolved_by": by or _user(), "resolved_at": _now()}):
        raise UsageError(tr("complaint #{id} is already resolved", id=complaint_id))
    typer.echo(tr("Complaint #{id} resolved. Tell the patient what was done, then: followup complaint informed {id}",
                  id=complaint_id))


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
        raise UsageError(tr("complaint #{id} is not resolved yet: resolve it first", id=complaint_id))
    if not db.update_complaint(conn, complaint_id, expect="resolved",
                               changes={"informed_by": by or _user(), "informed_at": _now()}):
        raise UsageError(tr("complaint #{id}: the patient was already informed", id=complaint_id))
    typer.echo(tr("Complaint #{id}: the patient was informed.", id=complaint_id))
