"""Marketing campaigns end to end on a real database: only to the patients who gave the marketing consent on
the campaign's channel, never more often than the marketing cap, stopped at once by a withdrawal, each
message keeping the consent that allowed it; what a campaign did; bad input."""

import json

import pytest
from freezegun import freeze_time

from conftest import Cli, built_once, copied, write_csv

PATIENTS = [["A1", "Иванов Иван Петрович", "89161234567", "F1", ""],
            ["A2", "Иванова Мария Сергеевна", "89161234568", "F1", ""],
            ["A3", "Петрова Анна Ивановна", "89167654321", "", ""],
            ["A4", "Сидоров Олег Ильич", "89160000001", "", "Рассылка"],
            ["A5", "Орлова Ольга", "89160000005", "", ""]]
VISITS = [["V1", "A3", "01.06.2026", "Лечение"], ["V2", "A3", "01.07.2026", "Лечение"],
          ["V3", "A3", "01.08.2026", "Лечение"], ["V4", "A3", "01.09.2026", "Лечение"],
          ["V5", "A4", "01.09.2026", "Лечение"]]


def at(day: str):
    return freeze_time(f"{day} 10:00:00", tick=True)


@pytest.fixture(scope="module")
def clinic_file(tmp_path_factory):
    """Five patients, four of them with the marketing consent by SMS: built once for the run."""
    def build(where):
        path = where / "campaigns.db"
        cli = Cli(path)
        with at("2026-12-01"):
            assert cli("--db", path, "import",
                       write_csv(where / "p.csv", ["Номер карты", "ФИО", "Телефон", "Код семьи", "Откуда узнали"],
                                 PATIENTS),
                       write_csv(where / "v.csv", ["Номер визита", "Номер карты", "Дата", "Вид"], VISITS)).exit_code == 0
            for pid in ("A1", "A2", "A3", "A4"):
                assert cli("--db", path, "consent", pid, "-p", "marketing", "-c", "sms").exit_code == 0
            cli("--db", path, "consent", "A5", "-p", "all", "-c", "sms")  # the care purposes only: no marketing
        return path
    return built_once(tmp_path_factory, "campaigns-clinic", build)


@pytest.fixture
def clinic(clinic_file, cli, db_path):
    copied(clinic_file, db_path)
    return cli


def listed(cli, day):
    with at(day):
        return [e for e in cli.json("today") if e["section"] == "marketing"]


def test_a_campaign_reaches_only_those_who_asked_and_keeps_the_consent_it_used(clinic):
    with at("2026-12-02"):
        r = clinic("campaign", "add", "Гигиена", "--text", "{greeting}! Гигиена со скидкой 10% до конца года. {clinic}",
                   "--channel", "смс", "--from", "2026-12-03", "--to", "2026-12-20")
        assert r.exit_code == 0 and "reaches 4" in r.output, r.output
    entries = listed(clinic, "2026-12-03")
    # A1 and A2 have phones of their own; A5 never gave the marketing consent
    assert sorted(e["patient_id"] for e in entries) == ["A1", "A2", "A3", "A4"]
    assert all(e["channel"] == "sms" and "скидкой 10%" in e["message"] for e in entries)
    a3 = next(e for e in entries if e["patient_id"] == "A3")
    with at("2026-12-03"):
        # a withdrawal stops it at once: A4's message is gone from the day's list
        assert clinic("consent", "A4", "-p", "marketing", "-c", "sms", "--withdraw").exit_code == 0
        assert "A4" not in [e["patient_id"] for e in clinic.json("today")]
        assert clinic("done", a3["entry_id"], "--outcome", "sent").exit_code == 0
    [(consent_id, reasons)] = clinic.rows("SELECT consent_id, reasons FROM contacts WHERE patient_id = 'A3'")
    [(purpose, channel, granted)] = clinic.rows("SELECT purpose, channel, granted FROM consents WHERE id = ?",
                                                (consent_id,))
    assert (purpose, channel, granted) == ("marketing", "sms", 1) and json.loads(reasons) == [["campaign", "1"]]
    # once sent, never again; the others stay on the list while the campaign runs
    assert sorted(e["patient_id"] for e in listed(clinic, "2026-12-04")) == ["A1", "A2"]
    assert listed(clinic, "2026-12-21") == []


def test_the_marketing_cap_and_a_message_of_its_own(clinic):
    with at("2026-12-02"):
        clinic("campaign", "add", "Первая", "--text", "{greeting}! Первая", "--channel", "sms")
        clinic("campaign", "add", "Вторая", "--text", "{greeting}! Вторая", "--channel", "sms", "--audience",
               "regulars")
    with at("2026-12-03"):
        first = {e["patient_id"]: e for e in clinic.json("today")}
        assert [r["code"] for r in first["A3"]["reasons"]] == ["campaign", "campaign"]  # both, one message
        clinic("done", first["A3"]["entry_id"], "--outcome", "sent")
        shown = clinic.json("campaign", "show", "Вторая")
    # A3 is the regular one (4 visit days in 12 months); within 30 days of a marketing message, no other
    assert [w["patient_id"] for w in shown["would_get"]] == []
    with at("2026-12-10"):
        clinic("campaign", "add", "Третья", "--text", "{greeting}! Третья", "--channel", "sms")
        why = {f["rule"]: f for f in clinic.json("why", "A3")}
    assert why["campaign"]["excluded_by"] == "marketing_cap"
    assert "marketing cap until 2027-01-02" in why["campaign"]["explanation"]


def test_a_campaign_message_goes_alone(clinic):
    with at("2026-12-02"):
        clinic("consent", "A3", "-p", "greetings", "-c", "sms")
        clinic("occasion", "add", "День клиники", "--on", "12-03")
        clinic("campaign", "add", "Весна", "--text", "{greeting}! Весна", "--channel", "sms")
    with at("2026-12-03"):
        [a3] = [e for e in clinic.json("today") if e["patient_id"] == "A3"]
    assert [r["code"] for r in a3["reasons"]] == ["holiday"]  # the campaign waits for a day of its own
    assert "A3" in [e["patient_id"] for e in listed(clinic, "2026-12-04")]


def test_show_list_and_stop(clinic, tmp_path):
    with at("2026-12-02"):
        clinic("campaign", "add", "Семьи", "--text", "{greeting}! Скидка семьям", "--channel", "sms", "--audience",
               "families")
        shown = clinic.json("campaign", "show", "Семьи")
    assert sorted(w["patient_id"] for w in shown["would_get"]) == ["A1", "A2"]
    assert shown["outside_audience"] == 2 and shown["no_consent"] == 1
    with at("2026-12-03"):
        for e in listed(clinic, "2026-12-03"):
            clinic("done", e["entry_id"], "--outcome", "sent")
    with at("2026-12-20"):  # A1 came back within 60 days; A2 named the mailing
        clinic("import", write_csv(tmp_path / "v2.csv", ["Номер визита", "Номер карты", "Дата", "Вид"],
                                   VISITS + [["V9", "A1", "15.12.2026", "Гигиена"]]))
        clinic("patient", "source", "A2", "рассылка")
        [row] = clinic.json("campaign", "list")
    assert (row["reached"], row["came_within_60_days"], row["named_mailing"]) == (2, 1, 1)
    with at("2026-12-20"):
        [reported] = clinic.json("report", "clinic")["campaigns"]
    assert (reported["name"], reported["reached"], reported["came_within_60_days"], reported["named_mailing"]) == (
        "Семьи", 2, 1, 1)
    with at("2026-12-20"):
        clinic("campaign", "add", "Ещё", "--text", "{greeting}! Ещё", "--channel", "sms")
        assert clinic("campaign", "stop", "Ещё").exit_code == 0
        assert [e for e in clinic.json("today") if e["section"] == "marketing"] == []


@pytest.mark.parametrize("args, words", [
    (["--text", " ", "--channel", "sms"], "the text is empty"),
    (["--text", "{greeting}! {price}", "--channel", "sms"], "unknown placeholder {price}"),
    (["--text", "Скидка", "--channel", "call"], "a campaign goes out by sms, email or messenger, not 'call'"),
    (["--text", "Скидка", "--channel", "sms", "--audience", "vip"], "unknown audience 'vip'"),
    (["--text", "Скидка", "--channel", "sms", "--from", "2026-12-10", "--to", "2026-12-05"], "ends (2026-12-05) before"),
    (["--text", "Скидка", "--channel", "sms", "--from", "2026-11-20", "--to", "2026-11-30"], "before today"),
    (["--text", "Скидка", "--channel", "sms", "--from", "2026-02-30"], "2026-02-30"),
    # nobody gave the marketing consent by e-mail: nothing written
    (["--text", "Скидка", "--channel", "email"], "the campaign would reach nobody; nothing written"),
])
def test_bad_input_is_one_line_and_writes_nothing(clinic, args, words):
    with at("2026-12-02"):
        r = clinic("campaign", "add", "Акция", *args)
    assert r.exit_code != 0 and words in r.output and len(r.output.strip().splitlines()) == 1, r.output
    assert clinic.count("campaigns") == 0


def test_a_campaign_name_is_used_once(clinic):
    with at("2026-12-02"):
        assert clinic("campaign", "add", "Акция", "--text", "{greeting}!", "--channel", "sms").exit_code == 0
        again = clinic("campaign", "add", "акция", "--text", "{greeting}!", "--channel", "sms")
    assert again.exit_code != 0 and "there is already a campaign" in again.output
    assert clinic.count("campaigns") == 1


# --- the discount-threshold notice -------------------------------------------------------------------

import datetime as dt  # noqa: E402

from followup.records import Consent, Contact, Patient, Policy, Records  # noqa: E402
from followup.rules import assess  # noqa: E402

STEPS = Policy(discount_steps=((50_000, 5), (100_000, 10)))


def _finding(total, contacts=(), consents=None, policy=STEPS):
    consents = consents if consents is not None else (
        Consent("P1", "marketing", "sms", True, dt.datetime(2026, 1, 1), "admin", id=7),)
    r = Records(Patient("P1", "Иванов Иван", phone="+79161234567", phone_valid=True, total_amount=total),
                consents=consents, contacts=contacts)
    return next(f for f in assess(r, dt.date(2026, 12, 3), policy) if f.code == "discount_step")


@pytest.mark.parametrize("total, status, ref, percent", [
    (None, "none", None, None), (49_999.0, "none", None, None), (50_000.0, "due", "50000", 5),
    (99_999.0, "due", "50000", 5), (150_000.0, "due", "100000", 10),   # the highest step passed, once
])
def test_a_discount_step_passed_is_told_once(total, status, ref, percent):
    f = _finding(total)
    assert f.status == status
    if ref:
        assert (f.reason.ref, f.reason.evidence["percent"], f.reason.evidence["consent_id"]) == (ref, percent,
                                                                                                {"sms": 7})


def test_a_discount_step_told_is_not_told_again_and_needs_the_marketing_consent():
    told = Contact(1, "P1", dt.datetime(2026, 10, 1, 10), "sms", "sent", (("discount_step", "50000"),))
    assert _finding(60_000.0, (told,)).excluded_by == "settled"
    assert _finding(120_000.0, (told,)).status == "due"  # the next step is news
    assert _finding(60_000.0, consents=()).excluded_by == "no_consent"
    assert _finding(60_000.0, policy=Policy()).status == "none"  # no steps set: nothing to tell


@pytest.mark.parametrize("value, words", [("50000:5, 40000:10", "each step's amount and discount above"),
                                          ("50000", "takes steps like 50000:5"), ("50000:0", "takes steps like")])
def test_discount_steps_are_checked(clinic, value, words):
    r = clinic("config", "set", "discount.steps", value)
    assert r.exit_code != 0 and words in r.output and len(r.output.strip().splitlines()) == 1
    assert clinic("config", "set", "discount.steps", "50 000:5; 100000:10").exit_code == 0
    assert ("discount.steps", "50000:5, 100000:10") in clinic.rows("SELECT key, value FROM settings")
