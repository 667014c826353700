"""JSON is a contract, the same in every language: every `--format json` output of a clinic in use,
asked in English and in Russian, is identical apart from the fields documented as sentences (the
README's "JSON in every language")."""

import json

import pytest

from conftest import copied, write_csv

# field -> why it may differ: a sentence for a person, in the reader's language
SENTENCES = {
    "text",          # today: each reason's sentence (its code, ref and evidence are the contract)
    "warnings",      # today: warnings about the patient
    "explanation",   # why, flagged: why a rule fires or not
}


def without_sentences(value):
    if isinstance(value, dict):
        return {k: without_sentences(v) for k, v in value.items() if k not in SENTENCES}
    if isinstance(value, list):
        return [without_sentences(v) for v in value]
    return value


@pytest.fixture(scope="module")
def clinic(tmp_path_factory):
    """A demo clinic (its language English), with a complaint, a survey and a withdrawal recorded."""
    from conftest import Cli

    where = tmp_path_factory.mktemp("clinic")
    cli = Cli(where / "demo.db")
    assert cli("demo", "--dir", where, "--patients", "400").exit_code == 0
    path = where / "demo.db"
    listed = cli.json("--db", path, "today")
    someone = listed[0]["patient_id"]
    assert cli("--db", path, "complaint", "add", someone, "--text", "Долго ждал").exit_code == 0
    assert cli("--db", path, "consent", someone, "--purpose", "marketing", "--channel", "sms",
               "--withdraw").exit_code == 0
    # an import run from a Russian desk, with a rejected row: its record must not be in Russian
    rows = [[f"R{n:04d}", f"Пациент{n} Тест", "01.01.1980"] for n in range(40)] + [["R9999", "Тест Тест", "31.02.1980"]]
    bad = write_csv(where / "more.csv", ["Номер карты", "ФИО", "Дата рождения"], rows)
    assert cli("--db", path, "--lang", "ru", "import", bad).exit_code == 3
    return cli, path, someone


COMMANDS = [["today"], ["today", "--channel", "sms"], ["why", "{p}"], ["flagged"], ["log", "{p}"],
            ["consent", "show", "{p}"], ["report"], ["report", "clinic"], ["patient", "show", "{p}"],
            ["patient", "find", "{p}"], ["db", "info"], ["import", "--history"], ["complaint", "list"], ["themes"]]


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a))
def test_json_is_the_same_in_english_and_russian(clinic, args):
    cli, path, someone = clinic
    args = [a.format(p=someone) for a in args]
    english = cli.json("--db", path, "--lang", "en", *args)
    russian = cli.json("--db", path, "--lang", "ru", *args)
    assert without_sentences(russian) == without_sentences(english)
    if args[0] in ("today", "why"):  # the sentences are there, each in its language
        assert json.dumps(russian, ensure_ascii=False) != json.dumps(english, ensure_ascii=False)


def test_settings_list_differs_only_in_default_texts(clinic):
    """`config list`: a text setting left at its default is shown in the reader's language (the clinic's
    name, survey questions, SMS templates); every key, number and stored value is the same."""
    cli, path, _ = clinic
    english = {r["key"]: r for r in cli.json("--db", path, "--lang", "en", "config", "list")}
    russian = {r["key"]: r for r in cli.json("--db", path, "--lang", "ru", "config", "list")}
    assert list(english) == list(russian)
    differ = {k for k in english if english[k] != russian[k]}
    assert differ and all(english[k]["default"] and (k == "clinic_name" or k.startswith(("survey.question.",
                                                                                         "template.")))
                          for k in differ)


def test_an_import_record_says_its_reasons_in_english_in_json_whoever_imported(clinic):
    """The run above was made from a Russian desk: its JSON record is in English for everybody."""
    cli, path, _ = clinic
    for lang in ("en", "ru"):
        run = cli.json("--db", path, "--lang", lang, "import", "--history")[0]
        assert run["files"][0]["rejects"] == [{"line": 42, "column": "Дата рождения", "reason": "impossible date"}]


@pytest.mark.parametrize("args, sheet", [(["report", "clinic"], "conversion"), (["today"], None),
                                         (["report", "--doctor", "Смирнова"], "waves"), (["complaint", "list"], None)])
def test_every_list_and_report_opens_in_excel(clinic, args, sheet):
    """--format xlsx: the JSON contract as a workbook, real numbers, dates and percentages."""
    import io

    from openpyxl import load_workbook

    cli, path, _ = clinic
    result = cli("--db", path, "--lang", "ru", *args, "--format", "xlsx")
    assert result.exit_code == 0, result.stderr
    book = load_workbook(io.BytesIO(result.stdout_bytes))
    ws = book[sheet] if sheet else book.worksheets[0]
    header = [c.value for c in ws[1]]
    rows = [[c for c in row] for row in ws.iter_rows(min_row=2)]
    assert header and rows
    if sheet == "conversion":
        cells = dict(zip(header, rows[0]))
        assert isinstance(cells["first_time"].value, int) and isinstance(cells["conversion"].value, float)
        assert cells["conversion"].number_format == "0.0%"
    if sheet == "waves":
        import datetime as dt

        cells = dict(zip(header, rows[0]))
        assert isinstance(cells["from"].value, dt.datetime) and isinstance(cells["mean_score"].value, float)
    if args == ["complaint", "list"]:
        cells = dict(zip(header, rows[0]))
        assert cells["text"].value == "Долго ждал" and cells["overdue"].value is False


def test_a_clinic_with_a_russian_excel_chooses_semicolons(clinic, tmp_path):
    """`config set csv.delimiter ";"`: every CSV comes separated as a Russian Excel reads it."""
    cli, path, _ = clinic
    copy = copied(path, tmp_path / "copy.db")
    assert cli("--db", copy, "config", "set", "csv.delimiter", "|").exit_code == 2
    assert cli("--db", copy, "config", "set", "csv.delimiter", ";").exit_code == 0
    out = cli("--db", copy, "complaint", "list", "--format", "csv").stdout
    assert out.splitlines()[0].lstrip("\ufeff") == "id;state;opened_at;patient_id;patient;doctor;text;action"
    assert cli("--db", path, "complaint", "list", "--format", "csv").stdout.lstrip("\ufeff").startswith("id,")


def test_the_russian_interface_takes_russian_words(clinic, tmp_path):
    cli, path, someone = clinic
    copy = copied(path, tmp_path / "copy.db")
    r = cli("--db", copy, "--lang", "ru", "consent", someone, "--purpose", "Напоминание,гигиена", "--channel", "смс",
            "--days", "пн-пт", "--how", "лично")
    assert r.exit_code == 0, r.stderr
    state = {(c["purpose"], c["channel"]): c for c in cli.json("--db", copy, "consent", "show", someone)["current"]}
    assert state[("reminder", "sms")]["days"] == "mon,tue,wed,thu,fri" and state[("recall", "sms")]["granted"]
    assert cli("--db", copy, "--lang", "ru", "today", "--channel", "СМС").exit_code == 0
    wrong = cli("--db", copy, "--lang", "ru", "consent", someone, "--purpose", "голубиная почта", "--channel", "смс")
    assert wrong.exit_code == 2 and wrong.stderr.startswith("Ошибка: ")
