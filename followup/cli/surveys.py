"""Surveys, themes of comments, complaints and the reports."""

from __future__ import annotations

import datetime as dt
import sys
from typing import Optional

import typer

from followup.cli.core import (RECORD_ID_MAX, echo, BY_OPTION, DAY_OPTION, FORMAT_OPTION, Format, _Group, _clock, _console, _date, _open,
                               _print_rows, _prompts, _structured, _today, _who, app)
from followup.errors import ExitStatus, UsageError
from followup import i18n
from followup.i18n import N_, ntr, tr, trg


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
    correct: bool = typer.Option(False, "--correct", help="Replace the answers recorded for this treatment (a "
                                 "mistake): the earlier ones are kept, marked corrected, and no longer count."),
    ask: bool = typer.Option(False, "--ask", help="Ask the questions even when not on a terminal."),
    by: Optional[str] = BY_OPTION,
    date: Optional[str] = DAY_OPTION,
):
    """Record the post-treatment survey: on a terminal it reads the script and asks the questions;
    with --score/--recommend/--expectations/--comment (or --decline) it records them directly.

    The answer counts for every doctor of the treatment.
    """
    from followup.actions.surveys import record_survey, survey_call

    day = _date(date)
    conn = _open(ctx, create=False)
    call = survey_call(conn, target, day=day, doctor=doctor, correct=correct)
    answers = {"score": score, "recommend": recommend, "expectations": expectations, "comment": comment}
    interactive = ask or (not decline and all(v is None for v in answers.values()))
    if interactive:
        if not (ask or sys.stdin.isatty()):
            raise UsageError(N_("give the answers (--score, --recommend, --expectations, --comment) or --decline, "
                                "or run on a terminal to be asked"))
        try:
            answers, decline = _ask_survey(call, _caller(conn, _who(by)))
        except (KeyboardInterrupt, EOFError):
            _console(err=True).print("\n" + tr("Interrupted: nothing was recorded."), markup=False)
            raise typer.Exit(ExitStatus.INTERRUPTED) from None
    done = record_survey(conn, call, answers, decline=decline, open_complaint=complaint, day=day, by=_who(by),
                         now=_clock())
    if done.declined:
        echo(trg(call.gender, "Survey #{id}: {pid} declined; the survey call for this treatment is closed.",
                       id=done.id, pid=done.patient_id))
        return
    echo(tr("Survey #{id} recorded for {pid} (counts for {doctors}).", id=done.id, pid=done.patient_id,
                  doctors=", ".join(done.doctors)))
    if done.complaint:
        echo(tr("Complaint #{id} opened from the comment.", id=done.complaint))
    elif done.suggest_complaint and interactive:
        from followup.actions.surveys import complaint_from_survey

        Confirm, _, Prompt = _prompts()
        if Confirm.ask(tr("A negative answer: open a complaint now?")):
            text = answers.get("comment") or Prompt.ask(tr("What is the complaint?"))
            cid = complaint_from_survey(conn, done, text, by=_who(by), now=_clock())
            echo(tr("Complaint #{id} opened from the answer.", id=cid))
    elif done.suggest_complaint:
        echo(tr("A negative answer: open a complaint? followup complaint add {pid} --text \"...\"",
                      pid=done.patient_id))


def _caller(conn, login: str) -> str:
    """How the caller introduces themselves: FOLLOWUP_USER_NAME, else the name set for the login
    (`followup config set user.olga.name "Ольга"`), else the login."""
    import os

    from followup.actions.config import display_name

    return os.environ.get("FOLLOWUP_USER_NAME") or display_name(conn, login) or login


def _ask_survey(call, caller: str) -> tuple[dict, bool]:
    """The phone script and the questions, in order, each answer checked; confirmed before saving."""
    from rich.markup import escape  # names, and questions the clinic set, are data: never markup

    Confirm, IntPrompt, Prompt = _prompts()
    questions = {k: escape(q) for k, q in call.questions.items()}
    out = _console()
    from rich.text import Text

    from followup.text import visible  # (a Text is printed as it is: the names in it are shown safely here)

    out.print(Text.assemble((tr("Script"), "bold"), ": ", visible(tr(
        "Hello, this is {caller} from {clinic}. As agreed after your treatment with {doctors}, may I ask you two or three "
        "short questions? It takes two minutes.", caller=caller, clinic=call.clinic,
        doctors=", ".join(call.doctors) or tr("us")))))
    out.print(tr("Patient: {name}", name=call.patient), markup=False)
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
    answers["comment"] = Prompt.ask(questions["comment"], default="", show_default=False) or None
    out.print(tr("Answers: satisfied {score}/10, would recommend {recommend}/10, expectations met: {expectations}; "
                 "comment: {comment}", score=answers["score"], recommend=answers["recommend"],
                 expectations=tr(answers["expectations"]), comment=answers["comment"] or "-"), markup=False)
    if not Confirm.ask(tr("Save these answers?")):
        raise UsageError(N_("not saved"))
    return answers, False


@app.command("report")
def report(
    ctx: typer.Context,
    what: Optional[str] = typer.Argument(None, help="'clinic' for the clinic report; else survey results."),
    year: Optional[int] = typer.Option(None, "--year", min=1900, max=2199, help="With clinic: the year (default: this year)."),
    doctor: Optional[str] = typer.Option(None, "--doctor", help="One doctor (a name part will do); "
                                         "without it, one line per doctor."),
    date_from: Optional[str] = typer.Option(None, "--from", help="Only answers from this day."),
    date_to: Optional[str] = typer.Option(None, "--to", help="Only answers up to this day."),
    fmt: Format = FORMAT_OPTION,
):
    """Survey results per doctor, shown only from 20 respondents on (waves of 20); `report clinic` for the
    clinic: conversion of first-time patients, dead souls, the contact funnel, consent coverage, complaints."""
    from followup.actions.reporting import doctor_reports

    if what is not None:
        if what != "clinic":
            raise UsageError(N_("unknown report {value!r} (use: followup report clinic, or --doctor NAME)"), value=what)
        return _clinic_report(ctx, year or _today().year, fmt)
    lo = _date(date_from, "--from") if date_from else None
    hi = _date(date_to, "--to") if date_to else None
    conn = _open(ctx, create=False)
    results = doctor_reports(conn, doctor=doctor, date_from=lo, date_to=hi, today=_today())
    if fmt in (Format.json, Format.xlsx):
        _structured(results[0] if doctor else results, fmt, "report")
        return
    rows = [{"doctor": r["doctor"], "status": tr(r["status"]) if fmt in (Format.table, Format.md) else r["status"],
             # the answers the figures come from (closed waves), and the wave being collected beside them
             "n": f"{r['current_wave']['responses']} / {r['threshold']}" if r["status"] == "collecting"
             else f"{r['answers_used']} (+{r['current_wave']['responses']})", "mean": r.get("mean_score"), "median": r.get("median_score"),
             "nps": r.get("nps"), "nps_ci": r.get("nps_ci"), "expectations_met": r.get("expectations_met"),
             "trend": r.get("trend")} for r in results]
    _print_rows(rows, list(rows[0]) if rows else ["doctor"], fmt, title=tr("Survey results by doctor"))
    if doctor and fmt is Format.table and results[0]["status"] != "collecting":
        r = results[0]
        waves = [dict(w, **{k: i18n.day(dt.date.fromisoformat(w[k])) for k in ("from", "to") if w.get(k)})
                 for w in r["waves"]]
        _print_rows(waves, ["wave", "from", "to", "mean_score", "nps", "positive"], fmt, title=tr("Waves"))
        _print_rows([dict(x, theme=tr(x["theme"]), examples=" | ".join(x["examples"])) for x in r["themes"]],
                    ["theme", "count", "praise", "examples"], fmt, title=tr("Themes of comments"),
                    labels={"count": N_("problems")})
        out = _console()
        out.print("\n" + tr("Scores (1-10), how many patients gave each:"), markup=False)
        top = max(r["distribution"].values()) or 1
        for k, n in r["distribution"].items():
            out.print(f"{k:>3} {'█' * round(30 * n / top)} {n}", markup=False)


def _clinic_report(ctx, year: int, fmt: Format) -> None:
    from followup.actions.reporting import clinic_report

    conn = _open(ctx, create=False)
    data = clinic_report(conn, year=year, today=_today())
    if fmt in (Format.json, Format.xlsx):
        _structured(data, fmt, "clinic")
        return
    if fmt is Format.csv:  # the exportable list of dead souls
        _print_rows(data["dead_souls"], ["patient_id", "last_visit"], fmt)
        return
    _print_rows(data["conversion"], ["doctor", "quarter", "first_time", "returned", "pending", "conversion", "final"],
                fmt,
                title=tr("First-time patients of {year} who came back within 12 months", year=year))
    _print_rows([dict(r, source=tr("not asked") if r["source"] == "-" else tr(r["source"])) for r in data["sources"]],
                ["source", "quarter", "first_time", "returned", "pending", "conversion", "final"], fmt,
                title=tr("What brought the first-time patients of {year}", year=year))
    _console().print(tr("Dead souls: {patients} with no visit for 24 months (list: followup report clinic --format csv)",
                        patients=ntr("{n} active patient", "{n} active patients", len(data["dead_souls"]))),
                     markup=False)
    _print_rows([dict(r, reason=tr(r["reason"])) for r in data["funnel"]],
                ["reason", "due", "attempted", "reached", "booked", "declined"], fmt, labels={"due": N_("on the lists")},
                title=tr("Contacts in {year}, by reason", year=year))
    _print_rows([dict(r, purpose=tr(r["purpose"])) for r in data["consent_coverage"]], ["purpose", "patients", "share"],
                fmt,
                title=tr("Active patients with a recorded contact decision"))
    if data["campaigns"]:
        _print_rows([dict(r, channel=tr(r["channel"]), audience=tr(r["audience"])) for r in data["campaigns"]],
                    ["name", "starts", "ends", "channel", "audience", "reached", "came_within_60_days",
                     "named_mailing"], fmt, title=tr("Campaigns of {year}", year=year))
    c = data["complaints"]
    _console().print(tr("Complaints in {year}: {opened} opened, {resolved} resolved (median {days} days), {informed} "
                        "patients informed.", year=year, opened=c["opened"], resolved=c["resolved"],
                        days="—" if c["median_days_to_resolve"] is None else c["median_days_to_resolve"],
                        informed=c["informed"]), markup=False)


themes_app = typer.Typer(cls=_Group, help="Themes of survey comments: what patients talk about.",
                         invoke_without_command=True)
app.add_typer(themes_app, name="themes")


@themes_app.callback()
def themes(ctx: typer.Context, fmt: Format = FORMAT_OPTION):
    """List the comments no theme matches, so that themes can be assigned and keywords added."""
    if ctx.invoked_subcommand:
        return
    from followup.actions.surveys import unthemed_comments

    conn = _open(ctx, create=False)
    rows, keywords = unthemed_comments(conn)
    if not rows and fmt is Format.table:
        _console().print(tr("Every comment has a theme. Themes: {list}", list=", ".join(map(tr, keywords))), markup=False)
        return
    _print_rows(rows, ["survey", "date", "comment"], fmt, title=tr("Comments without a theme"))


@themes_app.command("add")
def themes_add(ctx: typer.Context, name: str = typer.Argument(..., help="A theme, new or built-in."),
               keywords: str = typer.Option(..., "--keywords", help="Comma-separated words or stems."),
               by: Optional[str] = BY_OPTION):
    """Add keywords to a theme; every comment is classified again with them."""
    from followup.actions.surveys import add_theme_keywords

    conn = _open(ctx, create=False)
    merged = add_theme_keywords(conn, name, keywords, by=_who(by), now=_clock())
    echo(tr("Theme {name!r}: {keywords}", name=name.strip(), keywords=merged))


@themes_app.command("assign")
def themes_assign(ctx: typer.Context, survey_id: int = typer.Argument(..., min=1, max=RECORD_ID_MAX, help="The survey's number."),
                  theme: str = typer.Argument(..., help="The theme."),
                  new: bool = typer.Option(False, "--new", help="A theme that does not exist yet."),
                  by: Optional[str] = BY_OPTION):
    """Give one comment a theme by hand."""
    from followup.actions.surveys import assign_theme

    conn = _open(ctx, create=False)
    theme = assign_theme(conn, survey_id, theme, new=new, by=_who(by), now=_clock())
    echo(tr("Survey #{id}: theme {theme!r}.", id=survey_id, theme=theme))


@themes_app.command("unassign")
def themes_unassign(ctx: typer.Context, survey_id: int = typer.Argument(..., min=1, max=RECORD_ID_MAX, help="The survey's number."),
                    theme: str = typer.Argument(..., help="The theme given by hand.")):
    """Take a theme given by hand off a comment."""
    from followup.actions.surveys import unassign_theme

    conn = _open(ctx, create=False)
    unassign_theme(conn, survey_id, theme)
    echo(tr("Survey #{id}: theme {theme!r} taken off.", id=survey_id, theme=theme.strip()))


@themes_app.command("rename")
def themes_rename(ctx: typer.Context, old: str = typer.Argument(..., help="The clinic's theme."),
                  new: str = typer.Argument(..., help="Its new name."), by: Optional[str] = BY_OPTION):
    """Rename a theme of the clinic's own: its words and the comments given it by hand."""
    from followup.actions.surveys import rename_theme

    conn = _open(ctx, create=False)
    moved = rename_theme(conn, old, new, by=_who(by), now=_clock())
    echo(tr("Theme {old!r} is now {new!r} ({comments}).", old=old.strip(), new=new.strip(),
                  comments=ntr("{n} comment", "{n} comments", moved)))


@themes_app.command("list")
def themes_list(ctx: typer.Context, fmt: Format = FORMAT_OPTION):
    """Every theme: its words, and how many comments raise it as a problem, praise it, or were given it."""
    from followup.actions.surveys import list_themes

    conn = _open(ctx, create=False)
    rows = list_themes(conn)
    if fmt in (Format.table, Format.md):
        rows = [dict(r, theme=tr(r["theme"]) if r["built_in"] else r["theme"]) for r in rows]
    _print_rows(rows, ["theme", "built_in", "words", "problems", "praise", "assigned"], fmt, title=tr("Themes"),
                labels={"built_in": N_("built in"), "assigned": N_("given by hand")})


complaint_app = typer.Typer(cls=_Group, help="Complaints: record, answer fast, tell the patient what was done.",
                            no_args_is_help=True)
app.add_typer(complaint_app, name="complaint")


@complaint_app.command("add")
def complaint_add(
    ctx: typer.Context,
    patient: str = typer.Argument(..., help="The patient's card number."),
    text: str = typer.Option(..., "--text", help="What the patient complains about, in their words."),
    doctor: Optional[str] = typer.Option(None, "--doctor", help="The doctor it concerns (a name part will do)."),
    by: Optional[str] = BY_OPTION,
):
    """Record a complaint; it shows as a warning on the call list until resolved."""
    from followup.actions.complaints import open_complaint

    conn = _open(ctx, create=False)
    cid, pid = open_complaint(conn, patient, text, doctor=doctor, by=_who(by), now=_clock())
    echo(tr("Complaint #{id} opened for {pid}.", id=cid, pid=pid))


@complaint_app.command("list")
def complaint_list(
    ctx: typer.Context,
    open_only: bool = typer.Option(False, "--open", help="Only complaints not yet resolved."),
    date: Optional[str] = typer.Option(None, "--date", help="The day overdue is judged on (default: today)."),
    fmt: Format = FORMAT_OPTION,
):
    """Complaints, oldest first; open ones older than the policy's days are flagged overdue."""
    from followup.actions.complaints import list_complaints

    conn = _open(ctx, create=False)
    rows = list_complaints(conn, open_only=open_only, day=_date(date))
    if fmt is Format.table:
        for r in rows:
            r["state"] = tr(r["state"]) + (tr(" - OVERDUE") if r["overdue"] else "")
            r["opened_at"] = r["opened_at"][:16]
    _print_rows(rows, ["id", "state", "opened_at", "patient_id", "patient", "doctor", "text", "action"], fmt,
                title=tr("Complaints"))


@complaint_app.command("resolve")
def complaint_resolve(
    ctx: typer.Context,
    complaint_id: int = typer.Argument(..., min=1, max=RECORD_ID_MAX, help="The complaint's number."),
    action: str = typer.Option(..., "--action", help="What was done about it."),
    by: Optional[str] = BY_OPTION,
):
    """Record what was done; then tell the patient and record that with `complaint informed`."""
    from followup.actions.complaints import resolve_complaint

    conn = _open(ctx, create=False)
    resolve_complaint(conn, complaint_id, action, by=_who(by), now=_clock())
    echo(tr("Complaint #{id} resolved. Tell the patient what was done, then: followup complaint informed {id}",
                  id=complaint_id))


@complaint_app.command("informed")
def complaint_informed(
    ctx: typer.Context,
    complaint_id: int = typer.Argument(..., min=1, max=RECORD_ID_MAX, help="The complaint's number."),
    by: Optional[str] = BY_OPTION,
):
    """Record that the patient was told what was done about the complaint."""
    from followup.actions.complaints import complaint_informed

    conn = _open(ctx, create=False)
    complaint_informed(conn, complaint_id, by=_who(by), now=_clock())
    echo(tr("Complaint #{id}: the patient was informed.", id=complaint_id))
