"""The use cases, called as any face calls them: a real SQLite file, literal dates and times passed
in, no command line and no frozen clock. The end-to-end tests through the CLI stay the safety net."""

import datetime as dt

import pytest

from conftest import write_csv
from followup import db
from followup.actions import complaints, config, contacts, reporting, surveys
from followup.actions.clinic import run_import
from followup.actions.day import day_list
from followup.errors import Conflict, ExitStatus, NotFound, UsageError
from followup.importing import ImportOptions

DAY = dt.date(2026, 11, 23)             # a Monday
NOON = dt.datetime(2026, 11, 23, 12, 0)


@pytest.fixture
def conn(tmp_path):
    """One patient, treated by two doctors, whose treatment ended 10 days before DAY (a survey is due);
    the survey and the call consented to."""
    path = tmp_path / "clinic.db"
    p = write_csv(tmp_path / "p.csv", ["Номер карты", "ФИО", "Телефон"], [["P1", "Иванов Иван Иванович",
                                                                            "89161234567"]])
    v = write_csv(tmp_path / "v.csv", ["Номер визита", "Номер карты", "Врач", "Дата визита", "Вид приёма"],
                  [["V1", "P1", "Смирнова Анна Петровна", "05.11.2026", "Лечение"],
                   ["V2", "P1", "Козлов Дмитрий Игоревич", "13.11.2026", "Окончание лечения"]])
    c = db.connect(path)
    run_import(c, path, [p, v], ImportOptions(user="t"), today=DAY)
    contacts.record_consent(c, "P1", purposes=["survey", "recall", "agreed"], channels=["call"], by="olga",
                            now=NOON - dt.timedelta(days=20))
    yield c
    c.close()


def entry_of(conn) -> str:
    [entry], _ = day_list(conn, DAY)
    return entry.entry_id[:8]


@pytest.mark.parametrize("outcome, withdrawn, flagged, listed_next_day", [
    ("reached", 0, 0, False),
    ("booked", 0, 0, False),
    ("declined", 5, 0, False),      # the survey purpose, on every channel (5)
    ("wrong-number", 0, 1, False),
    ("no-answer", 0, 0, True),      # tried again the next day
    ("busy", 0, 0, True),
])
def test_each_outcome_writes_its_consequences(conn, outcome, withdrawn, flagged, listed_next_day):
    done = contacts.record_outcome(conn, entry_of(conn), outcome, day=DAY, by="olga", now=NOON)
    assert (done.outcome, done.patient_id, done.household) == (outcome, "P1", 0)
    assert conn.execute("SELECT count(*) FROM consents WHERE granted = 0").fetchone()[0] == withdrawn
    assert conn.execute("SELECT count(*) FROM phone_flags").fetchone()[0] == flagged
    [(by, at, list_date)] = conn.execute("SELECT recorded_by, recorded_at, list_date FROM contacts").fetchall()
    assert (by, at, list_date) == ("olga", "2026-11-23 12:00:00", "2026-11-23")
    entries, _ = day_list(conn, DAY + dt.timedelta(days=1))
    assert bool(entries) == listed_next_day


@pytest.mark.parametrize("mistake, restored, lifted", [
    ("declined", 1, 0),        # the survey consent on the call, granted again as it was
    ("wrong-number", 0, 1),    # the flag lifted
    ("booked", 0, 0),
])
def test_a_correction_undoes_the_mistake_and_applies_the_right_outcome(conn, mistake, restored, lifted):
    entry = entry_of(conn)
    contacts.record_outcome(conn, entry, mistake, day=DAY, by="olga", now=NOON)
    done = contacts.correct_outcome(conn, entry, "no-answer", day=DAY, by="manager", now=NOON + dt.timedelta(hours=1))
    assert (done.outcome, done.patient_id) == ("no-answer", "P1")
    assert conn.execute("SELECT count(*) FROM consents WHERE note = 'restored by a correction'").fetchone()[0] == restored
    assert conn.execute("SELECT count(*) FROM phone_flags WHERE lifted_by = 'manager'").fetchone()[0] == lifted
    assert conn.execute("SELECT outcome, superseded_by IS NOT NULL, corrected_by FROM contacts ORDER BY id").fetchall() == [
        (mistake, 1, "manager"), ("no-answer", 0, None)]
    entries, _ = day_list(conn, DAY + dt.timedelta(days=1))  # an unanswered call is tried again the next day
    assert [e.patient.patient_id for e in entries] == ["P1"]
    with pytest.raises(Conflict):  # already no-answer
        contacts.correct_outcome(conn, entry, "no-answer", day=DAY, by="manager", now=NOON)
    with pytest.raises(NotFound):
        contacts.correct_outcome(conn, entry, "reached", day=DAY - dt.timedelta(days=1), by="manager", now=NOON)


def test_an_outcome_for_a_future_list_is_refused(conn):
    entry = entry_of(conn)
    with pytest.raises(UsageError):
        contacts.record_outcome(conn, entry, "reached", day=DAY, by="olga", now=NOON - dt.timedelta(days=1))
    assert conn.execute("SELECT count(*) FROM contacts").fetchone()[0] == 0


def test_an_outcome_is_recorded_once(conn):
    entry = entry_of(conn)
    contacts.record_outcome(conn, entry, "no-answer", day=DAY, by="olga", now=NOON)
    with pytest.raises(Conflict) as caught:
        contacts.record_outcome(conn, entry, "reached", day=DAY, by="olga", now=NOON)
    assert caught.value.exit_code == ExitStatus.FAILURE and caught.value.params["entry"] == entry
    assert conn.execute("SELECT count(*) FROM contacts").fetchone()[0] == 1


@pytest.mark.parametrize("outcome, callback, error", [
    ("phoned", None, UsageError),
    ("call-back", None, UsageError),                      # needs the day
    ("reached", DAY + dt.timedelta(days=2), UsageError),  # a day only goes with call-back
    ("call-back", DAY, UsageError),                       # not a later day
])
def test_a_wrong_outcome_writes_nothing(conn, outcome, callback, error):
    with pytest.raises(error):
        contacts.record_outcome(conn, entry_of(conn), outcome, day=DAY, callback=callback, by="olga", now=NOON)
    assert conn.execute("SELECT count(*) FROM contacts").fetchone()[0] == 0


def test_no_entry_is_not_found(conn):
    with pytest.raises(NotFound):
        contacts.record_outcome(conn, "ffffffff", "reached", day=DAY, by="olga", now=NOON)


@pytest.mark.parametrize("key, value, stored", [
    ("cap_days", "21", "21"),
    ("cap_days", "14", None),                 # the default: nothing stored, it stays "default"
    ("survey_wave", "20", None),
    ("survey_wave", "40", "40"),
    ("report.positive_nps", "-100", "-100.0"),
    ("report.positive_nps", "0", "0.0"),
    ("report.positive_mean", "8,5", "8.5"),   # a decimal comma, as typed in Russian
    ("language", "ru", "ru"),
])
def test_settings_are_checked_and_stored(conn, key, value, stored):
    config.change_setting(conn, key, value, by="admin", now=NOON)
    assert db.get_settings(conn).get(key) == stored


@pytest.mark.parametrize("key, value", [
    ("survey_wave", "19"),          # a wave is at least 20 answers
    ("survey_wave", "0"),
    ("cap_days", "three"),
    ("cap_days", "3651"),
    ("report.positive_nps", "101"),
    ("report.positive_mean", "11"),
    ("language", "de"),
    ("template.survey_call", "{date"),
    ("template.survey_call", "{greeting:>1000000}"),             # a format spec: a 1 MB SMS
    ("template.survey_call", "{greeting.__init__.__globals__}"),  # attribute access
    ("template.survey_call", "{clinic[0]}"),
    ("template.survey_call", "{unknown}"),                        # an empty SMS
    ("template.survey_call", "x" * 1001),
    ("desk.capacity.call", "0"),
    ("no_such", "1"),
])
def test_settings_out_of_bounds_are_refused(conn, key, value):
    with pytest.raises(UsageError):
        config.change_setting(conn, key, value, by="admin", now=NOON)
    assert db.get_settings(conn) == {}


def test_a_survey_counts_for_every_doctor_and_closes_the_call(conn):
    call = surveys.survey_call(conn, "P1", day=DAY)
    assert call.visit_id == "V2" and set(call.doctors) == {"Смирнова Анна Петровна", "Козлов Дмитрий Игоревич"}
    done = surveys.record_survey(conn, call, {"score": 9, "recommend": 10, "expectations": "Yes", "comment": None},
                                 day=DAY, by="olga", now=NOON)
    assert not done.declined and not done.suggest_complaint and done.complaint is None
    assert conn.execute("SELECT expectations FROM surveys").fetchone()[0] == "yes"
    assert day_list(conn, DAY)[0] == []
    with pytest.raises(Conflict) as refused:  # the treatment is surveyed: a second survey is refused
        surveys.survey_call(conn, "P1", day=DAY)
    assert "--correct" in str(refused.value)


def test_a_survey_answer_is_corrected_and_the_earlier_one_kept(conn):
    with pytest.raises(NotFound):  # nothing to correct yet
        surveys.survey_call(conn, "P1", day=DAY, correct=True)
    first = surveys.record_survey(conn, surveys.survey_call(conn, "P1", day=DAY),
                                  {"score": 2, "recommend": 1, "expectations": "no", "comment": None},
                                  day=DAY, by="olga", now=NOON)
    call = surveys.survey_call(conn, "P1", day=DAY, correct=True)
    assert call.replaces == first.id and call.visit_id == "V2"
    fixed = surveys.record_survey(conn, call, {"score": 9, "recommend": 10, "expectations": "yes", "comment": None},
                                  day=DAY, by="manager", now=NOON + dt.timedelta(hours=1))
    rows = conn.execute("SELECT id, score, superseded_by, corrected_by FROM surveys ORDER BY id").fetchall()
    assert rows == [(first.id, 2, fixed.id, "manager"), (fixed.id, 9, None, None)]
    assert [r.score for r in surveys.responses_by_doctor(conn)["Козлов Дмитрий Игоревич"]] == [9]  # counts once
    assert conn.execute("SELECT count(*) FROM contacts").fetchone()[0] == 1  # one call, whatever its answers


def test_a_complaint_from_a_survey_needs_a_comment_and_nothing_is_written_without_one(conn):
    call = surveys.survey_call(conn, "P1", day=DAY)
    with pytest.raises(UsageError):
        surveys.record_survey(conn, call, {"score": 3}, open_complaint=True, day=DAY, by="olga", now=NOON)
    assert conn.execute("SELECT count(*) FROM surveys").fetchone()[0] == 0
    done = surveys.record_survey(conn, call, {"score": 3}, day=DAY, by="olga", now=NOON)
    assert done.suggest_complaint  # a low score: the face offers a complaint


def test_complaints_move_from_open_to_resolved_to_informed(conn):
    cid, pid = complaints.open_complaint(conn, "P1", "Долго ждал", doctor="козлов", by="olga", now=NOON)
    with pytest.raises(Conflict):
        complaints.complaint_informed(conn, cid, by="olga", now=NOON)
    [row] = complaints.list_complaints(conn, day=DAY + dt.timedelta(days=4))
    assert (row["state"], row["overdue"], row["doctor"]) == ("open", True, "Козлов Дмитрий Игоревич")
    complaints.resolve_complaint(conn, cid, "Поговорили с врачом", by="manager", now=NOON + dt.timedelta(days=1))
    with pytest.raises(Conflict):
        complaints.resolve_complaint(conn, cid, "again", by="manager", now=NOON)
    complaints.complaint_informed(conn, cid, by="olga", now=NOON + dt.timedelta(days=2))
    [row] = complaints.list_complaints(conn, day=DAY + dt.timedelta(days=30))
    assert (row["state"], row["overdue"]) == ("informed", False)


def test_a_resolved_complaint_is_not_counted_overdue_in_the_doctors_report(conn):
    """A complaint resolved the next day stays resolved in the report, whenever the report is read."""
    cid, _ = complaints.open_complaint(conn, "P1", "Больно", doctor="Козлов", by="olga", now=NOON)
    complaints.resolve_complaint(conn, cid, "Переделали", by="manager", now=NOON + dt.timedelta(days=1))
    complaints.open_complaint(conn, "P1", "Опять больно", doctor="Козлов", by="olga", now=NOON)
    [report] = reporting.doctor_reports(conn, doctor="Козлов", today=DAY + dt.timedelta(days=30))
    assert report["complaints"] == {"open": 1, "overdue": 1, "resolved": 1}


def test_an_unknown_or_ambiguous_doctor_is_refused(conn):
    with pytest.raises(UsageError) as caught:
        reporting.doctor_reports(conn, doctor="Козлова", today=DAY)
    assert caught.value.params["name"] == "Козлова" and "Козлов Дмитрий Игоревич" in caught.value.params["names"]
    with pytest.raises(UsageError):
        reporting.doctor_reports(conn, doctor="ов", today=DAY)   # both doctors' names hold it


def test_the_clinic_report_counts_returns_and_dead_souls_as_defined(tmp_path):
    """A return is a later visit day; a first-time patient is one whose first visit (the export's own
    date, else the earliest imported visit) falls in the year; a patient booked ahead is no dead soul."""
    path = tmp_path / "clinic.db"
    p = write_csv(tmp_path / "p.csv", ["Номер карты", "ФИО", "Дата первого визита"],
                  [["P1", "Старый Пациент", "01.03.2019"],     # with the clinic since 2019
                   ["P2", "Один День", ""],                   # consultation and treatment on one day
                   ["P3", "Вернулся Вовремя", ""],
                   ["P4", "Давно Был", ""],                   # no visit for years, but booked ahead
                   ["P5", "Давно Была", ""]])                 # no visit for years: a dead soul
    v = write_csv(tmp_path / "v.csv", ["Номер визита", "Номер карты", "Врач", "Дата визита", "Вид приёма"],
                  [["V1", "P1", "Козлов Дмитрий Игоревич", "10.02.2025", "Лечение"],
                   ["V2", "P2", "Козлов Дмитрий Игоревич", "01.02.2025", "Консультация"],
                   ["V3", "P2", "Козлов Дмитрий Игоревич", "01.02.2025", "Лечение"],
                   ["V4", "P3", "Козлов Дмитрий Игоревич", "03.02.2025", "Консультация"],
                   ["V5", "P3", "Козлов Дмитрий Игоревич", "01.03.2025", "Лечение"],
                   ["V6", "P4", "Козлов Дмитрий Игоревич", "01.02.2022", "Лечение"],
                   ["V7", "P5", "Козлов Дмитрий Игоревич", "01.02.2022", "Лечение"]])
    a = write_csv(tmp_path / "a.csv", ["Номер записи", "Номер карты", "Врач", "Дата и время", "Статус"],
                  [["A1", "P4", "Козлов Дмитрий Игоревич", "30.11.2026 10:00", "Записан"]])
    conn = db.connect(path)
    run_import(conn, path, [p, v, a], ImportOptions(user="t"), today=DAY)
    report = reporting.clinic_report(conn, year=2025, today=DAY)
    assert report["conversion"] == [{"doctor": "Козлов Дмитрий Игоревич", "quarter": "2025-Q1", "first_time": 2,
                                     "returned": 1, "pending": 0, "conversion": 0.5, "final": True}]
    assert [s["patient_id"] for s in report["dead_souls"]] == ["P5"]
    conn.close()


def test_a_complaint_from_a_survey_of_two_doctors_counts_for_each(conn):
    call = surveys.survey_call(conn, "P1", day=DAY)
    surveys.record_survey(conn, call, {"score": 3, "comment": "Больно и долго"}, open_complaint=True, day=DAY,
                          by="olga", now=NOON)
    for doctor in ("Козлов", "Смирнова"):
        [report] = reporting.doctor_reports(conn, doctor=doctor, today=DAY)
        assert report["complaints"] == {"open": 1, "overdue": 0, "resolved": 0}, doctor


def test_the_funnel_sums_the_lists_of_the_days_and_its_stages_are_cumulative(conn):
    """DAY: the survey call listed, no answer; DAY + 1: listed again, reached and booked."""
    from followup.actions.day import stored_day

    stored_day(conn, DAY, today=DAY)  # the day's list stored: its reasons counted
    contacts.record_outcome(conn, entry_of(conn), "no-answer", day=DAY, by="olga", now=NOON)
    stored_day(conn, DAY, today=DAY)  # re-planned after the call: the day's count stays the most it was
    nxt = DAY + dt.timedelta(days=1)
    [entry], _ = day_list(conn, nxt)
    stored_day(conn, nxt, today=nxt)
    contacts.record_outcome(conn, entry.entry_id[:8], "booked", day=nxt, by="olga", now=NOON + dt.timedelta(days=1))
    funnel = {r["reason"]: r for r in reporting.clinic_report(conn, year=2026, today=nxt)["funnel"]}
    assert funnel["survey_call"] == {"reason": "survey_call", "due": 2, "attempted": 2, "reached": 1, "booked": 1,
                                     "declined": 0}
    assert reporting.clinic_report(conn, year=2025, today=nxt)["funnel"][3]["due"] == 0  # another year: none


def test_themes_by_hand_assign_list_rename_unassign(conn):
    call = surveys.survey_call(conn, "P1", day=DAY)
    sid = surveys.record_survey(conn, call, {"score": 8, "comment": "Не больно, но парковки нет"}, day=DAY,
                                by="olga", now=NOON).id
    with pytest.raises(UsageError):  # a typo is not a new theme
        surveys.assign_theme(conn, sid, "parking", by="olga", now=NOON)
    assert surveys.assign_theme(conn, sid, "parking", new=True, by="olga", now=NOON) == "parking"
    rows = {r["theme"]: r for r in surveys.list_themes(conn)}
    assert (rows["pain"]["problems"], rows["pain"]["praise"], rows["pain"]["built_in"]) == (0, 1, True)
    assert (rows["parking"]["assigned"], rows["parking"]["built_in"]) == (1, False)
    with pytest.raises(UsageError):
        surveys.rename_theme(conn, "pain", "hurt", by="olga", now=NOON)   # built-in names stay
    with pytest.raises(UsageError):
        surveys.rename_theme(conn, "parking", "pain", by="olga", now=NOON)  # taken
    assert surveys.rename_theme(conn, "parking", "car park", by="olga", now=NOON) == 1
    assert db.assigned_themes(conn) == {sid: ["car park"]}
    surveys.unassign_theme(conn, sid, "car park")
    assert db.assigned_themes(conn) == {}
    with pytest.raises(NotFound):
        surveys.unassign_theme(conn, sid, "car park")


@pytest.mark.parametrize("text, codes, kind, code", [
    ("смс", "CHANNELS", "channel", "sms"), ("SMS", "CHANNELS", "channel", "sms"), ("Звонок", "CHANNELS", "channel", "call"),
    ("напоминание", "PURPOSES", "purpose", "reminder"), ("Гигиена", "PURPOSES", "purpose", "recall"),
    ("дозвонились", "OUTCOMES", "outcome", "reached"), ("нет ответа", "OUTCOMES", "outcome", "no-answer"),
    ("Нет  ответа", "OUTCOMES", "outcome", "no-answer"), ("no_answer", "OUTCOMES", "outcome", "no-answer"),
    ("отказалась", "OUTCOMES", "outcome", "declined"), ("Частично", "EXPECTATIONS", "", "partly"),
    ("ДА", "EXPECTATIONS", "", "yes"), ("лично", "HOW", "how", "in-person"), ("пн", "WEEKDAYS", "", "mon"),
    ("голубиная почта", "CHANNELS", "channel", None), ("maybe", "OUTCOMES", "outcome", None),
])
def test_every_word_the_interface_shows_is_understood(text, codes, kind, code):
    from followup import records

    assert records.understood(text, getattr(records, codes), kind) == code


def test_the_desk_types_russian_words(conn):
    from followup.records import parse_days

    assert parse_days("пн-пт") == frozenset(range(5)) and parse_days("сб,вс") == frozenset({5, 6})
    done = contacts.record_consent(conn, "P1", purposes=["reminder"], channels=["sms"], how="лично", days="пн-пт",
                                   by="olga", now=NOON)
    assert done.granted and conn.execute("SELECT how, days FROM consents WHERE purpose = 'reminder'").fetchone() == (
        "in-person", "mon,tue,wed,thu,fri")
    outcome = contacts.record_outcome(conn, entry_of(conn), "Нет ответа", day=DAY, by="olga", now=NOON)
    assert outcome.outcome == "no-answer"
    assert surveys.check_answers({"score": 8, "expectations": "Частично"})["expectations"] == "partly"


@pytest.mark.parametrize("purposes, channels", [(["pigeon"], ["sms"]), (["reminder"], ["fax"]), ([], ["sms"])])
def test_a_consent_for_an_unknown_purpose_or_channel_writes_nothing(conn, purposes, channels):
    before = conn.execute("SELECT count(*) FROM consents").fetchone()[0]
    with pytest.raises(UsageError):
        contacts.record_consent(conn, "P1", purposes=purposes, channels=channels, by="olga", now=NOON)
    assert conn.execute("SELECT count(*) FROM consents").fetchone()[0] == before
