"""The rules as tables of literal dates and records: no database, no clock."""

import datetime as dt
from dataclasses import replace

import pytest

from followup.records import (Appointment, Consent, Contact, NextContact, Patient, PhoneFlag, PlanStage, Policy,
                              Records, Visit, Window, parse_days, parse_window)
from followup.rules import assess, current_consents, entry_id, find_entry, message, next_steps, plan_day, short_ids
from followup.errors import UsageError

TODAY = dt.date(2026, 11, 23)  # a Monday
POLICY = Policy()
D = dt.date.fromisoformat


def at(s: str) -> dt.datetime:
    return dt.datetime.fromisoformat(s)


def patient(pid="P1", **kw) -> Patient:
    base = dict(name=f"Иванов Иван {pid}", first_name="Иван", middle_name="Иванович", phone="+79161234567",
                phone_valid=True)
    base.update(kw)
    return Patient(pid, **base)


def consent(purpose, channel="call", granted=True, when="2026-01-10 10:00", pid="P1", **kw) -> Consent:
    return Consent(pid, purpose, channel, granted, at(when), "admin", **kw)


ALL = tuple(consent(p) for p in ("reminder", "plan", "control", "survey", "recall", "agreed"))


def records(*, consents=ALL, pid="P1", **kw) -> Records:
    kw.setdefault("patient", patient(pid))
    return Records(consents=tuple(consents), **kw)


def status(r: Records, code: str, today=TODAY, policy=POLICY) -> tuple[str, str]:
    found = [f for f in assess(r, today, policy) if f.code == code]
    due = [f for f in found if f.status == "due"]
    f = due[0] if due else found[0]
    return f.status, f.text


# --- each rule, as a table -----------------------------------------------------------------


@pytest.mark.parametrize("start, state, expected", [
    ("2026-11-24 10:00", "booked", "due"),        # tomorrow
    ("2026-11-25 10:00", "booked", "none"),       # the day after: not yet
    ("2026-11-23 18:00", "booked", "none"),       # today: too late to remind
    ("2026-11-24 10:00", "cancelled", "none"),
])
def test_appointment_reminder(start, state, expected):
    r = records(appointments=(Appointment("A1", "P1", "Смирнова", at(start), state),))
    assert status(r, "appointment_reminder")[0] == expected


@pytest.mark.parametrize("due, visits, booked, expected, why", [
    ("2026-11-10", (), None, "due", "was due 2026-11-10"),
    ("2026-11-20", (), None, "none", "not 7 days late yet"),
    ("2026-11-10", (("2026-11-12", "treatment"),), None, "excluded", "visited on 2026-11-12"),
    ("2026-11-10", (), "2026-12-03 10:00", "excluded", "booked for 2026-12-03"),
    ("2026-06-01", (), None, "excluded", "over 90 days ago: lapsed, never offered: for the manager"),
])
def test_plan_stage_missed(due, visits, booked, expected, why):
    r = records(
        plan_stages=(PlanStage("PL1", "2", "P1", "Козлов", "Коронка 36", D(due), "planned", D("2026-09-01")),),
        visits=tuple(Visit(f"V{i}", "P1", "Козлов", D(d), k) for i, (d, k) in enumerate(visits)),
        appointments=(Appointment("A1", "P1", "Козлов", at(booked), "booked"),) if booked else ())
    got, text = status(r, "plan_stage_missed")
    assert got == expected and why in text
    if got == "due":
        assert "plan PL1 stage 2 (Коронка 36)" in text and "Козлов" in text and "signed 2026-09-01" in text


def test_only_the_next_stage_of_a_plan_is_considered():
    r = records(plan_stages=(
        PlanStage("PL1", "2", "P1", "Козлов", "Stage 2", D("2026-11-01"), "planned"),
        PlanStage("PL1", "3", "P1", "Козлов", "Stage 3", D("2026-11-10"), "planned")))
    due = [f for f in assess(r, TODAY, POLICY) if f.code == "plan_stage_missed" and f.status == "due"]
    assert [f.reason.ref for f in due] == ["PL1/2"]


@pytest.mark.parametrize("control_due, later, expected, why", [
    ("2026-11-19", None, "due", "set by Смирнова on 2026-08-19"),
    ("2026-11-21", None, "none", "not 3 days past yet"),
    ("2026-11-19", ("2026-11-20", "control"), "excluded", "control visit on 2026-11-20"),
    ("2026-11-19", ("2026-11-20", "hygiene"), "due", ""),  # another kind of visit does not count
])
def test_control_overdue(control_due, later, expected, why):
    visits = [Visit("V1", "P1", "Смирнова", D("2026-08-19"), "treatment_end", D(control_due))]
    if later:
        visits.append(Visit("V2", "P1", "Смирнова", D(later[0]), later[1]))
    got, text = status(records(visits=tuple(visits)), "control_overdue")
    assert got == expected and why in text


@pytest.mark.parametrize("ended, expected", [
    ("2026-11-16", "due"),   # 7 days ago
    ("2026-11-09", "due"),   # 14 days ago
    ("2026-11-17", "none"),  # 6 days: too early
    ("2026-11-08", "none"),  # 15 days: too late
])
def test_survey_call_window(ended, expected):
    r = records(visits=(Visit("V1", "P1", "Смирнова", D(ended), "treatment_end"),))
    assert status(r, "survey_call")[0] == expected


def test_survey_call_names_every_doctor_of_the_treatment_and_collecting_doctors_come_first():
    visits = (Visit("V0", "P1", "Старый", D("2026-01-10"), "treatment_end"),
              Visit("V1", "P1", "Козлов", D("2026-10-01"), "treatment"),
              Visit("V2", "P1", "Морозов", D("2026-10-20"), "treatment"),
              Visit("V3", "P1", "Козлов", D("2026-11-15"), "treatment_end"))
    done = records(visits=visits, survey_counts={"Козлов": 25, "Морозов": 30})
    new = records(visits=visits, survey_counts={"Козлов": 25, "Морозов": 3})
    [f] = [f for f in assess(done, TODAY, POLICY) if f.code == "survey_call"]
    assert f.reason.evidence["doctors"] == ["Козлов", "Морозов"] and f.reason.priority == 1
    [g] = [f for f in assess(new, TODAY, POLICY) if f.code == "survey_call"]
    assert g.reason.priority == 0


@pytest.mark.parametrize("visits, booked, expected, why", [
    ((("2026-05-20", "hygiene"), ("2026-08-01", "treatment")), None, "due", "last hygiene visit 2026-05-20"),
    ((("2026-05-24", "hygiene"),), None, "none", "not yet"),
    ((("2026-05-10", "consultation"),), None, "due", "last visit (no hygiene visit) 2026-05-10"),
    ((("2026-01-10", "hygiene"),), None, "excluded", "lapsed after 60 days: lapsed, never offered"),
    ((("2026-05-20", "hygiene"),), "2026-12-01 09:00", "excluded", "booked for 2026-12-01"),
    ((), None, "none", "no visits"),
])
def test_hygiene_recall(visits, booked, expected, why):
    r = records(visits=tuple(Visit(f"V{i}", "P1", "Новикова", D(d), k) for i, (d, k) in enumerate(visits)),
                appointments=(Appointment("A1", "P1", "Новикова", at(booked), "booked"),) if booked else ())
    got, text = status(r, "hygiene_recall")
    assert got == expected and why in text


def test_agreed_contact_on_its_day_and_its_channel():
    r = records(next_contacts=(NextContact(7, "P1", D("2026-11-23"), "discuss the X-ray", "sms", "Козлов"),),
                consents=ALL + (consent("agreed", "sms"),))
    [f] = [f for f in assess(r, TODAY, POLICY) if f.code == "agreed_contact"]
    assert f.status == "due" and f.channels == ("sms",) and "discuss the X-ray" in f.text
    later = records(next_contacts=(NextContact(7, "P1", D("2026-11-30"), "later", None),))
    assert status(later, "agreed_contact")[0] == "none"


# --- exclusions -------------------------------------------------------------------------------

DUE_RECALL = (Visit("V1", "P1", "Новикова", D("2026-05-20"), "hygiene"),)


@pytest.mark.parametrize("consents, why", [
    ((), "no consent for recall by any channel"),
    ((consent("reminder"),), "no consent for recall by any channel"),
    ((consent("recall"), consent("recall", granted=False, when="2026-03-01 12:00")),
     "consent for recall withdrawn on 2026-03-01"),
])
def test_no_consent_no_contact(consents, why):
    got, text = status(records(consents=consents, visits=DUE_RECALL), "hygiene_recall")
    assert got == "excluded" and why in text


def test_a_later_grant_after_a_withdrawal_counts():
    cs = (consent("recall", when="2026-01-01 10:00"), consent("recall", granted=False, when="2026-02-01 10:00"),
          consent("recall", when="2026-03-01 10:00"))
    assert current_consents(cs)[("recall", "call")].granted
    assert status(records(consents=cs, visits=DUE_RECALL), "hygiene_recall")[0] == "due"


@pytest.mark.parametrize("kw, why", [
    ({"status": "archived"}, "patient is archived"),
    ({"status": "deceased"}, "patient is deceased"),
    ({"missing_since": D("2026-11-01")}, "left out of the full export since 2026-11-01"),
    ({"phone": "12-34", "phone_valid": False}, "invalid or incomplete"),
    ({"phone": None, "phone_valid": False}, "no phone number"),
])
def test_patient_exclusions(kw, why):
    r = records(patient=patient(**kw), visits=DUE_RECALL)
    got, text = status(r, "hygiene_recall")
    assert got == "excluded" and why in text


def test_wrong_phone_flag_excludes_until_a_new_number():
    flag = (PhoneFlag("P1", "+79161234567", D("2026-11-20")),)
    got, text = status(records(visits=DUE_RECALL, phone_flags=flag), "hygiene_recall")
    assert got == "excluded" and "flagged wrong on 2026-11-20" in text
    renewed = records(patient=patient(phone="+79990001122"), visits=DUE_RECALL, phone_flags=flag)
    assert status(renewed, "hygiene_recall")[0] == "due"


def contact(outcome, when, reasons=(("hygiene_recall", "recall:2026-11-20"),), **kw):
    return Contact(1, "P1", at(when), "call", outcome, tuple(reasons), **kw)


@pytest.mark.parametrize("contacts, today, expected, why", [
    # the cap: one non-reminder contact per 14 days
    ((contact("reached", "2026-11-20 10:00", (("plan_stage_missed", "X/1"),)),), TODAY, "excluded",
     "contacted 2026-11-20, cap until 2026-12-04"),
    ((contact("reached", "2026-11-05 10:00", (("plan_stage_missed", "X/1"),)),), TODAY, "due", ""),
    # settled: reached, booked, declined
    ((contact("booked", "2026-11-01 10:00"),), TODAY, "excluded", "booked on 2026-11-01"),
    # no answer: retry later, then give up after 3
    ((contact("no-answer", "2026-11-22 10:00", retry_on=D("2026-11-24")),), TODAY, "excluded",
     "next try on 2026-11-24"),
    ((contact("no-answer", "2026-11-22 10:00", retry_on=D("2026-11-23")),), TODAY, "due", ""),
    (tuple(contact("busy", f"2026-11-{d} 10:00", retry_on=D(f"2026-11-{d + 1}")) for d in (18, 19, 20)), TODAY,
     "excluded", "3 unanswered attempts"),
    # call-back on a date
    ((contact("call-back", "2026-11-20 10:00", callback_on=D("2026-11-25")),), TODAY, "excluded",
     "asked to call back on 2026-11-25"),
    ((contact("call-back", "2026-11-20 10:00", callback_on=D("2026-11-25")),), D("2026-11-25"), "due", ""),
])
def test_contact_history(contacts, today, expected, why):
    r = records(visits=DUE_RECALL, contacts=contacts)
    got, text = status(r, "hygiene_recall", today=today)
    assert got == expected and why in text


def test_reminders_are_not_capped():
    r = records(appointments=(Appointment("A1", "P1", "Смирнова", at("2026-11-24 10:00"), "booked"),),
                contacts=(contact("reached", "2026-11-20 10:00", (("plan_stage_missed", "X/1"),)),))
    assert status(r, "appointment_reminder")[0] == "due"


def test_days_of_week():
    weekend = tuple(consent(p, days=parse_days("sat,sun")) for p in ("recall",))
    got, text = status(records(consents=weekend, visits=DUE_RECALL), "hygiene_recall")
    assert got == "excluded" and "sat, sun" in text
    assert status(records(consents=weekend, visits=DUE_RECALL), "hygiene_recall", today=D("2026-11-28"))[0] == "due"


# --- the day's list ------------------------------------------------------------------------


def test_several_reasons_make_one_entry():
    r = records(visits=DUE_RECALL + (Visit("V2", "P1", "Смирнова", D("2026-08-19"), "treatment_end",
                                           D("2026-11-19")),),
                next_contacts=(NextContact(3, "P1", D("2026-11-23"), "ask about the crown"),))
    [entry] = plan_day([r], TODAY, POLICY)
    assert {x.code for x in entry.reasons} == {"control_overdue", "hygiene_recall", "agreed_contact"}
    assert entry.channel == "call" and entry.address == "+79161234567"


def test_a_booking_is_the_reminder_and_closes_the_other_reasons():
    r = records(visits=DUE_RECALL, appointments=(Appointment("A1", "P1", "Смирнова", at("2026-11-24 10:00"),
                                                             "booked"),))
    [entry] = plan_day([r], TODAY, POLICY)
    assert [x.code for x in entry.reasons] == ["appointment_reminder"]


def test_household_sharing_a_phone_is_one_call_and_entries_are_ordered_by_window():
    win = parse_window("18:00-20:00")
    a = records(pid="P1", patient=patient("P1", household_id="H1"), visits=DUE_RECALL)
    b = records(pid="P2", patient=patient("P2", household_id="H1"),
                consents=tuple(consent(p, pid="P2") for p in ("recall",)),
                visits=(Visit("V9", "P2", "Новикова", D("2026-05-21"), "hygiene"),))
    c = records(pid="P3", patient=patient("P3", phone="+79990000003"),
                consents=(consent("recall", pid="P3", window=win),),
                visits=(Visit("V8", "P3", "Новикова", D("2026-05-21"), "hygiene"),))
    d = records(pid="P4", patient=patient("P4", phone="+79990000004"),
                consents=(consent("recall", pid="P4", window=parse_window("09:00-11:00")),),
                visits=(Visit("V7", "P4", "Новикова", D("2026-05-21"), "hygiene"),))
    entries = plan_day([a, b, c, d], TODAY, POLICY)
    assert [e.patient.patient_id for e in entries] == ["P4", "P3", "P1"]
    assert [m.patient.patient_id for m in entries[-1].household] == ["P2"]
    assert len({e.entry_id for e in entries}) == 3


def test_never_lists_a_patient_twice_or_without_consent():
    rs = [records(pid=f"P{i}", patient=patient(f"P{i}", phone=f"+7916000000{i}"),
                  consents=tuple(consent(p, pid=f"P{i}") for p in ("recall",)) if i % 2 else (),
                  visits=(Visit(f"V{i}", f"P{i}", "Новикова", D("2026-05-20"), "hygiene"),)) for i in range(6)]
    entries = plan_day(rs, TODAY, POLICY)
    assert sorted(e.patient.patient_id for e in entries) == ["P1", "P3", "P5"]


def test_sms_message_is_specific_and_personal():
    cs = (consent("reminder", "sms"),)
    r = records(consents=cs, appointments=(Appointment("A1", "P1", "Смирнова", at("2026-11-24 10:30"), "booked"),))
    [entry] = plan_day([r], TODAY, POLICY)
    text = message(entry, {}, "Клиника Улыбка")
    assert "Иван Иванович" in text and "24.11.2026" in text and "10:30" in text and "Смирнова" in text
    assert "Клиника Улыбка" in text
    custom = message(entry, {"appointment_reminder": "{greeting}: {date} {time}"}, "X")
    assert custom == "Hello, Иван Иванович: 24.11.2026 10:30"


@pytest.mark.parametrize("first, middle, greeting", [
    ("Иван", "Иванович", "Hello, Иван Иванович"),
    ("Иван", None, "Hello, Иван"),
    ("Иван", "И.", "Hello, Иван"),
    ("И.И.", None, "Hello"),          # initials only: no name, never "Hello, И.И."
    ("И.", "И.", "Hello"),
    (None, None, "Hello"),            # a surname alone: never "Hello, Иванова"
])
def test_greetings_use_the_name_and_patronymic_or_no_name(first, middle, greeting):
    from dataclasses import replace

    cs = (consent("reminder", "sms"),)
    r = records(consents=cs, appointments=(Appointment("A1", "P1", "Смирнова", at("2026-11-24 10:30"), "booked"),))
    r = replace(r, patient=replace(r.patient, name="Иванова", first_name=first, middle_name=middle))
    [entry] = plan_day([r], TODAY, POLICY)
    assert message(entry, {"appointment_reminder": "{greeting}!"}, "X") == greeting + "!"


@pytest.mark.parametrize("text", ["25:00-26:00", "18:00", "20:00-18:00", "6pm-8pm", "18:0-19:00"])
def test_bad_windows(text):
    with pytest.raises(UsageError):
        parse_window(text)


def test_windows_and_days():
    assert parse_window("9:00-12:30") == Window(dt.time(9), dt.time(12, 30))
    assert parse_days("mon-fri") == frozenset(range(5))
    assert parse_days("sat-mon") == frozenset({5, 6, 0})
    with pytest.raises(UsageError):
        parse_days("funday")


def _recall_entry(n: int, day: dt.date):
    r = records(pid=f"P{n}", patient=patient(f"P{n}", phone=f"+7916{n:07d}"), consents=(consent("recall", pid=f"P{n}"),),
                visits=(Visit(f"V{n}", f"P{n}", "X", D("2026-05-20"), "hygiene"),))
    return plan_day([r], day, POLICY)[0]


def test_entry_ids_are_short_unique_and_stay_valid():
    day = dt.date(2026, 11, 23)
    # two patients whose ids share their first 6 characters (there are some among 20,000)
    first: dict[str, int] = {}
    for n in range(20_000):
        prefix = entry_id(day, f"P{n}", "call")[:6]
        if prefix in first:
            pair = (first[prefix], n)
            break
        first[prefix] = n
    entries = [_recall_entry(n, day) for n in (*pair, 1, 2, 3)]
    shown = short_ids(entries)
    a, b = (shown[entries[0].entry_id], shown[entries[1].entry_id])
    assert len(a) > 6 and len(b) > 6 and a != b
    assert sorted(len(shown[e.entry_id]) for e in entries[2:]) == [6, 6, 6]
    for e in entries:  # every id shown names exactly its entry, and so does the full id
        assert find_entry(entries, shown[e.entry_id]) == [e]
        assert find_entry(entries, e.entry_id.upper()) == [e]
    assert len(find_entry(entries, a[:6])) == 2  # the shared prefix is ambiguous: done refuses it
    assert find_entry(entries, "abc") == []  # fewer than 6 characters never match


@pytest.mark.parametrize("outcome, retry, withdrawn, flagged, text", [
    ("no-answer", "2026-11-24", 0, 0, "try again on 2026-11-24"),
    ("busy", "2026-11-24", 0, 0, "at another time of day"),
    ("declined", None, 5, 0, "consent withdrawn for recall"),
    ("wrong-number", None, 0, 1, "flagged"),
    ("booked", None, 0, 0, "closed"),
])
def test_next_steps_of_each_outcome(outcome, retry, withdrawn, flagged, text):
    [entry] = plan_day([records(visits=DUE_RECALL)], TODAY, POLICY)
    steps = next_steps(entry, outcome, TODAY, POLICY, by="admin", at="2026-11-23 10:00:00")
    [contact] = steps.contacts
    assert contact["outcome"] == outcome and contact["retry_on"] == retry and contact["recorded_by"] == "admin"
    assert contact["reasons"] == [["hygiene_recall", "recall:2026-11-20"]]
    assert len(steps.withdrawals) == withdrawn and len(steps.phone_flags) == flagged and text in steps.text
    if withdrawn:
        assert {w["channel"] for w in steps.withdrawals} == {"call", "sms", "email", "messenger", "post"}
        assert all(w["granted"] == 0 and w["note"] == "declined when contacted" for w in steps.withdrawals)


def test_one_non_reminder_contact_a_day_even_across_channels():
    """Plan stage consented by call only, recall by SMS only: one of them today, the other waits (the cap)."""
    r = records(consents=(consent("plan", "call"), consent("recall", "sms")), visits=DUE_RECALL,
                plan_stages=(PlanStage("PL1", "1", "P1", "Козлов", None, D("2026-11-10"), "planned"),))
    assert {f.code for f in assess(r, TODAY, POLICY) if f.status == "due"} == {"plan_stage_missed",
                                                                              "hygiene_recall"}
    [entry] = plan_day([r], TODAY, POLICY)
    assert [x.code for x in entry.reasons] == ["plan_stage_missed"] and entry.channel == "call"


def test_a_channel_closed_today_stays_closed_and_other_channels_stay_open():
    """A reason that turns up after today's call waits for tomorrow on that channel (an entry id is
    day, patient and channel); a channel the patient was not contacted on today still serves it."""
    called = contact("no-answer", "2026-11-23 10:00", (("plan_stage_missed", "PL1/1"),), retry_on=D("2026-11-24"))
    r = records(visits=DUE_RECALL, contacts=(called,))
    got, text = status(r, "hygiene_recall")
    assert got == "excluded" and "already closed today (call: no-answer at 10:00" in text
    assert plan_day([r], TODAY, POLICY) == []
    assert status(r, "hygiene_recall", today=D("2026-11-24"))[0] == "due"
    by_sms_too = records(consents=ALL + (consent("recall", "sms"),), visits=DUE_RECALL, contacts=(called,))
    [entry] = plan_day([by_sms_too], TODAY, POLICY)
    assert entry.channel == "sms" and [x.code for x in entry.reasons] == ["hygiene_recall"]


def test_a_reminder_still_goes_by_its_own_channel():
    r = records(consents=(consent("control", "call"), consent("reminder", "sms")),
                visits=(Visit("V2", "P1", "Смирнова", D("2026-08-19"), "treatment_end", D("2026-11-19")),),
                appointments=(Appointment("A1", "P1", "Смирнова", at("2026-11-25 10:00"), "booked"),))
    policy = Policy(reminder_days=2)
    entries = plan_day([r], TODAY, policy)
    # the booking excludes the control exam; the reminder remains, by SMS
    assert [(e.channel, [x.code for x in e.reasons]) for e in entries] == [("sms", ["appointment_reminder"])]


# --- a reason never vanishes silently -----------------------------------------------------------

def test_a_reason_past_its_window_never_offered_goes_to_the_manager():
    """Recall due 2026-11-20 (hygiene 2026-05-20), window 60 days: on 2027-02-01 it has lapsed."""
    from followup.records import ReasonAction
    from followup.rules import for_manager

    later = dt.date(2027, 2, 1)
    hygiene = (Visit("V1", "P1", "Новикова", D("2026-05-20"), "hygiene"),)
    key = ("hygiene_recall", "recall:2026-11-20")

    def recall(r):
        [f] = [f for f in assess(r, later, POLICY) if f.code == "hygiene_recall"]
        return f

    never = recall(records(visits=hygiene))
    assert (never.status, never.excluded_by) == ("excluded", "lapsed") and "never offered" in never.text.english()
    assert [f.code for _, f in for_manager([records(visits=hygiene)], later, POLICY)] == ["hygiene_recall"]
    # offered once (no answer), or never consented to: nothing was lost, nothing flagged
    tried = records(visits=hygiene, contacts=(contact("no-answer", "2026-11-23 10:00", (key,)),))
    assert recall(tried).status == "none"
    assert recall(records(visits=hygiene, consents=())).status == "none"
    # the manager's decisions
    close = ReasonAction("P1", *key, "close", D("2027-02-01"), "moved to another city", "manager")
    closed = recall(records(visits=hygiene, reason_actions=(close,)))
    assert closed.status == "none" and "moved to another city" in closed.text.english()
    back = ReasonAction("P1", *key, "requeue", D("2027-02-01"), None, "manager")
    assert recall(records(visits=hygiene, reason_actions=(back,))).status == "due"
    [entry] = plan_day([records(visits=hygiene, reason_actions=(back,))], later, POLICY)
    assert entry.reasons[0].code == "hygiene_recall"
    # requeued for the reason's usual window, then it lapses again (and is flagged again)
    assert recall(records(visits=hygiene, reason_actions=(back,))).status == "due"
    again = [f for f in assess(records(visits=hygiene, reason_actions=(back,)), later + dt.timedelta(days=61), POLICY)
             if f.code == "hygiene_recall"]
    assert again[0].excluded_by == "lapsed"


def test_lapsed_plan_stages_and_controls_are_flagged_too():
    later = dt.date(2027, 6, 1)
    r = records(plan_stages=(PlanStage("П1", "1", "P1", "Козлов", "Имплантация", D("2026-10-01"), "planned"),),
                visits=(Visit("V1", "P1", "Козлов", D("2026-09-01"), "treatment", control_due=D("2026-10-15")),))
    flagged = {f.code: f.excluded_by for f in assess(r, later, POLICY) if f.status == "excluded"}
    assert flagged == {"plan_stage_missed": "lapsed", "control_overdue": "lapsed", "hygiene_recall": "lapsed"}


def test_a_reason_that_lapsed_before_followup_began_is_nobody_s_to_pick_up():
    from dataclasses import replace

    hygiene = (Visit("V1", "P1", "Новикова", D("2026-05-20"), "hygiene"),)  # recall window ends 2027-01-19
    later = dt.date(2027, 2, 1)
    [before] = [f for f in assess(records(visits=hygiene), later, replace(POLICY, lists_since=D("2027-01-25")))
                if f.code == "hygiene_recall"]
    assert before.status == "none" and "before followup's first list (2027-01-25)" in before.text.english()
    [since] = [f for f in assess(records(visits=hygiene), later, replace(POLICY, lists_since=D("2027-01-10")))
               if f.code == "hygiene_recall"]
    assert since.excluded_by == "lapsed"


# --- a desk's capacity ----------------------------------------------------------------------

def _recall_patient(pid: str, hygiene: str, *purposes, **kw) -> Records:
    return records(pid=pid, patient=patient(pid, phone=f"+7916{int(pid[1:]):07d}"),
                   consents=tuple(consent(p, pid=pid) for p in ("recall", *purposes)),
                   visits=(Visit(f"V{pid}", pid, "Новикова", D(hygiene), "hygiene"),), **kw)


def test_a_desks_capacity_lists_reminders_then_the_closest_to_lapsing_then_the_oldest():
    from followup.rules import within_capacity

    rs = [_recall_patient("P1", "2026-05-20"),        # recall due 2026-11-20: 57 days left
          _recall_patient("P2", "2026-03-25"),        # due 2026-09-25: lapses after tomorrow
          _recall_patient("P3", "2026-04-10"),        # due 2026-10-10: 16 days left
          _recall_patient("P4", "2026-05-22", "reminder",  # a reminder: first, whatever else
                          appointments=(Appointment("A1", "P4", "Смирнова", at("2026-11-24 10:00"), "booked"),)),
          _recall_patient("P5", "2026-04-10")]         # as P3: the card number decides
    entries = plan_day(rs, TODAY, POLICY)
    policy = Policy(capacity=(("call", 2),))
    listed, waiting = within_capacity(entries, TODAY, policy)
    assert {e.patient.patient_id for e in listed} == {"P4", "P2"}
    assert listed == [e for e in entries if e in listed]  # in the list's own order
    assert [(w.entry.patient.patient_id, w.place, w.expected) for w in waiting] == [
        ("P3", 1, D("2026-11-24")), ("P5", 2, D("2026-11-24")), ("P1", 3, D("2026-11-25"))]
    # whoever was on the list earlier today keeps the place; what the desks closed counts
    listed, waiting = within_capacity(entries, TODAY, policy, first={"P1"}, used={"call": 1})
    assert [e.patient.patient_id for e in listed] == ["P1"]
    assert [w.entry.patient.patient_id for w in waiting] == ["P4", "P2", "P3", "P5"]
    # another channel, or no capacity: everyone is listed
    assert within_capacity(entries, TODAY, Policy(capacity=(("sms", 1),))) == (entries, [])


def test_a_reason_waiting_in_line_does_not_lapse_until_the_day_it_is_listed():
    from followup.records import ReasonWait

    lapsing = _recall_patient("P2", "2026-03-25")  # recall due 2026-09-25, window over on 2026-11-25
    later = D("2026-11-30")
    assert status(lapsing, "hygiene_recall", later)[0] == "excluded"  # lapsed: for the manager
    ref = "recall:2026-09-25"
    waits = (ReasonWait("P2", "hygiene_recall", ref, since=TODAY),)
    state, text = status(replace(lapsing, waits=waits), "hygiene_recall", later)
    assert state == "due" and "(waiting in line since 2026-11-23: not lapsing)" in str(text)
    other = (ReasonWait("P2", "hygiene_recall", "recall:2026-03-25", since=TODAY),)  # another recall's wait
    assert status(replace(lapsing, waits=other), "hygiene_recall", later)[0] == "excluded"
    listed = (ReasonWait("P2", "hygiene_recall", ref, since=TODAY, listed_on=later),)
    assert status(replace(lapsing, waits=listed), "hygiene_recall", later)[0] == "due"   # through its day
    assert status(replace(lapsing, waits=listed), "hygiene_recall", later + dt.timedelta(days=1))[0] == "excluded"


@pytest.mark.parametrize("name, middle, expected", [
    ("Иванова Мария Петровна", "Петровна", "female"), ("Иванов Иван Ильич", "Ильич", "male"),
    ("Алиева Лейла Гасан кызы", "Гасан кызы", "female"), ("Мамедов Рашид Али оглы", "Али оглы", "male"),
    ("Кузьмина Ольга Фоминична", None, "female"),     # no patronymic column: the name's third word
    ("Сидорова Анна", None, None), ("Иванова М.П.", "П.", None), ("Саша Ким", None, None),
])
def test_the_patronymic_tells_the_patients_gender(name, middle, expected):
    from followup.rules import gender

    assert gender(patient(name=name, middle_name=middle)) == expected


def test_a_sentence_about_a_patient_agrees_with_their_gender():
    from followup import i18n

    said = "Survey #{id}: {pid} declined; the survey call for this treatment is closed."
    with i18n.using("ru"):
        assert "000841 отказалась от опроса" in i18n.trg("female", said, id=1, pid="000841")
        assert "000841 отказался от опроса" in i18n.trg("male", said, id=1, pid="000841")
        assert "000841 — отказ от опроса" in i18n.trg(None, said, id=1, pid="000841")
    assert i18n.trg("female", said, id=1, pid="000841") == said.format(id=1, pid="000841")


def test_a_template_is_filled_by_its_placeholders_only():
    from followup.rules import fill, template_problem

    assert fill("{greeting}! {{not a field}} {date}", {"greeting": "Добрый день", "date": "01.12.2026"}) == \
        "Добрый день! {not a field} 01.12.2026"
    assert template_problem("{greeting}! {clinic}: {{скидка}}") is None
    problem = template_problem("{greeting:>1000000}")
    assert "unknown placeholder {greeting:>1000000}" in str(problem) and "{with_doctor}" in str(problem)
    assert "lone brace" in str(template_problem("{greeting"))


def test_a_stored_template_that_is_not_safe_gives_way_to_the_default():
    """One stored before templates were checked (or by hand): the default text, never str.format's."""
    cs = (consent("survey", "sms"),)
    r = records(consents=cs, visits=(Visit("V1", "P1", "Смирнова", D("2026-11-12"), "treatment_end"),))
    [entry] = plan_day([r], TODAY, POLICY)
    for bad in ("{greeting:>1000000}", "{greeting.__init__.__globals__}", "{unknown}"):
        text = message(entry, {"survey_call": bad}, "Клиника")
        assert text == message(entry, {}, "Клиника") and len(text) < 300


def test_a_phone_a_household_shares_gets_a_text_that_names_no_one_and_no_treatment():
    rs = [records(pid=pid, patient=patient(pid, household_id="H1"), consents=(consent("recall", "sms", pid=pid),),
                  visits=(Visit(f"V{pid}", pid, "Новикова", D("2026-05-20"), "hygiene"),)) for pid in ("P1", "P2")]
    [entry] = plan_day(rs, TODAY, POLICY)
    assert [m.patient.patient_id for m in entry.household] == ["P2"]
    text = message(entry, {}, "Клиника Улыбка")
    assert text.startswith("Hello! Клиника Улыбка: please call us") and "Иван" not in text and "hygiene" not in text.lower()
    alone = message(plan_day(rs[:1], TODAY, POLICY)[0], {}, "Клиника Улыбка")
    assert "Иван Иванович" in alone and "hygiene" in alone.lower()  # one patient's own phone: the specific text
