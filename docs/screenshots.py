"""The README's screenshots of the desks' pages, taken on the demo clinic with Debian's Chromium.

    python docs/screenshots.py            # writes docs/screenshots/*.png

A demo clinic in a temporary directory, a desk and a manager account, a real `followup serve`, and
Playwright driving /usr/bin/chromium (never a browser it downloads)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def main() -> None:
    from playwright.sync_api import sync_playwright

    work = Path(tempfile.mkdtemp(prefix="followup-shots-"))
    env = dict(os.environ, FOLLOWUP_DB=str(work / "demo" / "demo.db"), FOLLOWUP_LANG="ru")
    followup = [sys.executable, "-m", "followup"]
    subprocess.run([*followup, "demo", "--dir", str(work / "demo")], env=env, check=True, capture_output=True)
    for name, role in (("Ольга", "desk"), ("Марина", "manager")):
        subprocess.run([*followup, "user", "add", name, "--role", role, "--password-stdin"], env=env, check=True,
                       input="screenshot-pass-1\n", text=True, capture_output=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([*followup, "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    time.sleep(1.5)
    url = f"http://127.0.0.1:{port}"
    OUT.mkdir(exist_ok=True)
    root = getattr(os, "geteuid", lambda: 1)() == 0
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"] if root else [])

            def login(name):
                page = browser.new_context(viewport={"width": 1200, "height": 800}, locale="ru-RU").new_page()
                page.goto(url + "/login")
                page.fill("input[name=username]", name)
                page.fill("input[name=password]", "screenshot-pass-1")
                page.press("input[name=password]", "Enter")
                page.wait_for_selector("[data-entry-id]")
                return page

            olga = login("Ольга")
            olga.click("[data-entry-id] button.open >> nth=1")
            olga.wait_for_selector(".entry.mine")
            olga.screenshot(path=str(OUT / "list.png"))
            olga.click("[data-entry-id] a.patient >> nth=0")
            olga.wait_for_selector("h1.patient")
            olga.screenshot(path=str(OUT / "card.png"))
            survey = olga.goto(url + "/")
            link = olga.query_selector("a.survey")
            if link is not None and survey is not None:
                link.click()
                olga.wait_for_selector("form.survey")
                olga.screenshot(path=str(OUT / "survey.png"))
            marina = login("Марина")
            marina.goto(url + "/report")
            marina.wait_for_selector("svg.chart")
            marina.screenshot(path=str(OUT / "report.png"))
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)
    print("\n".join(str(p) for p in sorted(OUT.glob("*.png"))))


if __name__ == "__main__":
    main()
