"""The schema: migrations as a plain list of functions, append-only, never renamed (a test pins the result)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from followup.db.connection import backup, write_transaction

# ---------------------------------------------------------------------------
# Migrations: append-only, never renamed. A test pins the resulting schema.


def m001_initial(db):
    # The imported tables carry no CHECK constraints: each costs about a microsecond a row
    # on a 500,000-row import, and the importer is their only writer, mapping every
    # status and kind through fields.VALUES.
    db.executescript(
        """
        CREATE TABLE doctors (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            name_fold TEXT NOT NULL
        );
        CREATE TABLE households (
            household_id TEXT PRIMARY KEY
        );
        CREATE TABLE patients (
            patient_id TEXT PRIMARY KEY,
            full_name TEXT,
            last_name TEXT,
            first_name TEXT,
            middle_name TEXT,
            name_fold TEXT,
            birth_date TEXT,
            phone TEXT,
            phone_valid INTEGER,
            phone2 TEXT,
            phone2_valid INTEGER,
            email TEXT,
            household_id TEXT REFERENCES households(household_id),
            status TEXT NOT NULL DEFAULT 'active',
            first_visit TEXT,
            missing_since TEXT,
            import_file INTEGER
        );
        CREATE INDEX patients_household ON patients(household_id);
        CREATE TABLE visits (
            visit_id TEXT PRIMARY KEY,
            patient_id TEXT NOT NULL REFERENCES patients(patient_id),
            doctor_id INTEGER REFERENCES doctors(id),
            date TEXT NOT NULL,
            kind TEXT NOT NULL,
            control_due TEXT,
            import_file INTEGER
        );
        CREATE INDEX visits_patient_date ON visits(patient_id, date, kind);  -- covering for the rules
        CREATE TABLE appointments (
            appointment_id TEXT PRIMARY KEY,
            patient_id TEXT NOT NULL REFERENCES patients(patient_id),
            doctor_id INTEGER REFERENCES doctors(id),
            start TEXT NOT NULL,
            status TEXT NOT NULL,
            import_file INTEGER
        );
        CREATE INDEX appointments_patient_start ON appointments(patient_id, start);
        CREATE INDEX appointments_start ON appointments(start);
        CREATE TABLE plan_stages (
            plan_id TEXT NOT NULL,
            stage TEXT NOT NULL,
            patient_id TEXT NOT NULL REFERENCES patients(patient_id),
            doctor_id INTEGER REFERENCES doctors(id),
            stage_title TEXT,
            due_date TEXT,
            status TEXT NOT NULL,
            signed_date TEXT,
            import_file INTEGER,
            PRIMARY KEY (plan_id, stage)
        );
        CREATE INDEX plan_stages_patient ON plan_stages(patient_id);
        CREATE TABLE import_runs (
            id INTEGER PRIMARY KEY,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            duration_s REAL,
            user TEXT,
            options TEXT,
            outcome TEXT NOT NULL,
            message TEXT
        );
        CREATE TABLE import_files (
            id INTEGER PRIMARY KEY,
            run_id INTEGER NOT NULL REFERENCES import_runs(id),
            path TEXT NOT NULL,
            kind TEXT,
            sha256 TEXT,
            fingerprint TEXT,
            size INTEGER,
            format TEXT,
            encoding TEXT,
            rows_read INTEGER NOT NULL DEFAULT 0,
            inserted INTEGER NOT NULL DEFAULT 0,
            updated INTEGER NOT NULL DEFAULT 0,
            unchanged INTEGER NOT NULL DEFAULT 0,
            rejected INTEGER NOT NULL DEFAULT 0,
            deactivated INTEGER NOT NULL DEFAULT 0,
            outcome TEXT NOT NULL,
            message TEXT,
            rejects TEXT
        );
        CREATE INDEX import_files_kind ON import_files(kind, outcome, id);
        CREATE TABLE settings (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            updated_by TEXT
        );
        """
    )

def m002_contacts(db):
    # Staff-entered data: no import ever writes these tables.
    db.executescript(
        """
        CREATE TABLE consents (
            id INTEGER PRIMARY KEY,
            patient_id TEXT NOT NULL REFERENCES patients(patient_id),
            purpose TEXT NOT NULL,
            channel TEXT NOT NULL,
            granted INTEGER NOT NULL,
            address TEXT,
            window TEXT,
            days TEXT,
            how TEXT NOT NULL,
            note TEXT,
            source TEXT NOT NULL,
            recorded_by TEXT NOT NULL,
            recorded_at TEXT NOT NULL
        );
        CREATE INDEX consents_patient ON consents(patient_id, purpose, channel, recorded_at);
        CREATE TABLE next_contacts (
            id INTEGER PRIMARY KEY,
            patient_id TEXT NOT NULL REFERENCES patients(patient_id),
            due TEXT NOT NULL,
            reason TEXT NOT NULL,
            channel TEXT,
            doctor TEXT,
            recorded_by TEXT NOT NULL,
            recorded_at TEXT NOT NULL
        );
        CREATE INDEX next_contacts_patient ON next_contacts(patient_id);
        CREATE TABLE contacts (
            id INTEGER PRIMARY KEY,
            patient_id TEXT NOT NULL REFERENCES patients(patient_id),
            entry_id TEXT,
            list_date TEXT NOT NULL,
            channel TEXT NOT NULL,
            outcome TEXT NOT NULL,
            reasons TEXT NOT NULL,
            retry_on TEXT,
            callback_on TEXT,
            note TEXT,
            recorded_by TEXT NOT NULL,
            recorded_at TEXT NOT NULL
        );
        CREATE INDEX contacts_patient ON contacts(patient_id, recorded_at);
        CREATE TABLE phone_flags (
            id INTEGER PRIMARY KEY,
            patient_id TEXT NOT NULL REFERENCES patients(patient_id),
            phone TEXT NOT NULL,
            flagged_on TEXT NOT NULL,
            contact_id INTEGER REFERENCES contacts(id),
            recorded_by TEXT NOT NULL
        );
        CREATE INDEX phone_flags_patient ON phone_flags(patient_id);
        CREATE INDEX appointments_status_start ON appointments(status, start);
        CREATE INDEX visits_kind_date ON visits(kind, date, patient_id);
        CREATE INDEX visits_control_due ON visits(control_due) WHERE control_due IS NOT NULL;
        CREATE INDEX plan_stages_due ON plan_stages(status, due_date);
        CREATE INDEX consents_granted ON consents(granted, patient_id);
        """
    )

def m003_complaints(db):
    db.executescript(
        """
        CREATE TABLE complaints (
            id INTEGER PRIMARY KEY,
            patient_id TEXT NOT NULL REFERENCES patients(patient_id),
            doctor TEXT,
            text TEXT NOT NULL,
            opened_by TEXT NOT NULL,
            opened_at TEXT NOT NULL,
            action TEXT,
            resolved_by TEXT,
            resolved_at TEXT,
            informed_by TEXT,
            informed_at TEXT
        );
        CREATE INDEX complaints_patient ON complaints(patient_id);
        CREATE INDEX complaints_open ON complaints(resolved_at, opened_at);
        """
    )

def m004_surveys(db):
    db.executescript(
        """
        CREATE TABLE surveys (
            id INTEGER PRIMARY KEY,
            patient_id TEXT NOT NULL REFERENCES patients(patient_id),
            visit_id TEXT,
            status TEXT NOT NULL,
            score INTEGER,
            recommend INTEGER,
            expectations TEXT,
            comment TEXT,
            questions TEXT NOT NULL,
            recorded_by TEXT NOT NULL,
            recorded_at TEXT NOT NULL
        );
        CREATE UNIQUE INDEX surveys_treatment ON surveys(patient_id, visit_id) WHERE visit_id IS NOT NULL;
        CREATE TABLE survey_doctors (
            survey_id INTEGER NOT NULL REFERENCES surveys(id),
            doctor TEXT NOT NULL,
            PRIMARY KEY (survey_id, doctor)
        );
        CREATE INDEX survey_doctors_doctor ON survey_doctors(doctor);
        """
    )

def m005_survey_themes(db):
    db.executescript(
        """
        CREATE TABLE survey_themes (
            survey_id INTEGER NOT NULL REFERENCES surveys(id),
            theme TEXT NOT NULL,
            assigned_by TEXT NOT NULL,
            assigned_at TEXT NOT NULL,
            PRIMARY KEY (survey_id, theme)
        );
        """
    )

def m006_erasures(db):
    # Who erased a patient's data and when; no trace of whom.
    db.executescript(
        """
        CREATE TABLE erasures (
            id INTEGER PRIMARY KEY,
            erased_at TEXT NOT NULL,
            erased_by TEXT NOT NULL,
            rows_erased INTEGER NOT NULL,
            surveys_kept INTEGER NOT NULL
        );
        """
    )

def m007_day_plan(db):
    # The day's list, kept so that the dozens of `followup today` a day cost a read. SQLite
    # itself keeps it honest: every write to a patient's staff records (or to the patient)
    # marks that patient for re-planning, and a settings change or an import drops the plan.
    db.executescript(
        """
        CREATE TABLE plan_meta (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            day TEXT NOT NULL,
            stamp TEXT NOT NULL,
            survey_wave INTEGER NOT NULL,
            list BLOB NOT NULL
        );
        CREATE TABLE plan_entries (
            entry_id TEXT PRIMARY KEY,
            shown TEXT NOT NULL,
            patient_id TEXT NOT NULL,
            channel TEXT NOT NULL,
            no_window INTEGER NOT NULL,
            start TEXT NOT NULL,
            priority INTEGER NOT NULL,
            name TEXT NOT NULL,
            payload TEXT NOT NULL
        );
        CREATE INDEX plan_entries_order ON plan_entries(no_window, start, priority, name, channel, patient_id);
        CREATE TABLE plan_members (
            patient_id TEXT NOT NULL,
            entry_id TEXT NOT NULL,
            PRIMARY KEY (patient_id, entry_id)
        ) WITHOUT ROWID;
        CREATE TABLE plan_dirty (patient_id TEXT PRIMARY KEY) WITHOUT ROWID;
        CREATE TRIGGER plan_stale_settings_i AFTER INSERT ON settings BEGIN DELETE FROM plan_meta; END;
        CREATE TRIGGER plan_stale_settings_u AFTER UPDATE ON settings BEGIN DELETE FROM plan_meta; END;
        CREATE TRIGGER plan_stale_settings_d AFTER DELETE ON settings BEGIN DELETE FROM plan_meta; END;
        CREATE TRIGGER plan_stale_import AFTER UPDATE OF outcome ON import_files WHEN NEW.outcome = 'imported'
            BEGIN DELETE FROM plan_meta; END;
        """
    )
    rows = {"INSERT": "(NEW.patient_id)", "UPDATE": "(OLD.patient_id), (NEW.patient_id)", "DELETE": "(OLD.patient_id)"}
    for table in ("consents", "next_contacts", "contacts", "phone_flags", "complaints", "surveys", "patients"):
        for event, ids in rows.items():
            if (table, event) != ("patients", "INSERT"):  # a new patient has no consent yet
                db.execute(f"CREATE TRIGGER plan_dirty_{table}_{event.lower()} AFTER {event} ON {table} "
                           f"BEGIN INSERT OR IGNORE INTO plan_dirty VALUES {ids}; END")

def m008_contacts_entry(db):
    # `done` checks that an entry of the day is not closed yet, by its id: without this index
    # every `done` read the whole contact history
    db.execute("CREATE INDEX contacts_entry ON contacts(list_date, entry_id)")


def m009_plan_texts(db):
    # The stored plan holds its sentences as messages (data); each desk reads them in its own
    # language. What one language reads is kept too, an entry at a time and as the whole list, so
    # that `followup today` stays a read in every language; re-planning a patient drops that
    # patient's texts, and any change drops the lists.
    db.executescript(
        """
        CREATE TABLE plan_texts (
            entry_id TEXT NOT NULL,
            language TEXT NOT NULL,
            payload TEXT NOT NULL,
            PRIMARY KEY (entry_id, language)
        ) WITHOUT ROWID;
        CREATE TABLE plan_lists (
            language TEXT PRIMARY KEY,
            list BLOB NOT NULL
        ) WITHOUT ROWID;
        DELETE FROM plan_meta;
        """
    )


def m010_complaint_survey(db):
    # A complaint opened from a survey answer about a treatment by several doctors names no one
    # doctor: it counts for each doctor of that survey, through this link.
    db.execute("ALTER TABLE complaints ADD COLUMN survey_id INTEGER REFERENCES surveys(id)")


def m011_day_counts(db):
    # The contact funnel's first stage from history: how many reasons each day's lists held. The
    # reasons listed on the stored plan's day are noted as they are planned (day_listed: every
    # reason that was on the list at any time of that day, once); when a new day is planned, the
    # days before are counted into day_counts and their notes dropped.
    db.executescript(
        """
        CREATE TABLE day_counts (
            day TEXT NOT NULL,
            reason TEXT NOT NULL,
            due INTEGER NOT NULL,
            PRIMARY KEY (day, reason)
        ) WITHOUT ROWID;
        CREATE TABLE day_listed (
            day TEXT NOT NULL,
            reason TEXT NOT NULL,
            patient_id TEXT NOT NULL,
            ref TEXT NOT NULL,
            PRIMARY KEY (day, reason, patient_id, ref)
        ) WITHOUT ROWID;
        """
    )


def m012_phone_kinds(db):
    # A phone cell may hold several numbers, an extension or a landline: the number used is the
    # first that can receive SMS; phone_sms says whether it can (a landline, a toll-free number or
    # one with an extension is dialled, never sent an SMS); the cell's other numbers are kept.
    db.executescript(
        """
        ALTER TABLE patients ADD COLUMN phone_sms INTEGER;
        ALTER TABLE patients ADD COLUMN phones_other TEXT;
        UPDATE patients SET phone_sms = 1 WHERE phone_valid = 1 AND phone GLOB '+79[0-24-9]*'
            AND length(phone) = 12;
        """
    )
    from followup.phones import can_receive_sms  # the numbers the fast rule leaves

    rows = db.execute("SELECT patient_id, phone FROM patients WHERE phone_valid = 1 AND phone_sms IS NULL").fetchall()
    db.conn.executemany("UPDATE patients SET phone_sms = ? WHERE patient_id = ?",
                   [(int(can_receive_sms(phone)), pid) for pid, phone in rows])
    db.execute("UPDATE patients SET phone_sms = 0 WHERE phone_sms IS NULL AND phone IS NOT NULL")


def m013_corrections(db):
    # An outcome recorded by mistake is corrected, never edited away: the contact is marked as
    # superseded by the one that corrects it (by whom, when), and a wrong-number flag it raised is
    # lifted (by whom, when). The rules read only contacts not superseded and flags not lifted.
    db.executescript(
        """
        ALTER TABLE contacts ADD COLUMN superseded_by INTEGER REFERENCES contacts(id);
        ALTER TABLE contacts ADD COLUMN corrected_at TEXT;
        ALTER TABLE contacts ADD COLUMN corrected_by TEXT;
        ALTER TABLE phone_flags ADD COLUMN lifted_on TEXT;
        ALTER TABLE phone_flags ADD COLUMN lifted_by TEXT;
        """
    )


def m014_reason_actions(db):
    # A reason that passed its window without ever being offered goes to the manager, who puts it
    # back on the list or closes it with a note: each decision a record (who, when), never an edit.
    db.executescript(
        """
        CREATE TABLE reason_actions (
            id INTEGER PRIMARY KEY,
            patient_id TEXT NOT NULL REFERENCES patients(patient_id),
            code TEXT NOT NULL,
            ref TEXT NOT NULL,
            action TEXT NOT NULL CHECK (action IN ('requeue', 'close')),
            on_day TEXT NOT NULL,
            note TEXT,
            recorded_by TEXT NOT NULL,
            recorded_at TEXT NOT NULL
        );
        CREATE INDEX reason_actions_patient ON reason_actions(patient_id);
        CREATE INDEX reason_actions_requeue ON reason_actions(action, on_day);
        CREATE TRIGGER plan_dirty_reason_actions_insert AFTER INSERT ON reason_actions
            BEGIN INSERT OR IGNORE INTO plan_dirty VALUES (NEW.patient_id); END;
        CREATE TRIGGER plan_dirty_reason_actions_delete AFTER DELETE ON reason_actions
            BEGIN INSERT OR IGNORE INTO plan_dirty VALUES (OLD.patient_id); END;
        """
    )


def m015_survey_corrections(db):
    # A survey answer recorded wrongly is corrected, never edited away: the earlier answer is kept,
    # marked as superseded by the one that corrects it (by whom, when). One current answer a treatment.
    db.executescript(
        """
        ALTER TABLE surveys ADD COLUMN superseded_by INTEGER REFERENCES surveys(id);
        ALTER TABLE surveys ADD COLUMN corrected_at TEXT;
        ALTER TABLE surveys ADD COLUMN corrected_by TEXT;
        DROP INDEX surveys_treatment;
        CREATE UNIQUE INDEX surveys_treatment ON surveys(patient_id, visit_id)
            WHERE visit_id IS NOT NULL AND superseded_by IS NULL;
        """
    )


def m016_capacity(db):
    # A desk's capacity a day (`config set desk.capacity.call 60`): the day's list holds what the desks
    # can do; the other entries wait in line (plan_entries.place: their place in their channel's line,
    # NULL for an entry on the list). A reason that waits is not lapsing: reason_waits keeps the reasons
    # in line (since when), and the day one came to the list at last (it is protected through that day).
    db.executescript(
        """
        ALTER TABLE plan_entries ADD COLUMN place INTEGER;
        CREATE TABLE reason_waits (
            patient_id TEXT NOT NULL,
            code TEXT NOT NULL,
            ref TEXT NOT NULL,
            since TEXT NOT NULL,
            listed_on TEXT,
            PRIMARY KEY (patient_id, code, ref)
        ) WITHOUT ROWID;
        """
    )


def m017_erased_cards(db):
    # An erased patient who returns in a later export must get no consent from its consent column:
    # the erasure keeps a one-way hash of the card number (scrypt, with this database's own salt),
    # never the number. A patient found back in an export is remembered as such (erased_returns): the
    # consent column never applies to them, even once they have a consent recorded anew.
    db.executescript(
        """
        ALTER TABLE erasures ADD COLUMN card_hash TEXT;
        CREATE INDEX erasures_card_hash ON erasures(card_hash) WHERE card_hash IS NOT NULL;
        CREATE TABLE erasure_salt (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            salt BLOB NOT NULL
        );
        CREATE TABLE erased_returns (patient_id TEXT PRIMARY KEY) WITHOUT ROWID;
        """
    )


def m018_outbox(db):
    # followup send: a row is committed before each call to a gateway and updated after it, so that a
    # message is never sent twice, not on a re-run, not after a crash: one 'sending' or 'sent' row an
    # entry (day, patient, channel). A row left 'sending' by a crash is a message whose fate is unknown:
    # listed for a person, never resent by itself. A refused one ('failed') may be tried again. Whether
    # a sent one arrived (`send --status`): delivery NULL (not known yet), 'delivered' or 'undelivered'.
    db.executescript(
        """
        CREATE TABLE outbox (
            id INTEGER PRIMARY KEY,
            list_date TEXT NOT NULL,
            patient_id TEXT NOT NULL REFERENCES patients(patient_id),
            channel TEXT NOT NULL,
            address TEXT NOT NULL,
            body TEXT NOT NULL,
            parts INTEGER NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('sending', 'sent', 'failed')),
            provider TEXT NOT NULL,
            provider_id TEXT,
            error TEXT,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            recorded_by TEXT NOT NULL,
            delivery TEXT,
            checked_at TEXT
        );
        CREATE UNIQUE INDEX outbox_once ON outbox(list_date, patient_id, channel) WHERE state IN ('sending', 'sent');
        CREATE INDEX outbox_patient ON outbox(patient_id);
        """
    )


def m019_plan_filters(db):
    # What the day's list is filtered by (--doctor, --find, the coming web page's filters), kept beside
    # each stored entry (rules.filter_keys) so that a filtered list is a read, never a plan made afresh.
    db.executescript(
        """
        ALTER TABLE plan_entries ADD COLUMN doctors TEXT NOT NULL DEFAULT '';
        ALTER TABLE plan_entries ADD COLUMN names TEXT NOT NULL DEFAULT '';
        ALTER TABLE plan_entries ADD COLUMN digits TEXT NOT NULL DEFAULT '';
        DELETE FROM plan_meta;
        """
    )


def m020_lookup_indexes(db):
    # one patient's surveys (why, done, the re-plan after a staff record) without reading them all;
    # the entries a patient shares, and one entry's members, without reading the day's list
    db.execute("CREATE INDEX surveys_patient ON surveys(patient_id)")
    db.execute("CREATE INDEX plan_members_entry ON plan_members(entry_id)")
    # how many entries the list holds, and how many wait in line beyond it, counted on an index
    db.execute("CREATE INDEX plan_entries_listed ON plan_entries(channel) WHERE place IS NULL")
    db.execute("CREATE INDEX plan_entries_waiting ON plan_entries(channel) WHERE place IS NOT NULL")


def m021_staff_logins(db):
    # followup serve: the staff's accounts (a memory-hard hash of the password, never the password; a
    # role; the language each reads), every attempt to log in (who tried, from which desk's address,
    # whether it worked: failed ones slow the next down), the key that signs the sessions' cookies,
    # and which desk has opened which entry of the day's list ("being called by Ольга").
    db.executescript(
        """
        CREATE TABLE users (
            name TEXT NOT NULL PRIMARY KEY COLLATE NOCASE,
            role TEXT NOT NULL CHECK (role IN ('desk', 'manager', 'admin')),
            password TEXT NOT NULL,
            language TEXT,
            created_at TEXT NOT NULL,
            created_by TEXT NOT NULL,
            changed_at TEXT NOT NULL,
            disabled_at TEXT,
            sessions INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE logins (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            name TEXT NOT NULL COLLATE NOCASE,
            address TEXT NOT NULL,
            ok INTEGER NOT NULL
        );
        CREATE INDEX logins_name ON logins(name, at);
        CREATE TABLE web_keys (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            secret TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE TABLE claims (
            list_date TEXT NOT NULL,
            patient_id TEXT NOT NULL,
            channel TEXT NOT NULL,
            name TEXT NOT NULL,
            at TEXT NOT NULL,
            PRIMARY KEY (list_date, patient_id, channel)
        ) WITHOUT ROWID;
        """
    )


def m022_occasions(db):
    # The occasions (`followup occasion`): the clinic's holidays, and its own texts for each occasion
    # ("thanks", "birthday", "holiday:<id>"); a text is never edited, only retired, so that the text a
    # patient got (contacts.texts: [[occasion, text id]]) stays known and is not sent to them again
    # the next year. A change to either is a change of the day's list, as a setting's is.
    db.executescript(
        """
        CREATE TABLE occasions (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            month INTEGER NOT NULL CHECK (month BETWEEN 1 AND 12),
            day INTEGER NOT NULL CHECK (day BETWEEN 1 AND 31),
            sex TEXT CHECK (sex IN ('female', 'male')),
            created_by TEXT NOT NULL,
            created_at TEXT NOT NULL,
            removed_by TEXT,
            removed_at TEXT
        );
        CREATE TABLE occasion_texts (
            id INTEGER PRIMARY KEY,
            occasion TEXT NOT NULL,
            text TEXT NOT NULL,
            added_by TEXT NOT NULL,
            added_at TEXT NOT NULL,
            retired_by TEXT,
            retired_at TEXT
        );
        ALTER TABLE contacts ADD COLUMN texts TEXT;
        DELETE FROM plan_meta;
        """
    )
    for table in ("occasions", "occasion_texts"):
        _stale_plan_on(db, table)


def _stale_plan_on(db, table: str) -> None:
    """Triggers that drop the stored day plan whenever ``table`` changes (as a setting's change does)."""
    for event in ("INSERT", "UPDATE", "DELETE"):
        db.execute(f"CREATE TRIGGER plan_stale_{table}_{event.lower()} AFTER {event} ON {table} "
                   f"BEGIN DELETE FROM plan_meta; END")


def m023_sources_amounts(db):
    # "What brought you": the source the export gives (patients.source, a code of the vocabulary, and
    # its detail: who recommended, the words of an unknown source), the desk's answer (patient_sources:
    # staff-entered, so no import overwrites it; the latest wins), the clinic's own words for sources;
    # and what each visit cost (visits.amount), for the patients who left the clinic a large sum.
    db.executescript(
        """
        ALTER TABLE patients ADD COLUMN source TEXT;
        ALTER TABLE patients ADD COLUMN source_detail TEXT;
        ALTER TABLE visits ADD COLUMN amount REAL;
        CREATE TABLE patient_sources (
            id INTEGER PRIMARY KEY,
            patient_id TEXT NOT NULL REFERENCES patients(patient_id),
            source TEXT NOT NULL,
            detail TEXT,
            recorded_by TEXT NOT NULL,
            recorded_at TEXT NOT NULL
        );
        CREATE INDEX patient_sources_patient ON patient_sources(patient_id, id);
        CREATE TABLE sources (
            code TEXT PRIMARY KEY,
            added_by TEXT NOT NULL,
            added_at TEXT NOT NULL
        ) WITHOUT ROWID;
        """
    )


def m024_campaigns(db):
    # Marketing campaigns (`followup campaign add`): the manager's text, its channel, its audience and its
    # days. A marketing message sent keeps the consent record that allowed it (contacts.consent_id): the
    # proof of a prior consent 38-FZ art. 18 asks for. A change to a campaign is a change of the day's list.
    db.executescript(
        """
        CREATE TABLE campaigns (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            text TEXT NOT NULL,
            channel TEXT NOT NULL CHECK (channel IN ('sms', 'email', 'messenger')),
            audience TEXT NOT NULL CHECK (audience IN ('all', 'regulars', 'families')),
            starts TEXT NOT NULL,
            ends TEXT NOT NULL,
            created_by TEXT NOT NULL,
            created_at TEXT NOT NULL,
            stopped_by TEXT,
            stopped_at TEXT
        );
        ALTER TABLE contacts ADD COLUMN consent_id INTEGER;
        DELETE FROM plan_meta;
        """
    )
    _stale_plan_on(db, "campaigns")


def m025_postal_address(db):
    # Letters by post (the channel `post`: thanks and greetings printed, one page a letter): where to.
    db.executescript(
        """
        ALTER TABLE patients ADD COLUMN address TEXT;
        DELETE FROM plan_meta;
        """
    )


def m026_import_digests(db):
    # The nightly export again, with a few rows changed: each imported row keeps a digest of the cells
    # it was read from (and of how they were read: importing.run._stamp), so that a row read again
    # unchanged is recognised by it, without converting its cells. The indexes cover only the rows
    # that have one (a first import writes none: it stays as fast as it was).
    for table in ("patients", "visits", "appointments", "plan_stages"):
        db.execute(f"ALTER TABLE {table} ADD COLUMN digest INTEGER")
        db.execute(f"CREATE INDEX {table}_digest ON {table}(digest) WHERE digest IS NOT NULL")


def m027_settings_outside_the_plan(db):
    # A setting the day's plan does not read (the gateways, the letterhead, the reports' thresholds,
    # the survey's questions, the CSV delimiter, the time zone, the staff's names) no longer drops the
    # stored plan: at a chain's size, the next desk to look waited most of a minute for a new gateway
    # address. Every other setting (and any added later) still drops it. A test sets each setting and
    # checks which drop the plan, and that those which do not leave a plan made afresh the same.
    outside = ("(KEY IN ('clinic.letterhead', 'survey.version', 'csv.delimiter', 'clinic.timezone') "
               "OR KEY GLOB 'send.*' OR KEY GLOB 'report.*' OR KEY GLOB 'survey.question.*' "
               "OR KEY GLOB 'user.*.name')")
    for event, suffix, row in (("INSERT", "i", "NEW"), ("UPDATE", "u", None), ("DELETE", "d", "OLD")):
        when = (f"NOT {outside.replace('KEY', 'NEW.key')} OR NOT {outside.replace('KEY', 'OLD.key')}"
                if row is None else f"NOT {outside.replace('KEY', f'{row}.key')}")
        db.execute(f"DROP TRIGGER plan_stale_settings_{suffix}")
        db.execute(f"CREATE TRIGGER plan_stale_settings_{suffix} AFTER {event} ON settings WHEN {when} "
                   f"BEGIN DELETE FROM plan_meta; END")


def m028_plan_parts(db):
    # The day's whole list, kept ready in each language, in parts of a few hundred entries in list
    # order (plan_entries.part): a change to one patient re-assembles the part (or two) holding their
    # entries, not the whole list (33 MB at a chain's size). Triggers drop a part whenever one of its
    # entries, or its text in a language, changes, whoever changes it.
    db.executescript(
        """
        ALTER TABLE plan_entries ADD COLUMN part INTEGER NOT NULL DEFAULT 0;
        CREATE INDEX plan_entries_part ON plan_entries(part, no_window, start, priority, name, channel, patient_id);
        CREATE TABLE plan_parts (
            language TEXT NOT NULL,
            part INTEGER NOT NULL,
            list BLOB NOT NULL,
            PRIMARY KEY (part, language)
        ) WITHOUT ROWID;
        CREATE TRIGGER plan_parts_entry_insert AFTER INSERT ON plan_entries
            BEGIN DELETE FROM plan_parts WHERE part = NEW.part; END;
        CREATE TRIGGER plan_parts_entry_update AFTER UPDATE ON plan_entries
            BEGIN DELETE FROM plan_parts WHERE part IN (OLD.part, NEW.part); END;
        CREATE TRIGGER plan_parts_entry_delete AFTER DELETE ON plan_entries
            BEGIN DELETE FROM plan_parts WHERE part = OLD.part; END;
        CREATE TRIGGER plan_parts_text_insert AFTER INSERT ON plan_texts BEGIN
            DELETE FROM plan_parts WHERE language = NEW.language
               AND part = (SELECT part FROM plan_entries WHERE entry_id = NEW.entry_id); END;
        CREATE TRIGGER plan_parts_text_update AFTER UPDATE ON plan_texts BEGIN
            DELETE FROM plan_parts WHERE language IN (OLD.language, NEW.language)
               AND part IN (SELECT part FROM plan_entries WHERE entry_id IN (OLD.entry_id, NEW.entry_id)); END;
        CREATE TRIGGER plan_parts_text_delete AFTER DELETE ON plan_texts BEGIN
            DELETE FROM plan_parts WHERE language = OLD.language
               AND part = (SELECT part FROM plan_entries WHERE entry_id = OLD.entry_id); END;
        UPDATE plan_lists SET list = x'';
        DELETE FROM plan_meta;
        """
    )


# The migrations in order: append only, never rename one (a database records the names it has).
MIGRATIONS = (m001_initial, m002_contacts, m003_complaints, m004_surveys, m005_survey_themes, m006_erasures,
              m007_day_plan, m008_contacts_entry, m009_plan_texts, m010_complaint_survey, m011_day_counts,
              m012_phone_kinds, m013_corrections, m014_reason_actions,
              m015_survey_corrections, m016_capacity,
              m017_erased_cards, m018_outbox, m019_plan_filters,
              m020_lookup_indexes, m021_staff_logins, m022_occasions, m023_sources_amounts,
              m024_campaigns, m025_postal_address, m026_import_digests,
              m027_settings_outside_the_plan, m028_plan_parts)
MIGRATION_NAMES = tuple(m.__name__ for m in MIGRATIONS)


def _migrations():
    """The list as sqlite-utils' Migrations (imported only when one is pending)."""
    from sqlite_utils import Migrations

    migrations = Migrations("followup")
    for m in MIGRATIONS:
        migrations()(m)
    return migrations


def _applied(conn: sqlite3.Connection) -> list[str]:
    try:
        return [r[0] for r in conn.execute(
            "SELECT name FROM _sqlite_migrations WHERE migration_set = 'followup' ORDER BY id")]
    except sqlite3.OperationalError:  # no migrations table yet
        return []


def pending_migrations(conn: sqlite3.Connection) -> list[str]:
    """The migrations the database has not had yet."""
    applied = set(_applied(conn))
    return [n for n in MIGRATION_NAMES if n not in applied]


def apply_migrations(conn: sqlite3.Connection, path: Path | None = None) -> None:
    """Apply pending migrations, all in one BEGIN IMMEDIATE transaction (a failure leaves the schema
    as it was). A database that already has a schema is first backed up beside itself."""
    applied = _applied(conn)
    if set(MIGRATION_NAMES) <= set(applied):
        return
    if applied and path is not None:
        pending = next(n for n in MIGRATION_NAMES if n not in applied)
        backup(conn, Path(f"{path}.before-{pending}.bak"), force=True)
    db = _database(conn)
    with write_transaction(conn):
        _migrations().apply(db)


def _statements(sql: str):
    """The statements of a script, split at the line that ends one (sqlite3.complete_statement: a trigger's
    inner `;` does not end it). sqlite-utils splits a script inside a transaction character by character,
    joining the statement so far at each: 3 ms a migration, most of a fresh database's making."""
    lines: list[str] = []
    for line in sql.splitlines(keepends=True):
        lines.append(line)
        if ";" in line and sqlite3.complete_statement(text := "".join(lines)):
            yield text.strip()
            lines = []
    if "".join(lines).strip():
        yield "".join(lines).strip()


def _database(conn: sqlite3.Connection):
    """sqlite-utils' Database over the connection, its scripts run statement by statement (see _statements)."""
    from sqlite_utils import Database

    class Scripted(Database):
        def executescript(self, sql: str) -> sqlite3.Cursor:
            cursor = self.conn.cursor()
            for statement in _statements(sql):
                cursor.execute(statement)
            return cursor

    return Scripted(conn, execute_plugins=False)


def schema_version(conn: sqlite3.Connection) -> str | None:
    row = conn.execute(
        "SELECT name FROM _sqlite_migrations WHERE migration_set = 'followup' ORDER BY id DESC LIMIT 1"
    ).fetchone()
    return row[0] if row else None
