""""What brought you": the source an export gives, the desk's answer (never overwritten by an import), the
clinic's own words, the clinic report's new patients by source; and what each visit cost."""

import pytest
from freezegun import freeze_time

from conftest import write_csv
from followup.importing.values import parse_amount, source_code


@pytest.fixture(autouse=True)
def clock():
    with freeze_time("2026-12-03 10:00:00", tick=True):
        yield


PATIENTS = [["A1", "Иванов Иван Петрович", "Проходил мимо", ""],
            ["A2", "Иванова Мария Сергеевна", "", "Иванов И.П."],
            ["A3", "Петрова Анна", "Газета «Район»", ""],
            ["A4", "Сидоров Олег", "По рекомендации Смирновой", ""],
            ["A5", "Орлова Ольга", "", ""]]
VISITS = [["V1", "A1", "03.02.2026", "Консультация", "1 500 руб."], ["V2", "A1", "10.03.2026", "Лечение", "12 345,50"],
          ["V3", "A2", "05.02.2026", "Консультация", ""], ["V4", "A3", "06.05.2026", "Консультация", "900"],
          ["V5", "A4", "07.05.2026", "Консультация", "1.234,50"], ["V6", "A4", "07.06.2026", "Гигиена", "4000"],
          ["V7", "A5", "08.05.2026", "Консультация", ""]]


@pytest.fixture
def clinic(cli, tmp_path):
    r = cli("import", write_csv(tmp_path / "p.csv", ["Номер карты", "ФИО", "Откуда узнали", "По рекомендации"], PATIENTS),
            write_csv(tmp_path / "v.csv", ["Номер визита", "Номер карты", "Дата", "Вид", "Сумма"], VISITS))
    assert r.exit_code == 0, r.output
    return cli


def test_the_export_says_what_brought_each_patient(clinic):
    got = {r[0]: r[1:] for r in clinic.rows("SELECT patient_id, source, source_detail FROM patients")}
    assert got == {"A1": ("passing_by", None), "A2": ("recommendation", "Иванов И.П."),
                   "A3": ("other", "Газета «Район»"), "A4": ("recommendation", None), "A5": (None, None)}
    amounts = dict(clinic.rows("SELECT visit_id, amount FROM visits"))
    assert amounts == {"V1": 1500.0, "V2": 12345.5, "V3": None, "V4": 900.0, "V5": 1234.5, "V6": 4000.0, "V7": None}


def test_the_desks_answer_wins_and_no_import_overwrites_it(clinic, tmp_path):
    assert clinic("source", "add", "Газета Район").exit_code == 0
    r = clinic("patient", "source", "A3", "газета район", "--by", "olga")
    assert r.exit_code == 0 and "газета район" in r.output
    assert clinic("patient", "source", "A5", "по рекомендации", "--detail", "Петрова А.").exit_code == 0
    # the next night's export says otherwise: the desk's answers stay
    changed = [row[:2] + ["Реклама", ""] for row in PATIENTS]
    assert clinic("import", write_csv(tmp_path / "p2.csv", ["Номер карты", "ФИО", "Откуда узнали", "По рекомендации"],
                                      changed)).exit_code == 0
    shown = {pid: clinic.json("patient", "show", pid)["source"] for pid in ("A1", "A3", "A5")}
    assert shown["A1"] == {"source": "advert", "detail": None, "recorded_by": None, "recorded_at": None,
                           "from": "import"}
    assert (shown["A3"]["source"], shown["A3"]["from"], shown["A3"]["recorded_by"]) == ("газета район", "desk", "olga")
    assert (shown["A5"]["source"], shown["A5"]["detail"]) == ("recommendation", "Петрова А.")
    assert clinic.count("patient_sources") == 2


def test_the_clinic_report_counts_new_patients_by_source_and_their_return(clinic):
    clinic("patient", "source", "A5", "карта")
    rows = {(r["source"], r["quarter"]): (r["first_time"], r["returned"]) for r in
            clinic.json("report", "clinic", "--year", "2026")["sources"]}
    # A1 came back (10.03), A4 came back (07.06); A2, A3, A5 not (yet)
    assert rows == {("passing_by", "2026-Q1"): (1, 1), ("recommendation", "2026-Q1"): (1, 0),
                    ("other", "2026-Q2"): (1, 0), ("recommendation", "2026-Q2"): (1, 1), ("map", "2026-Q2"): (1, 0)}
    # the whole first-time count is the conversion's, whatever the grouping
    conversion = clinic.json("report", "clinic", "--year", "2026")["conversion"]
    assert sum(r["first_time"] for r in conversion) == sum(n for n, _ in rows.values()) == 5


@pytest.mark.parametrize("args, words", [
    (["patient", "source", "A1", "телепатия"], "unknown source 'телепатия'"),
    (["patient", "source", "NOPE", "карта"], "no patient with card number 'NOPE'"),
    (["patient", "source", "A1", "карта", "--detail", "x" * 201], "--detail is at most 200 characters"),
    (["source", "add", "Карта"], "source 'карта' is already known"),
    (["source", "add", "  "], "a source is 1-40 characters"),
])
def test_bad_input_is_one_line_and_writes_nothing(clinic, args, words):
    before = clinic.count("patient_sources"), clinic.count("sources")
    r = clinic(*args)
    assert r.exit_code != 0 and words in r.output and len(r.output.strip().splitlines()) == 1, r.output
    assert (clinic.count("patient_sources"), clinic.count("sources")) == before


def test_an_amount_that_is_not_one_rejects_its_row(cli, tmp_path):
    cli("import", write_csv(tmp_path / "p.csv", ["Номер карты", "ФИО"], [["A1", "Иванов Иван"]]))
    r = cli("import", write_csv(tmp_path / "v.csv", ["Номер визита", "Номер карты", "Дата", "Сумма"],
                                [["V1", "A1", "03.02.2026", "бесплатно"]]))
    assert r.exit_code != 0 and "not an amount of money" in r.output
    assert cli.count("visits") == 0


@pytest.mark.parametrize("text, amount", [("12 345,50", 12345.5), ("12345.5", 12345.5), ("3 500 руб.", 3500.0),
                                          ("1.234,50", 1234.5), ("1,234.50", 1234.5), ("12 345 ₽", 12345.0),
                                          ("abc", None), ("12,5,3", None), ("", None)])
def test_amounts_as_clinics_write_them(text, amount):
    assert parse_amount(text) == amount


@pytest.mark.parametrize("said, code", [("По рекомендации Ивановой", "recommendation"), ("Проходила мимо", "passing_by"),
                                        ("Яндекс", "search"), ("2ГИС", "map"), ("ДМС", "insurance"),
                                        ("mailing", "mailing"), ("Рассылка", "mailing"), ("что-то ещё", None)])
def test_sources_as_patients_say_them(said, code):
    assert source_code(said) == code
