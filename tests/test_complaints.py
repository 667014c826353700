"""Complaints: recorded, flagged overdue, resolved, the patient informed; a warning on the call list."""

import datetime as dt

import pytest

from conftest import write_csv
from followup.rules import Complaint, Policy, complaint_overdue

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
    assert clinic("complaint", "informed", "1").exit_code == 2  # not resolved yet
    assert clinic("complaint", "resolve", "1", "--action", "Изменили расписание").exit_code == 0
    assert clinic.json("complaint", "list", "--open") == []
    again = clinic("complaint", "resolve", "1", "--action", "x")
    assert again.exit_code != 0 and "already resolved" in again.stderr
    assert clinic("complaint", "informed", "1").exit_code == 0
    assert clinic.json("complaint", "list")[0]["state"] == "informed"
    assert clinic("complaint", "informed", "1").exit_code != 0


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
