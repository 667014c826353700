"""Properties of the rules over generated clinics (hypothesis): whatever the records, the list never
contacts without consent, never twice, never over the cap, never an inactive patient."""

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from followup.rules import (CHANNELS, REASONS, Appointment, Consent, Contact, NextContact, Patient, PlanStage,
                            Policy, Records, Visit, current_consents, plan_day)

TODAY = dt.date(2026, 11, 23)
days = st.integers(-400, 30).map(lambda n: TODAY + dt.timedelta(days=n))
purposes = st.sampled_from(list(REASONS.values()))
channels = st.sampled_from(CHANNELS)


@st.composite
def clinic(draw):
    records = []
    for n in range(draw(st.integers(1, 6))):
        pid = f"P{n}"
        household = draw(st.sampled_from([None, "H1", "H2"]))
        patient = Patient(pid, f"Patient {n}", phone=draw(st.sampled_from(["+79160000001", f"+7916000010{n}", None])),
                          phone_valid=draw(st.booleans()), email=draw(st.sampled_from([None, f"p{n}@x.ru"])),
                          household_id=household, status=draw(st.sampled_from(["active", "active", "archived",
                                                                                "deceased"])))
        visits = tuple(Visit(f"V{n}-{i}", pid, draw(st.sampled_from(["A", "B"])), draw(days),
                             draw(st.sampled_from(["consultation", "treatment", "treatment_end", "hygiene",
                                                   "control", "other"])),
                             draw(st.one_of(st.none(), days)))
                       for i in range(draw(st.integers(0, 5))))
        appts = tuple(Appointment(f"A{n}-{i}", pid, "A", dt.datetime.combine(draw(days), dt.time(10)),
                                  draw(st.sampled_from(["booked", "cancelled", "done"])))
                      for i in range(draw(st.integers(0, 2))))
        stages = tuple(PlanStage(f"PL{n}", str(i), pid, "B", None, draw(days), "planned")
                       for i in range(draw(st.integers(0, 2))))
        consents = tuple(Consent(pid, draw(purposes), draw(channels), draw(st.booleans()),
                                 dt.datetime(2026, 1, 1) + dt.timedelta(minutes=i), "admin")
                         for i in range(draw(st.integers(0, 8))))
        nexts = tuple(NextContact(i, pid, draw(days), "agreed", draw(st.one_of(st.none(), channels)))
                      for i in range(draw(st.integers(0, 1))))
        contacts = tuple(Contact(i, pid, dt.datetime.combine(draw(days), dt.time(9)), "call",
                                 draw(st.sampled_from(["reached", "no-answer", "declined", "call-back"])),
                                 ((draw(st.sampled_from(list(REASONS))), "x"),),
                                 callback_on=draw(st.one_of(st.none(), days)))
                         for i in range(draw(st.integers(0, 2))))
        records.append(Records(patient, visits, appts, stages, consents, nexts, contacts))
    return records


@settings(max_examples=300, deadline=None)
@given(clinic())
def test_the_list_keeps_its_promises(records):
    policy = Policy()
    entries = plan_day(records, TODAY, policy)
    by_id = {r.patient.patient_id: r for r in records}
    seen: dict[tuple[str, str], int] = {}
    non_reminder: dict[str, int] = {}
    for e in entries:
        for member in (e, *e.household):
            r = by_id[member.patient.patient_id]
            assert r.patient.status == "active" and r.patient.missing_since is None
            state = current_consents(r.consents)
            for reason in member.reasons:
                consent = state.get((reason.purpose, e.channel))
                assert consent is not None and consent.granted, (reason.code, e.channel)
            key = (member.patient.patient_id, e.channel)
            seen[key] = seen.get(key, 0) + 1
            if any(x.code != "appointment_reminder" for x in member.reasons):
                non_reminder[member.patient.patient_id] = non_reminder.get(member.patient.patient_id, 0) + 1
            # the cap: no non-reminder reason within cap_days of a contact that spoke to the patient
            spoke = [c.at.date() for c in r.contacts if c.outcome in ("reached", "declined", "call-back")
                     and any(code != "appointment_reminder" for code, _ in c.reasons)]
            recent = [d for d in spoke if 0 <= (TODAY - d).days < policy.cap_days]
            callbacks = [c for c in r.contacts if c.callback_on and c.callback_on <= TODAY]
            if recent and not callbacks:
                assert all(x.code == "appointment_reminder" for x in member.reasons)
    assert all(n == 1 for n in seen.values())            # never twice on one channel
    assert all(n == 1 for n in non_reminder.values())    # one non-reminder contact a day at most
