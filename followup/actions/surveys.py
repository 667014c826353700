"""Use cases of the post-treatment survey and of the themes of its comments."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Optional

from followup.actions.lookup import known_doctor
from followup.errors import Conflict, NotFound, UsageError
from followup.i18n import N_
from followup.records import EXPECTATIONS, understood
from followup.actions.day import policy_of



@dataclass(frozen=True)
class SurveyCall:
    """Whom a survey is about, before the answers: the patient, the treatment, its doctors."""

    patient_id: str
    patient: str               # the name, for the caller's script
    visit_id: Optional[str]    # the treatment's end visit; None when asked about a named doctor only
    doctors: tuple[str, ...]   # whom the answer counts for
    clinic: str
    questions: dict            # key -> the question as the clinic words it, in the chosen language
    entry_id: Optional[str] = None   # the day's entry it was asked from (its contact says so)
    replaces: Optional[int] = None   # with a correction: the survey it replaces
    gender: Optional[str] = None     # "female" / "male" as the patronymic tells (rules.gender)


def survey_call(conn, target: str, *, day: dt.date, doctor: Optional[str] = None,
                correct: bool = False) -> SurveyCall:
    """The survey for ``target`` (an entry id of the day's list, or a card number): the treatment it
    is about (the entry's, else the patient's latest) and every doctor of it. A treatment already
    surveyed is refused, naming --correct; with ``correct`` its answer is the one replaced."""
    from followup import db, rules, settings as config

    pid, visit_id, entry = _target(conn, target, day)
    [records] = db.load_records(conn, day, [pid])
    ends = sorted((v for v in records.visits if v.kind == "treatment_end"), key=lambda v: v.date)
    end = next((v for v in ends if v.visit_id == visit_id), None) if visit_id else (ends[-1] if ends else None)
    replaces = db.current_survey(conn, pid, end.visit_id) if end is not None else None
    if replaces is not None and not correct:
        raise Conflict(N_("a survey for treatment {visit} is already recorded; to change its answers: followup survey "
                          "{target} --correct ..."), visit=end.visit_id, target=target.strip())
    if correct and replaces is None:
        raise NotFound(N_("no survey recorded for {target} to correct"), target=target.strip())
    if end is None and not doctor:
        raise UsageError(N_("{pid} has no finished treatment to ask about; name the doctor with --doctor"), pid=pid)
    doctors = [known_doctor(conn, doctor)] if doctor else rules.treatment_doctors(records.visits, end)
    stored = db.get_settings(conn)
    return SurveyCall(pid, records.patient.name, end.visit_id if end else None, tuple(doctors),
                      config.clinic_name(stored, capital=False),
                      {k: config.question(stored, k) for k in config.QUESTIONS}, entry, replaces,
                      rules.gender(records.patient))


def _target(conn, target: str, day: dt.date) -> tuple[str, Optional[str], Optional[str]]:
    """A patient, the treatment when the target is a survey entry of the day's list (open, or closed by
    the survey being corrected), and that entry's id."""
    from followup import db, rules
    from followup.actions.day import entries_named

    target = target.strip()
    if db.patient_exists(conn, target):
        return target, None, None
    if len(target) >= rules.ENTRY_ID_LENGTH:
        matches, _, _ = entries_named(conn, day, target)
        if len(matches) == 1:
            survey_reasons = [r for r in matches[0].reasons if r.code == "survey_call"]
            return (matches[0].patient.patient_id, survey_reasons[0].ref if survey_reasons else None,
                    matches[0].entry_id[:16])
        closed = db.contacts_of_entry(conn, target.lower(), day.isoformat())
        if closed:
            refs = [ref for code, ref in closed[0]["reasons"] if code == "survey_call"]
            return closed[0]["patient_id"], refs[0] if refs else None, closed[0]["entry_id"]
    raise NotFound(N_("no patient or entry {value!r}"), value=target)


def check_answers(answers: dict) -> dict:
    """The answers as stored (expectations as a code), or a usage error naming the wrong one."""
    score, recommend, expectations = answers.get("score"), answers.get("recommend"), answers.get("expectations")
    if score is None or not 1 <= score <= 10:
        raise UsageError(N_("--score must be a whole number from 1 to 10"))
    if recommend is not None and not 0 <= recommend <= 10:
        raise UsageError(N_("--recommend must be a whole number from 0 to 10"))
    code = understood(expectations, EXPECTATIONS) if expectations is not None else None
    if expectations is not None and code is None:
        raise UsageError(N_("--expectations must be yes, partly or no"))
    return {"score": score, "recommend": recommend, "expectations": code,
            "comment": answers.get("comment")}


@dataclass(frozen=True)
class SurveyRecorded:
    id: int
    patient_id: str
    doctors: tuple[str, ...]
    declined: bool
    complaint: Optional[int]       # the complaint opened from the comment
    suggest_complaint: bool        # a negative answer, and no complaint opened: offer one


def record_survey(conn, call: SurveyCall, answers: Optional[dict], *, decline: bool = False,
                  open_complaint: bool = False, day: dt.date, by: str, now: dt.datetime) -> SurveyRecorded:
    """The answers (or a refusal) for the treatment, counted for each of its doctors, closing the survey
    call; with ``open_complaint``, a complaint from the comment, in the same run. Checked before
    anything is written: a complaint needs a comment."""
    from followup import db, reports, settings as config

    if not decline:
        answers = check_answers(answers or {})
        if open_complaint and not (answers.get("comment") or "").strip():
            raise UsageError(N_("--complaint needs a --comment to open it with"))
    at = now.isoformat(sep=" ", timespec="seconds")
    stored = db.get_settings(conn)
    keys = ("score", "recommend", "expectations", "comment")
    row = {"patient_id": call.patient_id, "visit_id": call.visit_id,
           "status": "declined" if decline else "answered",
           **({k: None for k in keys} if decline else {k: answers.get(k) for k in keys}),
           "questions": config.questions_version(stored), "recorded_by": by, "recorded_at": at}
    contact = {"patient_id": call.patient_id, "entry_id": call.entry_id, "list_date": day.isoformat(), "channel": "call",
               "outcome": "declined" if decline else "reached",
               "reasons": [["survey_call", call.visit_id]] if call.visit_id else [], "retry_on": None,
               "callback_on": None, "note": "survey", "recorded_by": by, "recorded_at": at}
    # a correction replaces the answer, not the call: the call's contact is already recorded
    sid = db.add_survey(conn, row, list(call.doctors), contact=contact if call.visit_id and call.replaces is None
                        else None, replaces=call.replaces)
    if decline:
        return SurveyRecorded(sid, call.patient_id, call.doctors, True, None, False)
    recorded = SurveyRecorded(sid, call.patient_id, call.doctors, False, None, False)
    complaint = complaint_from_survey(conn, recorded, answers["comment"], by=by, now=now) if open_complaint else None
    policy = policy_of(conn, stored)
    problems = reports.problems(answers["comment"], reports.theme_keywords(stored))
    negative = (answers["score"] is not None and answers["score"] <= policy.low_score) or bool(problems) \
        or answers["expectations"] == "no"
    return SurveyRecorded(sid, call.patient_id, call.doctors, False, complaint, negative and complaint is None)


def complaint_from_survey(conn, recorded: SurveyRecorded, text: str, *, by: str, now: dt.datetime) -> int:
    """A complaint opened from a survey answer, linked to it: with one doctor it is about them; with
    several it counts for each doctor of the survey. Returns its number."""
    from followup import db

    if not (text or "").strip():
        raise UsageError(N_("--text must say what the complaint is"))
    return db.add_complaint(conn, {"patient_id": recorded.patient_id,
                                   "doctor": recorded.doctors[0] if len(recorded.doctors) == 1 else None,
                                   "text": text.strip(), "opened_by": by,
                                   "opened_at": now.isoformat(sep=" ", timespec="seconds"), "survey_id": recorded.id})


# ---------------------------------------------------------------------------
# Themes of comments


def responses_by_doctor(conn) -> dict[str, list]:
    """Answered surveys as reports.Response, per doctor they count for, with their themes."""
    from followup import db, reports

    keywords = reports.theme_keywords(db.get_settings(conn))
    assigned = db.assigned_themes(conn)
    by_doctor: dict[str, list] = {}
    for s in db.survey_responses(conn):
        if s["status"] != "answered":
            continue
        problems = reports.problems(s["comment"], keywords)
        r = reports.Response(s["id"], dt.date.fromisoformat(s["recorded_at"][:10]), s["score"], s["recommend"],
                             s["expectations"], s["comment"],
                             tuple(dict.fromkeys([*assigned.get(s["id"], ()), *problems])),
                             tuple(reports.praise(s["comment"], keywords)))
        for d in s["doctors"]:
            by_doctor.setdefault(d, []).append(r)
    return by_doctor


def unthemed_comments(conn) -> tuple[list[dict], list[str]]:
    """(the comments no theme matches, the themes there are)."""
    from followup import db, reports

    keywords = reports.theme_keywords(db.get_settings(conn))
    assigned = db.assigned_themes(conn)
    rows = [{"survey": s["id"], "date": s["recorded_at"][:10], "comment": s["comment"]}
            for s in db.survey_responses(conn)
            if s["comment"] and not reports.classify(s["comment"], keywords, assigned.get(s["id"], ()))]
    return rows, list(keywords)


def add_theme_keywords(conn, name: str, keywords: str, *, by: str, now: dt.datetime) -> str:
    """Add comma-separated keywords to a theme (new or built-in); the theme's keywords afterwards."""
    from followup import db

    words = [w.strip() for w in keywords.split(",") if w.strip()]
    if not name.strip() or not words:
        raise UsageError(N_("give a theme name and at least one keyword"))
    key = f"theme.{name.strip()}"
    old = db.get_settings(conn).get(key)
    merged = ",".join(dict.fromkeys(([w for w in old.split(",") if w] if old else []) + words))
    db.set_setting(conn, key, merged, by=by, at=now.isoformat(sep=" ", timespec="seconds"))
    return merged


def theme_names(conn) -> list[str]:
    """Every theme there is: the built-in ones, the clinic's own, and those assigned by hand."""
    from followup import db, reports

    names = list(reports.theme_keywords(db.get_settings(conn)))
    for themes in db.assigned_themes(conn).values():
        names += [t for t in themes if t not in names]
    return names


def list_themes(conn) -> list[dict]:
    """Each theme with its words, and the answered comments that raise it, praise it, or were given it by hand."""
    from followup import db, reports

    keywords = reports.theme_keywords(db.get_settings(conn))
    assigned = db.assigned_themes(conn)
    rows = {name: {"theme": name, "built_in": name in reports.THEMES, "words": len(keywords.get(name, {})),
                   "problems": 0, "praise": 0, "assigned": 0} for name in theme_names(conn)}
    for s in db.survey_responses(conn):
        if not s["comment"]:
            continue
        for name in reports.problems(s["comment"], keywords):
            rows[name]["problems"] += 1
        for name in reports.praise(s["comment"], keywords):
            rows[name]["praise"] += 1
        for name in assigned.get(s["id"], ()):
            rows[name]["assigned"] += 1
    return list(rows.values())


def assign_theme(conn, survey_id: int, theme: str, *, new: bool = False, by: str, now: dt.datetime) -> str:
    """Give one comment a theme by hand: a theme there is, or (``new``) a new one."""
    from followup import db

    theme = theme.strip()
    if not any(s["id"] == survey_id and s["comment"] for s in db.survey_responses(conn)):
        raise NotFound(N_("no survey #{id} with a comment"), id=survey_id)
    known = theme_names(conn)
    if not theme or (theme not in known and not new):
        raise UsageError(N_("no theme {theme!r} (themes: {known}); a new one needs --new"), theme=theme,
                         known=", ".join(known))
    db.assign_theme(conn, survey_id, theme, by=by, at=now.isoformat(sep=" ", timespec="seconds"))
    return theme


def unassign_theme(conn, survey_id: int, theme: str) -> None:
    """Take a theme given by hand off a comment."""
    from followup import db

    if not db.unassign_theme(conn, survey_id, theme.strip()):
        raise NotFound(N_("survey #{id} was not given the theme {theme!r} by hand"), id=survey_id, theme=theme.strip())


def rename_theme(conn, old: str, new: str, *, by: str, now: dt.datetime) -> int:
    """A clinic's own theme under a new name (its words and the comments given it); built-in themes keep
    their names (they are shown in each reader's language). Returns the comments moved."""
    from followup import db, reports

    old, new = old.strip(), new.strip()
    if old in reports.THEMES:
        raise UsageError(N_("{theme!r} is a built-in theme: it keeps its name (add words to it with themes add)"),
                         theme=old)
    if old not in theme_names(conn):
        raise NotFound(N_("no theme {theme!r}"), theme=old)
    if not new or new in reports.THEMES or new in theme_names(conn):
        raise UsageError(N_("{theme!r} is taken: choose another name"), theme=new)
    return db.rename_theme(conn, old, new, by=by, at=now.isoformat(sep=" ", timespec="seconds"))
