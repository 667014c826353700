"""Complaints: recorded, flagged overdue, resolved, the patient informed; a warning on the call list."""

import datetime as dt

import pytest

from conftest import write_csv
from followup.records import Complaint, Policy
from followup.rules import complaint_overdue

TODAY = dt.date.today().isoformat()


@pytest.fixture
def clinic(cli, tmp_path):
    p = write_csv(tmp_path / "p.csv", ["Номер карты", "ФИО", "Телефон"],
                  [["P1", "Иванов Иван Иванович", "89161234567"]])
    v = write_csv(tmp_path / "v.csv", ["Номер визита", "Номер карты", "Врач", "Дата визита", "Вид приёма"],
                  [["V1", "P1", "Смирнова Анна Петровна", "20.05.2026", "Профгигиена"],
                   ["V2", "P1", "Козлов Дмитрий Игоревич", "21.05.2026", "Лечение"]])
    assert cli("import", p, v).exit_code == 0
    return cli


def test_complaint_lifecycle(clinic):
    r = clinic("complaint", "add", "P1", "--text", "Долго ждал в коридоре", "--doctor", "смирнова")
    assert r.exit_code == 0 and "Complaint #1 opened" in r.stdout
    [c] = clinic.json("complaint", "list", "--open")
    assert c["doctor"] == "Смирнова Анна Петровна" and c["state"] == "open" and c["overdue"] is False
    later = (dt.date.today() + dt.timedelta(days=4)).isoformat()
    assert clinic.json("complaint", "list", "--date", later)[0]["overdue"] is True
    assert clinic("complaint", "informed", "1").exit_code == 1  # not resolved yet: a state, not a wrong option
    assert clinic("complaint", "resolve", "1", "--action", "Изменили расписание").exit_code == 0
    assert clinic.json("complaint", "list", "--open") == []
    again = clinic("complaint", "resolve", "1", "--action", "x")
    assert again.exit_code != 0 and "already resolved" in again.stderr
    assert clinic("complaint", "informed", "1").exit_code == 0
    assert clinic.json("complaint", "list")[0]["state"] == "informed"
    assert clinic("complaint", "informed", "1").exit_code != 0
    # what staff type is shown as typed, brackets and all (not read as rich's markup)
    clinic("complaint", "add", "P1", "--text", "[red]Больно[/red] [b]")
    assert "[red]Больно[/red] [b]" in clinic("complaint", "list").stdout


def test_open_complaint_is_a_warning_on_the_call_list(clinic, tmp_path):
    from dateutil.relativedelta import relativedelta

    hygiene = dt.date.today() - relativedelta(months=6, days=10)  # the recall is due today, whenever today is
    clinic("import", write_csv(tmp_path / "v2.csv", ["Номер визита", "Номер карты", "Врач", "Дата визита",
                                                     "Вид приёма"],
                               [["V9", "P1", "Смирнова Анна Петровна", hygiene.strftime("%d.%m.%Y"), "Профгигиена"]]))
    clinic("consent", "P1", "--purpose", "recall", "--channel", "call")
    clinic("complaint", "add", "P1", "--text", "Больно", "--doctor", "Козлов")
    [entry] = clinic.json("today", "--date", TODAY)
    assert entry["reasons"][0]["code"] == "hygiene_recall"
    assert any(w.startswith("open complaint #1 about Козлов Дмитрий Игоревич") for w in entry["warnings"])
    clinic("complaint", "resolve", "1", "--action", "Переделали пломбу")
    [entry] = clinic.json("today", "--date", TODAY)
    assert not any("complaint" in w for w in entry["warnings"])


@pytest.mark.parametrize("args, needle", [
    (["complaint", "add", "NOPE", "--text", "x"], "no patient"),
    (["complaint", "add", "P1", "--text", "x", "--doctor", "Смирнов Анна"], "did you mean 'Смирнова Анна Петровна'"),
    (["complaint", "add", "P1", "--text", "  "], "--text"),
    (["complaint", "resolve", "9", "--action", "x"], "no complaint #9"),
])
def test_bad_complaint_input(clinic, args, needle):
    r = clinic(*args)
    assert r.exit_code != 0 and needle in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert clinic.count("complaints") == 0


@pytest.mark.parametrize("opened, resolved, today, overdue", [
    ("2026-11-20", None, "2026-11-23", False),   # 3 days: not yet
    ("2026-11-19", None, "2026-11-23", True),    # 4 days
    ("2026-11-01", "2026-11-02", "2026-11-23", False),
])
def test_overdue_rule(opened, resolved, today, overdue):
    c = Complaint(1, "P1", None, dt.date.fromisoformat(opened), dt.date.fromisoformat(resolved) if resolved else None)
    assert complaint_overdue(c, dt.date.fromisoformat(today), Policy()) is overdue


# --- surveys ------------------------------------------------------------------------------------

@pytest.fixture
def treated(cli, tmp_path):
    end = dt.date.today() - dt.timedelta(days=8)
    p = write_csv(tmp_path / "p.csv", ["Номер карты", "ФИО", "Телефон"],
                  [["S1", "Пациент Первый", "89161234501"], ["S2", "Пациент Второй", "89161234502"]])
    v = write_csv(tmp_path / "v.csv", ["Номер визита", "Номер карты", "Врач", "Дата визита", "Вид приёма"],
                  [["T1", "S1", "Козлов Дмитрий Игоревич", (end - dt.timedelta(days=20)).strftime("%d.%m.%Y"),
                    "Лечение"],
                   ["T2", "S1", "Морозов Артём Викторович", (end - dt.timedelta(days=10)).strftime("%d.%m.%Y"),
                    "Лечение"],
                   ["T3", "S1", "Козлов Дмитрий Игоревич", end.strftime("%d.%m.%Y"), "Окончание лечения"]])
    assert cli("import", p, v).exit_code == 0
    return cli


def test_survey_counts_for_every_doctor_of_the_treatment_and_closes_the_call(treated):
    cli = treated
    cli("consent", "S1", "--purpose", "survey", "--channel", "call")
    [entry] = cli.json("today", "--date", TODAY)
    assert entry["reasons"][0]["code"] == "survey_call"
    r = cli("survey", entry["entry_id"], "--score", "9", "--recommend", "10", "--expectations", "yes",
            "--comment", "Всё понравилось", "--date", TODAY)
    assert r.exit_code == 0, r.output
    assert "Козлов Дмитрий Игоревич" in r.stdout and "Морозов Артём Викторович" in r.stdout
    assert cli.rows("SELECT doctor FROM survey_doctors ORDER BY doctor") == [("Козлов Дмитрий Игоревич",),
                                                                          ("Морозов Артём Викторович",)]
    assert cli.json("today", "--date", TODAY) == []
    again = cli("survey", "S1", "--score", "9")
    # T3 is surveyed already: refused, naming the correction (never an older treatment instead)
    assert again.exit_code == 1 and "already recorded" in again.stderr and "--correct" in again.stderr
    reports = {r["doctor"]: r for r in cli.json("report")}
    assert reports["Козлов Дмитрий Игоревич"]["status"] == "collecting"
    assert reports["Козлов Дмитрий Игоревич"]["current_wave"] == {"responses": 1, "of": 20}
    one = cli.json("report", "--doctor", "Морозов")
    assert one["doctor"] == "Морозов Артём Викторович" and one["responses"] == 1 and "mean_score" not in one
    # the same entry id, once its call is closed, corrects the answers: kept, replaced, counted once
    fixed = cli("survey", entry["entry_id"], "--correct", "--score", "3", "--recommend", "4", "--expectations", "no",
                "--date", TODAY)
    assert fixed.exit_code == 0, fixed.output
    assert cli.rows("SELECT score, superseded_by IS NOT NULL FROM surveys ORDER BY id") == [(9, 1), (3, 0)]
    assert cli.json("report", "--doctor", "Морозов")["responses"] == 1


def test_declined_survey_closes_the_reason_and_low_score_warns(treated):
    cli = treated
    cli("consent", "S1", "--purpose", "survey", "--channel", "call")
    r = cli("--lang", "ru", "survey", "S1", "--decline", "--date", TODAY)
    # no patronymic, no gender to agree with: the sentence stays neutral
    assert r.exit_code == 0 and "S1 — отказ от опроса" in r.stdout
    assert cli.json("today", "--date", TODAY) == []
    r = cli("survey", "S2", "--score", "4", "--doctor", "Козлов", "--comment", "Больно", "--complaint")
    assert r.exit_code == 0 and "Complaint #1 opened" in r.stdout
    assert cli.rows("SELECT status, score FROM surveys ORDER BY id") == [("declined", None), ("answered", 4)]


@pytest.mark.parametrize("args, needle", [
    (["survey", "S1", "--score", "11"], "from 1 to 10"),
    (["survey", "S1", "--score", "9", "--recommend", "12"], "from 0 to 10"),
    (["survey", "S1", "--score", "9", "--expectations", "maybe"], "yes, partly or no"),
    (["survey", "S2", "--score", "9"], "no finished treatment"),
    (["survey", "S2", "--score", "9", "--doctor", "Козлова"], "did you mean"),
    (["survey", "NOPE", "--score", "9"], "no patient or entry"),
    (["survey", "S1"], "give the answers"),
])
def test_bad_survey_input(treated, args, needle):
    r = treated(*args)
    assert r.exit_code != 0 and needle in r.stderr, r.stderr
    assert treated.count("surveys") == 0


def test_interactive_survey_reads_the_script_and_checks_each_answer(treated):
    cli = treated
    # agree; a score of 12 is refused and asked again; then 8, 10, partly, a comment; confirm
    r = cli("survey", "S1", "--ask", "--by", "Анна", input="y\n12\n8\n10\npartly\nДолго ждал\ny\nn\n")
    assert r.exit_code == 0, r.output
    assert "As agreed after your treatment" in r.stdout and "From 1 to 10, please." in r.stdout
    assert cli.rows("SELECT score, recommend, expectations, comment, questions FROM surveys") == [
        (8, 10, "partly", "Долго ждал", "v1")]
    assert "open a complaint now?" in r.stdout and cli.count("complaints") == 0  # "Долго ждал": asked, declined


def test_interactive_survey_opens_the_complaint_then_and_there(treated):
    cli = treated
    cli("config", "set", "user.anna.name", "Анна Петровна")
    r = cli("survey", "S1", "--ask", "--by", "anna", input="y\n3\n2\nno\n\ny\ny\nБолело после пломбы\n")
    assert r.exit_code == 0, r.output
    assert "this is Анна Петровна from" in r.stdout and "():" not in r.stdout  # no empty default shown
    [(survey_id,)] = cli.rows("SELECT id FROM surveys")
    assert cli.rows("SELECT text, survey_id, opened_by FROM complaints") == [("Болело после пломбы", survey_id, "anna")]


def test_an_interrupted_survey_says_nothing_was_recorded(treated):
    r = treated("survey", "S1", "--ask", input="y\n8\n")  # the input ends: as Ctrl-C at the next question
    assert r.exit_code == 130 and "nothing was recorded" in r.stderr
    assert treated.count("surveys") == 0


def test_interactive_survey_declined(treated):
    r = treated("survey", "S1", "--ask", input="n\n")
    assert r.exit_code == 0 and "declined" in r.stdout
    assert treated.rows("SELECT status FROM surveys") == [("declined",)]


def test_themes_commands_and_the_doctor_report(treated, tmp_path):
    cli = treated
    # 20 answered surveys for Козлов, each about its own treatment
    rows = [[f"Q{n}", f"Пациент {n}", f"8916555{n:04d}"] for n in range(20)]
    visits = [[f"E{n}", f"Q{n}", "Козлов Дмитрий Игоревич", "01.10.2026", "Окончание лечения"] for n in range(20)]
    cli("import", write_csv(tmp_path / "q.csv", ["Номер карты", "ФИО", "Телефон"], rows))
    cli("import", write_csv(tmp_path / "e.csv", ["Номер визита", "Номер карты", "Врач", "Дата визита", "Вид приёма"],
                            visits))
    comments = ["Хотелось бы запись онлайн", "Долго ждал"] + [""] * 18
    for n in range(20):
        args = ["survey", f"Q{n}", "--score", "9", "--recommend", "10", "--expectations", "yes"]
        assert cli(*args, *(["--comment", comments[n]] if comments[n] else [])).exit_code == 0
    assert [r["comment"] for r in cli.json("themes")] == ["Хотелось бы запись онлайн"]
    assert cli("themes", "add", "online booking", "--keywords", "онлайн").exit_code == 0
    assert cli.json("themes") == []
    cli("complaint", "add", "Q1", "--text", "Долго ждал", "--doctor", "Козлов")
    report = cli.json("report", "--doctor", "Козлов")
    assert report["status"] == "repeat" and report["responses"] == 20 and report["mean_score"] == 9.0
    assert {t["theme"] for t in report["themes"]} == {"online booking", "waiting time"}
    assert report["complaints"] == {"open": 1, "overdue": 0, "resolved": 0}
    cli("config", "set", "report.positive_mean", "9.5")
    assert cli.json("report", "--doctor", "Козлов")["waves"][0]["positive"] is False
    surveys = cli.rows("SELECT id FROM surveys WHERE comment = 'Долго ждал'")
    assert cli("themes", "assign", str(surveys[0][0]), "service").exit_code == 0
    report = cli.json("report", "--doctor", "Козлов")
    assert "service" in {t["theme"] for t in report["themes"]}


def test_clinic_report_end_to_end(treated):
    cli = treated
    cli("consent", "S1", "--purpose", "survey", "--channel", "call")
    cli("complaint", "add", "S2", "--text", "x")
    data = cli.json("report", "clinic")
    assert set(data) == {"year", "conversion", "sources", "dead_souls", "campaigns", "funnel", "consent_coverage", "complaints"}
    assert data["complaints"]["opened"] == 1
    assert {r["purpose"]: r["patients"] for r in data["consent_coverage"]}["survey"] == 1
    assert [s["patient_id"] for s in data["dead_souls"]] == ["S2"]  # no visit at all
    csv_out = cli("report", "clinic", "--format", "csv").stdout.splitlines()
    assert csv_out == ["\ufeffpatient_id,last_visit", "S2,"]  # a BOM, so that Excel shows Cyrillic
    assert cli("report", "nonsense").exit_code == 2


def test_question_set_is_versioned_and_a_problem_comment_suggests_a_complaint(treated):
    cli = treated
    assert cli("config", "set", "survey.version", "v2-short").exit_code == 0
    assert cli("config", "set", "survey.question.comment", "Что нам улучшить?").exit_code == 0
    r = cli("survey", "S1", "--score", "9", "--recommend", "9", "--comment", "Было больно")
    assert r.exit_code == 0 and "open a complaint?" in r.stdout  # a good score, but the comment names pain
    assert cli.rows("SELECT questions FROM surveys") == [("v2-short",)]
    r = cli("survey", "S2", "--score", "9", "--doctor", "Козлов", "--comment", "Всё отлично, совсем не больно")
    assert r.exit_code == 0 and "open a complaint?" not in r.stdout  # praise, not a problem


def test_report_as_markdown(treated):
    out = treated("report", "--format", "md").stdout
    assert "| doctor | status | n |" in out and "| Козлов Дмитрий Игоревич | collecting | 0 / 20 |" in out


def test_interactive_survey_in_russian(treated):
    """The script and the questions read aloud in Russian; the answer is typed in Russian, stored as a code."""
    r = treated("--lang", "ru", "survey", "S1", "--ask", "--by", "Анна",
                input="может\nда\n11\n9\nдесять\n10\nвозможно\nчастично\nВсё хорошо\nд\n")
    assert r.exit_code == 0, r.output
    assert "Как мы договорились после вашего лечения" in r.stdout and "От 1 до 10, пожалуйста." in r.stdout
    assert "[да/нет]" in r.stdout and "Пожалуйста, ответьте да или нет" in r.stdout  # answered in Russian
    assert "Пожалуйста, введите целое число" in r.stdout
    assert "Пожалуйста, выберите один из предложенных ответов" in r.stdout
    assert "Please" not in r.stdout and "the clinic" not in r.stdout
    assert "Ответы: доволен 9/10, порекомендует 10/10, ожидания оправданы: частично; комментарий: Всё хорошо" in r.stdout
    assert "В целом насколько вы довольны лечением, от 1 до 10?" in r.stdout
    assert "Опрос №1 записан для S1" in r.stdout
    assert treated.rows("SELECT score, expectations, comment FROM surveys") == [(9, "partly", "Всё хорошо")]
