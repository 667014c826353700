"""A reception desk in a loop, for the concurrency test: run as a separate process.

    python tests/desk_worker.py K STOP_FILE RESULT_FILE   (the database in $FOLLOWUP_DB)

Until STOP_FILE exists it runs `today`, records an outcome for one of its patients (card number
modulo 4 == K), a consent, an agreed next contact and a survey, each through the real CLI, each
carrying a unique marker. It writes to RESULT_FILE (JSON): every write that reported success
(its marker), every failure (command, message (which carries no personal data), when the list it
acted on was read and when it ended), and the start and end of every command.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from pathlib import Path

from typer.testing import CliRunner

from followup.cli import app


def main() -> None:
    k, stop, out = int(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    runner = CliRunner()
    done: list[list[str]] = []
    failures: list[dict] = []
    calls: list[list] = []  # [command, started, ended] in wall-clock seconds
    later = (dt.date.today() + dt.timedelta(days=30)).isoformat()

    def run(kind: str, marker: str | None, *args: str):
        started = time.time()
        result = runner.invoke(app, list(args))
        calls.append([args[0], started, time.time()])
        if result.exit_code != 0:
            failures.append({"command": args[0], "exit": result.exit_code, "listed_at": listed_at,
                             "ended": time.time(), "message": (result.output or repr(result.exception))[-300:]})
            return None
        if marker:
            done.append([kind, marker])
        return result

    i = 0
    while not stop.exists() or i == 0:
        listed_at = time.time()
        listed = run("today", None, "today", "--format", "json")
        entries = json.loads(listed.stdout) if listed else []
        mine = [e for e in entries if e["channel"] == "call" and not e["household"]
                and int(e["patient_id"]) % 4 == k]
        if mine:
            e = mine[i % len(mine)]
            run("contact", f"w{k}-{i}-done", "done", e["entry_id"], "--outcome", "no-answer", "--note", f"w{k}-{i}-done")
        patient = f"{4 * (i % 4000 + 1) + k:06d}"  # always this desk's own patients (card number mod 4)
        run("consent", f"w{k}-{i}-consent", "consent", patient, "--purpose", "marketing", "--channel", "email",
            "--note", f"w{k}-{i}-consent")
        run("next", f"w{k}-{i}-next", "next", patient, "--on", later, "--reason", f"w{k}-{i}-next", "--consent")
        run("survey", f"w{k}-{i}-survey", "survey", patient, "--score", "9", "--recommend", "9",
            "--doctor", "Новикова", "--comment", f"w{k}-{i}-survey")
        i += 1
        out.write_text(json.dumps({"rounds": i, "done": done, "failures": failures, "calls": calls}))


if __name__ == "__main__":
    main()
