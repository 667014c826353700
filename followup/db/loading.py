"""Records for the rules: set-based, a handful of queries whatever the number of patients."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Sequence

# ---------------------------------------------------------------------------
# Records for the rules: set-based, a handful of queries whatever the number of patients


def candidate_patients(conn: sqlite3.Connection, windows: dict[str, str]) -> list[str]:
    """Patients with a granted consent and a record inside one of the rules' date ranges.

    Only these can be due today (see rules.candidate_windows); one query, on indexes.
    """
    sql = """
        WITH cand(patient_id) AS (
            SELECT patient_id FROM appointments
             WHERE status = 'booked' AND start >= :remind_from AND start < :remind_to
            UNION SELECT patient_id FROM plan_stages
             WHERE status = 'planned' AND due_date BETWEEN :plan_from AND :plan_to
            UNION SELECT patient_id FROM visits
             WHERE control_due IS NOT NULL AND control_due BETWEEN :control_from AND :control_to
            UNION SELECT patient_id FROM visits
             WHERE kind = 'treatment_end' AND date BETWEEN :survey_from AND :survey_to
            UNION SELECT v.patient_id FROM visits v            -- recall: the last hygiene visit ...
             WHERE v.kind = 'hygiene' AND v.date BETWEEN :recall_from AND :recall_to
               AND NOT EXISTS (SELECT 1 FROM visits w INDEXED BY visits_patient_date
                                WHERE w.patient_id = v.patient_id AND w.date > :recall_to AND w.kind = 'hygiene')
            UNION SELECT v.patient_id FROM visits v            -- ... or, with none, the last visit
             WHERE v.kind IN ('consultation', 'treatment', 'treatment_end', 'control', 'other')
               AND v.date BETWEEN :recall_from AND :recall_to
               AND NOT EXISTS (SELECT 1 FROM visits w INDEXED BY visits_patient_date
                                WHERE w.patient_id = v.patient_id AND w.date > :recall_to)
               AND NOT EXISTS (SELECT 1 FROM visits h INDEXED BY visits_patient_date
                                WHERE h.patient_id = v.patient_id AND h.kind = 'hygiene')
            UNION SELECT patient_id FROM next_contacts WHERE due <= :today
            UNION SELECT patient_id FROM reason_actions WHERE action = 'requeue' AND on_day >= :requeue_from
            UNION SELECT patient_id FROM reason_waits        -- in line for a desk: never lapsing
            UNION SELECT patient_id FROM visits               -- thanks: a treatment ended yesterday ...
             WHERE kind = 'treatment_end' AND date = :thanks_day
            UNION SELECT v.patient_id FROM visits v           -- ... or a first visit
             WHERE v.kind IN ('consultation', 'treatment', 'treatment_end', 'hygiene', 'control', 'other')
               AND v.date = :thanks_day
               AND NOT EXISTS (SELECT 1 FROM visits w INDEXED BY visits_patient_date
                                WHERE w.patient_id = v.patient_id AND w.date < :thanks_day)
            UNION SELECT patient_id FROM patients             -- a birthday (29 February's on the 28th)
             WHERE substr(birth_date, 6) IN (:birthday, :birthday_leap)
            UNION SELECT patient_id FROM consents             -- a holiday: whoever may be greeted
             WHERE :holiday AND purpose = 'greetings' AND granted = 1
            UNION SELECT patient_id FROM consents             -- a campaign: whoever may get one
             WHERE :campaign AND purpose = 'marketing' AND granted = 1
            UNION SELECT c.patient_id FROM consents c         -- a discount step passed
             WHERE :discount_from > 0 AND c.purpose = 'marketing' AND c.granted = 1
               AND (SELECT sum(v.amount) FROM visits v WHERE v.patient_id = c.patient_id) >= :discount_from
        )
        SELECT patient_id FROM cand
         WHERE EXISTS (SELECT 1 FROM consents c INDEXED BY consents_granted
                        WHERE c.granted = 1 AND c.patient_id = cand.patient_id)
    """
    return [r[0] for r in conn.execute(sql, windows)]


# how many patients' records a day's plan holds at once (a chain's 65,000 candidates would take
# most of a gigabyte together; 2,000 take a few megabytes, and as long a time)
BATCH = 2_000


def iter_records(conn: sqlite3.Connection, today: dt.date, windows: dict[str, str]):
    """The day's candidates' records (see candidate_patients), a batch of patients at a time: what a
    day's plan reads, streamed, so that it never holds the whole clinic."""
    ids = candidate_patients(conn, windows)
    for start in range(0, len(ids), BATCH):
        yield from load_records(conn, today, ids[start:start + BATCH], windows)


def load_records(conn: sqlite3.Connection, today: dt.date, patient_ids: Sequence[str] | None = None,
                 windows: dict[str, str] | None = None):
    """Build records.Records for the given patients, or for the day's candidates (see candidate_patients)."""
    from followup.records import (Appointment, Complaint, Consent, Contact, Member, NextContact, Patient, PhoneFlag,
                                  PlanStage, ReasonAction, ReasonWait,
                                  Records, SurveyDone, Visit, maker, parse_days, parse_window)

    if patient_ids is None:
        ids_json = json.dumps(candidate_patients(conn, windows), ensure_ascii=False)
    else:
        ids_json = json.dumps(list(patient_ids), ensure_ascii=False)
    # the patients' own rows, on each table's patient index: a status, a kind or a date beside it is
    # written +column so that no index of those is taken instead (without statistics SQLite took the
    # index of all planned stages, or of all hygiene visits, to find one patient's)
    within = "IN (SELECT value FROM json_each(?))"
    d = dt.date.fromisoformat
    # (the day's list reads only its recent visits: how many a patient had lately is counted here; a
    # patient's own records hold every visit, and the rules count them)
    regular_from = windows.get("regular_from") if windows else None

    def day(s):
        return d(s) if s else None

    # the records a day's plan holds most of (see records.maker), and the values many of them share
    visit, consent, stage, patient, records = (maker(Visit), maker(Consent), maker(PlanStage), maker(Patient),
                                               maker(Records))
    dates: dict[str, dt.date] = {}
    moments: dict[str, dt.datetime] = {}
    windows_of: dict[str, object] = {}
    days_of: dict[str, object] = {}

    def date_of(s):
        if not s:
            return None
        try:
            return dates[s]
        except KeyError:
            return dates.setdefault(s, d(s))

    def date_or_none(s):
        try:
            return d(s) if s else None
        except ValueError:  # (a birth date is imported checked; a hand-edited file's is not trusted)
            return None

    patients = {}
    for r in conn.execute(
            f"SELECT p.patient_id, p.full_name, p.first_name, p.middle_name, p.phone, p.phone_valid, p.email, "
            f"p.household_id, p.status, p.missing_since, p.phone_sms, p.birth_date, p.address, "
            f"min(coalesce(p.first_visit, '9999'), coalesce((SELECT min(v.date) FROM visits v INDEXED BY "
            f"visits_patient_date WHERE v.patient_id = p.patient_id), '9999')), "
            f"(SELECT v.date || char(31) || coalesce(doc.name, '') FROM visits v INDEXED BY visits_patient_date "
            f"LEFT JOIN doctors doc ON doc.id = v.doctor_id WHERE v.patient_id = p.patient_id "
            f"ORDER BY v.date DESC LIMIT 1), "
            f"(SELECT count(DISTINCT v.date) FROM visits v INDEXED BY visits_patient_date WHERE v.patient_id = "
            f"p.patient_id AND v.date >= ? AND v.date <= ?), "
            f"(SELECT sum(v.amount) FROM visits v WHERE v.patient_id = p.patient_id) "
            f"FROM patients p WHERE p.patient_id {within}",
            (regular_from or "9999", today.isoformat(), ids_json)):
        last_date, _, last_doctor = (r[14] or "").partition("\x1f")
        patients[r[0]] = patient(r[0], r[1] or "", r[2], r[3], r[4], bool(r[5]), bool(r[10]), r[6], r[7], r[8],
                                 day(r[9]), date_or_none(r[11]), None if r[13] == "9999" else date_or_none(r[13]),
                                 date_or_none(last_date), last_doctor or None, r[15] if regular_from else None,
                                 r[16], r[12])
    buckets = {pid: {k: [] for k in ("visits", "appointments", "plan_stages", "consents", "next_contacts",
                                     "contacts", "phone_flags", "complaints", "surveys", "reason_actions", "waits",
                                     "household")}
               for pid in patients}
    if windows is None:  # one patient (why): every visit
        visit_sql, visit_params = f"WHERE v.patient_id {within}", (ids_json,)
    else:  # the day's list: only visits the rules can use today, and each patient's last older hygiene
        since = min(windows["recall_from"], windows["plan_from"])
        # (a patient with a reason the manager put back on the list, or one waiting in line for a
        # desk: every visit, however old)
        visit_sql = (f"WHERE v.patient_id {within} AND (v.date >= ? OR v.control_due >= ? OR v.patient_id IN "
                     f"(SELECT patient_id FROM reason_actions WHERE action = 'requeue' AND on_day >= ?) "
                     f"OR v.patient_id IN (SELECT patient_id FROM reason_waits))")
        visit_params = (ids_json, since, windows["control_from"], windows["requeue_from"])
        for r in conn.execute(
                f"SELECT v.patient_id, max(v.date) FROM visits v WHERE v.patient_id {within} "
                f"AND v.date < ? AND +v.kind = 'hygiene' GROUP BY v.patient_id", (ids_json, since)):
            buckets[r[0]]["visits"].append(Visit(visit_id=f"hygiene-before-{since}", patient_id=r[0], doctor=None,
                                                     date=d(r[1]), kind="hygiene"))
    for r in conn.execute(
            f"SELECT v.visit_id, v.patient_id, doc.name, v.date, v.kind, v.control_due FROM visits v "
            f"LEFT JOIN doctors doc ON doc.id = v.doctor_id {visit_sql}", visit_params):
        buckets[r[1]]["visits"].append(visit(r[0], r[1], r[2], date_of(r[3]), r[4], date_of(r[5])))
    for r in conn.execute(
            f"SELECT a.appointment_id, a.patient_id, doc.name, a.start, a.status FROM appointments a "
            f"LEFT JOIN doctors doc ON doc.id = a.doctor_id WHERE +a.status = 'booked' AND a.start >= ? "
            f"AND a.patient_id {within}", (today.isoformat(), ids_json)):
        buckets[r[1]]["appointments"].append(
            Appointment(appointment_id=r[0], patient_id=r[1], doctor=r[2], start=dt.datetime.fromisoformat(r[3]),
                        status=r[4]))
    for r in conn.execute(
            f"SELECT p.plan_id, p.stage, p.patient_id, doc.name, p.stage_title, p.due_date, p.status, "
            f"p.signed_date FROM plan_stages p LEFT JOIN doctors doc ON doc.id = p.doctor_id "
            f"WHERE +p.status = 'planned' AND p.patient_id {within}", (ids_json,)):
        buckets[r[2]]["plan_stages"].append(stage(r[0], r[1], r[2], r[3], r[4], date_of(r[5]), r[6], date_of(r[7])))
    # what was recorded after the day asked about does not exist yet for it (`--date` in the past)
    end_of_day = (today + dt.timedelta(days=1)).isoformat()
    for r in conn.execute(
            f"SELECT patient_id, purpose, channel, granted, recorded_at, recorded_by, how, address, window, "
            f"days, note, source, id FROM consents WHERE patient_id {within} AND recorded_at < ?",
            (ids_json, end_of_day)):
        at, window, days = moments.get(r[4]), windows_of.get(r[8]), days_of.get(r[9])
        if at is None:
            at = moments[r[4]] = dt.datetime.fromisoformat(r[4])
        if window is None and r[8]:
            window = windows_of[r[8]] = parse_window(r[8])
        if days is None and r[9]:
            days = days_of[r[9]] = parse_days(r[9])
        buckets[r[0]]["consents"].append(consent(r[0], r[1], r[2], bool(r[3]), at, r[5], r[6], r[7], window, days,
                                                 r[10], r[11], r[12]))
    for r in conn.execute(
            f"SELECT id, patient_id, due, reason, channel, doctor, recorded_by FROM next_contacts "
            f"WHERE patient_id {within}", (ids_json,)):
        buckets[r[1]]["next_contacts"].append(NextContact(id=r[0], patient_id=r[1], due=d(r[2]), reason=r[3],
                                                          channel=r[4], doctor=r[5], recorded_by=r[6]))
    # the other members of their households, and whether each may be greeted (their latest record of
    # the greetings consent on a written channel grants it)
    for r in conn.execute(
            f"SELECT o.patient_id, m.patient_id, m.full_name, m.status, m.missing_since, m.first_name, "
            f"m.middle_name, (SELECT json_group_array(json_array(c.channel, c.granted, c.recorded_at)) FROM consents c "
            f"WHERE c.patient_id = m.patient_id AND c.purpose = 'greetings' AND c.recorded_at < ?) "
            f"FROM patients o JOIN patients m ON m.household_id = o.household_id AND m.patient_id != o.patient_id "
            f"WHERE o.patient_id {within} AND o.household_id IS NOT NULL", (end_of_day, ids_json)):
        latest: dict[str, tuple[str, int]] = {}
        for channel, granted, at in json.loads(r[7] or "[]"):
            if channel not in latest or at >= latest[channel][0]:
                latest[channel] = (at, granted)
        may = any(g for ch, (_, g) in latest.items() if ch in ("sms", "email", "messenger"))
        buckets[r[0]]["household"].append(Member(Patient(patient_id=r[1], name=r[2] or "", status=r[3],
                                                         missing_since=day(r[4]), first_name=r[5], middle_name=r[6]),
                                                 may))
    for r in conn.execute(
            f"SELECT id, patient_id, list_date, recorded_at, channel, outcome, reasons, retry_on, callback_on, "
            f"recorded_by, CASE WHEN outcome = 'undelivered' THEN note END, texts FROM contacts "
            f"WHERE patient_id {within} AND list_date <= ? AND superseded_by IS NULL",
            (ids_json, today.isoformat())):
        # a contact happened on its list's day, at the time it was recorded
        at = dt.datetime.combine(d(r[2]), dt.datetime.fromisoformat(r[3]).time())
        buckets[r[1]]["contacts"].append(Contact(
            id=r[0], patient_id=r[1], at=at, channel=r[4], outcome=r[5], reasons=tuple(tuple(x) for x in json.loads(r[6])),
            retry_on=day(r[7]), callback_on=day(r[8]), by=r[9], note=r[10],
            texts=tuple(tuple(x) for x in json.loads(r[11])) if r[11] else ()))
    for r in conn.execute(f"SELECT patient_id, phone, flagged_on FROM phone_flags WHERE patient_id {within} "
                          f"AND lifted_on IS NULL", (ids_json,)):
        buckets[r[0]]["phone_flags"].append(PhoneFlag(patient_id=r[0], phone=r[1], flagged_on=d(r[2])))
    for r in conn.execute(f"SELECT id, patient_id, doctor, opened_at, resolved_at FROM complaints "
                          f"WHERE patient_id {within} AND opened_at < ?", (ids_json, end_of_day)):
        resolved = d(r[4][:10]) if r[4] and r[4] < end_of_day else None
        buckets[r[1]]["complaints"].append(Complaint(id=r[0], patient_id=r[1], doctor=r[2], opened=d(r[3][:10]),
                                                          resolved=resolved))
    for r in conn.execute(f"SELECT patient_id, visit_id, recorded_at, status, score FROM surveys "
                          f"WHERE patient_id {within} AND recorded_at < ? AND superseded_by IS NULL",
                          (ids_json, end_of_day)):
        buckets[r[0]]["surveys"].append(SurveyDone(patient_id=r[0], visit_id=r[1], date=d(r[2][:10]),
                                                          status=r[3], score=r[4]))
    for r in conn.execute(f"SELECT patient_id, code, ref, action, on_day, note, recorded_by FROM reason_actions "
                          f"WHERE patient_id {within} ORDER BY on_day, id", (ids_json,)):
        buckets[r[0]]["reason_actions"].append(ReasonAction(patient_id=r[0], code=r[1], ref=r[2], action=r[3],
                                                            on=d(r[4]), note=r[5], by=r[6]))
    for r in conn.execute(f"SELECT patient_id, code, ref, since, listed_on FROM reason_waits "
                          f"WHERE patient_id {within}", (ids_json,)):
        buckets[r[0]]["waits"].append(ReasonWait(patient_id=r[0], code=r[1], ref=r[2], since=d(r[3]),
                                                 listed_on=day(r[4])))
    counts = survey_counts(conn)
    return [records(patients[pid], tuple(b["visits"]), tuple(b["appointments"]), tuple(b["plan_stages"]),
                    tuple(b["consents"]), tuple(b["next_contacts"]), tuple(b["contacts"]), tuple(b["phone_flags"]),
                    tuple(b["complaints"]), tuple(b["surveys"]), counts, tuple(b["reason_actions"]),
                    tuple(b["waits"]), tuple(b["household"]))
            for pid, b in buckets.items()]


def survey_counts(conn: sqlite3.Connection) -> dict[str, int]:
    """Doctor -> answered surveys so far (the rules put doctors still collecting first)."""
    return dict(conn.execute("SELECT sd.doctor, count(*) FROM survey_doctors sd JOIN surveys s "
                             "ON s.id = sd.survey_id WHERE s.status = 'answered' AND s.superseded_by IS NULL "
                             "GROUP BY sd.doctor"))
