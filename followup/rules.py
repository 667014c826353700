"""Who is due for a contact today, and why: pure functions of records, a ``today`` and a policy.

No clock, no database, no CLI here. Every rule returns its answer as data: a reason
code, a sentence, the evidence (which plan stage, which visit, which doctor set which
date), or the explanation why it did not fire or was excluded — so `today`, `why`
and the tests all read the same answer.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, replace

from followup.entryids import ENTRY_ID_LENGTH, entry_id, shortest_prefixes
from followup.records import (ACTIVE, CHANNELS, MARKETING, NOT_CARE, OCCASIONS, SETTLING, UNANSWERED, WRITTEN,
                              Appointment, Complaint, Consent, Contact, Entry, Finding, Patient, Policy, Reason,
                              Records, Visit, Window, format_days)
from followup.i18n import Msg, N_, msg, tr
from followup.text import fold


# ---------------------------------------------------------------------------
# Consent


def _days_shown(days: str) -> Msg | list:
    """Stored days ('mon,tue' or 'any'), for people: in their language."""
    return msg(N_("any day")) if days == "any" else [msg(d) for d in days.split(",")]


def current_consents(consents: Iterable[Consent]) -> dict[tuple[str, str], Consent]:
    """The latest record per (purpose, channel): a withdrawal is a newer record, never an edit.

    The rules ask it of one patient's records several times in a row: the answer for the same tuple
    (immutable, as its consents are) is kept until another is asked about. Do not change the dict."""
    global _current
    last = _current  # (read once: the web server plans in several threads)
    if type(consents) is tuple and consents is last[0]:
        return last[1]
    state: dict[tuple[str, str], Consent] = {}
    for c in sorted(consents, key=_recorded_at):
        state[(c.purpose, c.channel)] = c
    if type(consents) is tuple:
        _current = (consents, state)
    return state


def _recorded_at(c: Consent) -> dt.datetime:
    return c.recorded_at


_current: tuple = (None, None)  # the last tuple of consents asked about, and its answer


# ---------------------------------------------------------------------------
# The six rules. Each returns a Finding per candidate (due or why not).


def _iso(d: dt.date) -> str:
    """Dates in the evidence (the JSON contract) are ISO in every language."""
    return d.isoformat()


def appointment_reminder(r: Records, today: dt.date, policy: Policy) -> list[Finding]:
    horizon = today + dt.timedelta(days=policy.reminder_days)
    found = []
    for a in r.appointments:
        if a.status != "booked" or not (today < a.start.date() <= horizon):
            continue
        when = f"{a.start:%Y-%m-%d %H:%M}"
        reason = Reason("appointment_reminder", a.appointment_id,
                        msg(N_("Reminder: appointment on {when} with {doctor}"), when=a.start, doctor=a.doctor)
                        if a.doctor else msg(N_("Reminder: appointment on {when}"), when=a.start),
                        a.doctor, a.start.date(),
                        {"appointment_id": a.appointment_id, "start": when, "doctor": a.doctor})
        found.append(Finding(reason.code, "due", reason.text, reason))
    if not found:
        found.append(Finding("appointment_reminder", "none",
                             msg(N_("no booked appointment between {start} and {end}"),
                                start=today + dt.timedelta(days=1), end=horizon)))
    return found


def _booked_after(r: Records, day: dt.date) -> Appointment | None:
    return next((a for a in sorted(r.appointments, key=lambda a: a.start)
                 if a.status == "booked" and a.start.date() >= day), None)


def _visit_after(r: Records, day: dt.date, kinds: Iterable[str] | None = None) -> Visit | None:
    kinds = set(kinds) if kinds else None
    return next((v for v in sorted(r.visits, key=lambda v: v.date)
                 if v.date > day and (kinds is None or v.kind in kinds)), None)


def plan_stage_missed(r: Records, today: dt.date, policy: Policy) -> list[Finding]:
    found = []
    stages = sorted((s for s in r.plan_stages if s.status == "planned" and s.due), key=lambda s: s.due)
    seen_plans: set[str] = set()
    for s in stages:
        if s.plan_id in seen_plans:
            continue  # only the next stage of each plan
        seen_plans.add(s.plan_id)
        label = msg(N_("plan {plan} stage {stage}{title}"), plan=s.plan_id, stage=s.stage,
                    title=f" ({s.title})" if s.title else "")
        late = (today - s.due).days
        if late < policy.plan_grace_days:
            found.append(Finding("plan_stage_missed", "none", msg(N_("{label} is due {due}; not {n} days late yet"),
                                                                 label=label, due=s.due, n=policy.plan_grace_days)))
            continue
        visit = _visit_after(r, s.due)
        if visit:
            found.append(Finding("plan_stage_missed", "excluded", msg(N_("{label}: visited on {date} after the due date"),
                                                                     label=label, date=visit.date)))
            continue
        booked = _booked_after(r, today)
        if booked:
            found.append(Finding("plan_stage_missed", "excluded",
                                 msg(N_("{label}: booked for {date}"), label=label, date=booked.start.date())))
            continue
        signed = msg(N_(", signed {date}"), date=s.signed) if s.signed else ""
        by = msg(N_(" (plan by {doctor}{signed})"), doctor=s.doctor, signed=signed) if s.doctor else ""
        reason = Reason("plan_stage_missed", f"{s.plan_id}/{s.stage}",
                        msg(N_("Missed treatment-plan stage: {label} was due {due}{by}"), label=label, due=s.due,
                            by=by),
                        s.doctor, s.due,
                        {"plan_id": s.plan_id, "stage": s.stage, "title": s.title, "due_date": _iso(s.due),
                         "signed_date": _iso(s.signed) if s.signed else None, "doctor": s.doctor})
        if late > policy.overdue_window_days:
            found.append(Finding("plan_stage_missed", "lapsed", msg(N_("{label} was due {due}: over {n} days ago"),
                                                                   label=label, due=s.due,
                                                                   n=policy.overdue_window_days), reason))
            continue
        found.append(Finding(reason.code, "due", reason.text, reason))
    if not found:
        found.append(Finding("plan_stage_missed", "none", msg(N_("no planned treatment-plan stage"))))
    return found


def control_overdue(r: Records, today: dt.date, policy: Policy) -> list[Finding]:
    found = []
    setters = sorted((v for v in r.visits if v.control_due), key=lambda v: v.date)
    if setters:
        v = setters[-1]  # the latest control date a doctor set
        due = v.control_due
        label = msg(N_("control exam due {due} (set by {doctor} on {date})"), due=due,
                   doctor=v.doctor or msg(N_("the doctor")), date=v.date)
        late = (today - due).days
        control = _visit_after(r, v.date, {"control"})
        booked = _booked_after(r, today)
        if control:
            found.append(Finding("control_overdue", "excluded", msg(N_("{label}: control visit on {date}"), label=label,
                                                                   date=control.date)))
        elif late < policy.control_grace_days:
            found.append(Finding("control_overdue", "none", msg(N_("{label}: not {n} days past yet"), label=label,
                                                               n=policy.control_grace_days)))
        elif booked:
            found.append(Finding("control_overdue", "excluded", msg(N_("{label}: booked for {date}"), label=label,
                                                                   date=booked.start.date())))
        else:
            reason = Reason("control_overdue", v.visit_id, msg(N_("Overdue control exam: {label}"), label=label), v.doctor, due,
                            {"visit_id": v.visit_id, "visit_date": _iso(v.date), "control_due": _iso(due),
                             "doctor": v.doctor})
            if late > policy.overdue_window_days:
                found.append(Finding("control_overdue", "lapsed", msg(N_("{label}: over {n} days ago"), label=label,
                                                                     n=policy.overdue_window_days), reason))
            else:
                found.append(Finding(reason.code, "due", reason.text, reason))
    if not found:
        found.append(Finding("control_overdue", "none", msg(N_("no control date set by a doctor"))))
    return found


def treatment_doctors(visits: Sequence[Visit], end: Visit) -> list[str]:
    """The doctors of the treatment that ended with ``end``: its visits since the previous end.

    A survey answer about that treatment counts for each of them.
    """
    earlier_ends = [v.date for v in visits if v.kind == "treatment_end" and v.date < end.date]
    since = max(earlier_ends, default=dt.date.min)
    doctors = [v.doctor for v in sorted(visits, key=lambda v: v.date)
               if since < v.date <= end.date and v.kind in ("treatment", "treatment_end") and v.doctor]
    return list(dict.fromkeys(doctors)) or ([end.doctor] if end.doctor else [])


def survey_call(r: Records, today: dt.date, policy: Policy) -> list[Finding]:
    found = []
    lo = today - dt.timedelta(days=policy.survey_to_days)
    hi = today - dt.timedelta(days=policy.survey_from_days)
    for v in sorted((v for v in r.visits if v.kind == "treatment_end"), key=lambda v: v.date, reverse=True):
        if not (lo <= v.date <= hi):
            continue
        done = next((x for x in r.surveys if x.visit_id == v.visit_id), None)
        if done:
            found.append(Finding("survey_call", "excluded", msg(N_("treatment ended {end}: survey {status} on {date}"),
                                                               end=v.date, status=msg(done.status),
                                                               date=done.date), excluded_by="settled"))
            break
        doctors = treatment_doctors(r.visits, v)
        collecting = any(r.survey_counts.get(d, 0) < policy.survey_wave for d in doctors)
        reason = Reason("survey_call", v.visit_id,
                        msg(N_("Agreed survey call: treatment by {doctors} ended {date}"),
                           doctors=", ".join(doctors) or msg(N_("the clinic")), date=v.date), v.doctor, v.date,
                        {"visit_id": v.visit_id, "treatment_end": _iso(v.date), "doctors": doctors},
                        priority=0 if collecting else 1)
        found.append(Finding(reason.code, "due", reason.text, reason))
        break  # one survey per patient at a time: the latest treatment
    if not found:
        found.append(Finding("survey_call", "none", msg(N_("no treatment ended between {start} and {end}"),
                                                       start=lo, end=hi)))
    return found


@functools.lru_cache(maxsize=4096)
def _add_months(day: dt.date, months: int) -> dt.date:
    """The day so many months on (the 31st of a shorter month: its last day). Cached: a clinic's
    patients share their visit days, and this ran once a patient on every plan."""
    from dateutil.relativedelta import relativedelta

    return day + relativedelta(months=months)


def hygiene_recall(r: Records, today: dt.date, policy: Policy) -> list[Finding]:
    hygiene = max((v.date for v in r.visits if v.kind == "hygiene"), default=None)
    last = max((v.date for v in r.visits), default=None)
    basis, what = (hygiene, N_("last hygiene visit")) if hygiene else (last, N_("last visit (no hygiene visit)"))
    if basis is None:
        return [Finding("hygiene_recall", "none", msg(N_("no visits")))]
    due = _add_months(basis, policy.recall_months)
    label = msg(N_("{what} {date}, recall due {due}"), what=msg(what), date=basis, due=due)
    if due > today:
        return [Finding("hygiene_recall", "none", msg(N_("{label}: not yet"), label=label))]
    booked = _booked_after(r, today)
    if booked:
        return [Finding("hygiene_recall", "excluded", msg(N_("{label}: booked for {date}"), label=label,
                                                         date=booked.start.date()))]
    doctor = next((v.doctor for v in sorted(r.visits, key=lambda v: v.date, reverse=True)
                   if v.date == basis), None)
    reason = Reason("hygiene_recall", f"recall:{due.isoformat()}", msg(N_("Hygiene recall: {label}"), label=label), doctor,
                    due, {"basis": what, "basis_date": _iso(basis), "recall_due": _iso(due)})
    if (today - due).days > policy.recall_window_days:
        return [Finding("hygiene_recall", "lapsed", msg(N_("{label}: lapsed after {n} days"), label=label,
                                                       n=policy.recall_window_days), reason)]
    return [Finding(reason.code, "due", reason.text, reason)]


def agreed_contact(r: Records, today: dt.date, policy: Policy) -> list[Finding]:
    found = []
    for n in sorted(r.next_contacts, key=lambda n: n.due):
        if n.due > today:
            found.append(Finding("agreed_contact", "none", msg(N_("next contact agreed for {date}: {reason}"),
                                                              date=n.due, reason=n.reason)))
            continue
        reason = Reason("agreed_contact", str(n.id),
                        msg(N_("Agreed next contact ({date}): {reason}{for_doctor}"), date=n.due, reason=n.reason,
                            for_doctor=msg(N_(", for {doctor}"), doctor=n.doctor) if n.doctor else ""),
                        n.doctor, n.due, {"next_id": n.id, "agreed_for": _iso(n.due), "reason": n.reason,
                                          "channel": n.channel, "doctor": n.doctor, "recorded_by": n.recorded_by})
        found.append(Finding(reason.code, "due", reason.text, reason,
                             channels=(n.channel,) if n.channel else ()))
    if not found:
        found.append(Finding("agreed_contact", "none", msg(N_("no next contact agreed"))))
    return found


# ---------------------------------------------------------------------------
# The occasions: thanks the day after a first visit or a treatment's end, greetings on a birthday and on
# the clinic's holidays. Each says which of the occasion's texts the patient gets (occasion_text).

# the built-in texts of each occasion, in the chosen language (a clinic's own, `followup occasion text`,
# replace them): several, so that nobody gets the same text two years running; no offers (a greeting
# with an offer is advertising, which needs the marketing consent)
OCCASION_TEXTS = {
    "thanks": {
        "d1": N_("{greeting}! {clinic} thanks you for your visit on {date}. If you have any question, please call us."),
        "d2": N_("{greeting}! Thank you for trusting {clinic}. If you have questions, we are always glad to help."),
        "d3": N_("{greeting}! {clinic}: thank you for choosing us. How you feel matters to us; call us any time."),
    },
    "birthday": {
        "d1": N_("{greeting}! {clinic} wishes you a happy birthday: health, joy and many reasons to smile!"),
        "d2": N_("{greeting}! Happy birthday from all of us at {clinic}! Be healthy and smile often."),
        "d3": N_("{greeting}! {clinic} congratulates you on your birthday and wishes you a wonderful year."),
    },
    "discount_step": {
        "d1": N_("{greeting}! {clinic}: your visits now total {amount} ₽, so your discount is now {percent}%."),
    },
    "holiday": {
        "d1": N_("{greeting}! {clinic} congratulates you: {occasion}! We wish you health and joy."),
        "d2": N_("{greeting}! {occasion}: warm wishes from {clinic}!"),
        "d3": N_("{greeting}! Happy holiday: {occasion}! All the best to you from {clinic}."),
    },
}


def occasion_text(r: Records, key: str, policy: Policy, salt: str) -> dict:
    """Which text of the occasion ``key`` the patient gets: the clinic's own (by id) or the built-in
    ones, never the one they got the last time for this occasion (a year ago, for greetings), chosen
    by a hash of the patient and ``salt`` (the year, the visit) so that patients get different ones."""
    import hashlib

    own = dict(dict(policy.occasion_texts).get(key, ()))
    ids = list(own) if own else list(OCCASION_TEXTS[key.split(":")[0]])
    last = next((tid for c in sorted(r.contacts, key=lambda c: c.at, reverse=True) if c.outcome in SETTLING
                 for k, tid in c.texts if k == key), None)
    pool = [i for i in ids if i != last] or ids
    h = int(hashlib.sha1(f"{r.patient.patient_id}|{key}|{salt}".encode()).hexdigest()[:8], 16)
    chosen = pool[h % len(pool)]
    return {"text_key": key, "text_id": chosen, **({"template": own[chosen]} if own else {})}


def _written(reason: Reason) -> Finding:
    return Finding(reason.code, "due", reason.text, reason, channels=WRITTEN)


def thanks(r: Records, today: dt.date, policy: Policy) -> list[Finding]:
    """A short thank-you the day after the patient's first visit or the end of a treatment; not while a
    complaint is open, nor after a negative survey."""
    yesterday = today - dt.timedelta(days=1)
    ends = [v for v in r.visits if v.date == yesterday and v.kind == "treatment_end"]
    first = [v for v in r.visits if v.date == yesterday] if r.patient.first_seen == yesterday else []
    visit = (ends or first or [None])[0]
    if visit is None:
        return [Finding("thanks", "none", msg(N_("no first visit and no treatment ended on {date}"), date=yesterday))]
    what = "treatment_end" if ends else "first_visit"
    label = msg(N_("end of treatment") if ends else N_("first visit"))
    reason = Reason("thanks", visit.visit_id,
                    msg(N_("Thank-you note: {what} on {date}{with_doctor}"), what=label, date=visit.date,
                        with_doctor=msg(N_(" with {doctor}"), doctor=visit.doctor) if visit.doctor else ""),
                    visit.doctor, visit.date,
                    {"visit_id": visit.visit_id, "visit_date": _iso(visit.date), "occasion": what,
                     "doctor": visit.doctor, **occasion_text(r, "thanks", policy, visit.visit_id)}, priority=2)
    complaint = next((c for c in sorted(r.complaints, key=lambda c: c.opened) if c.resolved is None), None)
    if complaint:
        return [Finding("thanks", "excluded", msg(N_("{text} - excluded: complaint #{id} open since {date}"),
                                                  text=reason.text, id=complaint.id, date=complaint.opened),
                        reason, excluded_by="complaint")]
    answered = [x for x in r.surveys if x.status == "answered" and x.score is not None]
    last = max(answered, key=lambda x: x.date) if answered else None
    if last and last.score <= policy.low_score:
        return [Finding("thanks", "excluded", msg(N_("{text} - excluded: last survey negative ({score}/10 on {date})"),
                                                  text=reason.text, score=last.score, date=last.date),
                        reason, excluded_by="complaint")]
    return [_written(reason)]


def birthday_in(born: dt.date, year: int) -> dt.date:
    """The day a birthday is kept in ``year``: 29 February on the 28th in other years."""
    try:
        return born.replace(year=year)
    except ValueError:
        return dt.date(year, 2, 28)


def birthday(r: Records, today: dt.date, policy: Policy) -> list[Finding]:
    born = r.patient.birth_date
    if born is None:
        return [Finding("birthday", "none", msg(N_("no date of birth in the export")))]
    day = birthday_in(born, today.year)
    if day != today or born >= today:
        return [Finding("birthday", "none", msg(N_("birthday on {date}"), date=day))]
    age = today.year - born.year
    key = "birthday"
    reason = Reason("birthday", str(today.year), msg(N_("Birthday: {age} today"), age=age), r.patient.last_doctor,
                    today, {"birthday": _iso(today), "age": age, **occasion_text(r, key, policy, str(today.year))},
                    priority=2)
    return [_written(reason)]


def holiday(r: Records, today: dt.date, policy: Policy) -> list[Finding]:
    found = []
    for h in policy.holidays:
        if (h.month, h.day) != (today.month, today.day):
            continue
        sex = gender(r.patient)
        if h.sex and sex != h.sex:
            only = N_("{name}: for women only") if h.sex == "female" else N_("{name}: for men only")
            why = msg(N_("{only}; this patient's sex is not known (no patronymic)"), only=msg(only, name=h.name)) \
                if sex is None else msg(only, name=h.name)
            found.append(Finding("holiday", "none", why))
            continue
        key = f"holiday:{h.id}"
        reason = Reason("holiday", f"{h.id}:{today.year}", msg(N_("Holiday greeting: {name}"), name=h.name),
                        r.patient.last_doctor, today,
                        {"holiday_id": h.id, "name": h.name, "sex": h.sex,
                         **occasion_text(r, key, policy, str(today.year))},
                        priority=2)
        found.append(_written(reason))
    if not found:
        found.append(Finding("holiday", "none", msg(N_("no holiday the clinic greets on {date}"), date=today)))
    return found


def regular(r: Records, today: dt.date, policy: Policy) -> int | None:
    """The visit days of a regular patient in the last policy.regular_months (None: not a regular one)."""
    n = r.patient.recent_visits
    if n is None:
        since = _add_months(today, -policy.regular_months)
        n = len({v.date for v in r.visits if since <= v.date <= today})
    return n if policy.regular_visits and n >= policy.regular_visits else None


def big_spender(r: Records, policy: Policy) -> bool:
    total = r.patient.total_amount
    return bool(policy.important_amount and total and total >= policy.important_amount)


def campaign(r: Records, today: dt.date, policy: Policy) -> list[Finding]:
    """A marketing campaign running today, to a patient of its audience: regular patients (or big
    spenders), families (a household of two or more), or all. The consent it needs is the marketing
    one on the campaign's own channel (assess), whose record the message keeps."""
    found = []
    state = current_consents(r.consents)
    for c in policy.campaigns:
        if not (c.starts <= today <= c.ends):
            continue
        if c.audience == "regulars" and regular(r, today, policy) is None and not big_spender(r, policy):
            found.append(Finding("campaign", "none", msg(N_("campaign {name}: for regular patients; not one"),
                                                         name=c.name)))
            continue
        if c.audience == "families" and not any(m.patient.status == ACTIVE and not m.patient.missing_since
                                                for m in r.household):
            found.append(Finding("campaign", "none", msg(N_("campaign {name}: for families; no other member of "
                                                            "the household is a patient"), name=c.name)))
            continue
        consent = state.get(("marketing", c.channel))
        reason = Reason("campaign", str(c.id), msg(N_("Campaign: {name}"), name=c.name), None, c.starts,
                        {"campaign_id": c.id, "name": c.name, "template": c.text, "audience": c.audience,
                         "consent_id": consent.id if consent and consent.granted else None}, priority=3)
        found.append(Finding("campaign", "due", reason.text, reason, channels=(c.channel,)))
    if not found:
        found.append(Finding("campaign", "none", msg(N_("no campaign running on {date}"), date=today)))
    return found


def discount_step(r: Records, today: dt.date, policy: Policy) -> list[Finding]:
    """The patient's visits passed a step of the clinic's discount (discount.steps): tell them, in writing,
    once a step (the highest they passed; the lower ones go without saying)."""
    total = r.patient.total_amount or 0
    passed = [(amount, percent) for amount, percent in policy.discount_steps if total >= amount]
    if not policy.discount_steps:
        return [Finding("discount_step", "none", msg(N_("the clinic has no discount steps")))]
    if not passed:
        return [Finding("discount_step", "none", msg(N_("visits worth {amount} ₽ all told: below the first discount "
                                                        "step ({step} ₽)"), amount=_roubles(total),
                                                     step=_roubles(policy.discount_steps[0][0])))]
    amount, percent = passed[-1]
    reason = Reason("discount_step", str(amount), msg(N_("Discount now {percent}%: visits worth {amount} ₽ all told"),
                                                      percent=percent, amount=_roubles(total)),
                    None, today, {"step": amount, "percent": percent, "total": total,
                                  "consent_id": _marketing_consent(r),
                                  **occasion_text(r, "discount_step", policy, str(amount))}, priority=3)
    return [_written(reason)]


def _roubles(amount: float) -> str:
    return f"{amount:,.0f}".replace(",", "\u00a0")


def _marketing_consent(r: Records) -> dict:
    """The ids of the marketing consents granted now, by channel: a message keeps the one of its channel."""
    return {ch: c.id for (pu, ch), c in current_consents(r.consents).items() if pu == "marketing" and c.granted}


RULES = (appointment_reminder, plan_stage_missed, control_overdue, survey_call, hygiene_recall, agreed_contact,
         thanks, birthday, holiday, campaign, discount_step)
# reasons the care contacts' cap neither counts nor stops: reminders of a booked visit, the occasions and
# the campaigns (which have caps of their own: policy.occasion_cap_days, policy.marketing_cap_days)
CAP_FREE = frozenset({"appointment_reminder", *NOT_CARE})


# ---------------------------------------------------------------------------
# Exclusions that apply across rules


def assess(r: Records, today: dt.date, policy: Policy) -> list[Finding]:
    """Every rule's answer for one patient, with every exclusion applied and explained."""
    p = r.patient
    state = current_consents(r.consents)
    findings: list[Finding] = []
    for rule in RULES:
        findings.extend(rule(r, today, policy))

    if p.status != ACTIVE or p.missing_since:
        why = msg(N_("patient is {status}"), status=msg(p.status)) if p.status != ACTIVE else \
            msg(N_("patient left out of the full export since {date}"), date=p.missing_since)
        return [_exclude(f if f.status != "lapsed" else Finding(f.code, "none", f.text), why, "inactive")
                for f in findings]

    settled, attempts, retry, callback, last_cap_contact = _history(r.contacts, policy)
    last_occasion = last_marketing = None
    if r.contacts and any(f.status == "due" and f.code in NOT_CARE for f in findings):  # (their own caps)
        last_occasion = _last_of(r.contacts, OCCASIONS, today)
        last_marketing = _last_of(r.contacts, MARKETING, today)
    # an entry is (day, patient, channel): once closed it stays closed, so a reason that turns up
    # later in the day (an import, a new agreement) waits for tomorrow on that channel
    closed_today = {c.channel: c for c in sorted(r.contacts, key=lambda c: c.at) if c.at.date() == today}
    flagged = {f.phone: f for f in r.phone_flags}
    actions = {(a.code, a.ref): a for a in sorted(r.reason_actions, key=lambda a: a.on) if a.on <= today}
    waits = {(w.code, w.ref): w for w in r.waits if w.since <= today}
    out = []
    for f in findings:
        if f.status == "lapsed":
            f = _lapsed(f, actions, waits, settled, attempts, state, today, policy)
        if f.status != "due":
            out.append(f)
            continue
        reason = f.reason
        key = (reason.code, reason.ref)
        purpose = reason.purpose
        granted = [ch for ch in CHANNELS if (c := state.get((purpose, ch))) and c.granted]
        if f.channels:
            granted = [ch for ch in granted if ch in f.channels]
        usable = [ch for ch in granted if _reachable(p, ch, state[(purpose, ch)], flagged)]
        if key in settled:
            c = settled[key]
            out.append(_exclude(f, msg(N_("{outcome} on {date} ({channel}, by {by})"), outcome=msg(c.outcome),
                                      date=c.at.date(), channel=msg(c.channel), by=c.by), "settled"))
        elif not granted:
            withdrawn = [c for (pu, _), c in state.items() if pu == purpose and not c.granted]
            if withdrawn:
                w = max(withdrawn, key=lambda c: c.recorded_at)
                out.append(_exclude(f, msg(N_("consent for {purpose} withdrawn on {date} ({channel}, recorded by {by})"),
                                          purpose=msg(purpose), date=w.recorded_at.date(), channel=msg(w.channel),
                                          by=w.recorded_by), "withdrawn"))
            else:
                wanted = [msg(c) for c in f.channels] if f.channels else msg(N_("any channel"))
                out.append(_exclude(f, msg(N_("no consent for {purpose} by {channels}"), purpose=msg(purpose), channels=wanted),
                                    "no_consent"))
        elif not usable:
            out.append(_exclude(f, _unreachable_why(p, granted, state, purpose, flagged), "unreachable"))
        elif attempts.get(key, 0) >= policy.max_attempts:
            out.append(_exclude(f, msg(N_("{n} unanswered attempts: stopped, for the manager"), n=attempts[key]),
                                "attempts"))
        elif key in callback and callback[key] > today:
            out.append(_exclude(f, msg(N_("asked to call back on {date}"), date=callback[key]), "call_back"))
        elif key in retry and retry[key] > today:
            out.append(_exclude(f, msg(N_("no answer; next try on {date}"), date=retry[key]), "retry"))
        elif reason.code in OCCASIONS and last_occasion and \
                (today - last_occasion.at.date()).days < policy.occasion_cap_days:
            until = last_occasion.at.date() + dt.timedelta(days=policy.occasion_cap_days)
            out.append(_exclude(f, msg(N_("an occasion's message on {date}: the occasions' cap until {until}"),
                                      date=last_occasion.at.date(), until=until), "occasion_cap"))
        elif reason.code in MARKETING and last_marketing and \
                (today - last_marketing.at.date()).days < policy.marketing_cap_days:
            until = last_marketing.at.date() + dt.timedelta(days=policy.marketing_cap_days)
            out.append(_exclude(f, msg(N_("a marketing message on {date}: the marketing cap until {until}"),
                                      date=last_marketing.at.date(), until=until), "marketing_cap"))
        elif reason.code not in CAP_FREE and last_cap_contact and \
                (today - last_cap_contact.at.date()).days < policy.cap_days and \
                not (key in callback and callback[key] <= today):
            until = last_cap_contact.at.date() + dt.timedelta(days=policy.cap_days)
            out.append(_exclude(f, msg(N_("contacted {date}, cap until {until}"), date=last_cap_contact.at.date(),
                                      until=until), "cap"))
        elif not (still_open := [ch for ch in usable if ch not in closed_today]):
            c = closed_today[usable[-1]]
            out.append(_exclude(f, msg(N_("already closed today ({channel}: {outcome} at {time}, by {by}); "
                                      "new reasons wait until tomorrow"), channel=msg(c.channel),
                                      outcome=msg(c.outcome), time=f"{c.at:%H:%M}", by=c.by), "today"))
        elif not _day_allowed(state, purpose, still_open, today):
            days = sorted({format_days(state[(purpose, ch)].days) for ch in still_open})
            out.append(_exclude(f, msg(N_("not today: the patient agreed to {days}"),
                                       days=[_days_shown(d) for d in days]), "day"))
        else:
            out.append(replace(f, channels=tuple(ch for ch in still_open if _day_ok(state[(purpose, ch)], today))))
    return out


def _last_of(contacts: Sequence[Contact], codes: Collection[str], today: dt.date) -> Contact | None:
    """The latest contact before today that spoke to the patient about one of these reasons."""
    return max((c for c in contacts if c.outcome in SETTLING and c.at.date() < today
                and any(code in codes for code, _ in c.reasons)), key=lambda c: c.at, default=None)


WINDOW_OF = {"hygiene_recall": "recall_window_days", "plan_stage_missed": "overdue_window_days",
             "control_overdue": "overdue_window_days"}


def _lapsed(f: Finding, actions: dict, waits: dict, settled: dict, attempts: dict, state: dict, today: dt.date,
            policy: Policy) -> Finding:
    """A reason past its window. Never silently gone: if it was never offered (no attempt, nothing
    settled) to a patient who consented to its purpose, it goes to the manager's flagged list, who
    puts it back on the list (for its usual window from that day) or closes it with a note. A reason
    waiting in line for a desk's capacity is not lapsing: it stays due, through the day it is listed."""
    reason = f.reason
    key = (reason.code, reason.ref)
    action = actions.get(key)
    if action and action.action == "close":
        return Finding(f.code, "none", msg(N_("{text}: closed by {by} on {date}{note}"), text=f.text, by=action.by,
                                           date=action.on, note=f" ({action.note})" if action.note else ""))
    if action and (today - action.on).days <= getattr(policy, WINDOW_OF[f.code]):
        return Finding(f.code, "due", msg(N_("{text} (put back on the list by {by} on {date})"), text=reason.text,
                                          by=action.by, date=action.on), reason)
    wait = waits.get(key)
    if wait and (wait.listed_on is None or wait.listed_on >= today) and key not in settled:
        return Finding(f.code, "due", msg(N_("{text} (waiting in line since {date}: not lapsing)"), text=reason.text,
                                          date=wait.since), reason)
    if key in settled or attempts.get(key) or not any(c.granted for (pu, _), c in state.items()
                                                      if pu == reason.purpose):
        return Finding(f.code, "none", f.text)  # it was offered, or could never be: nothing lost
    ended = reason.due + dt.timedelta(days=getattr(policy, WINDOW_OF[f.code]))
    if policy.lists_since and ended < policy.lists_since:
        return Finding(f.code, "none", msg(N_("{text}: lapsed before followup's first list ({date})"), text=f.text,
                                           date=policy.lists_since))
    return Finding(f.code, "excluded", msg(N_("{text}: lapsed, never offered: for the manager (followup flagged)"),
                                           text=f.text), reason, excluded_by="lapsed")


def _exclude(f: Finding, why: Msg, code: str) -> Finding:
    if f.status != "due":
        return f
    return Finding(f.code, "excluded", msg(N_("{text} - excluded: {why}"), text=f.text, why=why), f.reason, excluded_by=code)


def _history(contacts: Sequence[Contact], policy: Policy):
    settled: dict[tuple[str, str], Contact] = {}
    attempts: dict[tuple[str, str], int] = {}
    retry: dict[tuple[str, str], dt.date] = {}
    callback: dict[tuple[str, str], dt.date] = {}
    last_cap = None
    for c in sorted(contacts, key=lambda c: c.at):
        for key in c.reasons:
            if c.outcome in SETTLING:
                settled[key] = c
            elif c.outcome in UNANSWERED:
                attempts[key] = attempts.get(key, 0) + 1
                if c.retry_on:
                    retry[key] = c.retry_on
            elif c.outcome == "call-back" and c.callback_on:
                callback[key] = c.callback_on
        if c.outcome in SETTLING | {"call-back"} and any(code not in CAP_FREE for code, _ in c.reasons):
            last_cap = c
    return settled, attempts, retry, callback, last_cap


def _address(p: Patient, channel: str, consent: Consent) -> str | None:
    if consent.address:
        return consent.address
    if channel == "email":
        return p.email
    if channel == "post":
        return p.postal_address
    if channel in ("sms", "messenger") and not p.phone_sms:
        return None  # a landline, a toll-free number or one with an extension: dialled, never texted
    return p.phone if p.phone_valid else None


def _reachable(p: Patient, channel: str, consent: Consent, flagged: dict) -> bool:
    addr = _address(p, channel, consent)
    return bool(addr) and addr not in flagged


def _unreachable_why(p: Patient, granted: list[str], state, purpose: str, flagged: dict) -> Msg:
    for ch in granted:
        addr = _address(p, ch, state[(purpose, ch)])
        if addr and addr in flagged:
            return msg(N_("phone flagged wrong on {date} (until a new number is imported)"),
                      date=flagged[addr].flagged_on)
    if p.phone and not p.phone_valid:
        return msg(N_("the phone number is invalid or incomplete: never dialled"))
    if p.phone and not p.phone_sms and "call" not in granted and any(c in ("sms", "messenger") for c in granted):
        return msg(N_("the phone number cannot receive SMS (a landline, a toll-free number or one with an "
                      "extension); consent to calls is needed to reach this patient"))
    if granted == ["email"]:
        return msg(N_("no e-mail to use for {channels}"), channels=[msg(c) for c in granted])
    if granted == ["post"]:
        return msg(N_("no postal address in the export for a letter"))
    return msg(N_("no phone number to use for {channels}"), channels=[msg(c) for c in granted])


def _day_ok(consent: Consent, today: dt.date) -> bool:
    return consent.days is None or today.weekday() in consent.days


def _day_allowed(state, purpose: str, channels: list[str], today: dt.date) -> bool:
    return any(_day_ok(state[(purpose, ch)], today) for ch in channels)


# ---------------------------------------------------------------------------
# Today's list


def short_ids(entries: Sequence[Entry]) -> dict[str, str]:
    """Full id -> the prefix shown (see entryids.shortest_prefixes)."""
    return shortest_prefixes(e.entry_id for e in entries)


def find_entry(entries: Sequence[Entry], given: str) -> list[Entry]:
    """The entries whose id starts with what the user typed (at least 6 characters)."""
    given = given.strip().lower()
    if len(given) < ENTRY_ID_LENGTH:
        return []
    return [e for e in entries if e.entry_id.startswith(given)]


def complaint_overdue(c: Complaint, today: dt.date, policy: Policy) -> bool:
    return c.resolved is None and (today - c.opened).days > policy.complaint_overdue_days


# notes followup itself writes on records, in English: shown in the reader's language (staff notes as typed)
SYSTEM_NOTES = {N_("declined when contacted")}


def standing(r: Records, today: dt.date, policy: Policy) -> tuple[Msg, ...]:
    """Who must not be forgotten when the clinic thanks and greets: a regular patient (so many visit days
    in so many months), one whose visits cost the clinic's threshold or more."""
    out = []
    n = regular(r, today, policy)
    if n is not None:
        out.append(msg(N_("regular patient: {n} visits in {months} months"), n=n, months=policy.regular_months))
    total = r.patient.total_amount
    if big_spender(r, policy):
        out.append(msg(N_("visits worth {amount} ₽ all told"), amount=_roubles(total)))
    return tuple(out)


def warnings_for(r: Records, today: dt.date, policy: Policy) -> tuple[Msg, ...]:
    out = []
    for c in sorted(r.complaints, key=lambda c: c.opened):
        if c.resolved is None:
            overdue = msg(N_(" - OVERDUE")) if complaint_overdue(c, today, policy) else ""
            about = msg(N_(" about {doctor}"), doctor=c.doctor) if c.doctor else ""
            out.append(msg(N_("open complaint #{id}{about} since {date}{overdue}"), id=c.id, about=about,
                          date=c.opened, overdue=overdue))
    answered = [x for x in r.surveys if x.status == "answered" and x.score is not None]
    if answered:
        last = max(answered, key=lambda x: x.date)
        if last.score <= policy.low_score:
            out.append(msg(N_("last survey negative: {score}/10 on {date}"), score=last.score, date=last.date))
    refusals = [c for c in r.contacts if c.outcome == "declined"
                and (today - c.at.date()).days <= policy.refusal_days]
    if refusals:
        last = max(refusals, key=lambda c: c.at)
        codes = [msg(code) for code, _ in last.reasons]
        out.append(msg(N_("declined on {date} ({codes})"), date=last.at.date(), codes=codes))
    unanswered = [c for c in r.contacts if c.outcome in UNANSWERED and c.retry_on and c.retry_on <= today]
    if unanswered:
        last = max(unanswered, key=lambda c: c.at)
        if last.outcome == "undelivered":
            out.append(msg(N_("not delivered on {date} ({channel}): {why}"), channel=msg(last.channel),
                           date=last.at.date(), why=msg(DELIVERY_FAILURES.get(last.note or "", N_("not delivered")))))
        else:
            out.append(msg(N_("no answer on {date} at {time}: try another time of day"), date=last.at.date(),
                          time=f"{last.at:%H:%M}"))
    notes = [c.note for c in current_consents(r.consents).values() if c.granted and c.note]
    out.extend(msg(N_("note: {note}"), note=msg(n) if n in SYSTEM_NOTES else n) for n in dict.fromkeys(notes))
    return tuple(out)


# why a gateway could not deliver, by the code followup.gateways gives (a contact's note keeps it)
DELIVERY_FAILURES = {"expired": N_("the phone was off or out of reach until the message expired"),
                     "unreachable": N_("number unreachable"), "rejected": N_("rejected by the operator"),
                     "unknown": N_("not delivered, the operator gave no reason")}


def for_manager(records: Iterable[Records], today: dt.date, policy: Policy) -> list[tuple[Patient, Finding]]:
    """Reasons the list gave up on: after the attempt limit, or lapsed without ever being offered. The
    manager decides what next."""
    return [(r.patient, f) for r in records for f in assess(r, today, policy) if f.excluded_by in ("attempts", "lapsed")]


def plan_day(records: Iterable[Records], today: dt.date, policy: Policy,
             channel: str | None = None, doctor: str | None = None) -> list[Entry]:
    """Today's list: one entry per patient and channel, household members sharing a phone merged.

    Entries are ordered by the patient's time window (no window last), then by priority
    (survey calls of doctors still collecting answers come first), then by name.
    """
    entries: list[Entry] = []  # (not the records: a day's plan reads them a batch at a time)
    members: dict[str, tuple] = {}  # the households of patients greeted for a holiday
    for r in records:
        due = [f for f in assess(r, today, policy) if f.status == "due"]
        if not due:
            continue
        state = current_consents(r.consents)
        capped = False  # the cap: one non-reminder contact a day too, whatever the channels
        for ch, reasons in _by_channel(due):
            if any(x.code not in MARKETING for x in reasons):  # marketing goes alone, another day (an
                reasons = [x for x in reasons if x.code not in MARKETING]  # advert never rides on care or thanks)
            if capped:
                reasons = [x for x in reasons if x.code in CAP_FREE]
                if not reasons:
                    continue
            capped = capped or any(x.code not in CAP_FREE for x in reasons)
            if channel and ch != channel:
                continue
            consents = [state[(rs.purpose, ch)] for rs in reasons]
            windows = [c.window for c in consents if c.window]
            window = min(windows, key=lambda w: w.start) if windows else None
            address = _address(r.patient, ch, consents[0])
            marks = standing(r, today, policy) if any(x.code in NOT_CARE for x in reasons) else ()
            entries.append(Entry(entry_id(today, r.patient.patient_id, ch), r.patient, ch, address, window,
                                 tuple(sorted(reasons, key=lambda x: (x.priority, x.code))),
                                 warnings_for(r, today, policy) + marks))
            if r.household and any(x.code == "holiday" for x in reasons):
                members[r.patient.patient_id] = r.household
    merged = _not_greeted(_merge_households(entries), members)
    return sorted(filtered(merged, doctor=doctor), key=list_order)


def _not_greeted(entries: list[Entry], members: dict[str, tuple]) -> list[Entry]:
    """A holiday's entries name the household's members it does not greet: so that a spouse is never
    skipped by oversight (ask them at the next visit), nor a member greeted twice."""
    if not members:
        return entries
    greeted = {(who.patient.patient_id, x.ref) for e in entries for who in (e, *e.household)
               for x in who.reasons if x.code == "holiday"}
    out = []
    for e in entries:
        on = [(who, x) for who in (e, *e.household) for x in who.reasons if x.code == "holiday"]
        notes = []
        for ref, sex in dict.fromkeys((x.ref, x.evidence.get("sex")) for _, x in on):
            for m in dict.fromkeys(m for who, _ in on for m in members.get(who.patient.patient_id, ())):
                p = m.patient
                if (p.patient_id, ref) in greeted or p.status != ACTIVE or p.missing_since or \
                        sex and gender(p) != sex:  # (a holiday for women does not miss the husband)
                    continue
                greeted.add((p.patient_id, ref))  # named once, on the first of the household's entries
                notes.append(msg(N_("not greeted: {name} ({id}): no consent to greetings - ask at the next visit"),
                                 name=p.name, id=p.patient_id) if not m.greetings else
                             msg(N_("not greeted: {name} ({id}): see followup why {id}"), name=p.name, id=p.patient_id))
        out.append(replace(e, warnings=e.warnings + tuple(notes)) if notes else e)
    return out


def filtered(entries: Iterable[Entry], *, channel: str | None = None, doctor: str | None = None) -> list[Entry]:
    """The entries of a day's list on a channel, and those that concern a doctor: a reason of theirs,
    the patient's or a household member's on the same call (shown whole: one call covers them all)."""
    wanted = fold(doctor) if doctor else None
    return [e for e in entries if (not channel or e.channel == channel)
            and (wanted is None or wanted in filter_keys(e)[0])]


# between the names in a filter key: no search text holds it, so a match never spans two names
KEY_SEP = "\x1f"


def filter_keys(e: Entry) -> tuple[str, str, str]:
    """What the day's list is filtered by, for one entry (kept beside the stored entry, so that a filter
    is a read): (the doctors of its reasons and its household's, the names and card numbers on the call,
    the digits of its phone); names folded (any case, ё = е). A doctor's name, or a text to find,
    matches when it is part of one of these (see find_terms)."""
    doctors = {fold(n) for who in (e, *e.household) for x in who.reasons
               for n in (x.doctor, *(x.evidence.get("doctors") or ())) if n}
    names = [fold(who.patient.name) for who in (e, *e.household)] + [fold(e.patient.patient_id)]
    digits = "".join(ch for ch in (e.address or "") if ch.isdigit())
    return KEY_SEP + KEY_SEP.join(sorted(doctors)) + KEY_SEP, KEY_SEP.join(names), digits


def find_terms(text: str) -> tuple[str, str | None]:
    """What `--find` looks for: the text folded (in a name or a card number), and the digits of a phone
    (4 at least; a Russian number's leading 7 or 8 dropped) or None."""
    wanted = fold(text.strip())
    digits = "".join(ch for ch in text if ch.isdigit())
    if len(digits) == 11 and digits[0] in "78":
        digits = digits[1:]
    return wanted, digits if len(digits) >= 4 else None


def found(e: Entry, text: str) -> bool:
    """Whether `--find TEXT` shows this entry (the same test as the stored list's, on filter_keys)."""
    wanted, digits = find_terms(text)
    _, names, phone = filter_keys(e)
    return bool(wanted) and wanted in names or digits is not None and digits in phone


def list_order(e: Entry) -> tuple[int, str, int, str, str, str]:
    """Where an entry goes on the list: the care contacts by time window (none last), then the occasions;
    then by priority, name, channel, card."""
    if e.section != "care":
        return (2 if e.section == "occasions" else 3, "", min(x.priority for x in e.reasons), e.patient.name,
                e.channel, e.patient.patient_id)
    return (int(e.window is None), e.window.start.isoformat() if e.window else "",
            min(x.priority for x in e.reasons), e.patient.name, e.channel, e.patient.patient_id)


# a reason that never lapses (an agreed contact: a promise for its day) stands in line as one on its
# last day; a reason without a window of its own (none such yet) after every windowed one
NO_DEADLINE = 10_000


def _days_left(r: Reason, today: dt.date, policy: Policy) -> int:
    """Days until a reason lapses (negative: past its window, kept by a wait or the manager)."""
    if r.code in WINDOW_OF:
        return (r.due - today).days + getattr(policy, WINDOW_OF[r.code])
    if r.code == "survey_call":
        return (r.due - today).days + policy.survey_to_days - policy.survey_from_days
    if r.code in ("agreed_contact", "appointment_reminder"):
        return 0
    return NO_DEADLINE


def line_order(e: Entry, today: dt.date, policy: Policy) -> tuple:
    """Where an entry stands in a desk's line when the desk has a capacity: appointment reminders first,
    then the reasons closest to lapsing, then the oldest."""
    reasons = [*e.reasons, *(x for m in e.household for x in m.reasons)]
    return (not any(r.code == "appointment_reminder" for r in reasons),
            min(_days_left(r, today, policy) for r in reasons), min(r.due for r in reasons), e.patient.patient_id)


@dataclass(frozen=True)
class Waiting:
    """An entry the day's list has no room for: its place in its channel's line, and the day it should
    come to the list if the desks do their capacity each day."""

    entry: Entry
    place: int
    expected: dt.date


def expected_day(today: dt.date, place: int, capacity: int) -> dt.date:
    """The day the ``place``-th entry in line should come to the list, the desks doing ``capacity`` a day."""
    return today + dt.timedelta(days=-(-place // capacity))


def within_capacity(entries: Sequence[Entry], today: dt.date, policy: Policy, *, first: Collection[str] = (),
                    used: dict | None = None) -> tuple[list[Entry], list[Waiting]]:
    """The day's entries the desks can do (in list order), and the rest waiting in line.

    Each channel with a capacity lists that many entries a day, less those already closed today
    (``used``, channel -> entries), by `line_order`; the patients in ``first`` (on the list earlier
    today) keep their places. A channel without a capacity lists every entry.
    """
    capacity, used = dict(policy.capacity), used or {}
    listed: list[Entry] = []
    waiting: list[Waiting] = []
    lines: dict[str, list[Entry]] = {}
    for e in entries:  # (the occasions are written, sent by followup send: no desk's capacity holds them)
        (lines.setdefault(e.channel, []) if e.channel in capacity and e.section == "care" else listed).append(e)
    for ch, line in lines.items():
        line.sort(key=lambda e: (e.patient.patient_id not in first, line_order(e, today, policy)))
        room = max(capacity[ch] - used.get(ch, 0), 0)
        listed.extend(line[:room])
        waiting.extend(Waiting(e, place, expected_day(today, place, capacity[ch]))
                       for place, e in enumerate(line[room:], 1))
    return sorted(listed, key=list_order), waiting


def _by_channel(due: list[Finding]) -> list[tuple[str, list[Reason]]]:
    """Give every reason a channel: the one that covers most of them, again for the rest."""
    left = list(due)
    out = []
    while left:
        counts = {ch: sum(1 for f in left if ch in f.channels) for ch in CHANNELS}
        best = max(CHANNELS, key=lambda ch: (counts[ch], -CHANNELS.index(ch)))
        if counts[best] == 0:
            break
        out.append((best, [f.reason for f in left if best in f.channels]))
        left = [f for f in left if best not in f.channels]
    return out


def _merge_households(entries: list[Entry]) -> list[Entry]:
    """Members of one household due the same day on the same phone become one call."""
    groups: dict[tuple, list[Entry]] = {}
    out = []
    for e in entries:
        if e.patient.household_id and e.address and e.channel in ("call", "sms", "messenger"):
            groups.setdefault((e.patient.household_id, e.channel, e.address), []).append(e)
        else:
            out.append(e)
    for members in groups.values():
        members.sort(key=lambda e: e.patient.patient_id)
        head, rest = members[0], tuple(members[1:])
        out.append(replace(head, household=rest) if rest else head)
    return out


# ---------------------------------------------------------------------------
# Policy and messages from the clinic's settings


DEFAULT_TEMPLATES = {  # in the chosen language: see default_templates(); each fits 2 SMS parts in Russian
    # (UCS-2, 134 characters) with a patronymic, a full doctor's name and a two-word clinic
    "appointment_reminder": N_("{greeting}! {clinic} expects you on {date} at {time}{with_doctor}. If you cannot "
                               "come, please call us."),
    "plan_stage_missed": N_("{greeting}! {clinic}: the treatment stage \"{title}\" was due on {date}. Please call "
                            "us."),
    "control_overdue": N_("{greeting}! {clinic}: {doctor_or_we} expects you for a control exam from {date}. "
                          "Please call us."),
    "survey_call": N_("{greeting}! {clinic}: how are you after your treatment? As agreed, we have two questions "
                      "for you - please call us."),
    "hygiene_recall": N_("{greeting}! {clinic}: as agreed, it is time for your regular hygiene visit (the last "
                         "one: {date}). Please call us."),
    "agreed_contact": N_("{greeting}! {clinic}, as agreed: {text}."),
    # a phone a household shares: whoever reads it, the text names no one and no treatment (the fact
    # of treatment is medical secrecy)
    "household": N_("{greeting}! {clinic}: please call us when convenient, we have a message for you."),
}


def default_templates() -> dict[str, str]:
    """The SMS / e-mail templates in the chosen language (a clinic's own, set by config, win)."""
    return {code: tr(text) for code, text in DEFAULT_TEMPLATES.items()}


def message(entry: Entry, templates: dict[str, str], clinic: str) -> str | None:
    """The ready text of an SMS / e-mail entry (None for calls): polite, specific, no promotions."""
    if entry.channel == "call":
        return None
    # (a greeting or a campaign names no treatment: one text for the family's phone, naming nobody)
    greetings_only = all(x.code in ("birthday", "holiday", "campaign") for who in (entry, *entry.household)
                         for x in who.reasons)
    if entry.household and not greetings_only:  # read by whoever holds the shared phone
        template = templates.get("household")
        if not template or template_problem(template):
            template = tr(DEFAULT_TEMPLATES["household"])
        return fill(template, {"greeting": tr("Hello"), "clinic": clinic})
    who = addressed_as(entry.patient) if not entry.household else None  # a family's phone: nobody named
    greeting = tr("Hello, {name}", name=who) if who else tr("Hello")
    parts = []
    last = entry.patient.last_visit
    for reason in (entry.reasons if not entry.household else
                   # one greeting for the family (a holiday's is the same for each)
                   list({(x.code, x.evidence.get("text_key")): x for m in (entry, *entry.household)
                         for x in m.reasons}.values())):
        ev = reason.evidence
        values = {
            "greeting": greeting, "clinic": clinic, "doctor": reason.doctor or "",
            "with_doctor": tr(" with {doctor}", doctor=reason.doctor) if reason.doctor else "",
            "doctor_or_we": reason.doctor or tr("Your doctor"),
            "date": reason.due.strftime("%d.%m.%Y"), "time": "", "title": ev.get("title") or "",
            "text": ev.get("reason") or reason.text, "occasion": ev.get("name") or "",
            "amount": _roubles(ev["total"]) if "total" in ev else "", "percent": str(ev.get("percent", "")),
            "last_visit": last.strftime("%d.%m.%Y") if last else "",
        }
        if reason.code in NOT_CARE:
            template = ev.get("template") or \
                tr(OCCASION_TEXTS[reason.code].get(ev.get("text_id"), OCCASION_TEXTS[reason.code]["d1"]))
            text = fill(template, values)
            parts.append(text if not parts else text.split("! ", 1)[-1])
            continue
        if reason.code == "appointment_reminder":
            start = dt.datetime.strptime(ev["start"], "%Y-%m-%d %H:%M")
            values.update(date=start.strftime("%d.%m.%Y"), time=start.strftime("%H:%M"))
        if reason.code == "hygiene_recall":
            values["date"] = dt.date.fromisoformat(ev["basis_date"]).strftime("%d.%m.%Y")
        template = templates.get(reason.code)
        if not template or template_problem(template):  # one stored before templates were checked
            template = tr(DEFAULT_TEMPLATES[reason.code])
        text = fill(template, values)
        parts.append(text if not parts else text.split("! ", 1)[-1])
    return " ".join(parts)


def addressed_as(p: Patient) -> str | None:
    """How a message addresses the patient: first name and patronymic (or the first name alone) when
    the export has them; never a surname alone or initials ("И.И."): then no name, a polite greeting."""
    def real(part: str | None) -> bool:
        return bool(part) and "." not in part and len(part) > 1
    if not real(p.first_name):
        return None
    return " ".join(x for x in (p.first_name, p.middle_name) if real(x))


# patronymic endings (and the Turkic "son of", "daughter of") that tell a patient's grammatical gender
_FEMALE_ENDINGS, _MALE_ENDINGS = ("вна", "чна", "кызы", "гызы"), ("вич", "ьич", "ич", "оглы", "улы", "уулу")


def gender(p: Patient) -> str | None:
    """"female" or "male" as the patronymic tells it (the first name alone does not), else None: the
    Russian sentences about the patient then agree with it ("отказалась"), or stay neutral."""
    middle = (p.middle_name or "").strip().casefold()
    if not middle:
        parts = (p.name or "").split()
        middle = parts[2].casefold() if len(parts) == 3 else ""
    if middle.endswith(_FEMALE_ENDINGS):
        return "female"
    if middle.endswith(_MALE_ENDINGS):
        return "male"
    return None


# what an SMS / e-mail template may say: these placeholders and nothing else (no format spec, no
# attribute or index): filled by a substitution of our own, never by str.format
PLACEHOLDERS = ("greeting", "clinic", "doctor", "with_doctor", "doctor_or_we", "date", "time", "title", "text",
                "occasion", "last_visit", "amount", "percent")
TEMPLATE_MAX = 1_000  # characters: an SMS of six parts, an e-mail's few lines
_FIELD = None


def _fields():
    global _FIELD
    if _FIELD is None:
        import re

        _FIELD = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
    return _FIELD


def template_problem(template: str) -> Msg | None:
    """What is wrong with a clinic's template (None: nothing): too long, a placeholder that is not one
    of PLACEHOLDERS (``{greeting:>9}``, ``{clinic.__class__}`` are not), or a lone brace."""
    if len(template) > TEMPLATE_MAX:
        return msg(N_("a template is at most {n} characters"), n=TEMPLATE_MAX)
    for m in _fields().finditer(template):
        token = m.group()
        if token in ("{{", "}}"):
            continue
        if m.group(1) is None:
            return msg(N_("a lone brace: write {{ or }} for a brace itself"))
        if m.group(1) not in PLACEHOLDERS:
            return msg(N_("unknown placeholder {name} (one of: {allowed})"), name=token,
                       allowed=", ".join("{" + p + "}" for p in PLACEHOLDERS))
    return None


def fill(template: str, values: dict[str, str]) -> str:
    """A checked template with its placeholders filled in ({{ and }} are braces)."""
    def one(m) -> str:
        token = m.group()
        return token[0] if token in ("{{", "}}") else values.get(m.group(1) or "", "")
    return _fields().sub(one, template)


def candidate_windows(today: dt.date, policy: Policy) -> dict[str, str]:
    """Date ranges outside which no rule can fire today: the database narrows the patients with them.

    A patient outside every range cannot be due, whatever else is recorded; the rules decide
    for those inside.
    """
    iso = dt.date.isoformat
    return {
        "remind_from": iso(today + dt.timedelta(days=1)),
        "remind_to": iso(today + dt.timedelta(days=policy.reminder_days + 1)),
        "plan_from": iso(today - dt.timedelta(days=policy.overdue_window_days)),
        "plan_to": iso(today - dt.timedelta(days=policy.plan_grace_days)),
        "control_from": iso(today - dt.timedelta(days=policy.overdue_window_days)),
        "control_to": iso(today - dt.timedelta(days=policy.control_grace_days)),
        "survey_from": iso(today - dt.timedelta(days=policy.survey_to_days)),
        "survey_to": iso(today - dt.timedelta(days=policy.survey_from_days)),
        # a recall is due when its basis (last hygiene or last visit) lies in this range; month
        # arithmetic is not uniform (31 August + 6 months = 28 February), hence a few days of slack
        "recall_from": iso(_add_months(today - dt.timedelta(days=policy.recall_window_days),
                                       -policy.recall_months) - dt.timedelta(days=3)),
        "recall_to": iso(_add_months(today, -policy.recall_months) + dt.timedelta(days=3)),
        "requeue_from": iso(today - dt.timedelta(days=max(policy.recall_window_days, policy.overdue_window_days))),
        "today": iso(today),
        "thanks_day": iso(today - dt.timedelta(days=1)),
        "birthday": f"{today:%m-%d}",
        # 29 February's birthdays are kept on the 28th in other years
        "birthday_leap": "02-29" if (today.month, today.day) == (2, 28) and birthday_in(dt.date(2000, 2, 29), today.year)
        == today else f"{today:%m-%d}",
        "holiday": int(any((h.month, h.day) == (today.month, today.day) for h in policy.holidays)),
        "regular_from": iso(_add_months(today, -policy.regular_months)),
        "campaign": int(any(c.starts <= today <= c.ends for c in policy.campaigns)),
        "discount_from": policy.discount_steps[0][0] if policy.discount_steps else 0,
    }


def flagged_windows(today: dt.date, policy: Policy) -> dict[str, str]:
    """The ranges of candidate_windows, reaching back a year further: the reasons that lapsed in the
    last year are among their patients (the manager's flagged list)."""
    from dataclasses import replace as with_

    return candidate_windows(today, with_(policy, recall_window_days=policy.recall_window_days + 365,
                                          overdue_window_days=policy.overdue_window_days + 365))


# ---------------------------------------------------------------------------
# What an outcome leads to


@dataclass(frozen=True)
class NextSteps:
    """The records an outcome writes (for each patient on the call) and the sentence that says so."""

    contacts: list[dict]
    withdrawals: list[dict]
    phone_flags: list[dict]
    text: Msg


def _consent_of(reason: Reason, channel: str) -> int | None:
    """The marketing consent a message on ``channel`` keeps (a campaign's is of its own channel)."""
    found = reason.evidence.get("consent_id")
    return found.get(channel) if isinstance(found, dict) else found


def next_steps(entry: Entry, outcome: str, day: dt.date, policy: Policy, *, by: str, at: str,
               callback: dt.date | None = None, note: str | None = None) -> NextSteps:
    """no-answer/busy: retry after policy.retry_days (counts toward the attempt limit);
    wrong-number: flag that phone; declined: withdraw consent for those purposes on every channel,
    recorded as such; booked/reached: the reasons are settled; call-back: due again on ``callback``.
    """
    retry = (day + dt.timedelta(days=policy.retry_days)).isoformat() if outcome in UNANSWERED else None
    contacts, withdrawals, flags = [], [], []
    for member in (entry, *entry.household):
        pid = member.patient.patient_id
        contacts.append({"patient_id": pid, "entry_id": entry.entry_id[:16], "list_date": day.isoformat(),
                         "channel": entry.channel, "outcome": outcome,
                         "reasons": [[r.code, r.ref] for r in member.reasons], "retry_on": retry,
                         "texts": json.dumps([[r.evidence["text_key"], r.evidence["text_id"]] for r in member.reasons
                                              if "text_id" in r.evidence]) if any(
                             "text_id" in r.evidence for r in member.reasons) else None,
                         # the consent that allowed a marketing message (the proof 38-FZ art. 18 asks for)
                         "consent_id": next((_consent_of(r, entry.channel) for r in member.reasons
                                             if r.code in MARKETING), None),
                         "callback_on": callback.isoformat() if callback else None, "note": note,
                         "recorded_by": by, "recorded_at": at})
        if outcome == "declined":
            for purpose in dict.fromkeys(r.purpose for r in member.reasons):
                withdrawals.extend({"patient_id": pid, "purpose": purpose, "channel": ch, "granted": 0,
                                    "address": None, "window": None, "days": None,
                                    "how": "phone" if entry.channel == "call" else "form",
                                    "note": "declined when contacted", "source": "followup",  # see SYSTEM_NOTES
                                    "recorded_by": by, "recorded_at": at} for ch in CHANNELS)
        if outcome == "wrong-number" and entry.address:
            flags.append({"patient_id": pid, "phone": entry.address, "flagged_on": day.isoformat(),
                          "recorded_by": by})
    purposes = [msg(pu) for pu in dict.fromkeys(r.purpose for m in (entry, *entry.household) for r in m.reasons)]
    if outcome in UNANSWERED:
        text = msg(N_("try again on {date}, at another time of day"), date=dt.date.fromisoformat(retry))
    elif outcome == "wrong-number":
        text = msg(N_("the phone is flagged until a new number is imported"))
    elif outcome == "declined":
        text = msg(N_("consent withdrawn for {purposes}"), purposes=purposes)
    elif outcome == "call-back":
        text = msg(N_("rescheduled to {date}"), date=callback)
    else:
        text = msg(N_("the reasons are closed"))
    return NextSteps(contacts, withdrawals, flags, text)


# ---------------------------------------------------------------------------
# SMS length: what a text costs (3GPP TS 23.038)

# the GSM 7-bit default alphabet, and its extension table (each of those takes two septets)
GSM7 = set("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
           "¿abcdefghijklmnopqrstuvwxyzäöñüà")
GSM7_EXTENDED = set("^{}\\[~]|€\f")


def sms_parts(text: str) -> tuple[str, int, int]:
    """(encoding, length, parts) of an SMS: GSM-7 (160 septets in one part, 153 a part after) when
    every character is in its alphabet, else UCS-2 (70, then 67 a part; a character outside the
    Basic Multilingual Plane takes two). Cyrillic is UCS-2."""
    if all(ch in GSM7 or ch in GSM7_EXTENDED for ch in text):
        length = sum(2 if ch in GSM7_EXTENDED else 1 for ch in text)
        single, multi, encoding = 160, 153, "gsm7"
    else:
        length = sum(2 if ord(ch) > 0xFFFF else 1 for ch in text)
        single, multi, encoding = 70, 67, "ucs2"
    parts = 1 if length <= single else -(-length // multi)
    return encoding, length, parts


def send_held(local: dt.datetime, hours: Window, days: frozenset[int], patient: Window | None) -> Msg | None:
    """Why a message may not go out at ``local`` (the clinic's time), or None: the clinic's sending days
    (`send.days`) and hours (`send.hours`), then the patient's own window from their consent."""
    if local.weekday() not in days:
        return msg(N_("not a sending day (send.days: {days})"), days=format_days(days))
    now = local.time()
    if now < hours.start:
        return msg(N_("before the sending hours ({hours}): from {time}"), hours=str(hours), time=f"{hours.start:%H:%M}")
    if now >= hours.end:
        return msg(N_("after the sending hours ({hours}): tomorrow's list"), hours=str(hours))
    if patient is not None and now < patient.start:
        return msg(N_("the patient's window is {window}: from {time}"), window=str(patient),
                   time=f"{patient.start:%H:%M}")
    if patient is not None and now >= patient.end:
        return msg(N_("the patient's window ({window}) is over for today"), window=str(patient))
    return None


# the outcomes a desk records for an entry, by its channel, in the order its buttons are offered
# (undelivered comes from the gateway's delivery reports, never from a desk)
_CALL_OUTCOMES = ("reached", "booked", "no-answer", "busy", "call-back", "declined", "wrong-number")
_WRITTEN_OUTCOMES = ("sent", "declined", "wrong-number")
_LETTER_OUTCOMES = ("sent", "declined")


def desk_outcomes(channel: str) -> tuple[str, ...]:
    if channel == "post":
        return _LETTER_OUTCOMES
    return _CALL_OUTCOMES if channel == "call" else _WRITTEN_OUTCOMES
