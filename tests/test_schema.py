"""The migrated schema, pinned column by column: a change to it must be a new migration."""

import re
import sqlite3

from followup import db

EXPECTED = {
    "doctors": [("id", "INTEGER", 0, 1), ("name", "TEXT", 1, 0), ("name_fold", "TEXT", 1, 0)],
    "households": [("household_id", "TEXT", 0, 1)],
    "patients": [
        ("patient_id", "TEXT", 0, 1), ("full_name", "TEXT", 0, 0), ("last_name", "TEXT", 0, 0),
        ("first_name", "TEXT", 0, 0), ("middle_name", "TEXT", 0, 0), ("name_fold", "TEXT", 0, 0),
        ("birth_date", "TEXT", 0, 0), ("phone", "TEXT", 0, 0), ("phone_valid", "INTEGER", 0, 0),
        ("phone2", "TEXT", 0, 0), ("phone2_valid", "INTEGER", 0, 0), ("email", "TEXT", 0, 0),
        ("household_id", "TEXT", 0, 0), ("status", "TEXT", 1, 0), ("first_visit", "TEXT", 0, 0),
        ("missing_since", "TEXT", 0, 0), ("import_file", "INTEGER", 0, 0), ("phone_sms", "INTEGER", 0, 0),
        ("phones_other", "TEXT", 0, 0)],
    "visits": [
        ("visit_id", "TEXT", 0, 1), ("patient_id", "TEXT", 1, 0), ("doctor_id", "INTEGER", 0, 0),
        ("date", "TEXT", 1, 0), ("kind", "TEXT", 1, 0), ("control_due", "TEXT", 0, 0),
        ("import_file", "INTEGER", 0, 0)],
    "appointments": [
        ("appointment_id", "TEXT", 0, 1), ("patient_id", "TEXT", 1, 0), ("doctor_id", "INTEGER", 0, 0),
        ("start", "TEXT", 1, 0), ("status", "TEXT", 1, 0), ("import_file", "INTEGER", 0, 0)],
    "plan_stages": [
        ("plan_id", "TEXT", 1, 1), ("stage", "TEXT", 1, 2), ("patient_id", "TEXT", 1, 0),
        ("doctor_id", "INTEGER", 0, 0), ("stage_title", "TEXT", 0, 0), ("due_date", "TEXT", 0, 0),
        ("status", "TEXT", 1, 0), ("signed_date", "TEXT", 0, 0), ("import_file", "INTEGER", 0, 0)],
    "import_runs": [
        ("id", "INTEGER", 0, 1), ("started_at", "TEXT", 1, 0), ("finished_at", "TEXT", 0, 0),
        ("duration_s", "REAL", 0, 0), ("user", "TEXT", 0, 0), ("options", "TEXT", 0, 0),
        ("outcome", "TEXT", 1, 0), ("message", "TEXT", 0, 0)],
    "import_files": [
        ("id", "INTEGER", 0, 1), ("run_id", "INTEGER", 1, 0), ("path", "TEXT", 1, 0), ("kind", "TEXT", 0, 0),
        ("sha256", "TEXT", 0, 0), ("fingerprint", "TEXT", 0, 0), ("size", "INTEGER", 0, 0),
        ("format", "TEXT", 0, 0), ("encoding", "TEXT", 0, 0), ("rows_read", "INTEGER", 1, 0),
        ("inserted", "INTEGER", 1, 0), ("updated", "INTEGER", 1, 0), ("unchanged", "INTEGER", 1, 0),
        ("rejected", "INTEGER", 1, 0), ("deactivated", "INTEGER", 1, 0), ("outcome", "TEXT", 1, 0),
        ("message", "TEXT", 0, 0), ("rejects", "TEXT", 0, 0)],
    "settings": [("key", "TEXT", 0, 1), ("value", "TEXT", 1, 0), ("updated_at", "TEXT", 1, 0),
                 ("updated_by", "TEXT", 0, 0)],
}
EXPECTED.update({
    "consents": [
        ("id", "INTEGER", 0, 1), ("patient_id", "TEXT", 1, 0), ("purpose", "TEXT", 1, 0), ("channel", "TEXT", 1, 0),
        ("granted", "INTEGER", 1, 0), ("address", "TEXT", 0, 0), ("window", "TEXT", 0, 0), ("days", "TEXT", 0, 0),
        ("how", "TEXT", 1, 0), ("note", "TEXT", 0, 0), ("source", "TEXT", 1, 0), ("recorded_by", "TEXT", 1, 0),
        ("recorded_at", "TEXT", 1, 0)],
    "next_contacts": [
        ("id", "INTEGER", 0, 1), ("patient_id", "TEXT", 1, 0), ("due", "TEXT", 1, 0), ("reason", "TEXT", 1, 0),
        ("channel", "TEXT", 0, 0), ("doctor", "TEXT", 0, 0), ("recorded_by", "TEXT", 1, 0),
        ("recorded_at", "TEXT", 1, 0)],
    "contacts": [
        ("id", "INTEGER", 0, 1), ("patient_id", "TEXT", 1, 0), ("entry_id", "TEXT", 0, 0), ("list_date", "TEXT", 1, 0),
        ("channel", "TEXT", 1, 0), ("outcome", "TEXT", 1, 0), ("reasons", "TEXT", 1, 0), ("retry_on", "TEXT", 0, 0),
        ("callback_on", "TEXT", 0, 0), ("note", "TEXT", 0, 0), ("recorded_by", "TEXT", 1, 0),
        ("recorded_at", "TEXT", 1, 0), ("superseded_by", "INTEGER", 0, 0), ("corrected_at", "TEXT", 0, 0),
        ("corrected_by", "TEXT", 0, 0), ("texts", "TEXT", 0, 0), ("consent_id", "INTEGER", 0, 0)],
    "phone_flags": [
        ("id", "INTEGER", 0, 1), ("patient_id", "TEXT", 1, 0), ("phone", "TEXT", 1, 0), ("flagged_on", "TEXT", 1, 0),
        ("contact_id", "INTEGER", 0, 0), ("recorded_by", "TEXT", 1, 0), ("lifted_on", "TEXT", 0, 0),
        ("lifted_by", "TEXT", 0, 0)],
})
EXPECTED["complaints"] = [
    ("id", "INTEGER", 0, 1), ("patient_id", "TEXT", 1, 0), ("doctor", "TEXT", 0, 0), ("text", "TEXT", 1, 0),
    ("opened_by", "TEXT", 1, 0), ("opened_at", "TEXT", 1, 0), ("action", "TEXT", 0, 0),
    ("resolved_by", "TEXT", 0, 0), ("resolved_at", "TEXT", 0, 0), ("informed_by", "TEXT", 0, 0),
    ("informed_at", "TEXT", 0, 0)]
EXPECTED["surveys"] = [
    ("id", "INTEGER", 0, 1), ("patient_id", "TEXT", 1, 0), ("visit_id", "TEXT", 0, 0), ("status", "TEXT", 1, 0),
    ("score", "INTEGER", 0, 0), ("recommend", "INTEGER", 0, 0), ("expectations", "TEXT", 0, 0),
    ("comment", "TEXT", 0, 0), ("questions", "TEXT", 1, 0), ("recorded_by", "TEXT", 1, 0),
    ("recorded_at", "TEXT", 1, 0), ("superseded_by", "INTEGER", 0, 0), ("corrected_at", "TEXT", 0, 0),
    ("corrected_by", "TEXT", 0, 0)]
EXPECTED["survey_doctors"] = [("survey_id", "INTEGER", 1, 1), ("doctor", "TEXT", 1, 2)]
EXPECTED["survey_themes"] = [("survey_id", "INTEGER", 1, 1), ("theme", "TEXT", 1, 2), ("assigned_by", "TEXT", 1, 0),
                             ("assigned_at", "TEXT", 1, 0)]
EXPECTED["erasures"] = [("id", "INTEGER", 0, 1), ("erased_at", "TEXT", 1, 0), ("erased_by", "TEXT", 1, 0),
                        ("rows_erased", "INTEGER", 1, 0), ("surveys_kept", "INTEGER", 1, 0),
                        ("card_hash", "TEXT", 0, 0)]
EXPECTED["erasure_salt"] = [("id", "INTEGER", 0, 1), ("salt", "BLOB", 1, 0)]
EXPECTED["erased_returns"] = [("patient_id", "TEXT", 1, 1)]
EXPECTED["outbox"] = [
    ("id", "INTEGER", 0, 1), ("list_date", "TEXT", 1, 0), ("patient_id", "TEXT", 1, 0), ("channel", "TEXT", 1, 0),
    ("address", "TEXT", 1, 0), ("body", "TEXT", 1, 0), ("parts", "INTEGER", 1, 0), ("state", "TEXT", 1, 0),
    ("provider", "TEXT", 1, 0), ("provider_id", "TEXT", 0, 0), ("error", "TEXT", 0, 0), ("started_at", "TEXT", 1, 0),
    ("finished_at", "TEXT", 0, 0), ("recorded_by", "TEXT", 1, 0), ("delivery", "TEXT", 0, 0),
    ("checked_at", "TEXT", 0, 0)]
EXPECTED["plan_meta"] = [("id", "INTEGER", 0, 1), ("day", "TEXT", 1, 0), ("stamp", "TEXT", 1, 0),
                         ("survey_wave", "INTEGER", 1, 0), ("list", "BLOB", 1, 0)]
EXPECTED["plan_entries"] = [
    ("entry_id", "TEXT", 0, 1), ("shown", "TEXT", 1, 0), ("patient_id", "TEXT", 1, 0), ("channel", "TEXT", 1, 0),
    ("no_window", "INTEGER", 1, 0),
    ("start", "TEXT", 1, 0), ("priority", "INTEGER", 1, 0), ("name", "TEXT", 1, 0), ("payload", "TEXT", 1, 0),
    ("place", "INTEGER", 0, 0), ("doctors", "TEXT", 1, 0), ("names", "TEXT", 1, 0), ("digits", "TEXT", 1, 0)]
EXPECTED["plan_members"] = [("patient_id", "TEXT", 1, 1), ("entry_id", "TEXT", 1, 2)]
EXPECTED["plan_dirty"] = [("patient_id", "TEXT", 1, 1)]
EXPECTED["plan_texts"] = [("entry_id", "TEXT", 1, 1), ("language", "TEXT", 1, 2), ("payload", "TEXT", 1, 0)]
EXPECTED["plan_lists"] = [("language", "TEXT", 1, 1), ("list", "BLOB", 1, 0)]
EXPECTED["day_counts"] = [("day", "TEXT", 1, 1), ("reason", "TEXT", 1, 2), ("due", "INTEGER", 1, 0)]
EXPECTED["day_listed"] = [("day", "TEXT", 1, 1), ("reason", "TEXT", 1, 2), ("patient_id", "TEXT", 1, 3),
                          ("ref", "TEXT", 1, 4)]
EXPECTED["complaints"] = EXPECTED["complaints"] + [("survey_id", "INTEGER", 0, 0)]
EXPECTED["users"] = [("name", "TEXT", 1, 1), ("role", "TEXT", 1, 0), ("password", "TEXT", 1, 0),
                     ("language", "TEXT", 0, 0), ("created_at", "TEXT", 1, 0), ("created_by", "TEXT", 1, 0),
                     ("changed_at", "TEXT", 1, 0), ("disabled_at", "TEXT", 0, 0), ("sessions", "INTEGER", 1, 0)]
EXPECTED["logins"] = [("id", "INTEGER", 0, 1), ("at", "TEXT", 1, 0), ("name", "TEXT", 1, 0), ("address", "TEXT", 1, 0),
                      ("ok", "INTEGER", 1, 0)]
EXPECTED["web_keys"] = [("id", "INTEGER", 0, 1), ("secret", "TEXT", 1, 0), ("created_at", "TEXT", 1, 0)]
EXPECTED["claims"] = [("list_date", "TEXT", 1, 1), ("patient_id", "TEXT", 1, 2), ("channel", "TEXT", 1, 3),
                      ("name", "TEXT", 1, 0), ("at", "TEXT", 1, 0)]
EXPECTED["reason_actions"] = [
    ("id", "INTEGER", 0, 1), ("patient_id", "TEXT", 1, 0), ("code", "TEXT", 1, 0), ("ref", "TEXT", 1, 0),
    ("action", "TEXT", 1, 0), ("on_day", "TEXT", 1, 0), ("note", "TEXT", 0, 0), ("recorded_by", "TEXT", 1, 0),
    ("recorded_at", "TEXT", 1, 0)]
EXPECTED["reason_waits"] = [("patient_id", "TEXT", 1, 1), ("code", "TEXT", 1, 2), ("ref", "TEXT", 1, 3),
                            ("since", "TEXT", 1, 0), ("listed_on", "TEXT", 0, 0)]
MIGRATIONS = ["m001_initial", "m002_contacts", "m003_complaints", "m004_surveys", "m005_survey_themes",
              "m006_erasures", "m007_day_plan", "m008_contacts_entry", "m009_plan_texts",
              "m010_complaint_survey", "m011_day_counts",
              "m012_phone_kinds", "m013_corrections", "m014_reason_actions",
              "m015_survey_corrections", "m016_capacity",
              "m017_erased_cards", "m018_outbox", "m019_plan_filters",
              "m020_lookup_indexes", "m021_staff_logins", "m022_occasions", "m023_sources_amounts",
              "m024_campaigns", "m025_postal_address", "m026_import_digests",
              "m027_settings_outside_the_plan", "m028_plan_parts"]
EXPECTED["campaigns"] = [
    ("id", "INTEGER", 0, 1), ("name", "TEXT", 1, 0), ("text", "TEXT", 1, 0), ("channel", "TEXT", 1, 0),
    ("audience", "TEXT", 1, 0), ("starts", "TEXT", 1, 0), ("ends", "TEXT", 1, 0), ("created_by", "TEXT", 1, 0),
    ("created_at", "TEXT", 1, 0), ("stopped_by", "TEXT", 0, 0), ("stopped_at", "TEXT", 0, 0)]
EXPECTED["patients"] = EXPECTED["patients"] + [("source", "TEXT", 0, 0), ("source_detail", "TEXT", 0, 0),
                                               ("address", "TEXT", 0, 0)]
EXPECTED["visits"] = EXPECTED["visits"] + [("amount", "REAL", 0, 0)]
# m026: each imported row keeps the digest of the cells it was read from, indexed where it has one
# m028: the whole list kept in parts
EXPECTED["plan_parts"] = [("language", "TEXT", 1, 2), ("part", "INTEGER", 1, 1), ("list", "BLOB", 1, 0)]
EXPECTED["plan_entries"] = EXPECTED["plan_entries"] + [("part", "INTEGER", 1, 0)]
for _table in ("patients", "visits", "appointments", "plan_stages"):
    EXPECTED[_table] = EXPECTED[_table] + [("digest", "INTEGER", 0, 0)]
EXPECTED["patient_sources"] = [
    ("id", "INTEGER", 0, 1), ("patient_id", "TEXT", 1, 0), ("source", "TEXT", 1, 0), ("detail", "TEXT", 0, 0),
    ("recorded_by", "TEXT", 1, 0), ("recorded_at", "TEXT", 1, 0)]
EXPECTED["sources"] = [("code", "TEXT", 1, 1), ("added_by", "TEXT", 1, 0), ("added_at", "TEXT", 1, 0)]
EXPECTED["occasions"] = [
    ("id", "INTEGER", 0, 1), ("name", "TEXT", 1, 0), ("month", "INTEGER", 1, 0), ("day", "INTEGER", 1, 0),
    ("sex", "TEXT", 0, 0), ("created_by", "TEXT", 1, 0), ("created_at", "TEXT", 1, 0), ("removed_by", "TEXT", 0, 0),
    ("removed_at", "TEXT", 0, 0)]
EXPECTED["occasion_texts"] = [
    ("id", "INTEGER", 0, 1), ("occasion", "TEXT", 1, 0), ("text", "TEXT", 1, 0), ("added_by", "TEXT", 1, 0),
    ("added_at", "TEXT", 1, 0), ("retired_by", "TEXT", 0, 0), ("retired_at", "TEXT", 0, 0)]


def test_migrated_schema_is_pinned(tmp_path):
    conn = db.connect(tmp_path / "x.db")
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables - {"_sqlite_migrations"} == set(EXPECTED)
    for table, columns in EXPECTED.items():
        got = [(r[1], r[2], r[3], r[5]) for r in conn.execute(f"PRAGMA table_info({table})")]
        assert got == columns, table
    assert [r[0] for r in conn.execute("SELECT name FROM _sqlite_migrations ORDER BY id")] == MIGRATIONS
    assert db.schema_version(conn) == MIGRATIONS[-1]


def test_connection_settings(tmp_path):
    conn = db.connect(tmp_path / "x.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 5000
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1


INDEXES = {  # name: (table, columns)
    'appointments_patient_start': ('appointments', ('patient_id', 'start')),
    'appointments_start': ('appointments', ('start',)),
    'appointments_status_start': ('appointments', ('status', 'start')),
    'complaints_open': ('complaints', ('resolved_at', 'opened_at')),
    'complaints_patient': ('complaints', ('patient_id',)),
    'consents_granted': ('consents', ('granted', 'patient_id')),
    'consents_patient': ('consents', ('patient_id', 'purpose', 'channel', 'recorded_at')),
    'contacts_entry': ('contacts', ('list_date', 'entry_id')),
    'contacts_patient': ('contacts', ('patient_id', 'recorded_at')),
    'import_files_kind': ('import_files', ('kind', 'outcome', 'id')),
    'next_contacts_patient': ('next_contacts', ('patient_id',)),
    'patients_household': ('patients', ('household_id',)),
    'phone_flags_patient': ('phone_flags', ('patient_id',)),
    'logins_name': ('logins', ('name', 'at')),
    'plan_entries_listed': ('plan_entries', ('channel',)),
    'plan_entries_waiting': ('plan_entries', ('channel',)),
    'plan_entries_order': ('plan_entries', ('no_window', 'start', 'priority', 'name', 'channel', 'patient_id')),
    'plan_members_entry': ('plan_members', ('entry_id',)),
    'plan_stages_due': ('plan_stages', ('status', 'due_date')),
    'plan_stages_patient': ('plan_stages', ('patient_id',)),
    'survey_doctors_doctor': ('survey_doctors', ('doctor',)),
    'surveys_treatment': ('surveys', ('patient_id', 'visit_id')),
    'surveys_patient': ('surveys', ('patient_id',)),
    'visits_control_due': ('visits', ('control_due',)),
    'visits_kind_date': ('visits', ('kind', 'date', 'patient_id')),
    'visits_patient_date': ('visits', ('patient_id', 'date', 'kind')),
    'reason_actions_patient': ('reason_actions', ('patient_id',)),
    'reason_actions_requeue': ('reason_actions', ('action', 'on_day')),
    'erasures_card_hash': ('erasures', ('card_hash',)),
    'outbox_once': ('outbox', ('list_date', 'patient_id', 'channel')),
    'outbox_patient': ('outbox', ('patient_id',)),
    'patient_sources_patient': ('patient_sources', ('patient_id', 'id')),
    **{f"{t}_digest": (t, ("digest",)) for t in ("patients", "visits", "appointments", "plan_stages")},
    'plan_entries_part': ('plan_entries', ('part', 'no_window', 'start', 'priority', 'name', 'channel', 'patient_id')),
}
TRIGGERS = {  # name: table (they keep the stored day plan honest)
    'plan_dirty_complaints_delete': 'complaints', 'plan_dirty_complaints_insert': 'complaints',
    'plan_dirty_complaints_update': 'complaints', 'plan_dirty_consents_delete': 'consents',
    'plan_dirty_consents_insert': 'consents', 'plan_dirty_consents_update': 'consents',
    'plan_dirty_contacts_delete': 'contacts', 'plan_dirty_contacts_insert': 'contacts',
    'plan_dirty_contacts_update': 'contacts', 'plan_dirty_next_contacts_delete': 'next_contacts',
    'plan_dirty_next_contacts_insert': 'next_contacts', 'plan_dirty_next_contacts_update': 'next_contacts',
    'plan_dirty_patients_delete': 'patients', 'plan_dirty_patients_update': 'patients',
    'plan_dirty_phone_flags_delete': 'phone_flags', 'plan_dirty_phone_flags_insert': 'phone_flags',
    'plan_dirty_phone_flags_update': 'phone_flags', 'plan_dirty_surveys_delete': 'surveys',
    'plan_dirty_surveys_insert': 'surveys', 'plan_dirty_surveys_update': 'surveys',
    'plan_stale_import': 'import_files', 'plan_stale_settings_d': 'settings', 'plan_stale_settings_i': 'settings',
    'plan_stale_settings_u': 'settings', 'plan_dirty_reason_actions_insert': 'reason_actions',
    'plan_dirty_reason_actions_delete': 'reason_actions',
    **{f"plan_stale_{t}_{e}": t for t in ("occasions", "occasion_texts", "campaigns")
       for e in ("insert", "update", "delete")},
    **{f"plan_parts_{kind}_{e}": table for kind, table in (("entry", "plan_entries"), ("text", "plan_texts"))
       for e in ("insert", "update", "delete")},
}


def test_the_indexes_and_triggers_are_pinned(tmp_path):
    conn = db.connect(tmp_path / "x.db")
    indexes = {n: (t, tuple(r[2] for r in conn.execute(f"PRAGMA index_info({n})"))) for n, t in conn.execute(
        "SELECT name, tbl_name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_autoindex%' "
        "AND tbl_name != '_sqlite_migrations'")}
    assert indexes == INDEXES
    assert dict(conn.execute("SELECT name, tbl_name FROM sqlite_master WHERE type = 'trigger'")) == TRIGGERS


def test_migrations_are_a_numbered_list():
    """m001, m002 … in order, each name once: the names a database records come from the list."""
    from followup.db import schema

    names = db.MIGRATION_NAMES
    assert [int(n[1:4]) for n in names] == list(range(1, len(names) + 1))
    assert all(re.fullmatch(r"m\d{3}_[a-z0-9_]+", n) for n in names)
    assert tuple(m.name for m in schema._migrations()._migrations) == names  # as sqlite-utils applies them


def test_migrating_twice_changes_nothing(tmp_path):
    path = tmp_path / "x.db"
    db.connect(path).close()
    conn = db.connect(path)
    assert conn.execute("SELECT count(*) FROM _sqlite_migrations").fetchone()[0] == len(MIGRATIONS)


def test_new_database_is_private(tmp_path):
    path = tmp_path / "sub" / "x.db"
    db.connect(path).close()
    assert (path.stat().st_mode & 0o777) == 0o600


def test_not_a_database(tmp_path):
    path = tmp_path / "x.db"
    path.write_bytes(b"hello, this is not sqlite" * 100)
    try:
        db.connect(path)
    except db.DatabaseError as exc:
        assert "not a usable SQLite database" in str(exc)
    else:
        raise AssertionError("expected DatabaseError")
    assert sqlite3.sqlite_version


def test_a_migration_backs_up_first_and_a_failing_one_changes_nothing(tmp_path):
    path = tmp_path / "x.db"
    conn = db.connect(path)
    conn.execute("DELETE FROM _sqlite_migrations WHERE name = 'm005_survey_themes'")
    conn.execute("DROP TABLE survey_themes")
    conn.close()
    db.connect(path).close()  # applies m005 again, after a backup
    backup = tmp_path / "x.db.before-m005_survey_themes.bak"
    assert backup.exists() and backup.stat().st_mode & 0o777 == 0o600
    assert sqlite3.connect(backup).execute(
        "SELECT count(*) FROM sqlite_master WHERE name = 'survey_themes'").fetchone() == (0,)
    # a failing migration: nothing of it stays
    conn = db.connect(path)
    conn.execute("DELETE FROM _sqlite_migrations WHERE name = 'm005_survey_themes'")
    conn.execute("DROP TABLE survey_themes")
    conn.execute("CREATE TABLE survey_themes (x)")  # makes m005's CREATE TABLE fail
    conn.close()
    try:
        db.connect(path)
    except sqlite3.OperationalError:
        pass
    else:
        raise AssertionError("expected the migration to fail")
    conn = sqlite3.connect(path)
    assert [r[1] for r in conn.execute("PRAGMA table_info(survey_themes)")] == ["x"]
    assert conn.execute("SELECT count(*) FROM _sqlite_migrations WHERE name = 'm005_survey_themes'").fetchone() \
        == (0,)
