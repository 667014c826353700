"""One patient costs one patient: what `why`, `done`, `patient show`, `log`, `survey` and the re-plan of a
marked patient ask SQLite uses each table's index for that patient, never a walk through a table of the
whole clinic. Without statistics (followup runs no ANALYZE) SQLite's choice of plan does not depend on
the size of the tables, so a small clinic shows the plans a chain's 500,000 patients would get.

Every statement the commands run is traced (SQLite's expanded text) and asked for its plan."""

import re

import pytest

from followup import db

# tables that grow with the clinic (patients' histories) or with the day's list
BIG = ("patients", "visits", "appointments", "plan_stages", "consents", "contacts", "next_contacts", "phone_flags",
       "complaints", "surveys", "reason_actions", "reason_waits", "plan_entries", "plan_members", "plan_texts",
       "day_listed", "outbox")


@pytest.fixture
def traced(monkeypatch):
    """Every statement run through a connection opened by the commands."""
    seen: list[str] = []
    connect = db.connect

    def tracing(*args, **kwargs):
        conn = connect(*args, **kwargs)
        conn.set_trace_callback(seen.append)
        return conn

    monkeypatch.setattr(db, "connect", tracing)
    return seen


def walks(conn, statements: list[str]) -> list[tuple[str, str]]:
    """(statement, step) for each step of a plan that reads a big table whole."""
    found = []
    for sql in dict.fromkeys(statements):
        if not re.match(r"\s*(SELECT|WITH|DELETE|UPDATE)\b", sql, flags=re.I):
            continue
        # a table as the plan names it: by its alias where it has one ("FROM visits v")
        aliases = {alias: table for table, alias in
                   re.findall(r"\b(?:FROM|JOIN)\s+(\w+)(?:\s+(?:AS\s+)?(?!WHERE|ON|JOIN|LEFT|INDEXED|ORDER|GROUP)(\w+))?",
                              sql, flags=re.I) if alias}
        for row in conn.execute("EXPLAIN QUERY PLAN " + sql):
            step = row[3]
            m = re.match(r"SCAN (\w+)", step)
            # allowed: a page read down the list's order index (LIMIT stops it), and the list's counts on
            # their partial indexes (an index entry an entry, no row read)
            paged = "plan_entries_order" in step and re.search(r"LIMIT \d+ OFFSET \d+$", sql)
            counted = re.search(r"INDEX plan_entries_(listed|waiting)$", step) and "count(*)" in sql
            if m and aliases.get(m.group(1), m.group(1)) in BIG and not paged and not counted:
                found.append((sql[:300], step))
            # a search that starts from a status, a kind or a date walks every patient's rows of it (all
            # planned stages, all hygiene visits, all booked appointments): the patient's key must lead
            m = re.match(r"SEARCH (\w+) USING .*?\((\w+)[=<>]", step)
            if m and aliases.get(m.group(1), m.group(1)) in BIG and m.group(2) in WIDE:
                found.append((sql[:300], step))
    return found


# columns that many patients' rows share: an index that leads with one of them is no way to one patient
WIDE = ("status", "kind", "date", "start", "due_date", "granted", "control_due", "recorded_at", "opened_at")


def test_one_patients_commands_read_that_patient_only(cli, patients_csv, visits_csv, traced):
    assert cli("import", patients_csv, visits_csv).exit_code == 0
    import datetime as dt

    for pid in ("000101", "000102"):
        assert cli("consent", pid, "--purpose", "recall,control,plan,survey,agreed", "--channel", "call,sms").exit_code == 0
        assert cli("next", pid, "--on", dt.date.today().isoformat(), "--reason", "ask how the crown feels").exit_code == 0
    [entry] = [e for e in cli.json("today") if e["patient_id"] == "000101"]
    traced.clear()
    assert cli("why", "000101").exit_code == 0
    assert cli("patient", "show", "000101").exit_code == 0
    assert cli("log", "000101").exit_code == 0
    assert cli("done", entry["entry_id"], "--outcome", "no-answer").exit_code == 0
    assert cli("consent", "000102", "--purpose", "marketing", "--channel", "sms").exit_code == 0
    assert cli("today").exit_code == 0  # the marked patients planned again, a page of the list read
    assert len(traced) > 50
    conn = db.connect(cli.db_path)
    assert walks(conn, traced) == []
    assert any("plan_entries" in sql and "LIMIT 50" in sql for sql in traced)
