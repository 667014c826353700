"""The nightly import, end to end through the CLI on a real SQLite file."""

import json
import os
import sqlite3

import pytest
from openpyxl import Workbook

from conftest import PATIENT_HEADERS, PATIENTS, VISIT_HEADERS, VISITS, write_csv


def patients_in(cli):
    return {r[0]: r[1:] for r in cli.rows("SELECT patient_id, full_name, phone, phone_valid, status, "
                                          "birth_date FROM patients")}


def test_patients_from_a_cp1251_semicolon_export(cli, patients_csv):
    result = cli("import", patients_csv)
    assert result.exit_code == 0, result.output
    got = patients_in(cli)
    assert got["000101"] == ("Иванов Иван Иванович", "+79161234567", 1, "active", "1980-02-01")
    assert got["000102"] == ("Петрова Мария Сергеевна", "+79037654321", 1, "active", "1975-07-15")
    # an incomplete number is kept as given, flagged, never dialled; the ID keeps its zeros
    assert got["000103"] == ("Сидоров Пётр", "12-34", 0, "archived", "1990-12-31")
    assert cli.rows("SELECT last_name, first_name, middle_name FROM patients WHERE patient_id='000101'") == [
        ("Иванов", "Иван", "Иванович")]


@pytest.mark.parametrize("encoding, delimiter", [
    ("utf-8", ";"), ("utf-8-sig", ";"), ("cp1251", ","), ("utf-8", "\t"), ("utf-8-sig", ","),
])
def test_encodings_and_delimiters(cli, tmp_path, encoding, delimiter):
    path = write_csv(tmp_path / "p.csv", PATIENT_HEADERS, PATIENTS, encoding=encoding, delimiter=delimiter)
    result = cli("import", path)
    assert result.exit_code == 0, result.output
    assert patients_in(cli)["000101"][0] == "Иванов Иван Иванович"


def test_unix_line_endings_and_quoted_delimiters(cli, tmp_path):
    rows = [["000201", "Кузнецова; Анна", "", "", "", ""]]
    path = write_csv(tmp_path / "p.csv", PATIENT_HEADERS, rows, encoding="utf-8", newline="\n")
    assert cli("import", path).exit_code == 0
    assert patients_in(cli)["000201"][0] == "Кузнецова; Анна"


def test_xlsx_export(cli, tmp_path):
    wb = Workbook()
    ws = wb.active
    ws.append(["Код пациента", "Фамилия", "Имя", "Отчество", "Дата рождения", "Мобильный телефон"])
    import datetime as dt

    ws.append(["000301", "Орлова", "Ольга", "Игоревна", dt.datetime(1988, 3, 4), 89161112233])
    ws.append(["000302", "Волков", "Иван", None, "05.06.1970", "8 (903) 111-22-33"])
    wb.save(tmp_path / "patients.xlsx")
    result = cli("import", tmp_path / "patients.xlsx")
    assert result.exit_code == 0, result.output
    got = patients_in(cli)
    assert got["000301"] == ("Орлова Ольга Игоревна", "+79161112233", 1, "active", "1988-03-04")
    assert got["000302"][:2] == ("Волков Иван", "+79031112233")


def test_header_aliases_english(cli, tmp_path):
    path = write_csv(tmp_path / "p.csv", ["patient_id", "last_name", "first_name", "date of birth", "mobile"],
                     [["A1", "Smith", "John", "1980-01-02", "+44 20 7946 0958"]], encoding="utf-8", delimiter=",")
    assert cli("import", path).exit_code == 0
    assert patients_in(cli)["A1"] == ("Smith John", "+442079460958", 1, "active", "1980-01-02")


def test_visits_after_patients_from_a_directory(cli, patients_csv, visits_csv):
    result = cli("import", patients_csv.parent)  # a directory: patients first, whatever the names
    assert result.exit_code == 0, result.output
    visits = cli.rows("SELECT v.visit_id, v.patient_id, d.name, v.date, v.kind, v.control_due "
                      "FROM visits v JOIN doctors d ON d.id = v.doctor_id ORDER BY visit_id")
    assert visits == [
        ("V1", "000101", "Смирнова Анна Петровна", "2026-01-10", "consultation", None),
        ("V2", "000101", "Смирнова Анна Петровна", "2026-01-20", "treatment_end", "2026-04-20"),
        ("V3", "000102", "Новикова Елена Сергеевна", "2026-03-05", "hygiene", None),
    ]
    assert cli.count("doctors") == 2


def test_appointments_and_plans(cli, patients_csv, tmp_path):
    cli("import", patients_csv)
    appts = write_csv(tmp_path / "a.csv", ["Номер записи", "Номер карты", "Врач", "Дата и время", "Статус"],
                      [["Z1", "000101", "Козлов Д.И.", "03.12.2026 18:30", "Записан"],
                       ["Z2", "000102", "Козлов Д.И.", "01.11.2026 10:00", "Неявка"]])
    plans = write_csv(tmp_path / "pl.csv", ["Номер плана", "Номер карты", "Врач", "Этап", "Название этапа",
                                            "Срок", "Статус", "Дата подписания"],
                      [["P1", "000101", "Козлов Д.И.", "1", "Имплантация 36", "01.10.2026", "Выполнен", "01.09.2026"],
                       ["P1", "000101", "Козлов Д.И.", "2", "Коронка 36", "01.11.2026", "Запланирован",
                        "01.09.2026"]])
    assert cli("import", appts, plans).exit_code == 0
    assert cli.rows("SELECT appointment_id, start, status FROM appointments ORDER BY 1") == [
        ("Z1", "2026-12-03 18:30", "booked"), ("Z2", "2026-11-01 10:00", "no_show")]
    assert cli.rows("SELECT plan_id, stage, stage_title, due_date, status, signed_date FROM plan_stages "
                    "ORDER BY stage") == [
        ("P1", "1", "Имплантация 36", "2026-10-01", "done", "2026-09-01"),
        ("P1", "2", "Коронка 36", "2026-11-01", "planned", "2026-09-01")]
    # re-read: rows found by their composite key (plan, stage), none changed
    again = cli.json("import", "--force", plans)["files"][0]
    assert (again["inserted"], again["updated"], again["unchanged"]) == (0, 0, 2)


def test_mapping_file_for_another_layout(cli, tmp_path, patients_csv):
    cli("import", patients_csv)
    visits = write_csv(tmp_path / "odd.csv", ["Карта пац.", "Посещение", "Когда", "Доктор", "Что делали"],
                       [["000101", "X1", "2026/03/01", "Смирнова А.П.", "Проф. чистка"],
                        ["000102", "X2", "2026/03/02", "Смирнова А.П.", "Пломба"]],
                       encoding="cp1251", delimiter="|")
    mapping = tmp_path / "visits.toml"
    mapping.write_text("""
kind = "visits"
encoding = "cp1251"
delimiter = "|"
date_format = "%Y/%m/%d"
[columns]
patient_id = "Карта пац."
visit_id = "Посещение"
date = "Когда"
doctor = "Доктор"
kind = "Что делали"
[values.kind]
"Проф. чистка" = "hygiene"
"Пломба" = "treatment"
""", encoding="utf-8")
    result = cli("import", "--mapping", mapping, visits)
    assert result.exit_code == 0, result.output
    assert cli.rows("SELECT visit_id, date, kind FROM visits ORDER BY 1") == [
        ("X1", "2026-03-01", "hygiene"), ("X2", "2026-03-02", "treatment")]


def test_mapping_naming_a_missing_column_writes_nothing(cli, tmp_path, patients_csv):
    mapping = tmp_path / "m.toml"
    mapping.write_text('kind = "patients"\n[columns]\nphone = "Сотовый"\n', encoding="utf-8")
    result = cli("import", "--mapping", mapping, patients_csv)
    assert result.exit_code == 65
    assert "no such column" in result.stderr
    assert cli.count("patients") == 0


def test_bad_mapping_file_is_a_usage_error(cli, tmp_path, patients_csv):
    mapping = tmp_path / "m.toml"
    mapping.write_text('kind = "patients"\n[columns]\nshoe_size = "Размер"\n', encoding="utf-8")
    result = cli("import", "--mapping", mapping, patients_csv)
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: ") and "shoe_size" in result.stderr


# --- structural errors: one line, exit 65, nothing written ---------------------------------


def _structural(cli, path, needle, code=65):
    result = cli("import", path)
    assert result.exit_code == code, result.output
    assert needle in result.stderr
    assert "Traceback" not in result.output
    assert cli.count("patients") == 0
    return result


def test_missing_required_column(cli, tmp_path):
    path = write_csv(tmp_path / "p.csv", ["ФИО", "Телефон"], [["Иванов Иван", "89161234567"]])
    _structural(cli, path, "cannot tell what this file holds")
    result = cli("import", "--kind", "patients", path)
    assert result.exit_code == 65 and "no column for patient_id" in result.stderr


def test_empty_and_header_only_files(cli, tmp_path):
    (tmp_path / "empty.csv").write_bytes(b"")
    _structural(cli, tmp_path / "empty.csv", "empty")
    path = write_csv(tmp_path / "h.csv", PATIENT_HEADERS, [])
    _structural(cli, path, "no data rows")


def test_binary_file(cli, tmp_path):
    (tmp_path / "p.csv").write_bytes(b"\x00\x01\x02binary\x00" * 100)
    _structural(cli, tmp_path / "p.csv", "binary")


def test_mojibake_is_rejected(cli, tmp_path):
    text = "Номер карты;ФИО\r\n000101;Иванов Иван Иванович\r\n"
    # UTF-8 read as cp1251 (or cp1252) and saved again: "Р˜РІР°РЅРѕРІ"
    for i, enc in enumerate(("cp1251", "cp1252")):
        garbled = text.encode("utf-8").decode(enc, errors="ignore")
        (tmp_path / f"m{i}.csv").write_text(garbled, encoding="utf-8")
        _structural(cli, tmp_path / f"m{i}.csv", "mojibake")
    (tmp_path / "r.csv").write_text(text.replace("Иван", "Ив\ufffd\ufffdн"), encoding="utf-8")
    _structural(cli, tmp_path / "r.csv", "mojibake")
    (tmp_path / "k.csv").write_bytes(text.encode("koi8_r"))  # KOI8-R taken for cp1251
    _structural(cli, tmp_path / "k.csv", "mojibake")


def test_wrong_explicit_encoding(cli, tmp_path):
    path = write_csv(tmp_path / "p.csv", PATIENT_HEADERS, PATIENTS, encoding="cp1251")
    mapping = tmp_path / "m.toml"
    mapping.write_text('encoding = "utf-8"\n', encoding="utf-8")
    result = cli("import", "--mapping", mapping, path)
    assert result.exit_code == 65 and "not valid utf-8" in result.stderr
    assert cli.count("patients") == 0


def test_file_not_found(cli, tmp_path):
    result = cli("import", tmp_path / "nope.csv")
    assert result.exit_code == 66
    assert "no such file" in result.stderr


def test_directory_without_exports(cli, tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "readme.pdf").write_bytes(b"%PDF")
    result = cli("import", tmp_path / "d")
    assert result.exit_code == 65 and "no CSV or .xlsx" in result.stderr


# --- bad rows: listed, the rest imported, unless too many ----------------------------------


def test_bad_rows_are_rejected_with_line_column_reason(cli, tmp_path):
    rows = [[f"{n:06d}", f"Пациент{n} Тест", "01.01.1980", "", "", ""] for n in range(1, 41)]
    rows.append(["000900", "Фёдоров Фёдор", "31.02.1980", "", "", ""])  # line 42
    path = write_csv(tmp_path / "p.csv", PATIENT_HEADERS, rows)
    result = cli("import", path)
    assert result.exit_code == 3  # imported, with rejected rows
    assert "line 42, Дата рождения: impossible date" in result.stderr
    assert "Фёдоров" not in result.output  # no names in messages
    assert cli.count("patients") == 40
    record = cli.rows("SELECT rejected, rejects FROM import_files ORDER BY id DESC LIMIT 1")[0]
    assert record[0] == 1
    # stored as data (a message id and its parameters), never in the language of the moment
    assert json.loads(record[1]) == [{"line": 42, "column": "Дата рождения",
                                      "reason": {"msgid": "impossible date", "params": {}}}]
    for lang in ("en", "ru"):  # JSON says it in English in every language; a table in the reader's
        [run] = cli.json("--lang", lang, "import", "--history")
        assert run["files"][0]["rejects"][0]["reason"] == "impossible date"


def test_line_numbers_count_values_that_span_lines(cli, tmp_path):
    rows = [[f"{n:06d}", f"Пациент{n} Тест", "", "", "", ""] for n in range(1, 41)]
    rows[2][1] = "Многострочное\r\nимя\r\nпациента"  # lines 4-6
    rows[5][2] = "31.02.1980"  # the 6th row starts on line 9
    path = write_csv(tmp_path / "p.csv", PATIENT_HEADERS, rows)
    result = cli("import", path)
    assert result.exit_code == 3
    assert "line 9, Дата рождения: impossible date" in result.stderr


def test_too_many_bad_rows_writes_nothing(cli, tmp_path):
    rows = [[f"{n:06d}", f"Пациент{n} Тест", "31.02.1980" if n % 10 == 0 else "", "", "", ""]
            for n in range(1, 41)]
    path = write_csv(tmp_path / "p.csv", PATIENT_HEADERS, rows)
    result = cli("import", path)
    assert result.exit_code == 65
    assert "4 of 40 rows rejected" in result.stderr
    assert cli.count("patients") == 0
    assert cli("import", "--max-rejects", "20", path).exit_code == 3
    assert cli.count("patients") == 36


def test_unknown_patient_and_duplicate_ids_are_rejected(cli, patients_csv, tmp_path):
    cli("import", patients_csv)
    rows = VISITS * 1 + [["V9", "999999", "Смирнова Анна Петровна", "10.01.2026", "Консультация", ""]]
    rows += [[f"W{n}", "000101", "Смирнова Анна Петровна", "10.01.2026", "", ""] for n in range(60)]
    rows.append(VISITS[0])  # V1 again
    path = write_csv(tmp_path / "v.csv", VISIT_HEADERS, rows)
    result = cli("import", path)
    assert result.exit_code == 3
    assert "unknown patient" in result.stderr
    assert "duplicate identifier" in result.stderr
    assert cli.count("visits") == 63


def test_truncated_last_row(cli, tmp_path):
    body = "Номер карты;ФИО;Дата рождения;Телефон\r\n" + "".join(
        f"{n:06d};Пациент{n} Тест;01.01.1980;89161234567\r\n" for n in range(1, 40)) + "000040;Обрыв"
    (tmp_path / "p.csv").write_bytes(body.encode("cp1251"))
    result = cli("import", tmp_path / "p.csv")
    assert result.exit_code == 3
    assert "line 41" in result.stderr and "truncated" in result.stderr
    assert cli.count("patients") == 39


def test_extra_cells_shift_columns_and_are_rejected(cli, tmp_path):
    rows = [[f"{n:06d}", f"Пациент{n} Тест", "01.01.1980", "", "", ""] for n in range(1, 40)]
    rows.append(["000050", "Иванов", "Иван", "01.01.1980", "", "", "", "x"])
    path = write_csv(tmp_path / "p.csv", PATIENT_HEADERS, rows)
    result = cli("import", path)
    assert result.exit_code == 3 and "unquoted delimiter" in result.stderr


# --- idempotence, updates, staff data ---------------------------------------------------


def _stored(cli, table: str) -> list:
    """A table's rows as imported (not the digest each keeps of the cells it was read from)."""
    columns = ", ".join(r[1] for r in cli.rows(f"PRAGMA table_info({table})") if r[1] != "digest")
    return cli.rows(f"SELECT {columns} FROM {table} ORDER BY 1")


def test_reimport_is_idempotent_and_skips_an_unchanged_file(cli, patients_csv, visits_csv):
    cli("import", patients_csv, visits_csv)
    before = _stored(cli, "patients"), _stored(cli, "visits")
    out = cli.json("import", patients_csv, visits_csv)
    assert [f["outcome"] for f in out["files"]] == ["unchanged", "unchanged"]
    forced = cli.json("import", "--force", patients_csv, visits_csv)
    assert [(f["inserted"], f["updated"], f["unchanged"]) for f in forced["files"]] == [(0, 0, 3), (0, 0, 3)]
    after = _stored(cli, "patients"), _stored(cli, "visits")
    assert before == after


def test_a_full_export_again_converts_only_the_rows_that_changed(cli, tmp_path, patients_csv, monkeypatch):
    """The nightly case: the whole export again, a few rows changed. A row read from the same cells as
    last time is known by their digest and not converted again; the changed and new rows are; the
    result is what converting every row gives (--force). Read another way (another column layout),
    every row is converted again."""
    from followup.importing import run

    converted = []
    build = run.build_converter

    def counting(*args, **kwargs):
        convert = build(*args, **kwargs)

        def counted(rows, batch):
            converted.append(len(rows))
            return convert(rows, batch)
        return counted

    monkeypatch.setattr(run, "build_converter", counting)
    cli("import", patients_csv)
    cli("import", "--force", patients_csv)  # (a first import keeps no digests: the next one does)
    changed = [list(r) for r in PATIENTS]
    changed[1][3] = "8 (999) 000-11-22"
    changed.append(["000104", "Новый Пациент", "", "", "", ""])
    converted.clear()
    f = cli.json("import", write_csv(tmp_path / "p2.csv", PATIENT_HEADERS, changed))["files"][0]
    assert (f["inserted"], f["updated"], f["unchanged"]) == (1, 1, 2) and sum(converted) == 2
    assert patients_in(cli)["000102"][1] == "+79990001122"
    fast = _stored(cli, "patients")
    converted.clear()
    f = cli.json("import", "--force", tmp_path / "p2.csv")["files"][0]
    assert (f["inserted"], f["updated"], f["unchanged"]) == (0, 0, 4) and sum(converted) == 4
    assert _stored(cli, "patients") == fast
    # the same cells under the columns in another order: read another way, so converted again
    converted.clear()
    order = [1, 0, *range(2, len(PATIENT_HEADERS))]
    f = cli.json("import", write_csv(tmp_path / "p3.csv", [PATIENT_HEADERS[i] for i in order],
                                     [[r[i] for i in order] for r in changed]))["files"][0]
    assert f["unchanged"] == 4 and sum(converted) == 4 and _stored(cli, "patients") == fast


def test_changed_rows_are_updated_by_id(cli, tmp_path, patients_csv):
    cli("import", patients_csv)
    changed = [list(r) for r in PATIENTS]
    changed[1][3] = "8 (999) 000-11-22"
    changed.append(["000104", "Новый Пациент", "", "", "", ""])
    path = write_csv(tmp_path / "p2.csv", PATIENT_HEADERS, changed)
    out = cli.json("import", path)
    f = out["files"][0]
    assert (f["inserted"], f["updated"], f["unchanged"]) == (1, 1, 2)
    assert patients_in(cli)["000102"][1] == "+79990001122"


def test_columns_missing_from_a_later_export_are_left_alone(cli, tmp_path, patients_csv):
    cli("import", patients_csv)
    path = write_csv(tmp_path / "names.csv", ["Номер карты", "ФИО"], [["000101", "Иванов Иван Иванович"]])
    out = cli.json("import", path)
    assert out["files"][0]["unchanged"] == 1
    assert cli.rows("SELECT phone, email FROM patients WHERE patient_id='000101'") == [
        ("+79161234567", "ivanov@example.ru")]


def test_staff_data_survives_any_import(cli, tmp_path, patients_csv):
    cli("import", patients_csv)
    conn = sqlite3.connect(cli.db_path)
    conn.execute("INSERT INTO settings (key, value, updated_at, updated_by) VALUES ('k', 'v', 'now', 'x')")
    conn.commit()
    conn.close()
    tables_before = {t: cli.rows(f"SELECT * FROM {t}") for t in ("settings",)}
    changed = [list(r) for r in PATIENTS]
    changed[0][1] = "Иванов-Петров Иван Иванович"
    cli("import", write_csv(tmp_path / "p2.csv", PATIENT_HEADERS, changed))
    cli("import", "--full-export", "--max-missing", "50",
        write_csv(tmp_path / "p3.csv", PATIENT_HEADERS, changed[:2]))
    assert {t: cli.rows(f"SELECT * FROM {t}") for t in tables_before} == tables_before
    assert cli.count("patients") == 3  # never deleted


def test_full_export_marks_left_out_patients_missing(cli, tmp_path):
    rows = [[f"{n:06d}", f"Пациент{n} Тест", "", "", "", ""] for n in range(1, 21)]
    cli("import", write_csv(tmp_path / "p.csv", PATIENT_HEADERS, rows))
    out = cli.json("import", "--full-export", write_csv(tmp_path / "p2.csv", PATIENT_HEADERS, rows[:19]))
    assert out["files"][0]["deactivated"] == 1
    assert cli.rows("SELECT patient_id FROM patients WHERE missing_since IS NOT NULL") == [("000020",)]
    # listed again: present again
    out = cli.json("import", "--full-export", write_csv(tmp_path / "p3.csv", PATIENT_HEADERS, rows))
    assert out["files"][0]["updated"] == 1
    assert cli.rows("SELECT count(*) FROM patients WHERE missing_since IS NOT NULL") == [(0,)]


def test_truncated_full_export_writes_nothing(cli, tmp_path):
    rows = [[f"{n:06d}", f"Пациент{n} Тест", "", "", "", ""] for n in range(1, 21)]
    cli("import", write_csv(tmp_path / "p.csv", PATIENT_HEADERS, rows))
    rows[0][1] = "Изменённое Имя"
    result = cli("import", "--full-export", write_csv(tmp_path / "p2.csv", PATIENT_HEADERS, rows[:15]))
    assert result.exit_code == 65
    assert "leaves out 5 of 20 patients" in result.stderr and "truncated" in result.stderr
    assert cli.rows("SELECT count(*) FROM patients WHERE missing_since IS NOT NULL") == [(0,)]
    assert cli.rows("SELECT full_name FROM patients WHERE patient_id = '000001'") == [("Пациент1 Тест",)]


def test_dry_run_writes_nothing(cli, patients_csv, db_path, tmp_path):
    out = cli.json("import", "--dry-run", patients_csv)
    assert out["files"][0]["outcome"] == "dry-run" and out["files"][0]["inserted"] == 3
    assert not db_path.exists()  # a dry run on a new install leaves no database behind
    cli("import", patients_csv)
    changed = [list(r) for r in PATIENTS]
    changed[0][1] = "Иванов-Петров Иван"
    out = cli.json("import", "--dry-run", write_csv(tmp_path / "p2.csv", PATIENT_HEADERS, changed))
    assert (out["files"][0]["updated"], out["files"][0]["unchanged"]) == (1, 2)
    assert patients_in(cli)["000101"][0] == "Иванов Иван Иванович"


def test_lock_makes_a_second_import_exit_75(cli, patients_csv, db_path):
    import fcntl

    cli("db", "path")
    fd = os.open(str(db_path) + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        result = cli("import", patients_csv)
    finally:
        os.close(fd)
    assert result.exit_code == 75
    assert "another import is running" in result.stderr
    assert cli.count("patients") == 0
    assert cli("import", patients_csv).exit_code == 0


def test_quiet_prints_nothing_on_success(cli, patients_csv):
    result = cli("import", "--quiet", patients_csv)
    assert result.exit_code == 0 and result.output == ""


def test_every_run_is_recorded_without_personal_data(cli, patients_csv, visits_csv, tmp_path):
    cli("import", patients_csv, visits_csv)
    cli("import", tmp_path / "missing.csv")
    runs = cli.json("import", "--history")
    assert len(runs) == 1  # the run of a file that was not there never started
    run = runs[0]
    assert run["outcome"] == "ok" and run["user"] == "test-admin"
    assert [(f["kind"], f["rows_read"], f["inserted"]) for f in run["files"]] == [("patients", 3, 3),
                                                                                  ("visits", 3, 3)]
    assert all(len(f["sha256"]) == 64 for f in run["files"])
    dump = json.dumps(runs, ensure_ascii=False)
    for name, phone in (("Иванов", "916"), ("Петрова", "903")):
        assert name not in dump and phone not in dump


def test_failed_file_is_recorded(cli, tmp_path, patients_csv):
    (tmp_path / "in" / "broken.csv").write_bytes(b"\x00\x00")
    result = cli("import", patients_csv.parent)
    assert result.exit_code == 65
    assert cli.count("patients") == 3  # the good file in the same run still landed
    run = cli.json("import", "--history")[0]
    assert run["outcome"] == "partial"
    assert {f["outcome"] for f in run["files"]} == {"failed", "imported"}


def _index_names(cli, table):
    return sorted(r[1] for r in cli.rows(f"PRAGMA index_list({table})") if not r[1].startswith("sqlite_autoindex"))


@pytest.mark.slow
def test_a_large_first_import_builds_indexes_once_and_keeps_them(cli, tmp_path, patients_csv):
    """Files over 1 MB on an empty table: indexes dropped and rebuilt in the same transaction."""
    cli("import", patients_csv)
    indexes = _index_names(cli, "visits")
    assert len(indexes) >= 3
    rows = [[f"V{n:07d}", ("000101", "000102", "000103")[n % 3], "Смирнова Анна Петровна",
             f"{1 + n % 28:02d}.{1 + n % 12:02d}.2025", ("Лечение", "Профгигиена", "Консультация")[n % 3],
             "01.02.2026" if n % 50 == 0 else ""] for n in range(30_000)]
    big = write_csv(tmp_path / "visits.csv", VISIT_HEADERS, rows)
    assert big.stat().st_size > (1 << 20)
    # a dry run rolls the dropped indexes back too
    assert cli.json("import", "--dry-run", big)["files"][0]["inserted"] == 30_000
    assert _index_names(cli, "visits") == indexes and cli.count("visits") == 0
    # a duplicate deep in the file: that group is written again row by row, the rest stays fast
    dup = write_csv(tmp_path / "visits2.csv", VISIT_HEADERS, rows + [rows[12_345]])
    result = cli("import", dup)
    assert result.exit_code == 3 and "line 30002" in result.stderr and "duplicate identifier" in result.stderr
    assert cli.count("visits") == 30_000
    assert _index_names(cli, "visits") == indexes
    assert cli.rows("PRAGMA integrity_check") == [("ok",)]
    assert cli.rows("SELECT count(*) FROM visits INDEXED BY visits_control_due WHERE control_due IS NOT NULL") \
        == [(600,)]
    # read again (--force): each row keeps the digest of its cells, their index built once at the end;
    # then the file with a row changed is known by them but for that row
    assert cli("import", "--force", dup).exit_code == 3
    assert _index_names(cli, "visits") == indexes
    assert cli.rows("SELECT count(*) FROM visits INDEXED BY visits_digest WHERE digest IS NOT NULL") == [(30_000,)]
    rows[7][4] = "Лечение" if rows[7][4] != "Лечение" else "Консультация"
    f = cli.json("import", write_csv(tmp_path / "visits3.csv", VISIT_HEADERS, rows))["files"][0]
    assert (f["inserted"], f["updated"], f["unchanged"]) == (0, 1, 29_999)
    assert cli.rows("PRAGMA integrity_check") == [("ok",)]
