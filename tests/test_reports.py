"""Survey statistics against hand-computed values; the threshold edge; waves."""

import datetime as dt

import pytest

from followup.reports import Response, Thresholds, doctor_report, nps, summarize


def answers(n, score=9, recommend=10, start=dt.date(2026, 1, 1), expectations="yes"):
    return [Response(i, start + dt.timedelta(days=i), score, recommend, expectations, f"c{i}") for i in range(n)]


def test_nps_and_its_interval_by_hand():
    # 10 promoters, 5 passives, 5 detractors of 20: NPS shown = 50 % - 25 % = 25.
    # Adjusted Wald (Rocks 2016): n' = 23, p' = 10.75/23 = 0.46739, d' = 5.75/23 = 0.25,
    # centre = 0.21739, var = (0.71739 - 0.21739^2) / 23 = 0.029136, half = 1.96 * sqrt(var) = 0.33456
    recs = [10] * 6 + [9] * 4 + [8] * 3 + [7] * 2 + [6, 5, 3, 0, 2]
    score, (lo, hi) = nps(recs)
    assert score == 25.0 and (lo, hi) == (-11.7, 55.2)
    assert nps([]) is None


@pytest.mark.parametrize("recs, shown, interval", [
    # all promoters, n = 20: p' = 20.75/23, d' = 0.75/23, centre 86.96, half 17.27 -> [69.7, 100] (never [100, 100])
    ([10] * 20, 100.0, (69.7, 100.0)),
    ([8] * 20, 0.0, (-10.4, 10.4)),       # all passives: p' = d' = 0.75/23, half 10.44
    ([3] * 20, -100.0, (-100.0, -69.7)),  # all detractors: the mirror of all promoters
    ([9] * 40, 100.0, (83.6, 100.0)),     # n = 40: centre 93.02, half 9.44
    ([7] * 40, 0.0, (-5.6, 5.6)),
    ([0] * 40, -100.0, (-100.0, -83.6)),
])
def test_the_nps_interval_never_collapses(recs, shown, interval):
    assert nps(recs) == (shown, interval)


def test_nps_and_expectations_only_from_a_wave_of_answers_to_that_question():
    """19 of 20 answered 'would you recommend', 3 answered the expectations question: no NPS and no
    share from them, while the mean of all 20 scores is a figure."""
    rs = [Response(i, dt.date(2026, 1, 1), 9, 10 if i else None, "yes" if i < 3 else None, None) for i in range(20)]
    r = doctor_report("Козлов", rs)
    assert r["mean_score"] == 9.0 and r["nps"] is None and r["nps_ci"] is None and r["expectations_met"] is None
    assert (r["nps_answers"], r["expectations_answers"], r["answers_used"]) == (19, 3, 20)
    assert r["waves"][0]["nps"] is None and r["waves"][0]["positive"] is True  # judged on the mean alone


@pytest.mark.parametrize("positive_nps, positive", [(0.0, True), (0.1, False), (-100.0, True), (100.0, False)])
def test_a_positive_nps_threshold_of_any_value_is_honoured(positive_nps, positive):
    """A wave of mean 9 and NPS 0 (10 promoters, 10 detractors)."""
    rs = [Response(i, dt.date(2026, 1, 1), 9, 10 if i < 10 else 0, "yes", None) for i in range(20)]
    r = doctor_report("Козлов", rs, Thresholds(positive_nps=positive_nps))
    assert r["nps"] == 0.0 and r["waves"][0]["positive"] is positive


def test_summary_by_hand():
    rs = [Response(i, dt.date(2026, 1, 1), s, 10, e, None)
          for i, (s, e) in enumerate([(10, "yes"), (8, "yes"), (6, "partly"), (9, "no")])]
    s = summarize(rs)
    assert s["mean_score"] == 8.25 and s["median_score"] == 8.5
    assert s["distribution"]["10"] == 1 and s["distribution"]["6"] == 1 and s["distribution"]["1"] == 0
    assert s["expectations_met"] == 0.5


@pytest.mark.parametrize("n, status, waves", [(19, "collecting", 0), (20, "repeat", 1), (39, "repeat", 1),
                                              (40, "stable", 2)])
def test_threshold_edge_and_waves(n, status, waves):
    r = doctor_report("Козлов", answers(n))
    assert r["status"] == status and r["responses"] == n
    if status == "collecting":
        assert r["current_wave"] == {"responses": 19, "of": 20}
        assert "mean_score" not in r and "nps" not in r  # no figure from 19 answers
    else:
        assert len(r["waves"]) == waves and r["mean_score"] == 9.0 and r["nps"] == 100.0


def test_a_negative_wave_means_repeat_and_the_trend_shows():
    rs = answers(20, score=6, recommend=5) + answers(20, score=9, recommend=10, start=dt.date(2026, 3, 1))
    r = doctor_report("Морозов", rs)
    assert [w["positive"] for w in r["waves"]] == [False, True]
    assert r["status"] == "repeat" and r["trend"] == 3.0
    r2 = doctor_report("Морозов", rs + answers(20, start=dt.date(2026, 5, 1)))
    assert r2["status"] == "stable"


def test_date_range():
    rs = answers(30)
    r = doctor_report("X", rs, Thresholds(), date_from=dt.date(2026, 1, 15))
    assert r["responses"] == 16 and r["status"] == "collecting"


def test_themes_by_keyword_and_by_hand():
    from followup.reports import classify, theme_counts, theme_keywords

    kw = theme_keywords({})
    assert classify("Долго ждал в коридоре, было больно", kw) == ["pain", "waiting time"]
    assert classify("Всё понравилось", kw) == []
    assert classify("Всё понравилось", kw, ["service"]) == ["service"]
    more = theme_keywords({"theme.online booking": "онлайн, запись через сайт", "theme.prices": "рассрочка"})
    assert classify("Хотелось бы запись онлайн", more) == ["online booking"]
    assert classify("Записи через сайт нет", more) == ["online booking"]  # a phrase, in any form of its words
    assert more["prices"][("рассрочка",)] == -1 and more["prices"][("дорого",)] == -1
    counts = theme_counts([("a", ["pain"], []), ("b", ["pain", "prices"], []), ("c", ["prices"], ["pain"]),
                           ("d", ["pain"], [])])
    assert counts[0] == {"theme": "pain", "count": 3, "praise": 1, "examples": ["a", "b"]}
    same = theme_counts([("Долго ждал", ["waiting time"], [])] * 3 + [("Ждал час", ["waiting time"], [])])
    assert same == [{"theme": "waiting time", "count": 4, "praise": 0,
                     "examples": ["Долго ждал", "Ждал час"]}]  # different ones


@pytest.mark.parametrize("comment, problems, praise", [
    # words as lemmas: every form of a word is the word
    ("Болело два дня", ["pain"], []),
    ("Было больно", ["pain"], []),
    ("Долго ждал, и дорого", ["prices", "waiting time"], []),
    ("Не предупредили, что будет больно", ["pain"], []),
    # a negation or a praise word beside a problem word turns it into praise
    ("Не больно, аккуратно", [], ["pain"]),
    ("Больно не было", [], ["pain"]),
    ("Без боли и без очереди", [], ["pain", "waiting time"]),
    ("Ждала недолго", [], ["waiting time"]),
    ("Ждать не пришлось", [], ["waiting time"]),
    ("Чисто и вежливо", [], ["cleanliness", "service"]),
    ("Персонал не вежливый", ["service"], []),
    ("без обезболивания было больно", ["pain"], []),
    # parts of words are not words: "оценка" is no price, "больше" no pain
    ("Оценка отличная", [], []),
    ("Больше всего понравился врач", [], []),
])
def test_what_a_comment_raises_and_praises(comment, problems, praise):
    from followup import reports

    kw = reports.theme_keywords({})
    assert (reports.problems(comment, kw), reports.praise(comment, kw)) == (problems, praise)


def conversion_by_hand(first_visits, year, today, months=12):
    """The conversion as it was computed before SQLite counted it (kept as the reference the SQL is
    compared with): per patient in Python, from (patient, doctor, first visit, next visit day)."""
    from dateutil.relativedelta import relativedelta

    rows = {}
    for _pid, doctor, first, second in first_visits:
        if first.year != year:
            continue
        key = (doctor or "-", f"{first.year}-Q{(first.month - 1) // 3 + 1}")
        row = rows.setdefault(key, [key[0], key[1], 0, 0, 0])
        row[2] += 1
        deadline = first + relativedelta(months=months)
        if second is not None and second <= deadline:
            row[3] += 1
        elif deadline > today:
            row[4] += 1
    return [tuple(r) for _, r in sorted(rows.items())]


def first_and_second_visits(conn):
    """(patient, doctor of the first visit, first visit, next visit day after it), as the report read
    them before (every patient, in Python)."""
    firsts = {}
    for pid, first_visit in conn.execute("SELECT patient_id, first_visit FROM patients"):
        firsts[pid] = first_visit
    visits = {}
    for pid, date, visit_id, doctor in conn.execute(
            "SELECT v.patient_id, v.date, v.visit_id, d.name FROM visits v LEFT JOIN doctors d ON d.id = v.doctor_id"):
        visits.setdefault(pid, []).append((date, visit_id, doctor))
    out = []
    for pid, first in firsts.items():
        mine = sorted(visits.get(pid, []))
        first = first or (mine[0][0] if mine else None)
        if first is None:
            continue
        doctor = next((doc for date, _, doc in mine if date == first), None)
        second = next((date for date, _, _ in mine if date > first), None)
        out.append((pid, doctor, dt.date.fromisoformat(first), dt.date.fromisoformat(second) if second else None))
    return out


def dead_souls_by_hand(conn, today, months=24):
    from dateutil.relativedelta import relativedelta

    cutoff = (today - relativedelta(months=months)).isoformat()
    out = []
    for pid, status, missing in conn.execute("SELECT patient_id, status, missing_since FROM patients ORDER BY patient_id"):
        if status != "active" or missing:
            continue
        last = conn.execute("SELECT max(date) FROM visits WHERE patient_id = ?", (pid,)).fetchone()[0]
        booked = conn.execute("SELECT 1 FROM appointments WHERE patient_id = ? AND status = 'booked' AND start >= ?",
                              (pid, today.isoformat())).fetchone()
        if (last is None or last < cutoff) and not booked:
            out.append({"patient_id": pid, "last_visit": last})
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_clinic_reports_counts_by_sqlite_equal_the_counts_by_hand(tmp_path, seed):
    """Conversion and dead souls, counted by SQLite, equal the per-patient Python they replaced, on
    clinics of the demo's generator, for several years and days (a first visit on 29.02, pending or not)."""
    import random

    from followup import db, reports
    from followup.demo import write_clinic
    from followup.importing import ImportOptions, import_paths

    day = dt.date(2026, 11, 23)
    write_clinic(tmp_path / "x", today=day, patients=400, seed=seed)
    conn = db.connect(tmp_path / "c.db")
    import_paths(conn, tmp_path / "c.db", [tmp_path / "x"], ImportOptions(user="t"), today=day)
    rng = random.Random(seed)
    # a few first visits on a 29th of February and on month ends, returning on the edge of the window
    leap = [pid for (pid,) in conn.execute("SELECT patient_id FROM patients ORDER BY patient_id LIMIT 6")]
    with conn:
        for pid, first in zip(leap, ("2024-02-29", "2024-02-29", "2025-01-31", "2025-08-31", "2024-12-31", "2026-02-28")):
            conn.execute("UPDATE patients SET first_visit = ? WHERE patient_id = ?", (first, pid))
        conn.execute("UPDATE patients SET first_visit = NULL WHERE rowid % 3 = 0")  # the earliest visit, then
        conn.execute("UPDATE patients SET status = 'archived' WHERE rowid % 17 = 0")
        # dead souls: no visit at all, or none for years (some with an appointment ahead: not dead)
        conn.execute("DELETE FROM visits WHERE patient_id IN (SELECT patient_id FROM patients WHERE rowid % 23 = 1)")
        conn.execute("UPDATE visits SET date = '2023-05-01' WHERE patient_id IN "
                     "(SELECT patient_id FROM patients WHERE rowid % 23 = 2)")
    hand_firsts = first_and_second_visits(conn)
    for year in (2024, 2025, 2026):
        for today in (day, dt.date(year, 12, 31), dt.date(2025, 2, 28), dt.date(2025, 3, 1)):
            by_doctor = conversion_by_hand(hand_firsts, year, today)
            assert db.conversion_counts(conn, year, today) == by_doctor, (year, today)
            # the report counts by doctor and by source in one pass, and sums each out of it
            both = db.conversion_counts(conn, year, today, by=("doctor", "source"))
            assert reports.summed(both, 0) == by_doctor, (year, today)
            assert reports.summed(both, 1) == db.conversion_counts(conn, year, today, by="source"), (year, today)
            assert len({row[1] for row in both}) > 2 or not by_doctor  # several sources among them
    for today in (day, day - dt.timedelta(days=rng.randrange(100, 700))):
        got = reports.dead_souls(db.dead_souls(conn, today, reports.dead_soul_cutoff(today)))
        assert got == dead_souls_by_hand(conn, today) and got, today
    assert sum(n for *_, n, _, _ in db.conversion_counts(conn, 2025, day)) > 50


def test_clinic_report_parts_by_hand():
    from followup.reports import complaint_stats, consent_coverage, conversion, funnel

    D = dt.date.fromisoformat
    today = D("2026-11-23")
    firsts = [("a", "Козлов", D("2025-02-01"), D("2025-06-01")),   # returned within 12 months
              ("b", "Козлов", D("2025-02-10"), D("2026-03-01")),   # returned, but too late
              ("c", "Козлов", D("2025-03-01"), None),              # never
              ("d", "Смирнова", D("2025-11-30"), None),            # window still open: pending
              ("e", "Козлов", D("2024-05-01"), D("2024-06-01"))]   # another year
    rows = conversion(conversion_by_hand(firsts, 2025, today))
    assert rows == [
        {"doctor": "Козлов", "quarter": "2025-Q1", "first_time": 3, "returned": 1, "pending": 0,
         "conversion": 0.333, "final": True},
        {"doctor": "Смирнова", "quarter": "2025-Q4", "first_time": 1, "returned": 0, "pending": 1,
         "conversion": 0.0, "final": False}]
    f = {r["reason"]: r for r in funnel([("survey_call", "reached"), ("survey_call", "no-answer"),
                                         ("hygiene_recall", "booked"), ("hygiene_recall", "declined"),
                                         ("hygiene_recall", "busy")], {"survey_call": 4, "hygiene_recall": 6})}
    assert [f["survey_call"][k] for k in ("due", "attempted", "reached", "booked", "declined")] == [4, 2, 1, 0, 0]
    # cumulative: a booked or a declined call reached the patient too
    assert [f["hygiene_recall"][k] for k in ("due", "attempted", "reached", "booked", "declined")] == [6, 3, 2, 1, 1]
    assert consent_coverage(200, {"recall": 50}, ("recall", "survey")) == [
        {"purpose": "recall", "patients": 50, "share": 0.25}, {"purpose": "survey", "patients": 0, "share": 0.0}]
    assert complaint_stats([(D("2026-01-01"), D("2026-01-03"), True), (D("2026-02-01"), D("2026-02-05"), False),
                            (D("2026-03-01"), None, False)]) == {
        "opened": 3, "resolved": 2, "open": 1, "median_days_to_resolve": 3.0, "informed": 1}
