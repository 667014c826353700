"""Properties of the rules over generated clinics (hypothesis): whatever the records, the list never
contacts without consent, never twice (nor again after today's call on that channel), never over the
cap, never an inactive patient."""

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from followup.records import (CHANNELS, REASONS, Appointment, Consent, Contact, NextContact, Patient, PlanStage,
                              Policy, Records, Visit)
from followup.rules import CAP_FREE, current_consents, plan_day

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
        contacts = tuple(Contact(i, pid, dt.datetime.combine(draw(st.one_of(st.just(TODAY), days)), dt.time(9)), "call",
                                 draw(st.sampled_from(["reached", "no-answer", "declined", "call-back"])),
                                 ((draw(st.sampled_from(list(REASONS))), "x"),),
                                 callback_on=draw(st.one_of(st.none(), days)))
                         for i in range(draw(st.integers(0, 2))))
        records.append(Records(patient, visits, appts, stages, consents, nexts, contacts))
    return records


@settings(max_examples=90, deadline=None)
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
            # an entry closed today is never listed again today (its id would come back)
            assert not any(c.at.date() == TODAY and c.channel == e.channel for c in r.contacts)
            seen[key] = seen.get(key, 0) + 1
            if any(x.code not in CAP_FREE for x in member.reasons):
                non_reminder[member.patient.patient_id] = non_reminder.get(member.patient.patient_id, 0) + 1
            # the cap: no care reason but a reminder within cap_days of a contact that spoke to the patient
            # (the occasions and campaigns have caps of their own)
            spoke = [c.at.date() for c in r.contacts if c.outcome in ("reached", "declined", "call-back")
                     and any(code not in CAP_FREE for code, _ in c.reasons)]
            recent = [d for d in spoke if 0 <= (TODAY - d).days < policy.cap_days]
            callbacks = [c for c in r.contacts if c.callback_on and c.callback_on <= TODAY]
            if recent and not callbacks:
                assert all(x.code in CAP_FREE for x in member.reasons)
    assert all(n == 1 for n in seen.values())            # never twice on one channel
    assert all(n == 1 for n in non_reminder.values())    # one non-reminder contact a day at most


@settings(max_examples=90, deadline=None)
@given(clinic(), st.sampled_from(["reached", "no-answer", "busy", "wrong-number", "declined", "booked"]),
       st.sampled_from(CHANNELS), st.integers(0, 5))
def test_an_entry_closed_today_never_comes_back_that_day(records, outcome, channel, which):
    """Whatever else the records hold (new visits, agreements, bookings), once a patient's entry on a
    channel was closed today, that patient is not listed on that channel again today."""
    r = records[which % len(records)]
    consented = r.consents + tuple(Consent(r.patient.patient_id, p, channel, True, dt.datetime(2026, 1, 1), "admin")
                                   for p in REASONS.values())
    closed = Contact(99, r.patient.patient_id, dt.datetime.combine(TODAY, dt.time(9)), channel, outcome,
                     (("hygiene_recall", "earlier"),))
    r = Records(r.patient, r.visits, r.appointments, r.plan_stages, consented, r.next_contacts, r.contacts + (closed,))
    for e in plan_day([r], TODAY, Policy()):
        assert e.channel != channel, (outcome, [x.code for x in e.reasons])


# --- campaigns: never to a patient without the marketing consent on the campaign's channel -------------

from followup.records import AUDIENCES, WRITTEN, Campaign, Member  # noqa: E402


@st.composite
def marketed(draw):
    """A clinic of patients with every kind of consent history (marketing among them, granted and
    withdrawn in any order, on any channel), households, birthdays, past campaign messages; and a
    campaign running today on a written channel, to any audience."""
    campaign = Campaign(1, "Весна", "{greeting}! Скидка", draw(st.sampled_from(WRITTEN)),
                        draw(st.sampled_from(("all",) * 3 + AUDIENCES)), TODAY - dt.timedelta(days=draw(st.integers(0, 5))),
                        TODAY)
    records = []
    for n, r in enumerate(draw(clinic())):
        consents = tuple(Consent(r.patient.patient_id, draw(st.sampled_from(["marketing", "marketing", "greetings",
                                                                              "recall", "thanks"])),
                                 draw(st.sampled_from([campaign.channel] * 3 + list(CHANNELS))),
                                 draw(st.sampled_from([True, True, True, False])),
                                 dt.datetime(2026, 2, 1) + dt.timedelta(minutes=i), "admin", id=100 * n + i)
                         for i in range(draw(st.integers(0, 6))))
        past = tuple(Contact(50 + i, r.patient.patient_id, dt.datetime.combine(draw(days), dt.time(9)),
                             draw(channels), draw(st.sampled_from(["sent", "undelivered", "declined"])),
                             (("campaign", draw(st.sampled_from(["1", "2", "3"]))),))
                     for i in range(draw(st.integers(0, 2))))
        patient = Patient(r.patient.patient_id, r.patient.name, phone=f"+7916000020{n}",
                          phone_valid=draw(st.sampled_from([True, True, True, False])),
                          email=draw(st.sampled_from([None, f"p{n}@x.ru", f"p{n}@x.ru"])),
                          household_id=r.patient.household_id,
                          status=draw(st.sampled_from(["active"] * 4 + ["archived", "deceased"])),
                          birth_date=draw(st.one_of(st.none(), st.just(dt.date(1980, 11, 23)))),
                          total_amount=draw(st.sampled_from([None, 5_000.0, 500_000.0])))
        records.append(Records(patient, r.visits, r.appointments, r.plan_stages, r.consents + consents,
                               r.next_contacts, r.contacts + past))
    for i, r in enumerate(records):  # their households, as the store loads them
        others = tuple(Member(o.patient, False) for o in records if o is not r and o.patient.household_id
                       and o.patient.household_id == r.patient.household_id)
        records[i] = Records(**{**r.__dict__, "household": others})
    return records, campaign


REACHED: list[bool] = []  # whether each generated clinic had a campaign message at all


@settings(max_examples=70, deadline=None, derandomize=True)
@given(marketed(), st.integers(0, 40))
def test_a_campaign_never_reaches_a_patient_without_the_marketing_consent(generated, cap):
    records, campaign = generated
    policy = Policy(campaigns=(campaign,), marketing_cap_days=cap)
    by_id = {r.patient.patient_id: r for r in records}
    entries = plan_day(records, TODAY, policy)
    REACHED.append(any(x.code == "campaign" for e in entries for m in (e, *e.household) for x in m.reasons))
    for e in entries:
        for member in (e, *e.household):
            r = by_id[member.patient.patient_id]
            for reason in member.reasons:
                if reason.code != "campaign":
                    continue
                consent = current_consents(r.consents).get(("marketing", e.channel))
                assert e.channel == campaign.channel and consent is not None and consent.granted
                assert reason.evidence["consent_id"] == consent.id  # the proof the message keeps
                assert r.patient.status == "active"
                # alone on its message, and not within the marketing cap of another marketing message
                assert {x.code for x in member.reasons} <= {"campaign", "discount_step"}
                assert not any(c.outcome in ("sent", "declined") and 0 < (TODAY - c.at.date()).days < cap
                               for c in r.contacts if any(code == "campaign" for code, _ in c.reasons))


def test_the_generated_clinics_do_reach_patients():
    """The property above is not vacuous: many of its clinics have campaign messages to check."""
    if not REACHED:
        test_a_campaign_never_reaches_a_patient_without_the_marketing_consent()
    # (how many varies with what ran before in the process: hypothesis's generation is not reproducible
    # across runs here even derandomized; a few show the property is checked at all)
    assert sum(REACHED) >= 2, (sum(REACHED), len(REACHED))


# --- the importer ---------------------------------------------------------------------------

import csv as _csv  # noqa: E402
import sqlite3 as _sqlite3  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

from followup import db  # noqa: E402
from followup.importing import ImportOptions, import_paths  # noqa: E402

names = st.text(alphabet="АБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЭЮЯабвгдеёжзийклмнопрстуфхцчшщэюя -'\"Ab;,=+@", min_size=1,
                max_size=25).filter(lambda s: s.strip())
phones = st.one_of(st.just(""), st.integers(9_000_000_000, 9_999_999_999).map(lambda n: f"8 ({str(n)[:3]}) "
                                                                                       f"{str(n)[3:6]}-{str(n)[6:8]}-"
                                                                                       f"{str(n)[8:]}"),
                   st.text(alphabet="0123456789 ()-+", max_size=14))
dates = st.one_of(st.just(""), st.dates(dt.date(1920, 1, 1), dt.date(2026, 1, 1)).map(lambda d: d.strftime("%d.%m.%Y")),
                  st.text(alphabet="0123456789.", max_size=10))


def _dump(path: Path) -> list:
    """The patients and households as stored (not the digests each row keeps of the cells it came from)."""
    conn = _sqlite3.connect(path)
    try:
        columns = ", ".join(r[1] for r in conn.execute("PRAGMA table_info(patients)") if r[1] != "digest")
        return [conn.execute(f"SELECT {columns} FROM patients ORDER BY 1").fetchall(),
                conn.execute("SELECT * FROM households ORDER BY 1").fetchall()]
    finally:
        conn.close()


@settings(max_examples=20, deadline=None)
@given(st.lists(st.tuples(names, dates, phones), min_size=1, max_size=40),
       st.sampled_from(["cp1251", "utf-8", "utf-8-sig"]), st.sampled_from([";", ",", "\t"]))
def test_importing_any_file_twice_equals_once_and_never_crashes(rows, encoding, delimiter):
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)

        def written(path: Path, delimiter: str) -> Path:
            with open(path, "w", encoding=encoding, newline="", errors="replace") as fh:
                w = _csv.writer(fh, delimiter=delimiter)
                w.writerow(["Номер карты", "ФИО", "Дата рождения", "Телефон"])
                for i, (name, born, phone) in enumerate(rows):
                    w.writerow([f"{i:05d}", name, born, phone])
            return path

        path = written(tmp / "patients.csv", delimiter)
        db_path = tmp / "f.db"
        conn = db.connect(db_path)
        first = import_paths(conn, db_path, [path], ImportOptions(reject_threshold=1.0), today=dt.date(2026, 11, 23))
        once = _dump(db_path)
        again = import_paths(conn, db_path, [path], ImportOptions(reject_threshold=1.0, force=True),
                             today=dt.date(2026, 11, 23))
        assert _dump(db_path) == once
        # the same cells in another file (another delimiter): each row known by its cells' digest
        other = written(tmp / "again.csv", {";": ",", ",": "\t", "\t": ";"}[delimiter])
        third = import_paths(conn, db_path, [other], ImportOptions(reject_threshold=1.0), today=dt.date(2026, 11, 24))
        conn.close()
        assert _dump(db_path) == once
        f1, f2, f3 = first.files[0], again.files[0], third.files[0]
        if f1.outcome == "imported":
            assert (f2.inserted, f2.updated) == (0, 0) and f2.unchanged == f1.inserted
            assert (f3.inserted, f3.updated, f3.rejected) == (0, 0, f1.rejected) and f3.unchanged == f1.inserted
        else:  # refused as a whole: a clear message, nothing written
            assert f1.outcome == "failed" and f1.message and once[0] == []


# --- the nightly export again: rows known by their cells' digest --------------------------------------

_edits = st.lists(st.tuples(st.sampled_from(["keep", "change", "repeat", "repeat-changed", "drop", "new"]),
                            st.integers(0, 10_000)), min_size=1, max_size=30)


@settings(max_examples=15, deadline=None, derandomize=True)
@given(st.integers(1, 12), _edits, st.booleans())
def test_a_known_row_is_read_as_converting_it_would_read_it(n, edits, full_export):
    """The export again with rows kept, changed, repeated (as they were or changed, before or after the
    other), dropped and added: importing it with the rows known by their cells' digest (not converted)
    stores, rejects and counts exactly what converting every row (--force) does, in batches of 3 rows
    so that repeats fall in one batch and across batches."""
    from followup.importing import run

    base = [[f"{i:05d}", f"Пациент{i} Анна Петровна", f"8916100{i:04d}"] for i in range(n)]
    again, added = [], 0
    rows = list(base)
    for op, k in edits:
        i = k % len(rows)
        if op == "keep":
            again.append(list(rows[i]))
        elif op == "change":
            again.append([rows[i][0], rows[i][1] + " М", rows[i][2]])
        elif op == "repeat":
            again.extend([list(rows[i]), list(rows[i])])
        elif op == "repeat-changed":
            pair = [list(rows[i]), [rows[i][0], rows[i][1], f"8916200{k % 10_000:04d}"]]
            again.extend(pair if k % 2 else pair[::-1])
        elif op == "new":
            added += 1
            again.append([f"N{added:04d}", f"Новый{added} Иван", ""])
    again.extend(r for r in base if r[0] not in {a[0] for a in again} and n % 2)  # sometimes the rest too

    def import_twice(tmp: Path, force: bool):
        def write(p: Path, rs: list, delimiter: str) -> Path:
            with open(p, "w", encoding="utf-8", newline="") as fh:
                _csv.writer(fh, delimiter=delimiter).writerows([["Номер карты", "ФИО", "Телефон"], *rs])
            return p

        path = tmp / "f.db"
        conn = db.connect(path)
        opts = ImportOptions(reject_threshold=1.0, deactivate_threshold=1.0)
        day = dt.date(2026, 11, 23)
        first = write(tmp / "base.csv", base, ",")
        import_paths(conn, path, [first], opts, today=day)
        import_paths(conn, path, [first], ImportOptions(reject_threshold=1.0, force=True), today=day)  # digests
        f = import_paths(conn, path, [write(tmp / "again.csv", again, ";")],  # (another file: not skipped)
                         ImportOptions(reject_threshold=1.0, deactivate_threshold=1.0, force=force,
                                       full_export=full_export), today=day).files[0]
        conn.close()
        return (_dump(path), f.outcome, f.inserted, f.updated, f.unchanged, f.rejected, f.deactivated,
                # (the rows rejected, and why; which earlier line it repeats, the slow path knows only in its batch)
                [(r.line, str(r.reason).split(" (line")[0]) for r in f.rejects])

    batch = run.BATCH
    run.BATCH = 3
    try:
        with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
            known, converted = import_twice(Path(a), False), import_twice(Path(b), True)
    finally:
        run.BATCH = batch
    assert known == converted
