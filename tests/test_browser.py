"""Two receptionists and a manager at three browsers (Debian's Chromium, driven by Playwright) on a real
`followup serve`: the same list as the command, who is calling whom, outcomes that reach the other
desk without a reload, the call-back's date, the page in Russian, nothing the page's policy blocks."""

import datetime as dt
import os
import shutil
import socket
import subprocess
import sys
import time

import pytest

from conftest import Cli, built_once, copied

pytestmark = pytest.mark.slow
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or "/usr/bin/chromium"
PASSWORDS = {"olga": "desk-secret-one", "vera": "desk-secret-two", "marina": "manager-secret-1"}
ROLES = {"olga": "desk", "vera": "desk", "marina": "manager"}
WAIT_MS = 6_000  # the list refreshes itself every 2 s: another desk's change shows within one refresh


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail(f"no Chromium at {CHROMIUM}: .ci/run installs Debian's chromium")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")

    def build(where):
        assert Cli(where / "unused.db")("demo", "--dir", where).exit_code == 0
        return where / "demo.db"

    demo = built_once(tmp_path_factory, "day-plan-demo", build)
    path = copied(demo, tmp_path_factory.mktemp("web") / "demo.db")
    cli = Cli(path)
    for name, password in PASSWORDS.items():
        assert cli("--db", path, "user", "add", name, "--role", ROLES[name], "--password-stdin",
                   input=password + "\n").exit_code == 0
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "LANG": "C.UTF-8"}
    log = path.with_name("serve.log")
    server = subprocess.Popen([sys.executable, "-m", "followup", "--db", str(path), "serve", "--port", str(port)],
                              stdout=subprocess.PIPE, stderr=open(log, "w"), text=True, env=env)
    try:
        assert "Serving the desks' pages at http://localhost:" in server.stdout.readline()
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                time.sleep(0.05)
        yield path, f"http://127.0.0.1:{port}", cli, demo.parent / "exports"
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
    text = log.read_text()
    assert "Traceback" not in text, text


@pytest.fixture(scope="module")
def browser(served):
    from playwright.sync_api import sync_playwright

    root = getattr(os, "geteuid", lambda: 1)() == 0  # Chromium's sandbox refuses root
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=["--disable-gpu", "--disable-extensions"]
                               + (["--no-sandbox"] if root else []))
        yield b
        b.close()


def desk(browser, url, name, problems):
    page = browser.new_context().new_page()
    page.on("console", lambda m: problems.append(f"{name}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"{name}: {e}"))
    page.goto(url + "/")
    assert page.url.endswith("/login")
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", PASSWORDS[name])
    page.press("input[name=password]", "Enter")
    page.wait_for_selector("[data-entry-id]")
    return page


def explained(page, path) -> str:
    """What a failing step saw: the page's heading and entries, and the server's last log lines."""
    log = path.with_name("serve.log").read_text()
    return f"h1={page.inner_text('h1')!r} ids={shown_ids(page)} log=...{log[-1500:]}"


def shown_ids(page) -> list[str]:
    return page.eval_on_selector_all("[data-entry-id]", "els => els.map(e => e.dataset.entryId)")


def test_a_day_at_three_browsers_while_the_nightly_import_runs(served, browser):
    path, url, cli, exports = served
    problems: list[str] = []
    olga, vera = desk(browser, url, "olga", problems), desk(browser, url, "vera", problems)
    listed = cli.json("--db", path, "today")
    assert shown_ids(olga) == shown_ids(vera) == [e["entry_id"] for e in listed][:50]
    calls = [e["entry_id"] for e in listed if e["channel"] == "call" and not any(
        r["code"] == "survey_call" for r in e["reasons"])]
    x, y, z = calls[:3]
    # Vera starts a note on another entry: the list refreshing itself under her keeps what she types
    vera.fill(f"[data-entry-id='{y}'] input[name=note]", "перезвонить после обеда")
    olga.click(f"[data-entry-id='{x}'] button.open")
    claimed = vera.wait_for_selector(f"[data-entry-id='{x}'] .claimed", timeout=WAIT_MS)
    assert claimed.inner_text() == "being called by olga"
    assert vera.input_value(f"[data-entry-id='{y}'] input[name=note]") == "перезвонить после обеда"
    try:
        olga.click(f"[data-entry-id='{x}'] [data-outcome=no-answer]", timeout=WAIT_MS)
    except Exception as exc:
        raise AssertionError(explained(olga, path)) from exc
    assert "Recorded no-answer for entry" in olga.wait_for_selector(".notice").inner_text()
    vera.wait_for_selector(f"[data-entry-id='{x}']", state="detached", timeout=WAIT_MS)
    assert f"1 of {len(listed)} done" in vera.inner_text("h1")
    assert not problems, problems  # nothing blocked by the page's content-security policy, no script error

    # the nightly import runs again while Vera books her patient and the manager reads the reports
    marina = desk(browser, url, "marina", problems)
    # (the patients and appointments files: a night's import that writes; tests/test_concurrency.py runs the
    # whole of one against desks at the command line)
    nightly = subprocess.Popen([sys.executable, "-m", "followup", "--db", str(path), "import", "--force", "--quiet",
                                str(exports / "patients.csv"), str(exports / "appointments.csv")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    vera.click(f"[data-entry-id='{y}'] [data-outcome=booked]")
    marina.goto(url + "/report")
    assert marina.wait_for_selector("svg.chart")  # a doctor's chart, drawn by the server
    vera.wait_for_selector(f"[data-entry-id='{y}']", state="detached", timeout=WAIT_MS)
    assert nightly.wait(timeout=120) == 0, nightly.stderr.read()
    assert cli.rows("SELECT outcome, recorded_by, note FROM contacts ORDER BY id") == [
        ("no-answer", "olga", None), ("booked", "vera", "перезвонить после обеда")]  # nothing lost

    # Olga corrects her no-answer: the patient called back and was reached
    olga.goto(url + "/done")
    olga.click(f"[data-entry-id='{x[:6]}'] [data-outcome=reached]")
    assert "Corrected entry" in olga.wait_for_selector(".notice").inner_text()
    assert cli.rows("SELECT outcome, superseded_by IS NULL, corrected_by FROM contacts WHERE recorded_by = 'olga' "
                    "ORDER BY id") == [("no-answer", 0, "olga"), ("reached", 1, None)]
    # ... and records a survey with the form
    survey = next(e for e in listed if any(r["code"] == "survey_call" for r in e["reasons"]))
    olga.goto(url + f"/entry/{survey['entry_id']}/survey")
    olga.check("input[name=score][value='9']")
    olga.check("input[name=recommend][value='10']")
    olga.check("input[name=expectations][value=yes]")
    olga.click("[data-survey=answered]")
    assert "recorded for" in olga.wait_for_selector(".notice").inner_text()
    assert cli.rows("SELECT score, recommend, expectations, recorded_by FROM surveys WHERE patient_id = ?",
                    (survey["patient_id"],)) == [(9, 10, "yes", "olga")]

    # Olga reads the pages in Russian; a call-back asks for its day
    olga.click("nav button[value=ru]")
    olga.wait_for_selector("text=Список на сегодня")
    assert "Контакты на" in olga.inner_text("h1")
    olga.click(f"[data-entry-id='{z}'] [data-outcome=call-back]")
    assert "перезвонить" in olga.wait_for_selector("#list .error").inner_text()  # no day given: said, nothing done
    assert cli.rows("SELECT count(*) FROM contacts WHERE outcome = 'call-back'") == [(0,)]
    assert problems and all("400" in p for p in problems), problems  # (the browser logs the refusal)
    problems.clear()
    later = dt.date.today() + dt.timedelta(days=2)
    olga.fill(f"[data-entry-id='{z}'] input[name=on]", later.isoformat())
    olga.click(f"[data-entry-id='{z}'] [data-outcome=call-back]")
    olga.wait_for_selector(f"[data-entry-id='{z}']", state="detached")
    assert cli.rows("SELECT callback_on, recorded_by FROM contacts WHERE outcome = 'call-back'") == [
        (later.isoformat(), "olga")]
    assert "Contacts for" in vera.inner_text("h1")  # each desk its own language
    marina.click("nav button[value=ru]")
    assert marina.wait_for_selector("figcaption >> text=Оценки по волнам")  # the manager's page in Russian
    assert not problems, problems

    # one server a database: a second one says so in one line
    second = subprocess.run([sys.executable, "-m", "followup", "--db", str(path), "serve", "--port", "1"],
                            capture_output=True, text=True, timeout=60)
    assert second.returncode == 75, second.stderr
    assert second.stderr.strip().splitlines() == [second.stderr.strip()]
    assert "another followup serve is running on this database" in second.stderr
