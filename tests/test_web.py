"""The desks' web pages in process (Starlette's test client over the real application and a real
database file): logins, roles, CSRF, headers, the list as `followup today` has it, privacy."""

import datetime as dt
import io
import json
import logging
import re
import sqlite3

import pytest

from conftest import Cli, built_once, copied

DAY = dt.date.today()
NOON = dt.datetime.combine(DAY, dt.time(12, 0))
PASSWORDS = {"olga": "desk-password-1", "marina": "manager-password-1", "root-admin": "admin-password-1"}
ROLES = {"olga": "desk", "marina": "manager", "root-admin": "admin"}


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory):
    """The demo clinic with an account of each role, built once for the run."""
    def demo(where):
        assert Cli(where / "unused.db")("demo", "--dir", where).exit_code == 0
        return where / "demo.db"

    def build(where):
        path = copied(built_once(tmp_path_factory, "day-plan-demo", demo), where / "demo.db")
        for name, role in ROLES.items():
            r = Cli(path)("--db", path, "user", "add", name, "--role", role, "--password-stdin",
                          input=PASSWORDS[name] + "\n")
            assert r.exit_code == 0, r.output
        return path

    return built_once(tmp_path_factory, "web-demo", build)


class Clock:
    def __init__(self, now: dt.datetime):
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def site(demo_file, tmp_path):
    """The demo clinic with three accounts, and a test client per person."""
    from starlette.testclient import TestClient

    from followup.web.app import create_app

    path = copied(demo_file, tmp_path / "demo.db")
    clock = Clock(NOON)
    app = create_app(path, secret="s" * 48, clock=clock)

    class Site:
        db = path

        def client(self):
            return TestClient(app, follow_redirects=False)

        def login(self, name, password=None):
            c = self.client()
            token = csrf_of(c.get("/login").text)
            r = c.post("/login", data={"username": name, "password": password or PASSWORDS[name], "csrf": token})
            assert r.status_code == 303 and r.headers["location"] == "/", r.text
            c.csrf = csrf_of(c.get("/").text)
            return c

        def rows(self, sql, params=()):
            conn = sqlite3.connect(path)
            try:
                return conn.execute(sql, params).fetchall()
            finally:
                conn.close()

    Site.clock = clock
    return Site()


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def entry_ids(html: str) -> list[str]:
    return re.findall(r'data-entry-id="([0-9a-f]+)"', html)


def test_the_list_page_is_todays_list_with_the_same_ids_and_order(site, cli):
    desk = site.login("olga")
    page = desk.get("/")
    assert page.status_code == 200
    listed = cli.json("--db", site.db, "today")
    assert entry_ids(page.text) == [e["entry_id"] for e in listed][:50] and listed
    # each entry's outcome buttons carry the JSON codes; a call offers the call's outcomes
    first = page.text[page.text.index(f'data-entry-id="{listed[0]["entry_id"]}"'):]
    first = first[:first.index("</article>")]
    assert re.findall(r'data-outcome="([a-z-]+)"', first) == (
        ["reached", "booked", "no-answer", "busy", "declined", "wrong-number", "call-back"]
        if listed[0]["channel"] == "call" else ["sent", "declined", "wrong-number"])
    # a doctor's part, a channel's, a search: as the command filters them (sent as a form, never in the URL)
    doctor = next(r["doctor"] for e in listed for r in e["reasons"] if r["doctor"])
    for form, args in (({"doctor": doctor}, ["--doctor", doctor]), ({"channel": "sms"}, ["--channel", "sms"]),
                       ({"find": listed[1]["patient"].split()[0]}, ["--find", listed[1]["patient"].split()[0]])):
        part = desk.post("/list", data={**form, "csrf": desk.csrf})
        assert part.status_code == 200
        assert entry_ids(part.text) == [e["entry_id"] for e in cli.json("--db", site.db, "today", *args)][:50]


def test_an_outcome_from_the_page_is_the_commands_outcome_by_the_logged_in_user(site, cli):
    desk = site.login("olga")
    listed = cli.json("--db", site.db, "today")
    call = next(e for e in listed if e["channel"] == "call")
    r = desk.post(f"/entry/{call['entry_id']}/outcome", data={"outcome": "no-answer", "csrf": desk.csrf},
                  headers={"HX-Request": "true"})
    assert r.status_code == 200 and call["entry_id"] not in entry_ids(r.text)
    assert "Recorded no-answer for entry" in r.text
    assert site.rows("SELECT outcome, recorded_by FROM contacts WHERE patient_id = ?", (call["patient_id"],)) == [
        ("no-answer", "olga")]
    assert call["entry_id"] not in [e["entry_id"] for e in cli.json("--db", site.db, "today")]
    # the same entry again (another desk was quicker): one line, nothing recorded twice
    again = desk.post(f"/entry/{call['entry_id']}/outcome", data={"outcome": "reached", "csrf": desk.csrf})
    assert again.status_code == 409 and "already closed" in again.text
    assert site.rows("SELECT count(*) FROM contacts WHERE patient_id = ?", (call["patient_id"],)) == [(1,)]
    # a call-back without its day is refused with a sentence, and with it recorded
    other = next(e for e in listed if e["channel"] == "call" and e["entry_id"] != call["entry_id"])
    refused = desk.post(f"/entry/{other['entry_id']}/outcome", data={"outcome": "call-back", "csrf": desk.csrf})
    assert refused.status_code == 400 and 'role="alert"' in refused.text
    later = (DAY + dt.timedelta(days=3)).isoformat()
    ok = desk.post(f"/entry/{other['entry_id']}/outcome", data={"outcome": "call-back", "on": later, "csrf": desk.csrf})
    assert ok.status_code == 200
    assert site.rows("SELECT outcome, callback_on, recorded_by FROM contacts WHERE patient_id = ?",
                     (other["patient_id"],)) == [("call-back", later, "olga")]


def test_every_post_needs_the_sessions_csrf_token(site, cli):
    desk = site.login("olga")
    entry = cli.json("--db", site.db, "today")[0]
    for token in (None, "forged", site.login("marina").csrf):  # none, made up, another session's
        data = {"outcome": "reached", **({"csrf": token} if token else {})}
        r = desk.post(f"/entry/{entry['entry_id']}/outcome", data=data)
        assert r.status_code == 403 and "expired" in r.text
    assert site.rows("SELECT count(*) FROM contacts WHERE recorded_by = 'olga'") == [(0,)]
    # the token in the header htmx sends works as the form's does
    r = desk.post(f"/entry/{entry['entry_id']}/outcome", data={"outcome": entry["channel"] == "call" and "reached"
                                                                or "sent"}, headers={"X-CSRF-Token": desk.csrf})
    assert r.status_code == 200
    assert site.rows("SELECT count(*) FROM contacts WHERE recorded_by = 'olga'") == [(1,)]


def test_without_a_session_every_page_goes_to_the_login(site):
    anonymous = site.client()
    for path in ("/", "/report", "/admin"):
        r = anonymous.get(path)
        assert r.status_code == 303 and r.headers["location"] == "/login"
    r = anonymous.post("/list", headers={"HX-Request": "true"})  # the list refreshing itself: the page goes
    assert r.status_code == 204 and r.headers["HX-Redirect"] == "/login"
    assert anonymous.get("/login").status_code == 200


def test_failed_logins_are_recorded_and_slow_the_next_attempt(site):
    c = site.client()
    token = csrf_of(c.get("/login").text)

    def attempt(password):
        return c.post("/login", data={"username": "olga", "password": password, "csrf": token})

    for _ in range(3):  # three tries are free
        r = attempt("wrong-password")
        assert r.status_code == 401 and "wrong name or password" in r.text
    r = attempt(PASSWORDS["olga"])  # the right password, too soon after: not even checked
    assert r.status_code == 401 and "try again in 2 seconds" in r.text
    site.clock.now += dt.timedelta(seconds=2)
    assert attempt("wrong-password").status_code == 401
    assert "try again in 4 seconds" in attempt(PASSWORDS["olga"]).text  # each failure doubles the wait
    site.clock.now += dt.timedelta(seconds=4)
    assert attempt(PASSWORDS["olga"]).status_code == 303
    rows = site.rows("SELECT name, address, ok FROM logins ORDER BY id")
    assert [ok for _, _, ok in rows] == [0, 0, 0, -1, 0, -1, 1] and {n for n, _, _ in rows} == {"olga"}
    assert {a for _, a, _ in rows} == {"testclient"}  # the desk's address, for whoever looks into it
    # no password, right or wrong, is kept anywhere in the file; the account's is an argon2id hash
    raw = site.db.read_bytes() + site.db.with_name(site.db.name + "-wal").read_bytes()
    assert b"wrong-password" not in raw and PASSWORDS["olga"].encode() not in raw
    assert site.rows("SELECT password FROM users WHERE name = 'olga'")[0][0].startswith("$argon2id$")
    # an unknown name answers as a wrong password does
    c = site.client()
    r = c.post("/login", data={"username": "nobody", "password": "whatever-1", "csrf": csrf_of(c.get("/login").text)})
    assert r.status_code == 401 and "wrong name or password" in r.text


def test_a_changed_password_or_a_disabled_account_ends_its_sessions(site, cli):
    desk = site.login("olga")
    assert desk.get("/").status_code == 200
    r = cli("--db", site.db, "user", "passwd", "olga", "--password-stdin", input="another-password-2\n")
    assert r.exit_code == 0, r.output
    assert desk.get("/").status_code == 303
    desk = site.login("olga", "another-password-2")
    admin = site.login("root-admin")
    assert admin.post("/admin/user", data={"action": "disable", "name": "olga", "csrf": admin.csrf}).status_code == 200
    assert desk.get("/").status_code == 303
    c = site.client()
    r = c.post("/login", data={"username": "olga", "password": "another-password-2",
                               "csrf": csrf_of(c.get("/login").text)})
    assert r.status_code == 401


def test_headers_cookie_and_access_log_keep_the_patients_private(site, cli, caplog):
    desk = site.client()
    token = csrf_of(desk.get("/login").text)
    with caplog.at_level(logging.INFO, logger="followup.web"):
        r = desk.post("/login", data={"username": "olga", "password": PASSWORDS["olga"], "csrf": token})
        cookie = r.headers["set-cookie"]
        assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()
        listed = cli.json("--db", site.db, "today")
        page = desk.get("/")
        patient = listed[0]
        found = desk.post("/list", data={"find": patient["phone"][-7:], "csrf": csrf_of(page.text)})
        assert patient["entry_id"] in entry_ids(found.text)
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert page.headers["x-frame-options"] == "DENY"
    # scripts only from files, no handlers in attributes: the policy above allows nothing else
    assert not re.search(r"<script(?![^>]*src=)", page.text) and not re.search(r"\son[a-z]+=", page.text)
    lines = [r.getMessage() for r in caplog.records if r.name == "followup.web"]
    assert any(line.startswith("POST /list 200") for line in lines)
    logged = "\n".join(lines)
    for private in (patient["patient"], patient["phone"], patient["phone"][-7:], patient["patient_id"]):
        assert private not in logged


def test_text_from_the_exports_is_shown_as_text(site, cli):
    listed = cli.json("--db", site.db, "today")
    hostile = '<img src=x onerror="alert(1)"><script>alert(2)</script>'
    conn = sqlite3.connect(site.db)
    conn.execute("UPDATE patients SET full_name = ? WHERE patient_id = ?", (hostile, listed[0]["patient_id"]))
    conn.commit()
    conn.close()
    page = site.login("olga").get("/")
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;&lt;script&gt;alert(2)&lt;/script&gt;" in page.text
    assert "<img" not in page.text and "<script>alert" not in page.text


def test_the_pages_speak_each_users_language(site):
    desk = site.login("olga")
    assert "Contacts for" in desk.get("/").text
    r = desk.post("/language", data={"language": "ru", "back": "/", "csrf": desk.csrf})
    assert r.status_code == 303
    page = desk.get("/").text
    assert "Контакты на" in page and "Contacts for" not in page
    assert site.rows("SELECT language FROM users WHERE name = 'olga'") == [("ru",)]
    assert "Contacts for" in site.login("marina").get("/").text  # another account: its own


def test_user_commands_refuse_bad_input_in_one_line(cli, db_path):
    assert cli("user", "add", "anna", "--role", "desk", "--password-stdin", input="long-enough-1\n").exit_code == 0
    cases = [(["user", "add", "Anna", "--role", "desk"], "long-enough-2\n", "there is a user Anna already"),
             (["user", "add", "bob", "--role", "boss"], "long-enough-2\n", "unknown role 'boss'"),
             (["user", "add", "bob", "--role", "desk"], "short\n", "too short"),
             (["user", "add", "bob", "--role", "desk"], "bob-bob-bob-bob\n", "may not contain the user's name"),
             (["user", "add", "b<o>b", "--role", "desk"], "long-enough-2\n", "a user's name is"),
             (["user", "passwd", "nobody"], "long-enough-2\n", "no user nobody")]
    for args, given, message in cases:
        r = cli(*args, "--password-stdin", input=given)
        assert r.exit_code != 0 and message in r.output and "Traceback" not in r.output, (args, r.output)
        assert len(r.output.strip().splitlines()) == 1, r.output
    assert [u["name"] for u in cli.json("user", "list")] == ["anna"]
    assert "password" not in cli.json("user", "list")[0]
    assert cli("user", "role", "anna", "manager").exit_code == 0
    assert cli("user", "disable", "anna").exit_code == 0
    listed = cli.json("user", "list")[0]
    assert listed["role"] == "manager" and listed["disabled_at"]


def test_the_patients_card_from_an_entry_records_consents_and_next_contacts_by_the_user(site, cli):
    desk = site.login("olga")
    listed = cli.json("--db", site.db, "today")
    entry = listed[0]
    card = desk.get(f"/entry/{entry['entry_id']}/card/0")
    assert card.status_code == 200 and entry["patient"] in card.text and entry["patient_id"] in card.text
    assert "data-status=\"due\"" in card.text  # why: the reason it is on today's list
    # a withdrawal, then a grant with a window: new records by the logged-in user, as `consent` makes them
    r = desk.post(f"/entry/{entry['entry_id']}/card/0/consent", data={
        "purpose": ["marketing"], "channel": ["sms", "email"], "granted": "0", "csrf": desk.csrf})
    assert r.status_code == 200 and "Consent withdrawn for" in r.text
    r = desk.post(f"/entry/{entry['entry_id']}/card/0/consent", data={
        "purpose": ["recall"], "channel": ["sms"], "granted": "1", "window": "18:00-20:00", "csrf": desk.csrf})
    assert r.status_code == 200 and 'data-consent="recall/sms"' in r.text
    rows = site.rows("SELECT purpose, channel, granted, window, recorded_by FROM consents WHERE patient_id = ? "
                     "AND recorded_by = 'olga' ORDER BY id", (entry["patient_id"],))
    assert rows == [("marketing", "sms", 0, None, "olga"), ("marketing", "email", 0, None, "olga"),
                    ("recall", "sms", 1, "18:00-20:00", "olga")]
    # bad input: one sentence, nothing written
    before = site.rows("SELECT count(*) FROM consents")
    for data in ({"purpose": ["recall"], "granted": "1"}, {"purpose": ["recall"], "channel": ["sms"], "window": "25-99"}):
        r = desk.post(f"/entry/{entry['entry_id']}/card/0/consent", data={**data, "csrf": desk.csrf})
        assert r.status_code == 400 and 'role="alert"' in r.text
    assert site.rows("SELECT count(*) FROM consents") == before
    # the next contact: with the patient's consent given on the spot
    later = (DAY + dt.timedelta(days=30)).isoformat()
    r = desk.post(f"/entry/{entry['entry_id']}/card/0/next", data={
        "on": later, "reason": "узнать, как коронка", "channel": "call", "consent": "1", "csrf": desk.csrf})
    assert r.status_code == 200 and "узнать, как коронка" in r.text
    assert site.rows("SELECT due, reason, recorded_by FROM next_contacts WHERE patient_id = ? AND recorded_by = 'olga'",
                     (entry["patient_id"],)) == [(later, "узнать, как коронка", "olga")]
    # once the entry is closed, its id still opens the card for the rest of the day
    outcome = "reached" if entry["channel"] == "call" else "sent"
    assert desk.post(f"/entry/{entry['entry_id']}/outcome", data={"outcome": outcome, "csrf": desk.csrf}).status_code == 200
    card = desk.get(f"/entry/{entry['entry_id']}/card/0")
    assert card.status_code == 200 and entry["patient_id"] in card.text and ">olga<" in card.text
    missing = desk.get("/entry/ffffffff/card/0")
    assert missing.status_code == 404 and "no entry &#39;ffffffff&#39;" in missing.text


def test_todays_outcomes_are_corrected_on_the_done_page_an_earlier_days_by_a_manager(site, cli):
    desk = site.login("olga")
    call = next(e for e in cli.json("--db", site.db, "today") if e["channel"] == "call")
    assert desk.post(f"/entry/{call['entry_id']}/outcome", data={"outcome": "declined", "csrf": desk.csrf}).status_code == 200
    done = desk.get("/done")
    assert done.status_code == 200 and call["patient"] in done.text and 'data-recorded="declined"' in done.text
    entry16 = site.rows("SELECT entry_id FROM contacts WHERE patient_id = ?", (call["patient_id"],))[0][0]
    assert f'action="/done/{entry16}/correct?day={DAY.isoformat()}"' in done.text
    r = desk.post(f"/done/{entry16}/correct?day={DAY.isoformat()}", data={"outcome": "reached", "csrf": desk.csrf})
    assert r.status_code == 200 and "Corrected entry" in r.text and 'data-recorded="reached"' in r.text
    # as `done --correct` does it: the earlier record kept, marked corrected by her; the withdrawal undone
    assert site.rows("SELECT outcome, superseded_by IS NOT NULL, corrected_by FROM contacts WHERE patient_id = ? "
                     "ORDER BY id", (call["patient_id"],)) == [("declined", 1, "olga"), ("reached", 0, None)]
    # an earlier day: the manager's, not a desk's
    yesterday = (DAY - dt.timedelta(days=1)).isoformat()
    assert desk.get(f"/done?day={yesterday}").status_code == 400
    manager = site.login("marina")
    page = manager.get(f"/done?day={yesterday}")
    assert page.status_code == 200 and "Nothing recorded for the list of" in page.text
    assert manager.get("/done?day=someday").status_code == 400


def test_the_survey_script_as_a_form_and_a_complaint_from_a_negative_answer(site, cli):
    desk = site.login("olga")
    surveys = [e for e in cli.json("--db", site.db, "today") if any(r["code"] == "survey_call" for r in e["reasons"])]
    assert len(surveys) >= 2
    first, second = surveys[:2]
    listed = desk.get("/").text
    assert f'href="/entry/{first["entry_id"]}/survey"' in listed
    form = desk.get(f"/entry/{first['entry_id']}/survey")
    assert form.status_code == 200 and "Overall, how satisfied are you" in form.text and "this is olga from" in form.text
    # no score: one sentence, nothing recorded
    r = desk.post(f"/entry/{first['entry_id']}/survey", data={"recommend": "3", "csrf": desk.csrf})
    assert r.status_code == 400 and 'role="alert"' in r.text and 'value="3" checked' in r.text
    assert site.rows("SELECT count(*) FROM surveys WHERE recorded_by = 'olga'") == [(0,)]
    r = desk.post(f"/entry/{first['entry_id']}/survey", data={
        "score": "3", "recommend": "2", "expectations": "no", "comment": "долго ждала", "csrf": desk.csrf})
    assert r.status_code == 200 and "recorded for" in r.text and first["entry_id"] not in entry_ids(r.text)
    assert site.rows("SELECT score, recommend, expectations, comment, recorded_by FROM surveys WHERE patient_id = ?",
                     (first["patient_id"],)) == [(3, 2, "no", "долго ждала", "olga")]
    # a negative answer: the page offers the complaint, with the comment
    assert "A negative answer: open a complaint now?" in r.text and ">долго ждала</textarea>" in r.text
    c = desk.post(f"/entry/{first['entry_id']}/card/0/complaint", data={"text": "долго ждала", "csrf": desk.csrf})
    assert c.status_code == 200 and "Complaint #" in c.text
    assert site.rows("SELECT text, opened_by FROM complaints WHERE patient_id = ?", (first["patient_id"],)) == [
        ("долго ждала", "olga")]
    # the patient declines: the call is closed, no answer counted
    r = desk.post(f"/entry/{second['entry_id']}/survey", data={"declined": "1", "csrf": desk.csrf})
    assert r.status_code == 200 and "declined" in r.text
    assert site.rows("SELECT status, score FROM surveys WHERE patient_id = ?", (second["patient_id"],)) == [
        ("declined", None)]


def test_the_managers_report_draws_its_charts_and_every_table_downloads(site, cli):
    manager = site.login("marina")
    page = manager.get("/report")
    assert page.status_code == 200
    doctors = cli.json("--db", site.db, "report")
    reported = [r for r in doctors if r.get("waves")]
    assert reported and page.text.count('<svg class="chart"') >= 2 * len(reported)
    # a wave's bars are its scores' counts; its NPS point carries its interval (the report's figures)
    wave = reported[0]["waves"][0]
    assert wave["distribution"] and (wave["nps"] is None or wave["nps_ci"])
    for score, n in wave["distribution"].items():
        if n:
            assert f"<title>{score}: {n}</title>" in page.text
    from openpyxl import load_workbook

    for name in ("doctors", "waves", "conversion", "funnel", "consent_coverage", "dead_souls"):
        x = manager.get(f"/report/{name}.xlsx")
        assert x.status_code == 200 and "attachment" in x.headers["content-disposition"]
        sheet = load_workbook(io.BytesIO(x.content)).worksheets[0]
        c = manager.get(f"/report/{name}.csv")
        assert c.status_code == 200 and c.text.startswith("\ufeff")
        lines = c.text[1:].splitlines()
        assert lines[0].split(",") == [cell.value for cell in sheet[1]]
        assert len(lines) == sheet.max_row
    conversion = load_workbook(io.BytesIO(manager.get("/report/conversion.xlsx").content)).worksheets[0]
    assert conversion.max_row - 1 == len(cli.json("--db", site.db, "report", "clinic")["conversion"])
    assert manager.get("/report/users.csv").status_code == 404
    assert site.login("olga").get("/report/doctors.csv").status_code == 403


def test_the_admin_changes_settings_with_the_commands_checks(site, cli):
    admin = site.login("root-admin")
    page = admin.get("/admin")
    assert page.status_code == 200 and 'data-setting="cap_days"' in page.text
    r = admin.post("/admin/setting", data={"key": "send.hours", "value": "10:00-19:00", "csrf": admin.csrf})
    assert r.status_code == 200 and "send.hours = 10:00-19:00" in r.text
    assert cli("--db", site.db, "config", "get", "send.hours").stdout.strip().endswith("10:00-19:00")
    for key, value in (("send.hours", "25:00-26:00"), ("no.such.key", "1")):
        r = admin.post("/admin/setting", data={"key": key, "value": value, "csrf": admin.csrf})
        assert r.status_code == 400 and 'role="alert"' in r.text
    assert cli("--db", site.db, "config", "get", "send.hours").stdout.strip().endswith("10:00-19:00")
    r = admin.post("/admin/setting", data={"key": "send.hours", "default": "1", "csrf": admin.csrf})
    assert r.status_code == 200 and "send.hours = 09:00-20:00" in r.text
    manager = site.login("marina")
    assert manager.post("/admin/setting", data={"key": "send.hours", "value": "10:00-19:00",
                                                "csrf": manager.csrf}).status_code == 403


def test_the_manager_works_complaints_flagged_reasons_and_reads_the_imports(site, cli):
    from openpyxl import load_workbook

    pid = cli.json("--db", site.db, "today")[0]["patient_id"]
    assert cli("--db", site.db, "complaint", "add", pid, "--text", "Долго ждал").exit_code == 0
    [complaint] = cli.json("--db", site.db, "complaint", "list")
    manager = site.login("marina")
    page = manager.get("/complaints")
    assert page.status_code == 200 and f'data-complaint="{complaint["id"]}" data-state="open"' in page.text
    assert manager.post(f"/complaints/{complaint['id']}/resolve", data={"action": "", "csrf": manager.csrf}
                        ).status_code == 400
    r = manager.post(f"/complaints/{complaint['id']}/resolve", data={"action": "извинились, скидка",
                                                                     "csrf": manager.csrf})
    assert r.status_code == 200 and 'data-state="resolved"' in r.text
    r = manager.post(f"/complaints/{complaint['id']}/informed", data={"csrf": manager.csrf})
    assert r.status_code == 200 and 'data-state="informed"' in r.text
    assert cli.json("--db", site.db, "complaint", "list")[0]["state"] == "informed"
    # the flagged reasons, as `followup flagged` lists them; one put back on the list
    listed = cli.json("--db", site.db, "flagged")
    page = manager.get("/flagged")
    assert page.status_code == 200 and page.text.count("data-flagged=") == len(listed) > 0
    first = listed[0]
    r = manager.post("/flagged", data={"patient": first["patient_id"], "rule": first["rule"], "ref": first["ref"] or "",
                                       "decision": "close", "csrf": manager.csrf})
    assert r.status_code == 400  # closing needs a note saying why
    r = manager.post("/flagged", data={"patient": first["patient_id"], "rule": first["rule"], "ref": first["ref"] or "",
                                       "decision": "requeue", "csrf": manager.csrf})
    assert r.status_code == 200 and "put back on the list" in r.text
    assert len(cli.json("--db", site.db, "flagged")) == len(listed) - 1
    imports = manager.get("/imports")
    runs = cli.json("--db", site.db, "import", "--history")
    assert imports.status_code == 200 and f'data-run="{runs[0]["id"]}"' in imports.text
    for name in ("complaints", "imports"):  # their tables download as the reports' do
        sheet = load_workbook(io.BytesIO(manager.get(f"/report/{name}.xlsx").content)).worksheets[0]
        assert sheet.max_row - 1 == (1 if name == "complaints" else sum(len(r["files"]) for r in runs))
    assert "Долго ждал" in manager.get("/report/complaints.csv").text
    assert site.login("olga").get("/flagged").status_code == 403


def test_a_manager_exports_and_erases_a_patient_from_the_card_a_desk_cannot(site, cli):
    entry = cli.json("--db", site.db, "today")[0]
    card = f"/entry/{entry['entry_id']}/card/0"
    desk = site.login("olga")
    assert "data rights" not in desk.get(card).text
    assert desk.get(card + "/export").status_code == 403
    assert desk.post(card + "/forget", data={"confirm": entry["patient_id"], "csrf": desk.csrf}).status_code == 403
    manager = site.login("marina")
    exported = manager.get(card + "/export")
    assert exported.status_code == 200 and "attachment" in exported.headers["content-disposition"]
    assert entry["patient_id"] not in exported.headers["content-disposition"]
    assert exported.json() == json.loads(cli("--db", site.db, "patient", "export", entry["patient_id"]).stdout)
    assert entry["patient"] in exported.text
    # the card number typed wrong: nothing erased
    r = manager.post(card + "/forget", data={"confirm": "wrong", "csrf": manager.csrf})
    assert r.status_code == 400 and site.rows("SELECT count(*) FROM patients WHERE patient_id = ?",
                                              (entry["patient_id"],)) == [(1,)]
    r = manager.post(card + "/forget", data={"confirm": entry["patient_id"], "csrf": manager.csrf})
    assert r.status_code == 200 and "Erased (erasure #" in r.text
    assert site.rows("SELECT count(*) FROM patients WHERE patient_id = ?", (entry["patient_id"],)) == [(0,)]
    assert entry["patient"].encode() not in site.db.read_bytes()


def test_served_over_https_with_a_secure_cookie(demo_file, tmp_path):
    import os
    import socket
    import subprocess
    import sys
    import time

    import ssl

    import httpx2 as httpx
    import trustme

    path = copied(demo_file, tmp_path / "demo.db")
    ca = trustme.CA()
    issued = ca.issue_cert("127.0.0.1", "localhost")
    cert, key, authority = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    issued.cert_chain_pems[0].write_to_path(str(cert))
    issued.private_key_pem.write_to_path(str(key))
    ca.cert_pem.write_to_path(str(authority))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "followup", "--db", str(path), "serve", "--port", str(port),
                               "--cert", str(cert), "--key", str(key)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env={**os.environ, "LANG": "C.UTF-8"})
    try:
        assert f"https://localhost:{port}/" in server.stdout.readline()
        with httpx.Client(base_url=f"https://localhost:{port}", verify=ssl.create_default_context(cafile=str(authority)),
                          timeout=10) as c:
            for _ in range(100):
                try:
                    page = c.get("/login")
                    break
                except httpx.ConnectError:
                    time.sleep(0.05)
            assert page.status_code == 200 and 'name="username"' in page.text
            assert "secure" in page.headers["set-cookie"].lower()
            token = csrf_of(page.text)
            r = c.post("/login", data={"username": "olga", "password": PASSWORDS["olga"], "csrf": token})
            assert r.status_code == 303 and c.get("/").status_code == 200
        with pytest.raises(httpx.ConnectError):  # a browser that does not know the clinic's certificate is told
            httpx.get(f"https://localhost:{port}/login", timeout=10)
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert "Traceback" not in server.stderr.read()


# every route of the pages and what it needs (roles.may): a route added without a line here fails the test
ROUTES = {
    ("GET", "/"): "list", ("POST", "/"): "list", ("POST", "/list"): "list",
    ("POST", "/entry/{entry}/open"): "list", ("POST", "/entry/{entry}/outcome"): "outcome",
    ("GET", "/entry/{entry}/card/{member}"): "card", ("POST", "/entry/{entry}/card/{member}/consent"): "consent",
    ("POST", "/entry/{entry}/card/{member}/next"): "next-contact", ("GET", "/entry/{entry}/survey"): "survey",
    ("POST", "/entry/{entry}/survey"): "survey", ("POST", "/entry/{entry}/card/{member}/complaint"): "complaint",
    ("GET", "/entry/{entry}/card/{member}/export"): "rights", ("POST", "/entry/{entry}/card/{member}/forget"): "rights",
    ("GET", "/done"): "outcome", ("POST", "/done/{entry}/correct"): "outcome",
    ("GET", "/report"): "report", ("GET", "/report/{table}.{fmt}"): "report", ("GET", "/complaints"): "report",
    ("POST", "/complaints/{complaint}/{step}"): "report", ("GET", "/flagged"): "flagged",
    ("POST", "/flagged"): "flagged", ("GET", "/imports"): "report",
    ("GET", "/admin"): "users", ("POST", "/admin/user"): "users", ("POST", "/admin/setting"): "settings",
    ("GET", "/login"): None, ("POST", "/login"): None, ("POST", "/logout"): None, ("POST", "/language"): None,
    ("POST", "/entry/{entry}/card/{member}/source"): "source", ("GET", "/occasions"): "occasions",
    ("POST", "/occasions/{step}"): "occasions", ("GET", "/campaigns/{campaign}"): "occasions",
    ("GET", "/letters"): "outcome", ("POST", "/letters"): "outcome",
}
PARAMS = {"entry": "0000000000", "member": "0", "complaint": "999", "step": "resolve", "table": "doctors", "fmt": "csv",
          "campaign": "999"}


def test_every_route_checks_the_role_on_the_server(site):
    from starlette.routing import Route

    from followup import roles
    from followup.web.app import create_app

    app = create_app(site.db, secret="s" * 48)
    served = {(m, r.path.replace(":str", "").replace(":int", "")) for r in app.routes if isinstance(r, Route)
              for m in r.methods - {"HEAD"}}
    assert served == set(ROUTES)
    people = {name: site.login(name) for name in ROLES}
    anonymous = site.client()
    for (method, route), ability in ROUTES.items():
        if ability is None:
            continue
        url = route.format(**PARAMS)
        r = anonymous.request(method, url)
        assert r.status_code == 303 and r.headers["location"] == "/login", (method, url)
        for name, client in people.items():
            r = client.request(method, url, data={"csrf": client.csrf} if method == "POST" else None)
            allowed = roles.may(ROLES[name], ability)
            assert (r.status_code == 403) != allowed and r.status_code < 500, (name, method, url, r.status_code)
            if r.headers.get("content-type", "").startswith("text/html") and "{" not in route and method == "GET":
                assert re.search(r"<title>[^<>]+</title>", r.text) and r.text.count("<main>") == 1, url  # whole
    # the actions behind the pages too: a desk cannot add a user by posting the admin's form
    desk = people["olga"]
    r = desk.post("/admin/user", data={"action": "add", "name": "intruder", "role": "admin",
                                       "password": "long-enough-42", "csrf": desk.csrf})
    assert r.status_code == 403 and site.rows("SELECT count(*) FROM users WHERE name = 'intruder'") == [(0,)]


def test_a_bug_is_one_line_on_the_page_and_in_the_log_without_its_message(site, monkeypatch, caplog):
    import followup.actions.users

    desk = site.login("olga")

    def broken(*args, **kwargs):
        raise ValueError("Иванов Иван +79161234567")  # a bug whose message carries a patient's data

    monkeypatch.setattr(followup.actions.users, "open_entries", broken)
    with caplog.at_level(logging.INFO, logger="followup.web"):
        r = desk.get("/")
    assert r.status_code == 500 and "An internal error in followup (ValueError)" in r.text
    logged = "\n".join(rec.getMessage() for rec in caplog.records)
    assert "internal error (ValueError) at GET /:" in logged and "app.py:" in logged
    assert "Иванов" not in logged + r.text and "7916" not in logged + r.text


def test_the_manager_keeps_the_occasions_and_campaigns_and_the_desk_asks_what_brought_a_patient(site, cli):
    manager = site.login("marina")
    page = manager.get("/occasions")
    assert page.status_code == 200 and 'data-occasion="birthday"' in page.text and "data-campaign=" in page.text
    # a holiday with a text of its own, as `occasion add` makes it; bad input: one line, nothing written
    r = manager.post("/occasions/holiday", data={"name": "День клиники", "on": "15.06", "sex": "",
                                                 "text": "{greeting}! Нам 10 лет. {clinic}", "csrf": manager.csrf})
    assert r.status_code == 200 and 'role="status"' in r.text
    assert {o["name"]: o["on"] for o in cli.json("--db", site.db, "occasion", "list")}["День клиники"] == "06-15"
    bad = manager.post("/occasions/holiday", data={"name": "Ещё", "on": "31.02", "csrf": manager.csrf})
    assert bad.status_code == 400 and "there is no day &#39;31.02&#39; in the calendar" in bad.text
    assert site.rows("SELECT count(*) FROM occasions WHERE name = 'Ещё'") == [(0,)]
    # a campaign's page: who it reaches and who not, as `campaign show` says
    [campaign] = cli.json("--db", site.db, "campaign", "list")
    shown = manager.get(f"/campaigns/{campaign['id']}")
    expected = cli.json("--db", site.db, "campaign", "show", str(campaign["id"]), "--date", NOON.date().isoformat())
    assert re.findall(r'<li data-patient="([^"]+)">', shown.text) == [w["patient_id"] for w in expected["would_get"]]
    stopped = manager.post("/occasions/stop", data={"id": str(campaign["id"]), "csrf": manager.csrf})
    assert stopped.status_code == 200 and site.rows("SELECT count(*) FROM campaigns WHERE stopped_at IS NULL") == [(0,)]
    # a desk may not keep them, but records what brought the patient on the card
    desk = site.login("olga")
    assert desk.get("/occasions").status_code == 403
    entry = cli.json("--db", site.db, "today")[0]
    r = desk.post(f"/entry/{entry['entry_id']}/card/0/source", data={"source": "map", "detail": "", "csrf": desk.csrf})
    assert r.status_code == 200 and 'data-source="map"' in r.text
    assert cli.json("--db", site.db, "patient", "show", entry["patient_id"])["source"]["recorded_by"] == "olga"
