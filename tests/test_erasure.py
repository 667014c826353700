"""The right to erasure always works and stays done: `patient forget` after every outcome and record
kind, nothing left in the file or beside it, no copy made, readers waited for, and an export that
brings the patient back brings no consent with it."""

import datetime as dt
import sqlite3

import pytest
from freezegun import freeze_time

from conftest import Cli, built_once, copied, write_csv

DAY = dt.date(2026, 11, 23)
OUTCOMES = ("reached", "no-answer", "busy", "wrong-number", "declined", "booked", "call-back")


def card(k: int) -> str:
    return f"ERASE-CARD-{k:02d}"


def name(k: int) -> str:
    return f"Стираемова{k:02d} Анна Петровна"


def phone(k: int) -> str:
    return f"8916777{k:04d}"


def secrets_of(k: int) -> list[bytes]:
    return [s.encode("utf-8") for s in (card(k), f"Стираемова{k:02d}", f"7916777{k:04d}", f"anna{k:02d}@example.ru",
                                        f"заметка-{k:02d}", f"жалоба-{k:02d}", f"отзыв-{k:02d}")]


def leftovers(directory, secrets) -> list[str]:
    """Every file beside the database (the database, its log, copies, leftovers) that holds a secret."""
    return [f"{p.name}: {s.decode()}" for p in directory.iterdir() if p.is_file()
            for s in secrets if s in p.read_bytes()]


class At(Cli):
    """The CLI on a database of its own (the fixture's, built once)."""

    def __call__(self, *args, input=None):
        return super().__call__("--db", self.db_path, *args, input=input)


def _build(where):
    """The clinic of these tests: nine patients, each with a treatment that ended 8 days ago (a survey call is due), a hygiene
    recall due, a planned stage overdue; 1-7 get one outcome each, 8 and 9 share a household phone."""
    ended, hygiene = (DAY - dt.timedelta(days=8)).strftime("%d.%m.%Y"), "10.05.2026"
    ks = range(1, 10)
    cli = At(where / "followup.db")
    exports = where / "exports"  # the clinic's export files are not the database's
    exports.mkdir()
    with freeze_time(f"{DAY} 09:00:00", tick=True):
        assert cli("import", write_csv(exports / "p.csv", ["Номер карты", "ФИО", "Телефон", "E-mail", "Код семьи"], [
            [card(k), name(k), phone(9 if k == 8 else k), f"anna{k:02d}@example.ru", "С1" if k >= 8 else ""]
            for k in ks], encoding="utf-8"),
            write_csv(exports / "v.csv", ["Номер визита", "Номер карты", "Врач", "Дата визита", "Вид приёма"],
                      [[f"V{k}a", card(k), "Козлов Дмитрий Игоревич", hygiene, "Профгигиена"] for k in ks]
                      + [[f"V{k}b", card(k), "Козлов Дмитрий Игоревич", ended, "Окончание лечения"] for k in ks],
                      encoding="utf-8"),
            write_csv(exports / "pl.csv", ["Номер плана", "Номер карты", "Врач", "Этап", "Название этапа", "Срок",
                                            "Статус"],
                      [[f"PL{k}", card(k), "Козлов Дмитрий Игоревич", "1", f"Коронка {k}", "01.11.2026",
                        "Запланирован"] for k in ks], encoding="utf-8")).exit_code == 0
        for k in ks:
            for channel in ("call", "sms"):
                assert cli("consent", card(k), "--purpose", "all", "--channel", channel, "--note",
                           f"заметка-{k:02d}").exit_code == 0
            assert cli("next", card(k), "--on", "2026-12-01", "--reason", f"заметка-{k:02d}",
                       "--channel", "call").exit_code == 0
        listed = {e["patient_id"]: e["entry_id"] for e in cli.json("today") if e["channel"] == "call"}
        for k, outcome in enumerate(OUTCOMES, 1):
            extra = ["--on", "2026-11-25"] if outcome == "call-back" else []
            assert cli("done", listed[card(k)], "--outcome", outcome, "--note", f"заметка-{k:02d}", *extra).exit_code == 0
        # a correction of a wrong number (the flag lifted, the attempt kept as history)
        assert cli("done", listed[card(4)], "--outcome", "no-answer", "--correct").exit_code == 0
        # a survey with a comment and the complaint it opens, then corrected; a complaint of its own
        assert cli("survey", card(1), "--score", "3", "--recommend", "2", "--expectations", "no",
                   "--comment", f"отзыв-{1:02d}", "--complaint").exit_code == 0
        assert cli("survey", card(1), "--correct", "--score", "5", "--recommend", "4", "--expectations", "partly",
                   "--comment", f"отзыв-{1:02d}").exit_code == 0
        assert cli("complaint", "add", card(2), "--text", f"жалоба-{2:02d}").exit_code == 0
        # a reason the manager put back on the list, two months on (9: never offered)
        later = "2027-01-25"
        assert card(9) in {f["patient_id"] for f in cli.json("flagged", "--date", later)}
        assert cli("flagged", "requeue", card(9), "hygiene_recall", "--date", later).exit_code == 0
        # a desk's capacity: patients waiting in line
        assert cli("config", "set", "desk.capacity.call", "1").exit_code == 0
        assert cli.json("today", "--summary")["waiting"] >= 1
    return where / "followup.db"


@pytest.fixture
def clinic(cli, tmp_path, tmp_path_factory):
    """A copy of the clinic built once for the run (seconds) for each test to change."""
    copied(built_once(tmp_path_factory, "erasure", _build), cli.db_path)
    (tmp_path / "exports").mkdir()
    return cli


def test_forget_works_after_every_outcome_and_record_kind_and_leaves_nothing(clinic, tmp_path):
    kinds = {t: clinic.count(t) for t in ("contacts", "phone_flags", "complaints", "surveys", "reason_actions",
                                          "reason_waits", "next_contacts", "consents")}
    assert all(kinds.values()), kinds  # every kind of record is there to erase
    for k in range(1, 10):
        r = clinic("patient", "forget", card(k), "--yes")
        assert r.exit_code == 0, (k, r.output)
        assert not leftovers(tmp_path, secrets_of(k)), k
    assert clinic.rows("SELECT count(*) FROM patients WHERE full_name IS NOT NULL") == [(0,)]
    for table in kinds:
        assert clinic.rows(f"SELECT count(*) FROM {table} WHERE patient_id NOT LIKE 'erased-%'") == [(0,)], table
    assert clinic.json("report", "--doctor", "Козлов")["responses"] == 1  # the score still counts, anonymously
    assert clinic.rows("SELECT count(*) FROM erasures WHERE card_hash IS NOT NULL") == [(9,)]


def test_forget_waits_for_a_reader_and_is_finished_when_run_again(clinic, tmp_path):
    reader = sqlite3.connect(clinic.db_path)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM patients").fetchone()  # an open read: its snapshot holds the pages
    r = clinic("patient", "forget", card(3), "--yes", "--wait", "1")
    assert r.exit_code == 75, r.output
    assert "Waiting for other programs to close the database (up to 1 s)" in r.stderr
    assert "another program has the database open, so the file still holds them" in r.stderr
    assert "Erased" not in r.stdout
    assert clinic("patient", "show", card(3)).exit_code == 66  # erased from the records already
    reader.close()
    r = clinic("patient", "forget", card(3), "--yes")
    assert r.exit_code == 0 and "finished: the file no longer holds the records" in r.stdout
    assert not leftovers(tmp_path, secrets_of(3))


def test_forget_on_an_older_schema_makes_no_copy_of_the_patient(clinic, tmp_path):
    def one_migration_behind():
        conn = sqlite3.connect(clinic.db_path)
        conn.executescript("DROP TABLE erasure_salt; DROP TABLE erased_returns; DROP INDEX erasures_card_hash; "
                           "ALTER TABLE erasures DROP COLUMN card_hash; "
                           "DELETE FROM _sqlite_migrations WHERE name = 'm017_erased_cards';")
        conn.close()
    one_migration_behind()
    assert clinic("patient", "show", card(5)).exit_code == 0  # any other command copies the file first
    assert [p.name for p in tmp_path.glob("*.bak")] == [clinic.db_path.name + ".before-m017_erased_cards.bak"]
    for p in tmp_path.glob("*.bak"):
        p.unlink()
    one_migration_behind()
    assert clinic("patient", "forget", card(5), "--yes").exit_code == 0
    assert not list(tmp_path.glob("*.bak")) and not leftovers(tmp_path, secrets_of(5))


def test_an_erased_patient_back_in_an_export_gets_no_consent_from_it(clinic, tmp_path):
    assert clinic("patient", "forget", card(6), "--yes").exit_code == 0
    back = write_csv(tmp_path / "exports" / "back.csv", ["Номер карты", "ФИО", "Телефон", "Согласие"],
                     [[card(6), name(6), phone(6), "да"], [card(7), name(7), phone(7), "да"]], encoding="utf-8")
    r = clinic("import", back)
    assert r.exit_code == 0 and "none for 1 patients erased earlier" in r.stdout
    assert clinic.json("consent", "show", card(6))["history"] == []
    assert clinic.json("consent", "show", card(7))["history"]  # the others: as the column says
    # a consent recorded anew at the desk is the patient's; the column still adds nothing to it
    assert clinic("consent", card(6), "--purpose", "recall", "--channel", "call").exit_code == 0
    assert clinic("import", "--force", back).exit_code == 0
    assert [(c["purpose"], c["channel"]) for c in clinic.json("consent", "show", card(6))["history"]] == [
        ("recall", "call")]
