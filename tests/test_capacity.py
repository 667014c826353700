"""A desk's capacity (`config set desk.capacity.call N`) end to end: the day's list holds what the desks
can do, the rest waits in line, and waiting is not lapsing.

The story runs on the clock, day by day, since only the calendar's today is stored (and a day's
line is kept with it). Recalls: A, B and C are due 2026-09-25 (their 60-day window is over after
2026-11-24); D1-D4 are due in October, with weeks to go.
"""

import pytest
from freezegun import freeze_time

from conftest import write_csv

DAY = "2026-11-23"
CARDS = {"A": "25.03.2026", "B": "25.03.2026", "C": "25.03.2026",
         "D1": "25.04.2026", "D2": "26.04.2026", "D3": "27.04.2026", "D4": "28.04.2026"}


def on_day(day: str):
    return freeze_time(f"{day} 10:00:00", tick=True)


@pytest.fixture
def desk(cli, tmp_path):
    with on_day(DAY):
        p = write_csv(tmp_path / "p.csv", ["Номер карты", "ФИО", "Телефон"],
                      [[c, f"Пациент {c}", f"8 916 000-00-{i:02d}"] for i, c in enumerate(CARDS, 1)])
        v = write_csv(tmp_path / "v.csv", ["Номер визита", "Номер карты", "Врач", "Дата визита", "Вид приёма"],
                      [[f"V{c}", c, "Новикова Елена", d, "Профгигиена"] for c, d in CARDS.items()])
        assert cli("import", p, v).exit_code == 0
        for c in CARDS:
            assert cli("consent", c, "--purpose", "recall", "--channel", "call").exit_code == 0
        assert cli("config", "set", "desk.capacity.call", "2").exit_code == 0
    return cli


def listed(cli) -> list[str]:
    return sorted(e["patient_id"] for e in cli.json("today"))


def test_the_list_holds_what_the_desk_can_do_and_the_rest_waits_in_line(desk):
    with on_day(DAY):
        assert listed(desk) == ["A", "B"]  # closest to lapsing first
        summary = desk.json("today", "--summary")
        assert (summary["total"], summary["left"], summary["waiting"]) == (2, 2, 5)
        assert "(waiting for the next days, beyond the desks' capacity: 5)" in desk("today").stdout
        [recall] = [f for f in desk.json("why", "D3") if f["rule"] == "hygiene_recall"]
        assert recall["status"] == "waiting"
        assert "waiting: about number 4 in line (call), expected around 2026-11-25" in recall["explanation"]
        # the desk works its list; a setting changed meanwhile re-plans the day, but the list stays
        assert desk("done", "A", "--outcome", "booked").exit_code == 0
        assert desk("config", "set", "cap_days", "10").exit_code == 0
        assert listed(desk) == ["B"]
        assert desk.json("today", "--summary")["waiting"] == 5
        assert "Пациент" in desk("why", "D3").stdout
    with on_day("2026-11-24"):  # B was not called: it is still in its window, first again
        assert listed(desk) == ["B", "C"]


def test_waiting_is_not_lapsing(desk):
    for day in ("2026-11-23", "2026-11-24"):
        with on_day(day):
            assert listed(desk) == ["A", "B"]  # nobody calls anyone
    with on_day("2026-11-25"):
        # A and B were on the list and never called: the manager's. C waited in line past its window:
        # not lapsed, it comes to the list now
        assert {f["patient_id"] for f in desk.json("flagged")} == {"A", "B"}
        assert listed(desk) == ["C", "D1"]
        [recall] = [f for f in desk.json("why", "C") if f["rule"] == "hygiene_recall"]
        assert recall["status"] == "due" and "waiting in line since 2026-11-23: not lapsing" in recall["explanation"]
    with on_day("2026-11-26"):  # listed a whole day and never called: now it is the manager's too
        assert {f["patient_id"] for f in desk.json("flagged")} == {"A", "B", "C"}
        assert listed(desk) == ["D1", "D2"]


def test_capacity_is_a_whole_number_or_unset(desk):
    with on_day(DAY):
        r = desk("config", "set", "desk.capacity.call", "0")
        assert r.exit_code == 2 and "desk.capacity.call takes a whole number from 1 to 100000" in r.stderr
        assert desk("config", "set", "desk.capacity.call", "--default").exit_code == 0
        assert len(listed(desk)) == 7
        assert desk.json("today", "--summary")["waiting"] == 0
