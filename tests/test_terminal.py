"""Text from outside never acts on the receptionist's terminal.

Hostile names, doctor names, stage titles, notes, complaints and comments (escape sequences that
retitle the window, move the cursor, hide text; an unterminated OSC that would swallow the rest of
the list; C1's one-byte CSI; bidirectional overrides; zero-width characters; a carriage return)
go through every view. Whatever the format, no such character reaches the output; JSON keeps the
data exact.
"""

import datetime as dt
import json
import re

import pytest

from conftest import write_csv

ESC = "\x1b"
HOSTILE_NAME = f"Иванов{ESC}]0;pwned\x07 Иван{ESC}]8;;http://evil{ESC}\\ Иванович"
HOSTILE_DOCTOR = f"Козлов{ESC}[2J{ESC}[1;1H Дмитрий\x9b31m Игоревич"
HOSTILE_TITLE = f"Коронка\u202e63{ESC}[8m скрыто\u200b"
HOSTILE_NOTE = f"позвонить{ESC}]52;c;ZXZpbA==\x07 вечером\r! open complaint"
HOSTILE_TEXT = f"Больно{ESC}[A{ESC}[2K\x08\x08 ok{ESC}]0;unterminated"
# what a terminal acts on: C0 but line break and tab (CR only as CSV's line end), DEL, C1, the
# bidirectional controls and the zero-width characters
ACTING = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069]|\r(?!\n)")
TODAY = dt.date.today()


@pytest.fixture
def hostile(cli, tmp_path):
    ended = (TODAY - dt.timedelta(days=8)).strftime("%d.%m.%Y")
    p = write_csv(tmp_path / "p.csv", ["Номер карты", "ФИО", "Телефон"],
                  [["H1", HOSTILE_NAME, "89161234501"], ["H2", "Пациент Второй", "89161234502"]], encoding="utf-8")
    v = write_csv(tmp_path / "v.csv", ["Номер визита", "Номер карты", "Врач", "Дата визита", "Вид приёма"],
                  [["V1", "H1", HOSTILE_DOCTOR, ended, "Окончание лечения"],
                   ["V2", "H2", HOSTILE_DOCTOR, ended, "Окончание лечения"]], encoding="utf-8")
    pl = write_csv(tmp_path / "pl.csv", ["Номер плана", "Номер карты", "Врач", "Этап", "Название этапа", "Срок",
                                         "Статус"],
                   [["PL1", "H1", HOSTILE_DOCTOR, "1", HOSTILE_TITLE, (TODAY - dt.timedelta(days=20)).strftime(
                       "%d.%m.%Y"), "Запланирован"]], encoding="utf-8")
    r = cli("import", p, v, pl)
    assert r.exit_code == 0, r.output
    for purpose in ("plan", "survey"):
        assert cli("consent", "H1", "--purpose", purpose, "--channel", "call", "--note", HOSTILE_NOTE).exit_code == 0
    assert cli("consent", "H2", "--purpose", "survey", "--channel", "sms").exit_code == 0
    assert cli("survey", "H2", "--score", "3", "--recommend", "2", "--expectations", "no",
               "--comment", HOSTILE_TEXT, "--complaint").exit_code == 0
    assert cli("complaint", "add", "H1", "--text", HOSTILE_TEXT).exit_code == 0
    return cli


VIEWS = [["today"], ["today", "--channel", "call"], ["why", "H1"], ["patient", "show", "H1"],
         ["patient", "find", "Иванов"], ["consent", "show", "H1"], ["log", "H1"], ["report"],
         ["report", "--doctor", "Козлов"], ["complaint", "list"], ["themes"], ["flagged"], ["log", "--date", "today"]]


@pytest.mark.parametrize("part", range(3))
def test_no_escape_reaches_the_terminal(hostile, part):
    for view in VIEWS[part::3]:
        args = [a if a != "today" or view[0] != "log" else TODAY.isoformat() for a in view]
        # a wide terminal (tables), a narrow one (blocks, records), and every other format
        for columns, fmt in ((200, "table"), (80, "table"), (200, "md"), (200, "csv"), (200, "json")):
            r = hostile.at_width(columns, *args, "--format", fmt)
            assert r.exit_code == 0, (args, r.output)
            found = ACTING.findall(r.stdout + r.stderr)
            assert not found, (args, fmt, columns, found[:5])


def test_the_list_and_the_why_show_the_text_as_codes_and_json_keeps_it_exact(hostile):
    out = hostile.at_width(200, "today").stdout
    assert "Иванов\\u001b]0;pwned\\u0007 Иван" in out
    why = hostile("why", "H1").stdout
    assert "Коронка\\u202e63\\u001b[8m скрыто\\u200b" in why
    [entry] = [e for e in hostile.json("today") if e["patient_id"] == "H1"]
    assert entry["patient"] == HOSTILE_NAME  # the data itself, exact
    assert hostile.json("patient", "show", "H1")["full_name"] == HOSTILE_NAME


def test_a_name_cannot_start_a_formula_in_either_excel(cli, tmp_path):
    name = "Тестов;=cmd|' /C calc'!A0;"
    p = write_csv(tmp_path / "p.csv", ["Номер карты", "ФИО", "Телефон"], [["X1", name, "89161234501"]],
                  encoding="utf-8")
    assert cli("import", p).exit_code == 0
    for delimiter in (",", ";"):
        assert cli("config", "set", "csv.delimiter", delimiter).exit_code == 0
        out = cli("patient", "find", "Тестов", "--format", "csv").stdout
        # quoted, and no part of it after a ; or a , starts with a formula character
        assert '"Тестов;\'=cmd|\' /C calc\'!A0;"' in out
        assert not re.search(r"[;,]\s*[=+@-]", out.replace('"Тестов;\'=cmd', ""))


def test_markdown_shows_html_and_links_as_text(cli, tmp_path):
    name = "<img src=x onerror=alert(1)> [жми](http://evil) `код` | Ли"
    p = write_csv(tmp_path / "p.csv", ["Номер карты", "ФИО", "Телефон"], [["X1", name, "89161234501"]],
                  encoding="utf-8")
    assert cli("import", p).exit_code == 0
    out = cli("patient", "find", "Ли", "--format", "md").stdout
    assert "&lt;img src=x onerror=alert(1)&gt; \\[жми\\](http://evil) \\`код\\` \\| Ли" in out
    assert "<img" not in out and "[жми]" not in out


def test_an_import_shows_a_hostile_file_name_safely(cli, tmp_path):
    p = write_csv(tmp_path / f"p{ESC}]0;x\x07{ESC}[2J.csv", ["Номер карты", "ФИО", "Телефон"],
                  [["X1", "Пациент Первый", "89161234501"]], encoding="utf-8")
    outputs = [cli.at_width(80, "import", p), cli.at_width(200, "import", p, "--force"),
               cli("import", "--history"), cli("import", "--history", "--format", "md")]
    assert all(r.exit_code == 0 for r in outputs)
    for r in outputs:
        assert not ACTING.findall(r.stdout + r.stderr)
    assert "p\\u001b]0;x\\u0007\\u001b[2J.csv" in outputs[0].stdout
