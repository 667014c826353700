"""The command line as a user meets it: help, where the database is, look-ups, demo."""

import json
import subprocess
import sys

import typer.main

from followup.cli import app
from followup import db


def _commands(group, prefix=()):
    for name, cmd in group.commands.items():
        yield prefix + (name,), cmd
        if hasattr(cmd, "commands"):
            yield from _commands(cmd, prefix + (name,))


def test_every_command_has_help_text(cli):
    root = typer.main.get_command(app)
    commands = list(_commands(root))
    assert {" ".join(p) for p, _ in commands} >= {"import", "demo", "db", "db path", "patient", "patient show",
                                                  "patient find"}
    for path, cmd in commands:
        assert (cmd.help or "").strip(), path
        result = cli(*path, "--help")
        assert result.exit_code == 0, path


def test_db_path_precedence(cli, db_path, tmp_path, monkeypatch):
    assert cli("db", "path").stdout.strip() == str(db_path)  # $FOLLOWUP_DB
    assert cli("--db", tmp_path / "other.db", "db", "path").stdout.strip() == str(tmp_path / "other.db")
    monkeypatch.delenv("FOLLOWUP_DB")
    out = cli("db", "path").stdout.strip()
    assert out.endswith("followup.db") and str(tmp_path / "xdg") in out  # the per-user data directory
    assert not db_path.exists()


def test_read_commands_refuse_a_missing_database(cli, db_path):
    for args in (["patient", "find", "Иванов"], ["patient", "show", "1"], ["import", "--history"],
                 ["db", "info"]):
        result = cli(*args)
        assert result.exit_code == 66, args
        assert result.stderr.startswith("Error: no database at")
    assert not db_path.exists()


def test_import_creates_a_private_database(cli, patients_csv, db_path):
    assert cli("import", patients_csv).exit_code == 0
    assert db_path.stat().st_mode & 0o777 == 0o600


def test_patient_find_by_name_any_case_and_yo(cli, patients_csv):
    cli("import", patients_csv)
    for text in ("иванов", "ИВАНОВ", "сидоров пётр", "СИДОРОВ ПЕТР", "мария серг"):
        found = cli.json("patient", "find", text)
        assert len(found) == 1, text
    assert cli.json("patient", "find", "иванов")[0]["patient_id"] == "000101"
    assert len(cli.json("patient", "find", "петр")) == 2  # Петрова, Пётр
    assert cli.json("patient", "find", "сидоров")[0]["phone_valid"] == 0
    assert cli("patient", "find", "Несуществующий").exit_code == 66


def test_patient_find_by_phone_in_any_format(cli, patients_csv):
    cli("import", patients_csv)
    for text in ("8 (916) 123-45-67", "+79161234567", "9161234567", "123-45-67", "916 123 45 67"):
        found = cli.json("patient", "find", text)
        assert [p["patient_id"] for p in found] == ["000101"], text


def test_patient_find_treats_sql_and_wildcards_as_text(cli, patients_csv):
    cli("import", patients_csv)
    assert cli("patient", "find", "%").exit_code == 66
    assert cli("patient", "find", "'; DROP TABLE patients; --").exit_code == 66
    assert cli.count("patients") == 3


def test_patient_show(cli, patients_csv, visits_csv):
    cli("import", patients_csv, visits_csv)
    p = cli.json("patient", "show", "000101")
    assert p["full_name"] == "Иванов Иван Иванович" and p["phone"] == "+79161234567"
    assert [(v["date"], v["kind"], v["doctor"]) for v in p["visits"]] == [
        ("2026-01-10", "consultation", "Смирнова Анна Петровна"),
        ("2026-01-20", "treatment_end", "Смирнова Анна Петровна")]
    table = cli("patient", "show", "000101")
    assert table.exit_code == 0 and "Иванов Иван Иванович" in table.stdout
    missing = cli("patient", "show", "nope")
    assert missing.exit_code == 66 and missing.stderr.strip() == "Error: no patient with card number 'nope'"


def test_demo_builds_and_imports_a_clinic(cli, tmp_path, db_path):
    result = cli("demo", "--dir", tmp_path / "demo", "--patients", "300")
    assert result.exit_code == 0, result.output
    demo_db = tmp_path / "demo" / "demo.db"
    assert demo_db.exists() and not db_path.exists()  # never the user's real database
    exports = sorted(p.name for p in (tmp_path / "demo" / "exports").iterdir())
    assert exports == ["appointments.csv", "patients.csv", "plans.csv", "visits.csv"]
    raw = (tmp_path / "demo" / "exports" / "patients.csv").read_bytes()
    assert "Номер карты;".encode("cp1251") in raw and b"\r\n" in raw
    runs = cli.json("--db", demo_db, "import", "--history")
    assert [(f["kind"], f["rejected"]) for f in runs[0]["files"]] == [
        ("patients", 0), ("visits", 0), ("appointments", 0), ("plans", 0)]
    # the patients list was first imported a week before: the clinic has had lists since then, and the
    # reasons that lapsed meanwhile without an attempt are on the manager's list on the demo's own day
    assert [f["kind"] for f in runs[1]["files"]] == ["patients"] and runs[1]["files"][0]["inserted"] == 300
    assert runs[1]["started_at"] < runs[0]["started_at"]
    assert runs[0]["files"][0]["unchanged"] == 300
    flagged = cli.json("--db", demo_db, "flagged")
    assert flagged and {f["why"] for f in flagged} == {"lapsed"}
    assert f"For the manager: {len(flagged)} reasons lapsed" in result.stdout
    info = cli.json("--db", demo_db, "db", "info")[0]
    assert info["doctors"] == 4 and info["visits"] > 600
    assert info["consents"] > 0 and info["surveys"] > 0 and {"contacts", "complaints", "next_contacts"} <= set(info)
    history = cli("--db", demo_db, "import", "--history", "--format", "md").stdout
    assert "| user |" in history and "| test-admin | patients.csv |" in history  # who ran each import
    # survey answers enough for one doctor to be stable, one reported (repeat), one collecting
    statuses = {r["doctor"]: r["status"] for r in cli.json("--db", demo_db, "report")}
    assert sorted(statuses.values()).count("stable") == 1 and "repeat" in statuses.values()
    assert "collecting" in statuses.values()
    # the same seed gives the same clinic
    again = cli("demo", "--dir", tmp_path / "demo2", "--patients", "300")
    assert again.exit_code == 0
    assert (tmp_path / "demo2" / "exports" / "visits.csv").read_bytes() == \
        (tmp_path / "demo" / "exports" / "visits.csv").read_bytes()


def test_python_dash_m_and_no_traceback_for_user_errors(tmp_path):
    env = {"FOLLOWUP_DB": str(tmp_path / "x.db"), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-m", "followup", "import", str(tmp_path / "nope.csv")],
                         capture_output=True, text=True, env=env)
    assert out.returncode == 66
    assert out.stderr.strip().startswith("Error:") and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    version = subprocess.run([sys.executable, "-m", "followup", "--version"], capture_output=True, text=True)
    assert version.stdout.startswith("followup ")
    assert json.dumps  # stdlib only above


def test_mistyped_commands_and_values_get_one_line(cli):
    for args, needle in ((["tody"], "No such command 'tody'. Did you mean 'today'?"),
                         (["today", "--chanel", "sms"], "No such option: --chanel"),
                         (["survey", "P1", "--score", "abc"], "'abc' is not a valid int")):
        r = cli(*args)
        assert r.exit_code == 2 and r.stderr.startswith("Error: ") and needle in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1


def test_backup_and_check(cli, patients_csv, tmp_path):
    import sqlite3

    cli("import", patients_csv)
    dest = tmp_path / "backups" / "clinic.db"
    dest.parent.mkdir()
    r = cli("backup", dest)
    assert r.exit_code == 0 and dest.exists() and dest.stat().st_mode & 0o777 == 0o600
    assert sqlite3.connect(dest).execute("SELECT count(*) FROM patients").fetchone() == (3,)
    assert not [p for p in dest.parent.iterdir() if p.name != "clinic.db"]  # no temporary file left
    r = cli("backup", tmp_path)  # a directory: a usage mistake (2), not a damaged database (74)
    assert r.exit_code == 2 and "is a directory" in r.stderr
    r = cli("backup", tmp_path / "no-such-dir" / "x.db")  # a mistyped directory is not created
    assert r.exit_code == 2 and "no such directory" in r.stderr and not (tmp_path / "no-such-dir").exists()
    out = cli.json("check")
    assert out["ok"] is True and out["schema"] == db.MIGRATION_NAMES[-1] and out["foreign_key_problems"] == 0
    assert cli("--db", dest, "check").stdout.startswith("ok")


def test_patient_export_and_forget(cli, tmp_path):
    import datetime as dt

    from conftest import write_csv

    end = (dt.date.today() - dt.timedelta(days=9)).strftime("%d.%m.%Y")
    cli("import", write_csv(tmp_path / "p.csv", ["Номер карты", "ФИО", "Телефон", "E-mail"],
                            [["F1", "Забытова Фаина Фёдоровна", "89161112299", "faina@example.ru"],
                             ["F2", "Другой Пациент", "89161112200", ""]]))
    cli("import", write_csv(tmp_path / "v.csv", ["Номер визита", "Номер карты", "Врач", "Дата визита", "Вид приёма"],
                            [["E1", "F1", "Козлов Дмитрий Игоревич", end, "Окончание лечения"]]))
    cli("consent", "F1", "--purpose", "all", "--channel", "call", "--note", "звонить мужу Фаины")
    cli("survey", "F1", "--score", "4", "--recommend", "5", "--comment", "Фаина недовольна")
    cli("complaint", "add", "F1", "--text", "Фаина: больно")
    # export: everything, to a private file
    out = tmp_path / "f1.json"
    assert cli("patient", "export", "F1", "--out", out).exit_code == 0
    assert out.stat().st_mode & 0o777 == 0o600
    import json

    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["patient"]["email"] == "faina@example.ru" and len(data["consents"]) == 6  # "all": the care purposes
    assert data["surveys"][0]["comment"] == "Фаина недовольна" and data["complaints"][0]["text"] == "Фаина: больно"
    # forget asks first, in the chosen language; "нет" (or Enter) erases nothing
    kept = cli("--lang", "ru", "patient", "forget", "F1", input="нет\n")
    assert kept.exit_code == 2 and "[да/нет]" in kept.stdout and "Ошибка: ничего не стёрто" in kept.stderr
    assert cli.count("consents") == 6
    # forget: gone from every table and from the file's bytes; the score still counts, anonymously
    r = cli("patient", "forget", "F1", input="maybe\ny\n")
    assert "Please answer yes or no" in r.stdout
    assert r.exit_code == 0 and "1 survey score kept" in r.stdout  # plural forms right
    raw = cli.db_path.read_bytes() + (cli.db_path.with_name(cli.db_path.name + "-wal").read_bytes()
                                      if cli.db_path.with_name(cli.db_path.name + "-wal").exists() else b"")
    for secret in ("Забытова", "Фаина", "faina@example.ru", "79161112299"):
        assert secret.encode("utf-8") not in raw, secret
    assert cli("patient", "show", "F1").exit_code == 66
    report = cli.json("report", "--doctor", "Козлов")
    assert report["responses"] == 1
    assert cli.rows("SELECT rows_erased > 0, surveys_kept FROM erasures") == [(1, 1)]
    assert cli.count("patients") == 2  # F2 and the anonymous holder of the kept score
    # back in a later import: a new patient, never contacted without a new consent
    cli("import", "--force", write_csv(tmp_path / "p2.csv", ["Номер карты", "ФИО", "Телефон"],
                                       [["F1", "Забытова Фаина Фёдоровна", "89161112299"]]))
    assert cli.json("consent", "show", "F1")["history"] == []
    assert cli("patient", "forget", "NOPE", "--yes").exit_code == 66


def test_a_bug_shows_where_it_happened_but_no_data(cli, patients_csv, monkeypatch):
    """An unexpected error's message may hold a value from the data: it is never shown, nor are locals."""
    import pytest

    assert cli("import", patients_csv).exit_code == 0

    def broken(conn, patient_id):
        name, phone = "Иванов Иван Иванович", "+79161234567"  # noqa: F841 - locals a traceback could show
        raise ValueError(f"cannot format {name} {phone}")

    monkeypatch.setattr(db, "contact_log", broken)
    out = cli("log", "000101")
    assert out.exit_code == 70
    assert "internal error in followup (ValueError)" in out.stderr and "in broken" in out.stderr
    assert "Иванов" not in out.output and "916" not in out.output and "Traceback" not in out.output
    monkeypatch.setenv("FOLLOWUP_DEBUG", "1")  # the full traceback, for a developer who asks
    with pytest.raises(ValueError):
        cli("log", "000101")


def test_a_damaged_database_is_one_line(cli, patients_csv):
    assert cli("import", patients_csv).exit_code == 0
    data = bytearray(cli.db_path.read_bytes())
    data[4096:4096 * 6] = b"\xff" * (4096 * 5)  # pages of the file overwritten
    cli.db_path.write_bytes(bytes(data))
    out = cli("patient", "find", "Иванов")
    assert out.exit_code == 74 and out.stderr.startswith("Error: ") and len(out.stderr.splitlines()) == 1
    assert "Traceback" not in out.output


def test_table_columns_are_cut_down_without_breaking_a_word():
    from followup.cli.core import _column_widths

    cells = [["date", "23.11.2026 23:09"], ["patient", "Никитин Дмитрий Юрьевич"], ["n", "1"]]
    assert _column_widths(cells, 100) == [16, 23, 1]  # room enough: each as wide as its longest line
    assert _column_widths(cells, 30) == [14, 14, 1]   # the widest cut to one limit
    assert _column_widths(cells, 19) == [10, 8, 1]    # never below the longest word
    assert _column_widths(cells, 18) == [10, 7, 1]
    assert _column_widths(cells, 17) is None          # a word would break: a record at a time instead


def test_names_with_brackets_are_shown_as_typed(cli, tmp_path):
    """A name is data, never rich markup: "[/b]" in an export used to end `patient show` in an error."""
    from conftest import write_csv

    cli("import", write_csv(tmp_path / "p.csv", ["Номер карты", "ФИО", "Телефон"],
                            [["B1", "Скобкин [/b] [red]Иван", "89161112233"]]))
    shown = cli("patient", "show", "B1")
    assert shown.exit_code == 0 and "Скобкин [/b] [red]Иван" in shown.stdout
    odd = "[/b]7"  # a card number too
    cli("import", write_csv(tmp_path / "p2.csv", ["Номер карты", "ФИО", "Телефон"], [[odd, "Петров Пётр", "89161112234"]]))
    cli("consent", odd, "--purpose", "recall", "--channel", "call")
    listed = cli("consent", "show", odd)
    assert listed.exit_code == 0 and f"Consent of {odd}: now" in listed.stdout


def test_the_import_progress_line_shows_file_names_as_they_are(monkeypatch):
    """On a terminal the import shows a progress line; a file named like markup is shown as named."""
    import io

    from rich.console import Console

    from followup.cli import imports

    out = io.StringIO()
    monkeypatch.setattr(imports, "_console", lambda err=False: Console(file=out, force_terminal=True, width=100))
    progress = imports._progress(quiet=False)
    progress.enabled = True
    with progress as on_rows:
        on_rows("/exports/[bold]visits[i].csv", 1280)
        progress.progress.refresh()
    assert "[bold]visits[i].csv" in out.getvalue() and "rows: 1,280" in out.getvalue()


def test_numbers_for_spreadsheets_and_people():
    """CSV keeps numbers as numbers (the formula guard is for text: -45.0 is no formula); tables show
    shares as percentages and, in Russian, a decimal comma."""
    from followup import i18n
    from followup.cli.core import _cell, _excel_safe

    assert (_excel_safe(-45.0), _excel_safe(-3), _excel_safe("-x"), _excel_safe("+7916")) == ("-45.0", "-3", "'-x",
                                                                                                "'+7916")
    assert (_cell(0.596, "conversion"), _cell(8.25, "mean"), _cell([6.9, 62.7], "nps_ci")) == ("59.6 %", "8.25",
                                                                                                 "[6.9, 62.7]")
    try:
        i18n.set_language("ru")
        assert (_cell(0.596, "share"), _cell(8.25), _cell([6.9, 62.7])) == ("59,6 %", "8,25", "[6,9; 62,7]")
    finally:
        i18n.set_language("en")


def test_the_demo_never_lands_beside_the_clinic_s_database(cli, tmp_path):
    """FOLLOWUP_DB names the clinic's database (tmp_path/followup.db here); the demo goes to the per-user
    data directory all the same, and says which database to use."""
    r = cli("demo", "--patients", "40")
    assert r.exit_code == 0, r.output
    assert not (tmp_path / "demo").exists() and not cli.db_path.exists()
    demo_db = tmp_path / "xdg" / "followup" / "demo" / "demo.db"
    assert demo_db.exists() and f'--db "{demo_db}"' in r.stdout


def test_help_texts_flow_to_the_terminal_s_width(cli):
    """A docstring's line breaks are the source's, not the reader's: paragraphs are re-wrapped, so a
    line stops only where the terminal's width makes it (the source breaks after "without a")."""
    for lang, first in (("en", "Refused,"), ("ru", "Отказ")):
        lines = [line.strip() for line in cli.at_width(130, "--lang", lang, "next", "--help").stdout.splitlines()]
        start = next(i for i, line in enumerate(lines) if line.startswith(first))
        paragraph = lines[start:lines.index("", start)]
        assert len(paragraph) >= 2 and all(len(line) > 110 for line in paragraph[:-1]), paragraph
