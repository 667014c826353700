"""Exports as clinics really produce them: workbooks saved by LibreOffice (committed in
tests/exports/, see make.py there), date-times, phone cells as people type them, report layouts,
several layouts in one night."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import PATIENT_HEADERS, PATIENTS, VISIT_HEADERS, VISITS, write_csv
from followup.phones import read_phone_cell

EXPORTS = Path(__file__).parent / "exports"
README = Path(__file__).parent.parent / "README.md"


def copy(name: str, tmp_path: Path, as_name: str | None = None) -> Path:
    dst = tmp_path / "in" / (as_name or name)
    dst.parent.mkdir(exist_ok=True)
    shutil.copy(EXPORTS / name, dst)
    return dst


def mapping(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- dates and times -------------------------------------------------------------------------

APPOINTMENT_HEADERS = ["ID записи", "Номер карты", "Врач", "Дата и время", "Статус"]


def test_a_date_format_reads_the_time_after_it_and_a_date_alone(cli, tmp_path, patients_csv):
    cli("import", patients_csv)
    appointments = write_csv(tmp_path / "a.csv", APPOINTMENT_HEADERS, [
        ["A1", "000101", "Козлов Д.С.", "16.06.2026 10:30", "записан"],
        ["A2", "000102", "Козлов Д.С.", "16.06.2026 9:05:00", "записан"],
        ["A3", "000102", "Козлов Д.С.", "17.06.2026", "записан"]])
    visits = write_csv(tmp_path / "v.csv", VISIT_HEADERS, [
        ["V1", "000101", "Козлов Д.С.", "16.06.2026 10:30", "лечение", "16.12.2026"]])
    for fmt in ("%d.%m.%Y", "%d.%m.%Y %H:%M"):
        m = mapping(tmp_path, "m.toml", f'date_format = "{fmt}"\n')
        result = cli("import", "--force", "--mapping", m, appointments, visits)
        assert result.exit_code == 0, result.output
        assert cli.rows("SELECT appointment_id, start FROM appointments ORDER BY 1") == [
            ("A1", "2026-06-16 10:30"), ("A2", "2026-06-16 09:05"), ("A3", "2026-06-17 00:00")]
        assert cli.rows("SELECT date, control_due FROM visits") == [("2026-06-16", "2026-12-16")]


def test_spreadsheet_date_cells_need_no_format(cli, tmp_path):
    """lo_appointments.xlsx: LibreOffice made date-time cells of "04.12.2026 10:30"; a mapping's
    format for text dates does not get in their way."""
    cli("import", copy("lo_patients.xlsx", tmp_path))
    m = mapping(tmp_path, "m.toml", 'date_format = "%d.%m.%Y"\n')
    result = cli("import", "--mapping", m, copy("lo_appointments.xlsx", tmp_path))
    assert result.exit_code == 0, result.output
    assert cli.rows("SELECT appointment_id, patient_id, start FROM appointments ORDER BY 1") == [
        ("A1", "123", "2026-12-04 10:30"), ("A2", "124", "2026-12-04 09:05"), ("A3", "125", "2026-12-05 16:00")]


def test_a_field_from_two_columns_and_a_format_per_column(cli, tmp_path, patients_csv):
    cli("import", patients_csv)
    path = write_csv(tmp_path / "schedule.csv", ["Запись", "Карта", "Дата", "Время начала", "Создана"], [
        ["S1", "000101", "04/12/2026", "10:30", "01.11.2026"],
        ["S2", "000102", "05/12/2026", "9:00", "01.11.2026"]])
    m = mapping(tmp_path, "m.toml", """kind = "appointments"
date_format = "%d.%m.%Y"
[columns]
appointment_id = "Запись"
patient_id = "Карта"
start = ["Дата", "Время начала"]
[formats]
start = "%d/%m/%Y"
""")
    result = cli("import", "--mapping", m, path)
    assert result.exit_code == 0, result.output
    assert cli.rows("SELECT appointment_id, start FROM appointments ORDER BY 1") == [
        ("S1", "2026-12-04 10:30"), ("S2", "2026-12-05 09:00")]
    # the column no field uses is said once, by its header (never a value)
    assert "Создана" in result.stdout and "01.11.2026" not in result.stdout


def test_no_date_markers_and_two_digit_birth_years(cli, tmp_path):
    rows = [["000101", "Иванов Иван", "01.01.27", "", "", ""],
            ["000102", "Петрова Мария", "0001-01-01", "", "", ""],
            ["000103", "Сидоров Пётр", "01.01.0001 0:00:00", "", "", ""]]
    cli("import", write_csv(tmp_path / "p.csv", PATIENT_HEADERS, rows))
    visits = write_csv(tmp_path / "v.csv", VISIT_HEADERS, [
        ["V1", "000101", "Козлов", "10.01.2026", "лечение", "01.01.0001 0:00:00"],
        ["V2", "000101", "Козлов", "11.01.2026", "лечение", "0001-01-01"],
        ["V3", "000101", "Козлов", "12.01.2026", "лечение", "00.00.0000"],
        ["V4", "000101", "Козлов", "01.01.0001", "лечение", ""]])
    result = cli("import", "--max-rejects", "50", visits)
    assert result.exit_code == 3  # V4 has no date at all: rejected, the rest imported
    assert "empty date" in result.stderr
    assert cli.rows("SELECT visit_id, control_due FROM visits ORDER BY 1") == [
        ("V1", None), ("V2", None), ("V3", None)]
    assert cli.rows("SELECT patient_id, birth_date FROM patients ORDER BY 1") == [
        ("000101", "1927-01-01"), ("000102", None), ("000103", None)]


# --- phones ----------------------------------------------------------------------------------

@pytest.mark.parametrize("cell, expected", [
    ("8 (916) 123-45-03, 8 (495) 765-43-21", (("+79161234503", True, True), ("+74957654321", True, False))),
    ("8 (495) 765-43-21, 8 916 123 45 03", (("+74957654321", True, False), ("+79161234503", True, True))),
    ("+7 916 123-45-09 моб.", (("+79161234509", True, True),)),
    ("8 916 123-45-10 (жена)", (("+79161234510", True, True),)),
    ("+7 (495) 123-45-67, доб. 123", (("+74951234567;ext=123", True, False),)),
    ("+7 (495) 123-45-67 (доб. 123)", (("+74951234567;ext=123", True, False),)),
    ("+7 495 123 45 67 ext. 12", (("+74951234567;ext=12", True, False),)),
    ("79161234567.0", (("+79161234567", True, True),)),
    (79161234567.0, (("+79161234567", True, True),)),
    ("8-800-555-35-35", (("+78005553535", True, False),)),
    ("не указан", ()), ("Нет", ()), ("-", ()), ("—", ()), ("0", ()),
    ("12-34", (("12-34", False, False),)),
])
def test_phone_cells_as_people_type_them(cell, expected):
    assert tuple(read_phone_cell(cell)) == expected


def test_phones_from_a_libreoffice_workbook(cli, tmp_path):
    result = cli("import", copy("lo_patients.xlsx", tmp_path))  # card numbers 000123... saved as 123...
    assert result.exit_code == 0, result.output
    got = {r[0].zfill(6): r[1:] for r in cli.rows(
        "SELECT patient_id, phone, phone_valid, phone_sms, phone2, phones_other FROM patients")}
    several = write_csv(tmp_path / "p.csv", ["Номер карты", "ФИО", "Телефон", "Телефон 2"], [
        ["1", "Орлова Ольга", "8 495 111-22-33, 8 495 111-22-44", "+7 916 555-66-77; 8 916 555-66-88"]])
    assert cli("import", several).exit_code == 0
    assert cli.rows("SELECT phone, phone_sms, phone2, phones_other FROM patients WHERE patient_id = '1'") == [
        ("+79165556677", 1, "+74951112233", "+74951112244, +79165556688")]
    assert "+74951112244, +79165556688" in cli("--lang", "ru", "patient", "show", "1").stdout
    assert got["000123"] == ("+79161234503", 1, 1, "+74957654321", None)   # two numbers in one cell
    assert got["000124"] == ("+79161234509", 1, 1, None, None)             # "моб."
    assert got["000126"] == ("+74951234567;ext=123", 1, 0, None, None)     # an extension: never SMS
    assert got["000127"] == (None, None, None, None, None)                 # "не указан": no number
    assert got["000128"] == (None, None, None, None, None)                 # "-"
    assert got["000129"] == ("+79161234567", 1, 1, None, None)
    assert got["000130"] == ("+78005553535", 1, 0, None, None)             # toll-free: dialled only
    assert "invalid" not in result.stdout  # no number is not a wrong number
    shown = cli("patient", "show", "126").stdout
    assert "+74951234567 ext. 123 (no SMS)" in shown
    shown = cli("--lang", "ru", "patient", "show", "123").stdout
    assert "+79161234503" in shown and "+74957654321" in shown


def test_a_number_that_cannot_take_sms_is_never_offered_for_sms(cli, tmp_path):
    from freezegun import freeze_time

    # the workbooks' appointments are on 04-05.12.2026: the consents are recorded on the list's day, as at a
    # desk (recorded later, they would not count for that day's list)
    with freeze_time("2026-12-03 10:00:00", tick=True):
        _sms_never_offered_to_a_landline(cli, tmp_path)


def _sms_never_offered_to_a_landline(cli, tmp_path):
    cli("import", copy("lo_patients.xlsx", tmp_path))
    cli("import", copy("lo_appointments.xlsx", tmp_path))  # reminders for 000123-000125 on 04-05.12
    write = write_csv(tmp_path / "p2.csv", ["Номер карты", "ФИО", "Телефон"], [
        ["000123", "Иванова Анна Петровна", "8 (495) 765-43-21"],
        ["000124", "Петров Пётр Ильич", "8 (495) 765-43-22, 8 916 123 45 09"]], encoding="utf-8")
    cli("import", write)
    for pid in ("123", "124"):
        assert cli("consent", pid, "--purpose", "reminder", "--channel", "sms").exit_code == 0
    entries = cli.json("today", "--date", "2026-12-03")
    by_patient = {e["patient_id"]: e for e in entries}
    assert by_patient["124"]["channel"] == "sms" and by_patient["124"]["phone"] == "+79161234509"
    assert "123" not in by_patient  # its only number is a landline
    why = cli("why", "123", "--date", "2026-12-03")
    assert "cannot receive SMS" in why.stdout, why.output


# --- spreadsheets as they are saved ----------------------------------------------------------

def test_card_numbers_lose_their_zeros_in_a_spreadsheet_and_still_match(cli, tmp_path, patients_csv):
    """The clinic's patients CSV says 000123; LibreOffice saved its visits as .xlsx with 123."""
    rows = [["000123", "Иванова Анна", "", "", "", ""], ["000124", "Петров Пётр", "", "", "", ""],
            ["000125", "Сидорова Мария", "", "", "", ""]]
    cli("import", write_csv(tmp_path / "p.csv", PATIENT_HEADERS, rows))
    result = cli("import", copy("lo_visits.xlsx", tmp_path))
    assert result.exit_code == 0, result.output
    assert cli.rows("SELECT visit_id, patient_id, date, control_due FROM visits ORDER BY 1") == [
        ("V1", "000123", "2026-06-16", None), ("V2", "000123", "2026-06-20", "2026-12-20"),
        ("V3", "000124", "2025-12-01", None),  # LibreOffice's #VALUE! for 01.01.0001: no date
        ("V4", "000125", "2026-02-02", None)]
    # the other way round: patients from the workbook (123...), a CSV of visits says 000123
    assert cli("import", copy("lo_patients.xlsx", tmp_path)).exit_code == 0
    assert cli.count("patients") == 8  # 000123-000125 matched, not added again as 123-125
    assert cli.rows("SELECT patient_id, phone FROM patients WHERE patient_id IN ('000124', '124')") == [
        ("000124", "+79161234509")]


def test_card_numbers_that_differ_only_in_zeros_are_never_merged(cli, tmp_path):
    rows = [["0123", "Иванова Анна", "", "", "", ""], ["123", "Петров Пётр", "", "", "", ""]]
    cli("import", write_csv(tmp_path / "p.csv", PATIENT_HEADERS, rows))
    visits = write_csv(tmp_path / "v.csv", VISIT_HEADERS, [
        ["V1", "0123", "Козлов", "10.01.2026", "лечение", ""], ["V2", "123", "Козлов", "10.01.2026", "лечение", ""],
        ["V3", "00123", "Козлов", "10.01.2026", "лечение", ""]])
    result = cli("import", "--max-rejects", "50", visits)
    assert result.exit_code == 3
    assert "leading zeros" in result.stderr and "00123" not in result.stderr
    assert cli.rows("SELECT visit_id, patient_id FROM visits ORDER BY 1") == [("V1", "0123"), ("V2", "123")]


def test_a_cell_formatted_000000_keeps_its_zeros(cli, tmp_path):
    assert cli("import", copy("lo_zero_format.xlsx", tmp_path)).exit_code == 0
    assert cli.rows("SELECT patient_id FROM patients ORDER BY 1") == [("000125",), ("000126",)]


def test_excel_escapes_are_decoded(cli, tmp_path):
    from openpyxl import Workbook

    wb = Workbook()
    wb.active.append(["Номер карты", "ФИО"])
    wb.active.append(["000001", "Иванова_x000D_ Анна"])
    wb.save(tmp_path / "p.xlsx")
    assert cli("import", tmp_path / "p.xlsx").exit_code == 0
    assert cli.rows("SELECT full_name FROM patients") == [("Иванова Анна",)]


def test_unicode_text_with_a_byte_order_mark(cli, tmp_path):
    """lo_unicode.txt: what "Unicode text" is: UTF-16 with a BOM, tab-separated. LibreOffice wrote
    its dates as the cells' format says (mm/dd/yy): a date that cannot be read as dd.mm is refused,
    never swapped, and a format for that column reads them."""
    result = cli("import", copy("lo_unicode.txt", tmp_path))
    assert result.exit_code == 65 and "unrecognised date" in result.stderr
    m = mapping(tmp_path, "m.toml", '[formats]\nbirth_date = "%m/%d/%y"\n')
    result = cli("import", "--mapping", m, copy("lo_unicode.txt", tmp_path))
    assert result.exit_code == 0, result.output
    assert cli.rows("SELECT full_name, birth_date FROM patients WHERE patient_id = '124'") == [
        ("Петров Пётр Ильич", "1927-01-01")]
    utf32 = tmp_path / "u32.csv"
    utf32.write_text("Номер карты;ФИО\n000001;Орлова Ольга\n", encoding="utf-32")
    assert cli("import", utf32).exit_code == 0
    assert cli.rows("SELECT full_name FROM patients WHERE patient_id = '000001'") == [("Орлова Ольга",)]


# --- reports, not only tables ----------------------------------------------------------------

def test_a_report_with_title_rows_on_its_second_sheet(cli, tmp_path):
    """lo_report.xlsx: a summary sheet first; "Пациенты" has title rows, then its header on row 4,
    and a total line under the table."""
    result = cli("import", copy("lo_report.xlsx", tmp_path))
    assert result.exit_code == 0, result.output
    assert cli.rows("SELECT patient_id, phone FROM patients ORDER BY 1") == [
        ("000201", "+79162000001"), ("000202", "+79162000002"), ("000203", "+79162000003")]
    # the same file with its sheet and header row named in a mapping
    m = mapping(tmp_path, "m.toml", 'sheet = "Пациенты"\nheader_row = 4\n')
    assert cli("import", "--force", "--mapping", m, copy("lo_report.xlsx", tmp_path)).exit_code == 0
    m.write_text('sheet = "Лист9"\n', encoding="utf-8")
    result = cli("import", "--force", "--mapping", m, copy("lo_report.xlsx", tmp_path))
    assert result.exit_code == 65 and "no sheet named" in result.stderr and "Пациенты" in result.stderr


def test_a_csv_report_with_title_rows_and_a_comma_in_a_header(cli, tmp_path):
    path = tmp_path / "report.csv"
    path.write_text("Список пациентов\nПериод: 01.11.2026 - 30.11.2026\n\n"
                    "№ карты;ФИО;Примечание, если есть\n000001;Орлова Ольга;\n000002;Волков Иван;звонить вечером\n",
                    encoding="cp1251")
    result = cli("import", path)
    assert result.exit_code == 0, result.output
    assert cli.rows("SELECT patient_id, full_name FROM patients ORDER BY 1") == [
        ("000001", "Орлова Ольга"), ("000002", "Волков Иван")]


# --- one bad file never sinks the night ------------------------------------------------------

@pytest.mark.parametrize("name, needle", [
    ("strict.xlsx", "Strict Open XML"), ("malformed.xlsx", "not a readable .xlsx workbook"),
])
def test_a_workbook_that_cannot_be_read_is_one_line_and_exit_65(cli, tmp_path, name, needle):
    result = cli("import", copy(name, tmp_path))
    assert result.exit_code == 65, result.output
    assert needle in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output and cli.count("patients") == 0


def test_a_password_protected_workbook(cli, tmp_path):
    path = tmp_path / "locked.xlsx"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 2000)  # what an encrypted workbook is: OLE2
    result = cli("import", path)
    assert result.exit_code == 65 and "password" in result.stderr


def test_in_a_directory_every_file_stands_alone(cli, tmp_path, patients_csv, visits_csv):
    shutil.copy(EXPORTS / "malformed.xlsx", patients_csv.parent / "broken.xlsx")
    result = cli("import", "--format", "json", patients_csv.parent)
    assert result.exit_code == 65
    files = {Path(f["path"]).name: f["outcome"] for f in json.loads(result.stdout)["files"]}
    assert files == {"broken.xlsx": "failed", "patients.csv": "imported", "visits.csv": "imported"}
    assert cli.count("patients") == 3 and cli.count("visits") == 3
    assert "broken.xlsx" in result.stderr


# --- garbled text, wherever it is -----------------------------------------------------------

def test_garbled_values_are_rejected_row_by_row(cli, tmp_path):
    rows = [[f"{n:06d}", f"Пациентова Анна{n}", "", "", "", ""] for n in range(1, 101)]
    for n in (37, 81):
        rows[n][1] = rows[n][1].encode("utf-8").decode("cp1251", errors="replace")  # "РџР°С†..."
    path = write_csv(tmp_path / "p.csv", PATIENT_HEADERS, rows, encoding="utf-8")
    result = cli("import", path)
    assert result.exit_code == 3, result.output
    assert result.stderr.count("mojibake") == 2 and "line 39" in result.stderr and "line 83" in result.stderr
    assert cli.count("patients") == 98


def test_garbling_late_in_a_big_file_is_found(cli, tmp_path):
    rows = [[f"{n:06d}", f"Пациентова Анна Сергеевна {n}", "01.01.1980", "", "", ""] for n in range(1, 6001)]
    for n in range(5000, 6000):
        rows[n][1] = rows[n][1].encode("utf-8").decode("cp1251", errors="replace")
    path = write_csv(tmp_path / "p.csv", PATIENT_HEADERS, rows, encoding="utf-8")
    assert path.stat().st_size > 256 * 1024
    result = cli("import", path)
    assert result.exit_code == 65 and "1000 of 6000 rows rejected" in result.stderr
    assert cli.count("patients") == 0


# --- several layouts in one run --------------------------------------------------------------

def three_layouts(tmp_path: Path) -> tuple[Path, list[Path]]:
    """An export directory of three systems' layouts, and the two mapping files it needs."""
    d = tmp_path / "exports"
    write_csv(d / "patients.csv", PATIENT_HEADERS, PATIENTS)
    write_csv(d / "zapisi_2026-12-03.csv", ["Запись", "Карта", "Дата", "Время начала"], [
        ["S1", "000101", "04.12.2026", "10:30"], ["S2", "000102", "04.12.2026", "11:00"]])
    write_csv(d / "posescheniya.csv", ["Посещение", "Карта пациента", "Когда", "Что делали"], [
        ["X1", "000101", "2026/03/01", "Проф. чистка"]], delimiter="|")
    zapisi = mapping(tmp_path, "zapisi.toml", """files = "zapisi*.csv"
kind = "appointments"
[columns]
appointment_id = "Запись"
patient_id = "Карта"
start = ["Дата", "Время начала"]
""")
    visits = mapping(tmp_path, "visits.toml", """date_format = "%Y/%m/%d"
[columns]
visit_id = "Посещение"
patient_id = "Карта пациента"
date = "Когда"
kind = "Что делали"
[values.kind]
"Проф. чистка" = "hygiene"
""")
    return d, [zapisi, visits]


def test_several_mappings_in_one_run(cli, tmp_path):
    d, maps = three_layouts(tmp_path)
    result = cli("import", "--mapping", maps[0], "--mapping", maps[1], d)
    assert result.exit_code == 0, result.output
    assert cli.rows("SELECT appointment_id, start FROM appointments ORDER BY 1") == [
        ("S1", "2026-12-04 10:30"), ("S2", "2026-12-04 11:00")]
    assert cli.rows("SELECT visit_id, date, kind FROM visits") == [("X1", "2026-03-01", "hygiene")]


def test_a_file_two_mappings_fit_is_an_error_naming_both(cli, tmp_path):
    d, maps = three_layouts(tmp_path)
    twin = mapping(tmp_path, "twin.toml", maps[1].read_text(encoding="utf-8"))
    result = cli("import", "--mapping", maps[0], "--mapping", maps[1], "--mapping", twin, d)
    assert result.exit_code == 2
    assert "visits.toml" in result.stderr and "twin.toml" in result.stderr and "posescheniya.csv" in result.stderr
    assert cli.count("visits") == 0 and cli.count("appointments") == 2  # the other files stand alone


def test_the_readme_cron_line_as_written(tmp_path):
    """The README's crontab line, run by a shell with cron's PATH, on a directory of all four kinds."""
    line = next(ln for ln in README.read_text(encoding="utf-8").splitlines() if re.match(r"^30 2 \* \* \* ", ln))
    command = line.split(None, 5)[5]
    exports = tmp_path / "exports"
    write_csv(exports / "patients.csv", PATIENT_HEADERS, PATIENTS)
    write_csv(exports / "visits.csv", VISIT_HEADERS, VISITS)
    write_csv(exports / "appointments.csv", APPOINTMENT_HEADERS, [["A1", "000101", "Козлов", "04.12.2026 10:30", ""]])
    write_csv(exports / "plans.csv", ["ID плана", "Номер карты", "Этап", "Описание этапа", "Срок"],
              [["P1", "000101", "1", "Имплантация", "01.02.2027"]])
    command = (command.replace("/srv/exports/", str(exports) + "/")
               .replace("/var/lib/followup/clinic.db", str(tmp_path / "clinic.db"))
               .replace("/opt/followup/bin/python", sys.executable))
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8"}  # cron's PATH, nothing more
    done = subprocess.run(["/bin/sh", "-c", command], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and done.stderr == ""  # --quiet: cron mails nothing on success
    import sqlite3

    conn = sqlite3.connect(tmp_path / "clinic.db")
    counts = [conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
              for t in ("patients", "visits", "appointments", "plan_stages")]
    conn.close()
    assert counts == [3, 3, 1, 1]
    # the nightly quick check: nothing to mail on a healthy database, the problem's line on a damaged one
    check = next(ln for ln in README.read_text(encoding="utf-8").splitlines() if re.match(r"^15 2 \* \* \* ", ln))
    check = (check.split(None, 5)[5].replace("/var/lib/followup/clinic.db", str(tmp_path / "clinic.db"))
             .replace("/opt/followup/bin/python", sys.executable))
    done = subprocess.run(["/bin/sh", "-c", check], env=env, capture_output=True, text=True, timeout=120)
    assert done.stdout == "" and done.stderr == "", done.stdout + done.stderr
    (tmp_path / "clinic.db").write_bytes(b"SQLite format 3\x00" + b"\xff" * 4000)  # damaged beyond reading
    done = subprocess.run(["/bin/sh", "-c", check], env=env, capture_output=True, text=True, timeout=120)
    assert (done.stdout + done.stderr).strip(), "a damaged database is reported"


def test_full_export_is_for_the_patients_file_of_a_directory(cli, tmp_path, patients_csv, visits_csv):
    first = cli.json("import", "--full-export", patients_csv.parent)
    assert [f["outcome"] for f in first["files"]] == ["imported", "imported"]
    again = cli.json("import", "--full-export", patients_csv.parent)
    assert [f["outcome"] for f in again["files"]] == ["unchanged", "unchanged"]
    # without --full-export the visits file is the same file: still skipped
    assert [f["outcome"] for f in cli.json("import", visits_csv)["files"]] == ["unchanged"]


def test_a_dry_run_counts_the_patients_of_the_same_run(cli, tmp_path, patients_csv, visits_csv):
    out = cli.json("import", "--dry-run", patients_csv.parent)
    assert [(f["kind"], f["outcome"], f["inserted"], f["rejected"]) for f in out["files"]] == [
        ("patients", "dry-run", 3, 0), ("visits", "dry-run", 3, 0)]


# --- the field reference ---------------------------------------------------------------------

def test_the_readme_field_reference_is_the_code_s(cli):
    text = README.read_text(encoding="utf-8")
    start = text.index("<!-- fields: followup --lang en import --fields --format md -->")
    table = text[start:text.index("<!-- /fields -->")].split("\n", 1)[1].strip()
    assert table == cli("--lang", "en", "import", "--fields", "--format", "md").stdout.strip()


def test_the_field_reference_in_russian_and_json(cli):
    ru = cli("--lang", "ru", "import", "--fields", "--format", "md").stdout
    assert "номер карты пациента" in ru
    rows = cli.json("import", "--fields")
    assert {(r["kind"], r["field"]) for r in rows if r["required"]} == {
        ("patients", "patient_id"), ("visits", "visit_id"), ("visits", "patient_id"), ("visits", "date"),
        ("appointments", "appointment_id"), ("appointments", "patient_id"), ("appointments", "start"),
        ("plans", "plan_id"), ("plans", "patient_id"), ("plans", "stage")}
