"""Damaged or wrong databases get one line that names the real cause, never a value and never an
internal error; `check` answers whatever the damage; a full disk says so."""

import json
import sqlite3

import pytest

from followup import db


@pytest.fixture
def clinic(cli, patients_csv):
    assert cli("import", patients_csv).exit_code == 0
    return cli


def one_line(r) -> str:
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "internal error" not in r.stderr, r.output
    return lines[0]


@pytest.mark.parametrize("command", [["today"], ["check"], ["patient", "find", "x"]])
def test_an_empty_file_is_no_clinic(cli, tmp_path, command):
    empty = tmp_path / "cut-short.db"
    empty.write_bytes(b"")
    r = cli("--db", empty, *command)
    assert r.exit_code == 74 and "is an empty file, not a followup database" in one_line(r)
    assert empty.stat().st_size == 0  # never made into an empty clinic


def test_another_programs_database_is_left_alone(cli, tmp_path):
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE notes (text TEXT)")
    conn.commit()
    conn.close()
    for command in (["today"], ["check"], ["import", "--history"]):
        r = cli("--db", other, *command)
        assert r.exit_code == 74 and "an SQLite database of another program" in one_line(r)
    conn = sqlite3.connect(other)
    assert [r[0] for r in conn.execute("SELECT name FROM sqlite_master")] == ["notes"]


def test_a_text_with_broken_bytes_is_named_by_its_column_never_shown(clinic):
    conn = sqlite3.connect(clinic.db_path)
    conn.execute("UPDATE patients SET full_name = CAST(X'D098D0B2D0B0FF6E6F7621' AS TEXT) WHERE patient_id = '000101'")
    conn.commit()
    conn.close()
    r = clinic("patient", "show", "000101")
    line = one_line(r)
    assert r.exit_code == 74 and "not valid UTF-8 (column full_name)" in line
    assert "Ива" not in line and "nov" not in line and "\ufffd" not in line
    r = clinic("check")
    assert r.exit_code == 1 and "patients.full_name: 1 texts not valid UTF-8" in r.stdout
    assert json.loads(clinic("check", "--format", "json").stdout)["not_utf8"] == {"patients.full_name": 1}


def test_a_full_disk_is_said_as_such_and_writes_nothing(clinic):
    """SQLite's own limit stands in for the disk (max_page_count): the write fails as on a full disk."""
    from followup.actions.contacts import record_consent
    import datetime as dt

    conn = db.connect(clinic.db_path, create=False)
    before = conn.execute("SELECT count(*) FROM consents").fetchone()[0]
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")
    with pytest.raises(sqlite3.OperationalError) as full:
        for k in range(200):  # until a new page is needed
            record_consent(conn, "000101", purposes=["recall"], channels=["call"], note="x" * 3000, by="t",
                           now=dt.datetime(2026, 11, 23, 10, k % 60))
    assert "full" in str(full.value) and "rollback" not in str(full.value)
    assert not conn.in_transaction
    assert "the disk is full: nothing was written" in str(db.fault(str(full.value)))
    conn.execute("PRAGMA max_page_count = 1073741823")
    assert conn.execute("SELECT count(*) FROM consents").fetchone()[0] >= before
    assert clinic("check").exit_code == 0


def test_a_value_taken_as_a_default_is_counted_never_quoted(clinic, tmp_path):
    from conftest import write_csv

    v = write_csv(tmp_path / "v.csv", ["Номер визита", "Номер карты", "Врач", "Дата визита", "Вид приёма"],
                  [["V1", "000101", "Козлов", "01.11.2026", "Иванова Мария +79161234567"],
                   ["V2", "000101", "Козлов", "02.11.2026", "Что-то"], ["V3", "000101", "Козлов", "03.11.2026", "Что-то"]])
    r = clinic("import", v)
    assert r.exit_code == 0
    assert "3 rows whose kind (column 'Вид приёма') the mapping does not name, 2 different values" in r.stdout
    assert "Иванова" not in r.stdout and "7916" not in r.stdout and "Что-то" not in r.stdout


def test_the_quick_check_finds_a_damaged_page_too(clinic):
    """`check --quick` (the nightly cron's: SQLite's quick_check and the schema) says ok of a healthy
    file, and finds a table's page overwritten on disk, as the full check does."""
    r = clinic("check", "--quick")
    assert r.exit_code == 0 and r.stdout.startswith("ok (schema m0") and "quick check" in r.stdout
    assert json.loads(clinic("check", "--quick", "--format", "json").stdout)["quick"] is True
    conn = sqlite3.connect(clinic.db_path)
    page = conn.execute("PRAGMA page_size").fetchone()[0]
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'contacts'").fetchone()[0]
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    with open(clinic.db_path, "r+b") as fh:  # a table's root page overwritten: a disk's damage
        fh.seek((root - 1) * page)
        fh.write(b"\xff" * 64)
    for command in (["check", "--quick"], ["check"]):
        r = clinic(*command)
        assert r.exit_code == 1 and r.stdout.startswith("PROBLEMS: ") and len(r.stdout.splitlines()) == 1, command
