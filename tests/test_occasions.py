"""The occasions: thanks the day after a first visit or a treatment's end, birthdays, the clinic's holidays.

The rules as tables of literal dates (no database, no clock); then the household, the texts that
change from year to year, and the `occasion` commands end to end on a real database.
"""

import datetime as dt
import json

import pytest
from freezegun import freeze_time

from conftest import Cli, built_once, copied, write_csv
from followup.records import (Complaint, Consent, Contact, Holiday, Member, NextContact, Patient, Policy, Records,
                              SurveyDone, Visit)
from followup.rules import OCCASION_TEXTS, assess, birthday, holiday, message, plan_day, thanks

D = dt.date.fromisoformat


def person(pid="P1", *, middle="Петрович", born=None, first_seen=None, household=None, **kw) -> Patient:
    return Patient(pid, f"Иванов Иван {middle}", first_name="Иван", middle_name=middle, phone="+79161234567",
                   phone_valid=True, birth_date=born, first_seen=first_seen, household_id=household, **kw)


def visit(vid, day, kind="treatment", doctor="Смирнова Анна", pid="P1") -> Visit:
    return Visit(vid, pid, doctor, D(day), kind)


def greet(*purposes, channel="sms", pid="P1") -> tuple:
    return tuple(Consent(pid, p, channel, True, dt.datetime(2025, 1, 10, 10), "admin") for p in purposes)


def status(findings) -> list[tuple[str, str]]:
    return [(f.status, f.excluded_by or "") for f in findings]


# --- thanks: the day after a first visit or the end of a treatment -------------------------------------

@pytest.mark.parametrize("today, visits, first_seen, expected, what", [
    ("2026-12-04", [("V1", "2026-12-03", "treatment_end")], "2025-01-01", "due", "treatment_end"),
    ("2026-12-04", [("V1", "2026-12-03", "consultation")], "2026-12-03", "due", "first_visit"),
    # a visit yesterday that is neither the first nor a treatment's end: no thanks
    ("2026-12-04", [("V1", "2026-12-03", "treatment")], "2025-01-01", "none", None),
    # the day after only: two days later it is too late (a thank-you that comes late is a formality)
    ("2026-12-05", [("V1", "2026-12-03", "treatment_end")], "2025-01-01", "none", None),
    ("2026-12-03", [("V1", "2026-12-03", "treatment_end")], "2025-01-01", "none", None),
    # the end of a treatment wins over a first visit the same day (a one-visit treatment)
    ("2026-12-04", [("V1", "2026-12-03", "treatment_end")], "2026-12-03", "due", "treatment_end"),
])
def test_thanks(today, visits, first_seen, expected, what):
    r = Records(person(first_seen=D(first_seen)), visits=tuple(visit(v, d, k) for v, d, k in visits))
    [f] = thanks(r, D(today), Policy())
    assert f.status == expected
    if what:
        assert f.reason.evidence["occasion"] == what and f.reason.ref == "V1" and f.channels == ("sms", "email",
                                                                                               "messenger", "post")


def test_no_thanks_while_a_complaint_is_open_or_after_a_negative_survey():
    base = Records(person(first_seen=D("2025-01-01")), visits=(visit("V1", "2026-12-03", "treatment_end"),))
    today = D("2026-12-04")
    open_ = Records(**{**base.__dict__, "complaints": (Complaint(7, "P1", "Смирнова Анна", D("2026-12-01")),)})
    closed = Records(**{**base.__dict__, "complaints": (Complaint(7, "P1", None, D("2026-11-01"), D("2026-11-02")),)})
    low = Records(**{**base.__dict__, "surveys": (SurveyDone("P1", "V0", D("2026-11-20"), "answered", 4),)})
    high = Records(**{**base.__dict__, "surveys": (SurveyDone("P1", "V0", D("2026-11-20"), "answered", 9),)})
    assert status(thanks(open_, today, Policy())) == [("excluded", "complaint")]
    assert "complaint #7" in str(thanks(open_, today, Policy())[0].text)
    assert status(thanks(closed, today, Policy())) == [("due", "")]
    assert status(thanks(low, today, Policy())) == [("excluded", "complaint")]
    assert status(thanks(high, today, Policy())) == [("due", "")]


# --- birthdays, 29 February's too ---------------------------------------------------------------------

@pytest.mark.parametrize("born, today, expected", [
    ("1980-12-04", "2026-12-04", "due"),
    ("1980-12-04", "2026-12-05", "none"),
    ("1980-12-04", "2026-12-03", "none"),
    ("2000-02-29", "2027-02-28", "due"),     # not a leap year: on the 28th
    ("2000-02-29", "2027-03-01", "none"),
    ("2000-02-29", "2028-02-29", "due"),     # a leap year: on the day
    ("2000-02-29", "2028-02-28", "none"),
    ("2026-12-04", "2026-12-04", "none"),    # born today: no birthday yet
    (None, "2026-12-04", "none"),
])
def test_birthday(born, today, expected):
    [f] = birthday(Records(person(born=D(born) if born else None)), D(today), Policy())
    assert f.status == expected
    if expected == "due":
        assert f.reason.ref == today[:4] and f.reason.evidence["age"] == int(today[:4]) - int(born[:4])


# --- holidays, for one sex if so set ------------------------------------------------------------------

NEW_YEAR, MARCH_8 = Holiday(1, "Новый год", 12, 31), Holiday(2, "8 Марта", 3, 8, "female")


@pytest.mark.parametrize("middle, today, expected", [
    ("Петрович", "2026-12-31", ["due"]),
    ("Петрович", "2026-12-30", ["none"]),
    ("Сергеевна", "2027-03-08", ["due"]),
    ("Петрович", "2027-03-08", ["none"]),    # for women only
    ("", "2027-03-08", ["none"]),            # sex unknown: not guessed
])
def test_holiday(middle, today, expected):
    findings = holiday(Records(person(middle=middle)), D(today), Policy(holidays=(NEW_YEAR, MARCH_8)))
    assert [f.status for f in findings] == expected
    if middle == "" and today.endswith("03-08"):
        assert "sex is not known" in str(findings[0].text)


# --- what assess adds: consent, written channels only, the caps ---------------------------------------

def _birthday_records(consents, contacts=()) -> Records:
    return Records(person(born=D("1980-12-04")), consents=consents, contacts=contacts)


def test_an_occasion_needs_its_own_consent_on_a_written_channel():
    today = D("2026-12-04")
    by = {f.code: f for f in assess(_birthday_records(greet("greetings")), today, Policy())}
    assert by["birthday"].status == "due" and by["birthday"].channels == ("sms",)
    # a care consent is not a consent to greetings; a call is not how greetings go
    care = assess(_birthday_records(greet("reminder", "recall", "marketing")), today, Policy())
    assert {f.code: f.excluded_by for f in care}["birthday"] == "no_consent"
    call = assess(_birthday_records(greet("greetings", channel="call")), today, Policy())
    assert {f.code: f.excluded_by for f in call}["birthday"] == "no_consent"


def test_the_care_cap_does_not_stop_an_occasion_and_the_occasions_have_their_own():
    today = D("2026-12-04")
    care_call = Contact(1, "P1", dt.datetime(2026, 12, 2, 11), "call", "reached", (("hygiene_recall", "r"),))
    thanked = Contact(2, "P1", dt.datetime(2026, 12, 2, 11), "sms", "sent", (("thanks", "V1"),),
                      texts=(("thanks", "d1"),))
    consents = greet("greetings", "recall", "thanks")
    assert {f.code: f.status for f in assess(_birthday_records(consents, (care_call,)), today, Policy())}[
        "birthday"] == "due"
    capped = {f.code: f for f in assess(_birthday_records(consents, (thanked,)), today, Policy())}["birthday"]
    assert capped.excluded_by == "occasion_cap" and "2026-12-05" in str(capped.text)
    assert {f.code: f.status for f in assess(_birthday_records(consents, (thanked,)), today,
                                             Policy(occasion_cap_days=2))}["birthday"] == "due"


def test_occasions_come_after_the_care_contacts_and_never_count_against_a_desks_capacity():
    from followup.rules import within_capacity

    today = D("2026-12-04")
    care = Records(person("P1", first_seen=D("2025-01-01")), consents=greet("recall", channel="sms", pid="P1"),
                   visits=(visit("V1", "2026-05-20", "hygiene"),))
    greeted = Records(Patient("P2", "Аалтонен Анна", phone="+79160000002", phone_valid=True,
                              birth_date=D("1990-12-04")), consents=greet("greetings", pid="P2"))
    entries = plan_day([care, greeted], today, Policy())
    assert [(e.patient.patient_id, e.section) for e in entries] == [("P1", "care"), ("P2", "occasions")]
    listed, waiting = within_capacity(entries, today, Policy(capacity=(("sms", 1),)), used={"sms": 1})
    assert [e.patient.patient_id for e in listed] == ["P2"] and [w.entry.patient.patient_id for w in waiting] == ["P1"]


# --- households: greeted together, nobody skipped by oversight ---------------------------------------

def test_a_household_is_greeted_together_and_a_member_without_consent_is_named():
    today = D("2026-12-31")
    policy = Policy(holidays=(NEW_YEAR,))
    husband = person("P1", household="H1")
    wife = Patient("P2", "Иванова Мария Сергеевна", first_name="Мария", middle_name="Сергеевна", phone="+79161234567",
                   phone_valid=True, household_id="H1")
    son = Patient("P3", "Иванов Пётр Иванович", phone="+79160000003", phone_valid=True, household_id="H1")
    both = [Records(husband, consents=greet("greetings", pid="P1"), household=(Member(wife, True), Member(son, False))),
            Records(wife, consents=greet("greetings", pid="P2"), household=(Member(husband, True), Member(son, False)))]
    [entry] = plan_day(both, today, policy)
    assert {entry.patient.patient_id, *(m.patient.patient_id for m in entry.household)} == {"P1", "P2"}
    notes = [str(w) for w in entry.warnings]
    assert notes == ["not greeted: Иванов Пётр Иванович (P3): no consent to greetings - ask at the next visit"]
    # one text for the family's phone, naming nobody, and the holiday once
    text = message(entry, {}, "Улыбка")
    assert "Иван" not in text and "Мари" not in text and text.count("Новый год") == 1
    # the wife alone consented: her entry names the husband, as not greeted
    alone = [Records(wife, consents=greet("greetings", pid="P2"), household=(Member(husband, False),))]
    [entry] = plan_day(alone, today, policy)
    assert [str(w) for w in entry.warnings] == [
        "not greeted: Иванов Иван Петрович (P1): no consent to greetings - ask at the next visit"]


# --- texts that change: never the same one two years running -----------------------------------------

@pytest.mark.parametrize("own", [(), (("birthday", (("5", "{greeting}! A"), ("9", "{greeting}! B"))),)])
def test_a_patient_never_gets_the_same_text_two_years_running(own):
    policy = Policy(occasion_texts=own)
    ids = {"5", "9"} if own else set(OCCASION_TEXTS["birthday"])
    chosen = set()
    for n in range(200):
        pid, contacts = f"P{n}", []
        last = None
        for year in range(2026, 2032):
            today = dt.date(year, 12, 4)
            r = Records(Patient(pid, "X", phone="+79161234567", phone_valid=True, birth_date=D("1980-12-04")),
                        consents=greet("greetings", pid=pid), contacts=tuple(contacts))
            [f] = [f for f in assess(r, today, policy) if f.code == "birthday"]
            tid = f.reason.evidence["text_id"]
            assert tid in ids and tid != last, (pid, year)
            chosen.add(tid)
            contacts.append(Contact(year, pid, dt.datetime(year, 12, 4, 10), "sms", "sent", (("birthday", str(year)),),
                                    texts=(("birthday", tid),)))
            last = tid
    assert chosen == ids  # and the patients do not all get the same one


def test_a_clinic_text_carries_its_template_and_fills_its_placeholders():
    policy = Policy(occasion_texts=(("birthday", (("3", "{greeting}! {clinic}: с днём рождения! Ваш {doctor}"),)),))
    r = Records(person(born=D("1980-12-04"), last_doctor="Смирнова Анна"), consents=greet("greetings"))
    [entry] = plan_day([r], D("2026-12-04"), policy)
    assert message(entry, {}, "Улыбка") == "Hello, Иван Петрович! Улыбка: с днём рождения! Ваш Смирнова Анна"


# --- end to end: the commands, bad input, the memory of the texts sent -------------------------------

@pytest.fixture(scope="module")
def clinic_file(tmp_path_factory):
    """A household of two (one with the greetings consent), a patient thanked after a treatment: built once."""
    def build(where):
        path = where / "occasions.db"
        cli = Cli(path)
        with freeze_time("2026-12-03 10:00:00", tick=True):
            assert cli("--db", path, "import",
                       write_csv(where / "p.csv", ["Номер карты", "ФИО", "Дата рождения", "Телефон", "Код семьи"],
                                 [["A1", "Иванов Иван Петрович", "04.12.1980", "89161234567", "F1"],
                                  ["A2", "Иванова Мария Сергеевна", "10.05.1982", "89161234567", "F1"],
                                  ["A3", "Петрова Анна Ивановна", "11.03.1990", "89167654321", ""]]),
                       write_csv(where / "v.csv", ["Номер визита", "Номер карты", "Врач", "Дата", "Вид"],
                                 [["V1", "A3", "Смирнова Анна", "03.12.2026", "Окончание лечения"],
                                  ["V2", "A1", "Козлов Дмитрий", "01.06.2026", "Лечение"]])).exit_code == 0
            cli("--db", path, "consent", "A1", "-p", "greetings", "-c", "sms")
            cli("--db", path, "consent", "A3", "-p", "thanks", "-c", "sms")
        return path
    return built_once(tmp_path_factory, "occasions-clinic", build)


@pytest.fixture
def clinic(clinic_file, cli, db_path):
    copied(clinic_file, db_path)
    return cli


def test_today_lists_the_occasions_in_their_own_section(clinic):
    with freeze_time("2026-12-04 09:00:00", tick=True):
        assert clinic("occasion", "add", "Новый год", "--on", "12-04").exit_code == 0
        entries = clinic.json("today")
        shown = clinic("today")
    assert [(e["patient_id"], e["section"], [r["code"] for r in e["reasons"]]) for e in entries] == [
        ("A1", "occasions", ["birthday", "holiday"]), ("A3", "occasions", ["thanks"])]
    assert entries[0]["warnings"] == ["not greeted: Иванова Мария Сергеевна (A2): no consent to greetings - ask at the "
                                      "next visit"]
    assert "Thanks and greetings" in shown.output


def test_the_text_sent_is_remembered_and_not_sent_again_next_year(clinic):
    with freeze_time("2026-12-04 09:00:00", tick=True):
        [entry] = [e for e in clinic.json("today") if e["patient_id"] == "A1"]
        first = entry["reasons"][0]["evidence"]["text_id"]
        assert clinic("done", entry["entry_id"], "--outcome", "sent").exit_code == 0
    [(texts,)] = clinic.rows("SELECT texts FROM contacts WHERE patient_id = 'A1'")
    assert json.loads(texts) == [["birthday", first]]
    for year in (2027, 2028):
        with freeze_time(f"{year}-12-04 09:00:00", tick=True):
            [entry] = [e for e in clinic.json("today") if e["patient_id"] == "A1"]
            tid = entry["reasons"][0]["evidence"]["text_id"]
            assert tid != first
            assert clinic("done", entry["entry_id"], "--outcome", "sent").exit_code == 0
            first = tid


@pytest.mark.parametrize("args, words", [
    (["add", "Праздник", "--on", "02-30"], "there is no day '02-30' in the calendar"),
    (["add", "Праздник", "--on", "31/12"], "is not like 12-31"),
    (["add", "Праздник", "--on", "12-31", "--text", "  "], "the text is empty"),
    (["add", "Праздник", "--on", "12-31", "--text", "{greeting}! {discount}"], "unknown placeholder {discount}"),
    (["add", "Праздник", "--on", "12-31", "--sex", "кот"], "unknown sex 'кот'"),
    (["add", "  ", "--on", "12-31"], "a holiday's name is 1-100 characters"),
    (["text", "birthday", ""], "the text is empty"),
    (["text", "Масленица", "{greeting}!"], "no occasion 'Масленица'"),
    (["retire", "99"], "no text #99 in use"),
    (["remove", "birthday"], "thanks, birthdays and discount steps are always kept"),
])
def test_bad_input_is_one_line_and_writes_nothing(clinic, args, words):
    before = clinic.count("occasions"), clinic.count("occasion_texts")
    r = clinic("occasion", *args)
    assert r.exit_code != 0 and words in r.output and len(r.output.strip().splitlines()) == 1, r.output
    assert (clinic.count("occasions"), clinic.count("occasion_texts")) == before


def test_a_holiday_is_added_once_its_texts_kept_and_removed_softly(clinic):
    assert clinic("occasion", "add", "8 Марта", "--on", "08.03", "--sex", "ж", "--text", "{greeting}! С 8 Марта!",
                  "--text", "{greeting}! {occasion}: весны вам!").exit_code == 0
    again = clinic("occasion", "add", "8 марта", "--on", "03-08")
    assert again.exit_code != 0 and "there is already a holiday" in again.output
    assert clinic("occasion", "text", "день рождения", "{greeting}! С днём рождения, {clinic}").exit_code == 0
    listed = {o["name"]: o for o in clinic.json("occasion", "list")}
    assert listed["8 Марта"]["on"] == "03-08" and listed["8 Марта"]["sex"] == "female"
    assert [t["text"] for t in listed["8 Марта"]["texts"]] == ["{greeting}! С 8 Марта!", "{greeting}! {occasion}: весны вам!"]
    assert len(listed["birthday"]["texts"]) == 1 and listed["thanks"]["texts"] == []
    assert clinic("occasion", "retire", str(listed["8 Марта"]["texts"][0]["id"])).exit_code == 0
    assert clinic("occasion", "remove", "8 марта").exit_code == 0
    assert "8 Марта" not in {o["name"] for o in clinic.json("occasion", "list")}
    assert clinic.rows("SELECT count(*) FROM occasions WHERE removed_at IS NOT NULL") == [(1,)]


# --- nobody important forgotten: regulars and big spenders are marked on their occasion's entry --------

@pytest.mark.parametrize("days, amount, policy, marks", [
    (["2026-01-10", "2026-03-01", "2026-06-01", "2026-11-30"], None, Policy(), ["regular patient: 4 visits in 12 months"]),
    (["2025-11-30", "2026-03-01", "2026-06-01", "2026-11-30"], None, Policy(), []),   # one of them 12 months + ago
    (["2026-03-01", "2026-03-01", "2026-06-01", "2026-11-30"], None, Policy(), []),   # visit days, not visits
    ([], 100_000.0, Policy(), ["visits worth 100\u00a0000 ₽ all told"]),
    ([], 99_999.0, Policy(), []),
    ([], 250_000.0, Policy(important_amount=0), []),                                   # 0: nobody is marked
    (["2026-01-10", "2026-03-01"], None, Policy(regular_visits=2, regular_months=24),
     ["regular patient: 2 visits in 24 months"]),
])
def test_regulars_and_big_spenders_are_marked(days, amount, policy, marks):
    r = Records(person(born=D("1980-12-04"), total_amount=amount), consents=greet("greetings"),
                visits=tuple(visit(f"V{i}", d) for i, d in enumerate(days)))
    [entry] = plan_day([r], D("2026-12-04"), policy)
    assert [str(w) for w in entry.warnings] == marks
    # a care contact is not marked (the marks are for the occasions, where nobody must be forgotten)
    care = Records(person(first_seen=D("2020-01-01"), total_amount=amount), visits=r.visits,
                   consents=greet("agreed"), next_contacts=(NextContact(1, "P1", D("2026-12-04"), "как договорились"),))
    [entry] = plan_day([care], D("2026-12-04"), policy)
    assert entry.section == "care" and entry.warnings == ()


# --- letters by post ---------------------------------------------------------------------------------

def test_greetings_by_post_are_letters_printed_one_a_page_then_closed(clinic, tmp_path):
    with freeze_time("2026-12-03 11:00:00", tick=True):
        clinic("import", write_csv(tmp_path / "pa.csv", ["Номер карты", "ФИО", "Дата рождения", "Телефон", "Адрес"],
                                   [["A3", "Петрова Анна Ивановна", "11.03.1990", "89167654321",
                                     "г. Москва, ул. Ленина, д. 1, кв. 2"],
                                    ["A4", "Сидоров Олег Ильич", "01.01.1970", "89160000001", ""]]))
        assert clinic("consent", "A3", "-p", "greetings", "-c", "письмо").exit_code == 0
        assert clinic("consent", "A4", "-p", "greetings", "-c", "post").exit_code == 0
        clinic("config", "set", "clinic.letterhead", "ул. Зубная, 5 <b>")
        clinic("occasion", "add", "День клиники", "--on", "12-04")
    with freeze_time("2026-12-04 09:00:00", tick=True):
        [letter] = [e for e in clinic.json("today") if e["channel"] == "post"]
        assert letter["patient_id"] == "A3" and letter["phone"] == "г. Москва, ул. Ленина, д. 1, кв. 2"
        assert letter["section"] == "occasions" and "День клиники" in letter["message"]
        # no address: no letter, and why says so
        why = {f["rule"]: f for f in clinic.json("why", "A4")}
        assert "no postal address in the export" in why["holiday"]["explanation"]
        out = tmp_path / "letters.html"
        r = clinic("letters", "--out", out)
        assert r.exit_code == 0 and "1 letter to print" in r.output, r.output
        html = out.read_text(encoding="utf-8")
        assert out.stat().st_mode & 0o777 == 0o600 and html.count('class="letter"') == 1
        assert "ул. Зубная, 5 &lt;b&gt;" in html and "Петрова Анна Ивановна" in html and "День клиники" in html
        assert clinic("letters", "--posted").exit_code == 0
        assert [e for e in clinic.json("today") if e["channel"] == "post"] == []
        assert clinic("letters").exit_code != 0  # neither --out nor --posted: one line
    assert clinic.rows("SELECT outcome, channel FROM contacts WHERE patient_id = 'A3' AND channel = 'post'") == [
        ("sent", "post")]
