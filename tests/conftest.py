import csv
import json
import sqlite3
from pathlib import Path

import freezegun
import pytest
from typer.testing import CliRunner

from followup.cli import app

# the tests' frozen clocks are for followup only: pytest's own timings (--durations) stay real
freezegun.configure(extend_ignore_list=["_pytest"])


def _command_built_once():
    """Typer builds the whole command tree (~76 commands) on every CliRunner.invoke: 32 ms, thousands
    of times a run. Built once here and used again, until a run translates its help texts in place (a
    run in Russian, or a help page: cli.core._translate_help); the run after that gets a fresh copy of
    the tree as built. (A deep copy for every run cost 7 ms each: about 10 s of the suite.)"""
    import copy

    import typer.testing

    from followup import i18n
    from followup.cli import core

    build, pristine, built, translated = typer.testing._get_command, {}, {}, set()

    def command(app):
        if id(app) not in pristine:
            pristine[id(app)] = build(app)
        if id(app) not in built or id(app) in translated:  # a copy of the tree as built (7 ms; building: 32)
            built[id(app)] = copy.deepcopy(pristine[id(app)])
            translated.discard(id(app))
        return built[id(app)]

    translate = core._translate_help

    def translating(group, argv):
        if "--help" in argv or not argv or i18n.language() != "en":
            translated.update(built)  # the tree in use is changed by this run: the next one gets a fresh copy
        translate(group, argv)

    typer.testing._get_command = command
    core._translate_help = translating


_command_built_once()

ENV = {"COLUMNS": "200", "_TYPER_FORCE_DISABLE_TERMINAL": "1"}


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """No test touches a real database: FOLLOWUP_DB points into the test's temp dir."""
    monkeypatch.setenv("FOLLOWUP_DB", str(tmp_path / "followup.db"))
    monkeypatch.setenv("FOLLOWUP_USER", "test-admin")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    # English unless a test asks otherwise, whatever the machine's locale
    for var in ("FOLLOWUP_LANG", "LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("LANG", "C.UTF-8")
    from followup import i18n

    i18n.set_language("en")  # a command run in Russian by an earlier test leaves no trace


@pytest.fixture
def db_path(tmp_path) -> Path:
    return tmp_path / "followup.db"


class Cli:
    def __init__(self, db_path: Path):
        self.db_path = db_path
        self.runner = CliRunner()

    def __call__(self, *args, input=None):
        return self.runner.invoke(app, [str(a) for a in args], env=ENV, input=input, catch_exceptions=False)

    def at_width(self, columns: int, *args):
        """The command on a terminal this many columns wide (the others run at 200)."""
        return self.runner.invoke(app, ["--db", str(self.db_path), *map(str, args)], env={"COLUMNS": str(columns)},
                                  catch_exceptions=False)

    def json(self, *args):
        result = self(*args, "--format", "json")
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    def rows(self, sql, params=()):
        conn = sqlite3.connect(self.db_path)
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()

    def count(self, table):
        if not self.db_path.exists():
            return 0
        return self.rows(f"SELECT count(*) FROM {table}")[0][0]


@pytest.fixture
def cli(db_path) -> Cli:
    return Cli(db_path)


def write_csv(path: Path, headers, rows, *, encoding="cp1251", delimiter=";", newline="\r\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding=encoding, newline="") as fh:
        w = csv.writer(fh, delimiter=delimiter, lineterminator=newline)
        w.writerow(headers)
        w.writerows(rows)
    return path


PATIENT_HEADERS = ["Номер карты", "ФИО", "Дата рождения", "Телефон", "E-mail", "Статус"]
PATIENTS = [
    ["000101", "Иванов Иван Иванович", "01.02.1980", "8 (916) 123-45-67", "ivanov@example.ru", "Активен"],
    ["000102", "Петрова Мария Сергеевна", "15.07.1975", "+7 903 765 43 21", "", ""],
    ["000103", "Сидоров Пётр", "31.12.1990", "12-34", "", "Архив"],
]
VISIT_HEADERS = ["Номер визита", "Номер карты", "Врач", "Дата визита", "Вид приёма", "Дата контроля"]
VISITS = [
    ["V1", "000101", "Смирнова Анна Петровна", "10.01.2026", "Консультация", ""],
    ["V2", "000101", "Смирнова Анна Петровна", "20.01.2026", "Окончание лечения", "20.04.2026"],
    ["V3", "000102", "Новикова Елена Сергеевна", "05.03.2026", "Профгигиена", ""],
]


@pytest.fixture
def patients_csv(tmp_path) -> Path:
    return write_csv(tmp_path / "in" / "patients.csv", PATIENT_HEADERS, PATIENTS)


@pytest.fixture
def visits_csv(tmp_path) -> Path:
    return write_csv(tmp_path / "in" / "visits.csv", VISIT_HEADERS, VISITS)


def renumbered_visits(src: Path, dst: Path, prefix: str) -> int:
    """The visits of another generated clinic, with visit numbers of their own: all new rows."""
    with open(src, encoding="cp1251", newline="") as fin, open(dst, "w", encoding="cp1251", newline="") as fout:
        reader, writer = csv.reader(fin, delimiter=";"), csv.writer(fout, delimiter=";", lineterminator="\r\n")
        writer.writerow(next(reader))
        n = 0
        for row in reader:
            row[0] = prefix + row[0]
            writer.writerow(row)
            n += 1
    return n


def clinic_with_new_visits(where: Path, *, patients: int, visits_per_patient: float, new_visits_per_patient: float,
                           seed: int) -> tuple[Path, Path, int]:
    """A generated clinic imported with the staff's consents, and a large file of new visits for the same
    patients still to import: (database, visits file, its rows)."""
    import datetime as dt

    from followup import db
    from followup.demo import staff_records, write_clinic
    from followup.importing import ImportOptions, import_paths

    today = dt.date.today()
    base = write_clinic(where / "base", today=today, patients=patients, visits_per_patient=visits_per_patient, seed=seed)
    more = write_clinic(where / "more", today=today, patients=patients, visits_per_patient=new_visits_per_patient,
                        seed=seed + 1)
    rows = renumbered_visits(more.visits, where / "visits-new.csv", "N")
    path = where / "clinic.db"
    conn = db.connect(path)
    import_paths(conn, path, [base.patients, base.visits, base.appointments, base.plans], ImportOptions(user="t"),
                 today=today)
    consents, _ = staff_records([r[0] for r in conn.execute("SELECT patient_id FROM patients")], today=today,
                                seed=seed)
    db.add_consents(conn, consents)
    conn.close()
    return path, where / "visits-new.csv", rows


def pytest_collection_modifyitems(config, items):
    """The long end-to-end tests (marked slow) first, so that the parallel workers share them out
    before the short ones fill the gaps: the suite ends when its last long test does."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def copied(src: Path, dst: Path) -> Path:
    """A copy of a database (SQLite's backup: consistent whatever its WAL holds), for a test to change."""
    a, b = sqlite3.connect(src), sqlite3.connect(dst)
    try:
        a.backup(b)
    finally:
        a.close()
        b.close()
    return dst


def built_once(tmp_path_factory, name: str, build):
    """What ``build(directory)`` returns, built once for the whole run however many test workers ask:
    the first builds it in a directory they share, the others wait for it. (The crash tests' clinic,
    the day-plan tests' demo: seconds each.) Read-only for the tests, which copy what they change."""
    import os
    import pickle
    import time

    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the workers' temp dirs share this parent
    where, lock, done = root / f"built-{name}", root / f"built-{name}.lock", root / f"built-{name}.pickle"
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        deadline = time.monotonic() + 600
        while not done.exists():
            assert time.monotonic() < deadline, f"{name} was never built"
            time.sleep(0.1)
        return pickle.loads(done.read_bytes())
    os.close(fd)
    where.mkdir()
    value = build(where)
    partial = done.with_suffix(".partial")
    partial.write_bytes(pickle.dumps(value))
    partial.replace(done)
    return value
