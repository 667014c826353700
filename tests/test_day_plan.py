"""The stored day plan: `followup today` reads it, and it must never differ from planning afresh.

Every kind of write a desk, the manager, cron or a hand-made SQL statement can make is followed by
a comparison of `today` (served from the stored plan) with the rules run over the whole database.
"""

import datetime as dt
import json
import sqlite3
import time

import pytest

from conftest import built_once, write_csv
from followup import db
from followup.actions.day import day_list, entry_json
from followup.entryids import shortest_prefixes

DAY = dt.date.today()


@pytest.fixture(scope="module", autouse=True)
def clock():
    """The clock at noon of DAY, running on, for the whole module: a run that crosses midnight
    still compares the stored list with a plan of the same day."""
    from freezegun import freeze_time

    with freeze_time(f"{DAY.isoformat()} 12:00:00", tick=True):
        yield


def fresh(path, day=DAY):
    conn = db.connect(path)
    try:
        entries, settings = day_list(conn, day)
        shown = shortest_prefixes(e.entry_id for e in entries)
        return [entry_json(e, settings, shown[e.entry_id]) for e in entries]
    finally:
        conn.close()


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory):
    from conftest import Cli

    def build(where):
        assert Cli(where / "unused.db")("demo", "--dir", where).exit_code == 0
        return where / "demo.db"

    return built_once(tmp_path_factory, "day-plan-demo", build)


@pytest.fixture
def demo(demo_file, tmp_path, cli):
    path = tmp_path / "demo.db"
    src = sqlite3.connect(demo_file)
    dst = sqlite3.connect(path)
    src.backup(dst)
    src.close()
    dst.close()

    class Demo:
        def __init__(self):
            self.path = path

        def run(self, *args):
            return cli("--db", path, *args)

        def __call__(self, *args):
            result = self.run(*args)
            assert result.exit_code in (0, 3), result.output
            return result

        def today(self, *args):
            return cli.json("--db", path, "today", *args)

        def check(self):
            """`today` (stored) equals a fresh plan; returns the list."""
            got = self.today()
            assert got == fresh(path)
            return got

        def newcomer(self):
            """An active patient with no consent yet agrees to a call today: a new entry."""
            conn = sqlite3.connect(path)
            pid = conn.execute("SELECT patient_id FROM patients WHERE status = 'active' AND patient_id NOT IN "
                               "(SELECT patient_id FROM consents) LIMIT 1").fetchone()[0]
            conn.close()
            self("consent", pid, "--purpose", "agreed", "--channel", "call")
            self("next", pid, "--on", DAY.isoformat(), "--reason", "Results of the X-ray")
            return pid

        def sql(self, statement, params=()):
            conn = sqlite3.connect(path)
            with conn:
                conn.execute(statement, params)
            conn.close()

    return Demo()


def state(path):
    conn = sqlite3.connect(path)
    try:
        return (conn.execute("SELECT day, stamp FROM plan_meta").fetchone(),
                conn.execute("SELECT count(*) FROM plan_dirty").fetchone()[0],
                conn.execute("SELECT count(*) FROM plan_entries").fetchone()[0])
    finally:
        conn.close()


def test_stored_plan_equals_a_fresh_one_after_every_kind_of_write(demo, tmp_path):
    listed = demo.check()
    assert len(listed) > 20
    meta, dirty, stored = state(demo.path)
    assert meta[0] == DAY.isoformat() and dirty == 0 and stored == len(listed)

    calls = [e for e in listed if e["channel"] == "call" and not e["household"]]
    outcomes = ["no-answer", "declined", "booked", "wrong-number", "busy", "reached"]
    for e, outcome in zip(calls, outcomes):
        demo("done", e["entry_id"], "--outcome", outcome)
        after = demo.check()
        assert e["patient_id"] not in {x["patient_id"] for x in after}
    e = calls[len(outcomes)]
    demo("done", e["entry_id"], "--outcome", "call-back", "--on", (DAY + dt.timedelta(days=3)).isoformat())
    demo.check()

    household = [e for e in demo.check() if e["household"]]
    if household:  # one member declines for both: the merged call goes
        demo("done", household[0]["entry_id"], "--outcome", "declined")
        demo.check()

    # a withdrawal, a grant with an agreed contact, a complaint: each changes one patient's entry
    someone = demo.check()[0]["patient_id"]
    demo("consent", someone, "--purpose", "all", "--channel", "all", "--withdraw")
    assert someone not in {x["patient_id"] for x in demo.check()}
    unconsented = demo.newcomer()
    assert unconsented in {x["patient_id"] for x in demo.check()}
    other = demo.check()[1]["patient_id"]
    demo("complaint", "add", other, "--text", "Долго ждал в коридоре")
    [entry] = [x for x in demo.check() if x["patient_id"] == other]
    assert any("complaint" in w for w in entry["warnings"])

    # a write made outside followup (a hand-made SQL withdrawal) is seen all the same
    target = demo.check()[2]["patient_id"]
    demo.sql("INSERT INTO consents (patient_id, purpose, channel, granted, how, source, recorded_by, recorded_at) "
             "SELECT patient_id, purpose, channel, 0, 'phone', 'followup', 'sql', ? FROM consents WHERE patient_id = ?",
             (dt.datetime.now().isoformat(timespec="seconds"), target))
    assert target not in {x["patient_id"] for x in demo.check()}

    # a setting drops the whole plan; so does an import that changes something
    demo("config", "set", "cap_days", "30")
    assert state(demo.path)[0] is None
    demo.check()
    first = demo.check()[0]
    patients = write_csv(tmp_path / "archive.csv", ["Номер карты", "ФИО", "Статус"],
                         [[first["patient_id"], first["patient"], "Архив"]])
    demo("import", patients)
    meta, dirty, _ = state(demo.path)
    assert meta[0] == DAY.isoformat() and dirty == 0  # the import planned the day again: `today` is a read
    assert first["patient_id"] not in {x["patient_id"] for x in demo.check()}

    # forgetting a patient drops the stored plan with their name in it
    gone = demo.check()[0]
    demo("patient", "forget", gone["patient_id"], "--yes")
    assert gone["patient_id"] not in {x["patient_id"] for x in demo.check()}


def test_a_setting_the_plan_does_not_read_leaves_it_stored(demo):
    """A gateway's address, the letterhead, a report's threshold… do not drop the stored plan (at a chain's
    size the next desk waited most of a minute); the settings the plan reads do. Set one at a time, each
    setting is seen to drop the plan or not; those that do not are then all changed at once, and a plan
    made afresh is the plan stored."""
    from followup import settings

    demo.check()
    conn = sqlite3.connect(demo.path)
    meta = conn.execute("SELECT * FROM plan_meta").fetchone()
    before = dict(conn.execute("SELECT key, value FROM settings"))  # the demo's own settings
    conn.close()
    value = {"text": "Другое", "number": "5", "whole": "3", "timezone": "Asia/Yekaterinburg",
             "hours": "10:00-18:00", "weekdays": "mon,tue", "address": "http://127.0.0.1:9/x", "delimiter": ";",
             "version": "2", "language": "ru", "days": "7", "capacity": "4", "steps": "1000:5",
             "template": "{greeting}! {clinic}"}
    changes = {key: settings.CHOICES[key][1] if s.kind == "choice" else value[s.kind]
               for key, s in settings.table().items()}
    changes["user.olga.name"] = "Ольга"
    kept = []
    for key, new in changes.items():
        demo.sql("INSERT OR REPLACE INTO settings (key, value, updated_at, updated_by) VALUES (?, ?, 'now', 't')",
                 (key, new))
        if state(demo.path)[0] is not None:
            kept.append(key)
        if key in before:  # as it was
            demo.sql("UPDATE settings SET value = ? WHERE key = ?", (before[key], key))
        else:
            demo.sql("DELETE FROM settings WHERE key = ?", (key,))
        if state(demo.path)[0] is None:  # dropped: the stored plan's marker put back, for the next setting
            demo.sql(f"INSERT INTO plan_meta VALUES ({', '.join('?' * len(meta))})", meta)
    assert {"send.sms.url", "clinic.letterhead", "report.positive_nps", "user.olga.name"} <= set(kept)
    assert not {"cap_days", "clinic_name", "language", "discount.steps", "desk.capacity.call",
                "template.hygiene_recall"} & set(kept)
    for key in kept:
        demo.sql("INSERT OR REPLACE INTO settings (key, value, updated_at, updated_by) VALUES (?, ?, 'now', 't')",
                 (key, changes[key]))
    assert state(demo.path)[0] is not None  # still stored
    demo.check()  # the stored list, read as it was kept, is the plan made afresh with all of them changed


def test_the_whole_list_is_kept_in_parts_and_a_change_reassembles_only_its_own(demo, monkeypatch):
    """The list `today --format json` prints is kept in parts of the list (500 entries; 7 here): a done,
    a withdrawal, a new entry among the others, a complaint each re-assemble the part or two that hold
    the patient (and the neighbours whose shown id changed), and the parts still make the list, in order."""
    from followup.db import dayplan

    monkeypatch.setattr(dayplan, "PART_SIZE", 7)
    demo.sql("DELETE FROM plan_meta")
    listed = demo.check()

    def parts():
        conn = sqlite3.connect(demo.path)
        try:
            return (conn.execute("SELECT count(DISTINCT part) FROM plan_entries").fetchone()[0],
                    conn.execute("SELECT count(*) FROM plan_parts WHERE language = 'en'").fetchone()[0])
        finally:
            conn.close()

    total, kept = parts()
    assert total >= len(listed) // 7 > 10 and kept == total
    calls = [e for e in listed if e["channel"] == "call" and not e["household"]]
    touched = []
    for write in (lambda: demo("done", calls[3]["entry_id"], "--outcome", "no-answer"),
                  lambda: demo("done", calls[-2]["entry_id"], "--outcome", "declined"),
                  lambda: demo("consent", calls[9]["patient_id"], "--purpose", "all", "--channel", "all", "--withdraw"),
                  demo.newcomer,
                  lambda: demo("complaint", "add", calls[12]["patient_id"], "--text", "Долго ждал")):
        write()
        demo.today("--channel", "call")  # (planned again: a filtered read keeps no part)
        total, kept = parts()
        touched.append(total - kept)
        demo.check()  # the parts make the list a plan made afresh makes, in order
        assert parts()[1] == parts()[0]  # each part kept again
    assert all(1 <= n <= 3 for n in touched), touched


def test_a_completed_survey_wave_reorders_the_list(demo):
    """Survey calls of doctors still collecting come first: when a doctor's wave fills, the plan is remade."""
    listed = demo.check()
    surveys = [e for e in listed if any(r["code"] == "survey_call" for r in e["reasons"])]
    if not surveys:
        pytest.skip("the demo clinic has no survey call today")
    doctor = next(r for r in surveys[0]["reasons"] if r["code"] == "survey_call")["evidence"]["doctors"][0]
    conn = sqlite3.connect(demo.path)
    answered = conn.execute("SELECT count(*) FROM survey_doctors sd JOIN surveys s ON s.id = sd.survey_id "
                            "WHERE s.status = 'answered' AND sd.doctor = ?", (doctor,)).fetchone()[0]
    conn.close()
    demo("config", "set", "survey_wave", str(answered + 1))
    demo.check()
    before = state(demo.path)[0]
    demo("survey", surveys[0]["entry_id"], "--score", "9", "--recommend", "9", "--expectations", "yes")
    after = demo.check()
    assert state(demo.path)[0][1] != before[1]  # the doctor's wave is now complete: a new stamp
    assert surveys[0]["patient_id"] not in {x["patient_id"] for x in after}


def test_today_answers_while_another_process_holds_the_write_lock(demo):
    demo.check()
    target = demo.check()[0]["patient_id"]
    demo("consent", target, "--purpose", "all", "--channel", "all", "--withdraw")
    holder = sqlite3.connect(demo.path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # an import writing, say
    try:
        started = time.monotonic()
        got = demo.today()
        waited = time.monotonic() - started
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert got == fresh(demo.path) and target not in {x["patient_id"] for x in got}
    assert waited < 8  # planned without storing after a short wait, not the 10 s busy timeout
    assert state(demo.path)[1] > 0  # still marked: the next `today` stores the plan
    demo.check()
    assert state(demo.path)[1] == 0


def test_a_look_at_another_day_leaves_the_stored_plan_alone(demo):
    """`today --date tomorrow` is planned and shown, never stored: today's plan stays a read."""
    demo.check()
    before = state(demo.path)
    tomorrow = DAY + dt.timedelta(days=1)
    assert demo.today("--date", tomorrow.isoformat()) == fresh(demo.path, tomorrow)
    assert state(demo.path) == before
    # and a write meanwhile is still seen by today's list
    demo.newcomer()
    assert state(demo.path)[1] > 0
    demo.check()
    assert state(demo.path)[0] == before[0] and state(demo.path)[1] == 0


def test_desks_in_any_language_read_the_one_stored_plan(demo):
    """The stored plan holds its sentences as messages: a desk in Russian reads the same stored plan
    as a desk in English (nothing planned again), each in its own language. The SMS texts are in the
    clinic's language (its setting), whoever reads them: they go to the patient."""
    assert demo("config", "get", "language").stdout.strip() == "en"
    listed = demo.check()
    before = state(demo.path)
    russian = json.loads(demo("--lang", "ru", "today", "--format", "json").stdout)
    assert [e["entry_id"] for e in russian] == [e["entry_id"] for e in listed]
    assert russian[0]["reasons"][0]["text"] != listed[0]["reasons"][0]["text"]
    assert [e["message"] for e in russian] == [e["message"] for e in listed]
    assert state(demo.path) == before
    sms = next(e["entry_id"] for e in listed if e["channel"] == "sms")
    demo("config", "set", "language", "ru")  # the clinic changes language: its SMS texts follow
    again = json.loads(demo("--lang", "en", "today", "--format", "json").stdout)
    assert next(e["message"] for e in again if e["entry_id"] == sms).startswith("Здравствуйте")
    assert [e["reasons"] for e in again] == [e["reasons"] for e in listed]  # the English desk's sentences


def test_filters_on_the_stored_plan(demo):
    listed = demo.check()
    for channel in ("call", "sms"):
        got = demo.today("--channel", channel)
        assert [x["patient_id"] for x in got] == [x["patient_id"] for x in listed if x["channel"] == channel]
    doctor = next(r["doctor"] for x in listed for r in x["reasons"] if r["doctor"])
    by_doctor = demo.today("--doctor", doctor.split()[0])
    assert by_doctor and all(any(doctor.split()[0].casefold() in (r["doctor"] or "").casefold()
                                 or any(doctor.split()[0].casefold() in d.casefold()
                                        for d in r["evidence"].get("doctors") or [])
                                 for r in x["reasons"]) for x in by_doctor)


def test_a_filtered_list_is_a_read_that_equals_the_plan_made_with_the_filter(demo):
    """--channel, --doctor and --find select from the stored list (the filter keys kept beside each
    entry), and give what the rules give when they plan the day with that filter: the same entries,
    order and ids, on two days of the demo clinic, for every doctor and channel and a few searches.
    On another day (not stored), the day planned in memory gives the same answers."""
    from followup import i18n, rules
    from followup.actions.day import policy_of, stored_day

    conn = db.connect(demo.path)
    doctors = db.doctor_names(conn)
    settings = db.get_settings(conn)
    policy = policy_of(conn, settings)
    checked = 0
    with i18n.using("en"):
        for day in (DAY, DAY + dt.timedelta(days=30)):
            records = list(db.load_records(conn, day, windows=rules.candidate_windows(day, policy)))
            whole = rules.plan_day(records, day, policy)
            shown = shortest_prefixes(e.entry_id for e in whole)
            as_json = {e.entry_id: entry_json(e, settings, shown[e.entry_id]) for e in whole}
            phone = next(e.address for e in whole if e.channel == "call")
            searches = [whole[0].patient.name.split()[0].upper(), "ова", whole[-1].patient.patient_id, phone[-7:],
                        "8" + phone[2:5] + " " + phone[5:], "ё"]
            for stored in (True, False) if day == DAY else (True,):
                today = day if stored else day - dt.timedelta(days=1)  # not today: planned, nothing stored
                for channel in (None, "call", "sms"):
                    for doctor in (None, *doctors):
                        planned = rules.plan_day(records, day, policy, channel=channel, doctor=doctor)
                        got = json.loads(stored_day(conn, day, channel, doctor=doctor, today=today, as_json=True))
                        assert got == [as_json[e.entry_id] for e in planned], (day, channel, doctor)
                        checked += bool(planned)
                for text in searches:
                    got = json.loads(stored_day(conn, day, find=text, today=today, as_json=True))
                    assert got == [as_json[e.entry_id] for e in whole if rules.found(e, text)], text
                    assert got or text == "ё", text
                    checked += 1
    conn.close()
    assert checked > 50


def test_send_plans_only_the_patients_of_the_days_messages(demo):
    """`send` takes the stored list's SMS and e-mail entries and plans those patients alone: the same
    entries, ids as shown and texts as the whole day planned afresh."""
    from followup.actions.sending import _message_entries, entry_text
    from followup.rules import short_ids

    conn = db.connect(demo.path)
    whole, settings = day_list(conn, DAY)
    shown = short_ids(whole)
    expected = [(e.entry_id, shown[e.entry_id], entry_text(e, settings)) for e in whole if e.channel in ("sms", "email")]
    entries, settings, ids = _message_entries(conn, DAY, ("sms", "email"), DAY)
    got = [(e.entry_id, ids[e.entry_id], entry_text(e, settings)) for e in entries]
    assert got == expected and len(got) > 10
    conn.close()


def test_a_person_reads_the_list_a_page_at_a_time(demo):
    """A big clinic's list is thousands of entries: a person's view shows 50 and says how to see the
    rest; --page and --all show them; the JSON, for scripts, is the whole list as before."""
    import re

    listed = demo.today()
    n = len(listed)
    assert n > 100

    def ids(out):
        # blocks, or a table's rows (and the messages under a table)
        return list(dict.fromkeys(re.findall(r"^(?:│ )?([0-9a-f]{4,}) ", out, flags=re.M)))

    first = demo.run("today").stdout
    assert first.startswith(f"Contacts for {DAY.isoformat()}: {n}")
    assert ids(first) == [e["entry_id"] for e in listed[:50]]
    assert first.rstrip().endswith(f"Entries 1-50 of {n}. Next: followup today --page 2 (or --all; narrow it with "
                                   "--channel, --doctor, --find)")
    last = demo.run("today", "--page", "99").stdout  # past the end: the last page
    assert ids(last) == [e["entry_id"] for e in listed[(n - 1) // 50 * 50:]]
    assert f"of {n} (the last page; --all for the whole list)" in last
    assert ids(demo.run("today", "--all").stdout) == [e["entry_id"] for e in listed]
    assert "Entries" not in demo.run("today", "--all").stdout
    assert len(demo.today("--page", "2")) == n  # JSON is for scripts: always the whole list


def test_household_members_join_and_leave_the_stored_call(cli, tmp_path):
    p = write_csv(tmp_path / "p.csv", ["Номер карты", "ФИО", "Телефон", "Код семьи"],
                  [["H3", "Сидорова Анна", "8 (926) 000-00-03", "F1"], ["H4", "Сидоров Пётр", "8 (926) 000-00-03", "F1"],
                   ["H5", "Сидорова Мария", "8 (926) 000-00-03", "F1"]])
    old = (DAY - dt.timedelta(days=200)).strftime("%d.%m.%Y")
    v = write_csv(tmp_path / "v.csv", ["Номер визита", "Номер карты", "Врач", "Дата визита", "Вид приёма"],
                  [[f"V{i}", f"H{i}", "Новикова Елена", old, "Профгигиена"] for i in (3, 4, 5)])
    assert cli("import", p, v).exit_code == 0

    def check():
        got = cli.json("today")
        assert got == fresh(cli.db_path)
        return [(x["patient_id"], [m["patient_id"] for m in x["household"]]) for x in got]

    assert check() == []
    cli("consent", "H4", "-p", "recall", "-c", "call")
    assert check() == [("H4", [])]
    cli("consent", "H3", "-p", "recall", "-c", "call")
    assert check() == [("H3", ["H4"])]  # one call for both
    cli("consent", "H5", "-p", "recall", "-c", "call")
    assert check() == [("H3", ["H4", "H5"])]
    cli("consent", "H3", "-p", "recall", "-c", "call", "--withdraw")
    assert check() == [("H4", ["H5"])]
    conn = sqlite3.connect(cli.db_path)  # a member moved out, by hand: both calls are planned again
    with conn:
        conn.execute("UPDATE patients SET household_id = NULL WHERE patient_id = 'H5'")
    conn.close()
    assert check() == [("H4", []), ("H5", [])]


def test_done_finds_an_entry_planned_after_the_stored_plan(demo):
    """`done` looks in the stored plan, and at the patients marked since: a new entry is found too."""
    from followup.entryids import entry_id

    demo.check()
    newcomer = demo.newcomer()
    assert state(demo.path)[1] > 0  # marked, not yet planned again
    new_id = entry_id(DAY, newcomer, "call")[:8]
    out = demo("done", new_id, "--outcome", "reached")
    assert f"({newcomer})" in out.output
    assert newcomer not in {x["patient_id"] for x in demo.check()}
    made_up = demo.run("done", "abcdefabcdef", "--outcome", "reached")  # no entry has this id
    assert made_up.exit_code == 66 and "no entry 'abcdefabcdef'" in made_up.stderr
