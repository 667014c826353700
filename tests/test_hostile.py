"""Hostile and broken export files: each gives its exit code and one clear message, never a traceback
and never a name or phone from the file, and a file refused as a whole leaves the database exactly
as it was.

The corpus is committed in tests/hostile/ (one file per case below; `python tests/test_hostile.py`
writes it again from the makers), except the 10 MB one, made at test time.
"""

import re
import shutil
import sqlite3
import zipfile
from pathlib import Path

import pytest
from openpyxl import Workbook

from conftest import PATIENT_HEADERS, PATIENTS, write_csv

GOOD = "Номер карты;ФИО;Дата рождения;Телефон\r\n" + "".join(
    f"{n:06d};Пациент{n} Тестов;01.01.1980;8916{n:07d}\r\n" for n in range(1, 41))


def cp(text: str) -> bytes:
    return text.encode("cp1251")


def xlsx(path, rows):
    wb = Workbook()
    for r in rows:
        wb.active.append(r)
    wb.save(path)


CASES = {
    # name: (file maker, expected exit code, a piece of the message)
    "empty.csv": (lambda p: p.write_bytes(b""), 65, "empty"),
    "header_only.csv": (lambda p: p.write_bytes(cp("Номер карты;ФИО\r\n")), 65, "no data rows"),
    "blank_lines_only.csv": (lambda p: p.write_bytes(cp("Номер карты;ФИО\r\n\r\n  \r\n;\r\n")), 65, "no data rows"),
    "binary.csv": (lambda p: p.write_bytes(bytes(range(256)) * 50), 65, ""),
    "nul_bytes.csv": (lambda p: p.write_bytes(cp(GOOD).replace(b"\r\n", b"\x00\r\n", 3)), 65, "NUL"),
    "truncated_mid_row.csv": (lambda p: p.write_bytes(cp(GOOD + "000041;Обрыв")), 3, "truncated"),
    "mixed_line_endings.csv": (lambda p: p.write_bytes(cp(GOOD).replace(b"\r\n", b"\n", 20)), 0, ""),
    "unclosed_quote.csv": (lambda p: p.write_bytes(cp(GOOD + '000041;"Незакрытая кавычка;01.01.1980;\r\n')), 65,
                           "broken CSV"),
    "unclosed_quote_two_columns.csv": (lambda p: p.write_bytes(cp('Номер карты;ФИО\r\n000001;Первый\r\n'
                                                                  '000002;"Незакрытая;\r\n000003;Третий\r\n')), 65,
                                       "broken CSV"),
    "text_after_closing_quote.csv": (lambda p: p.write_bytes(cp('Номер карты;ФИО\r\n000001;"Первый"Пациент\r\n')),
                                     65, "broken CSV"),
    "huge_field.csv": (lambda p: p.write_bytes(cp("Номер карты;ФИО\r\n000001;" + "Я" * 10_000_000 + "\r\n")), 65,
                       "broken CSV"),
    "duplicate_ids.csv": (lambda p: p.write_bytes(cp(GOOD + "000001;Двойник Первого;;\r\n")), 3, "duplicate"),
    "wrong_encoding_koi8.csv": (lambda p: p.write_bytes(GOOD.encode("koi8_r")), 65, "mojibake"),
    "wrong_encoding_cp866.csv": (lambda p: p.write_bytes(GOOD.encode("cp866")), 65, "mojibake"),
    "mojibake_utf8_as_cp1251.csv": (lambda p: p.write_text(GOOD.encode("utf-8").decode("cp1251", "ignore"),
                                                           encoding="utf-8"), 65, "mojibake"),
    "replacement_chars.csv": (lambda p: p.write_text(GOOD.replace("Тестов", "Т\ufffd\ufffdстов"), encoding="utf-8"),
                              65, "mojibake"),
    "formula_payloads.csv": (lambda p: p.write_bytes(cp(GOOD + '000041;"=HYPERLINK(""http://x"")";;+79161234567\r\n'
                                                     "000042;@SUM(A1);;-1\r\n")), 0, ""),
    "impossible_date.csv": (lambda p: p.write_bytes(cp(GOOD + "000041;Фёдоров Фёдор;31.02.1980;\r\n")), 3,
                            "impossible date"),
    "date_out_of_range.csv": (lambda p: p.write_bytes(cp(GOOD + "000041;Фёдоров Фёдор;01.13.1980;\r\n"
                                                         "000042;Петров Пётр;01.01.19800;\r\n")), 3, "date"),
    "foreign_phones.csv": (lambda p: p.write_bytes(cp(GOOD + "000041;Smith John;;+44 20 7946 0958\r\n")), 0, ""),
    "unquoted_delimiter.csv": (lambda p: p.write_bytes(cp(GOOD + "000041;Иванов;Иван;01.01.1980;89161234567\r\n")),
                               3, "unquoted delimiter"),
    "unknown_headers.csv": (lambda p: p.write_bytes(cp("Колонка А;Колонка Б\r\n1;2\r\n")), 65, "cannot tell"),
    "missing_required_column.csv": (lambda p: p.write_bytes(cp("ФИО;Телефон;Дата рождения\r\nИванов;1;2\r\n")), 65,
                                    "cannot tell"),
    "unknown_status.csv": (lambda p: p.write_bytes(cp("Номер карты;ФИО;Статус\r\n" + "".join(
        f"{n:06d};Пациент {n};Активен\r\n" for n in range(40)) + "000099;Странный;Космонавт\r\n")), 3,
                           "unknown value"),
    "every_row_bad.csv": (lambda p: p.write_bytes(cp("Номер карты;ФИО;Дата рождения\r\n" + "".join(
        f"{n:06d};Пациент {n};32.01.1980\r\n" for n in range(10)))), 65, "rows rejected"),
    "duplicate_header.csv": (lambda p: p.write_bytes(cp("Номер карты;ФИО;ФИО\r\n000001;Первый;Второй\r\n")), 0, ""),
    "bom_and_tabs.csv": (lambda p: p.write_bytes("\ufeffНомер карты\tФИО\r\n000001\tПервый Пациент\r\n"
                                                 .encode("utf-8")), 0, ""),
    "quoted_newlines.csv": (lambda p: p.write_bytes(cp('Номер карты;ФИО\r\n000001;"Многострочное\r\nимя"\r\n')), 0,
                            ""),
    "broken.xlsx": (lambda p: p.write_bytes(b"PK\x03\x04" + b"garbage" * 100), 65, "not a readable .xlsx"),
    "not_zip.xlsx": (lambda p: p.write_bytes(b"this is text, not a workbook"), 65, ""),
    "empty_sheet.xlsx": (lambda p: xlsx(p, []), 65, "empty"),
    "zip_without_workbook.xlsx": (lambda p: zipfile.ZipFile(p, "w").writestr("hello.txt", "hi"), 65, ""),
    "visits_unknown_patients.csv": (lambda p: p.write_bytes(cp("Номер визита;Номер карты;Дата визита\r\n" + "".join(
        f"V{n};999{n};01.01.2026\r\n" for n in range(10)))), 65, "rows rejected"),
    "appointment_bad_time.csv": (lambda p: p.write_bytes(cp("Номер записи;Номер карты;Дата и время\r\n" + "".join(
        f"Z{n};{n:06d};01.12.2026 10:00\r\n" for n in range(1, 4)) + "Z9;000001;01.12.2026 25:00\r\n")), 65,
                                 "rows rejected"),
}


CORPUS = Path(__file__).resolve().parent / "hostile"
MADE_AT_TEST_TIME = {"huge_field.csv"}  # 10 MB
# what the corpus files hold about people: none of it may reach a message
PERSONAL = re.compile(r"Тестов|Пациент|Фёдоров|Двойник|Smith|Незакрыт|Многострочн|8916\d|\+7916|7946")


def write_corpus(where: Path = CORPUS) -> None:
    where.mkdir(exist_ok=True)
    for name, (make, _, _) in CASES.items():
        if name not in MADE_AT_TEST_TIME:
            make(where / name)


def snapshot(path):
    conn = sqlite3.connect(path)
    try:
        return {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall()
                for t in ("patients", "visits", "appointments", "plan_stages", "consents", "households")}
    finally:
        conn.close()


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_file(cli, tmp_path, name):
    cli("import", write_csv(tmp_path / "base.csv", PATIENT_HEADERS, PATIENTS))
    before = snapshot(cli.db_path)
    make, code, needle = CASES[name]
    path = tmp_path / "in" / name
    path.parent.mkdir()
    if name in MADE_AT_TEST_TIME:
        make(path)
    else:
        shutil.copyfile(CORPUS / name, path)
    r = cli("import", path)
    assert r.exit_code == code, (name, r.exit_code, r.output[-500:])
    assert "Traceback" not in r.output
    assert not PERSONAL.search(r.output), r.output[:300]
    history = cli("import", "--history", "--format", "json").stdout
    assert not PERSONAL.search(history)  # nor in the import's records
    if code:
        assert r.stderr.startswith("Error: ") or "line " in r.stderr, r.stderr[:300]
        assert needle in r.stderr, (needle, r.stderr[:300])
    if code == 65:
        assert snapshot(cli.db_path) == before  # refused as a whole: nothing changed
    assert cli.rows("PRAGMA integrity_check") == [("ok",)]


def test_a_directory_of_unknown_files(cli, tmp_path):
    d = tmp_path / "exports"
    d.mkdir()
    (d / "notes.pdf").write_bytes(b"%PDF-1.4")
    (d / "~$lock.xlsx").write_bytes(b"x")
    r = cli("import", d)
    assert r.exit_code == 65 and "no CSV or .xlsx files" in r.stderr


def test_the_corpus_is_committed():
    committed = {p.name for p in CORPUS.iterdir() if p.is_file()}  # (the damaged workbooks: workbooks/)
    assert committed == set(CASES) - MADE_AT_TEST_TIME
    assert len(CASES) >= 30


if __name__ == "__main__":
    write_corpus()


WORKBOOKS = Path(__file__).parent / "hostile" / "workbooks"  # made by its make.py from lo_patients.xlsx


def test_a_night_of_damaged_workbooks_goes_on_and_says_what_happened_to_each(cli, tmp_path):
    """41 damaged workbooks (truncated, bad zip, broken or missing parts, XML bombs, encrypted, not a
    workbook at all) and a good one after them, in one directory: each damaged one is one line and
    "failed" in the run's record, or read as far as it is sound; the good one is imported; the run
    is "partial", no file is left "running", and no value from a file is in a message."""
    night = tmp_path / "night"
    shutil.copytree(WORKBOOKS, night, ignore=shutil.ignore_patterns("*.py"))
    shutil.copy(Path(__file__).parent / "exports" / "lo_patients.xlsx", night / "zz_good.xlsx")
    r = cli("import", night)
    assert r.exit_code == 65, r.output
    [run] = cli.json("import", "--history")[:1]
    outcomes = {Path(f["path"]).name: f["outcome"] for f in run["files"]}
    assert len(outcomes) == 42 and outcomes["zz_good.xlsx"] == "imported" and run["outcome"] == "partial"
    assert set(outcomes.values()) == {"imported", "failed"}
    failed = [name for name, outcome in outcomes.items() if outcome == "failed"]
    assert len(failed) >= 30
    errors = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(errors) == len(failed) and all(any(name in line for name in failed) for line in errors)
    for secret in ("Иванова", "Петров", "916", "495"):
        assert secret not in r.stderr
    assert {r[0] for r in cli.rows("SELECT full_name FROM patients")} >= {
        "Иванова Анна Петровна", "Петров Пётр Ильич", "Сидорова Мария Ивановна"}
