"""Crash safety (#5, item 2): `kill -9` at random moments of an import of a large file, of `done`
and of `survey`. After each kill the database passes SQLite's integrity and foreign-key checks,
holds either none or all of what the killed command was writing, and the command run again
completes.

The kill moments are drawn at random (the seed is printed in a failure); run with -s to see how
many kills landed before and after each commit.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import built_once, clinic_with_new_visits
from conftest import copied as copy

SEED = int(os.environ.get("CRASH_SEED", time.time_ns() % 1_000_000))


@pytest.fixture(scope="module")
def clinic(tmp_path_factory):
    """A 2,000-patient clinic with consents, and a visits file of about 15,000 rows still to import (about a
    second: long enough for kills to land inside its transaction)."""
    return built_once(tmp_path_factory, "crash-clinic", lambda where: clinic_with_new_visits(
        where, patients=2_000, visits_per_patient=4, new_visits_per_patient=12, seed=7))


def checked(path: Path) -> sqlite3.Connection:
    """The database after a crash: SQLite's own checks must pass."""
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)], f"seed {SEED}"
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == [], f"seed {SEED}"
    return conn


def killed(cmd: list[str], env: dict, after: float) -> int:
    """Start the command, SIGKILL it ``after`` seconds in (if still running); its return code."""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        proc.wait(timeout=after)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    return proc.returncode


def env_for(path: Path) -> dict:
    return dict(os.environ, FOLLOWUP_DB=str(path), FOLLOWUP_USER="crash")


@pytest.fixture(scope="module")
def import_run(clinic, tmp_path_factory) -> float:
    """How long a whole import of the visits file takes: kills are drawn within it."""
    pristine, visits, _ = clinic
    full = copy(pristine, tmp_path_factory.mktemp("full") / "full.db")
    started = time.monotonic()
    assert subprocess.run([sys.executable, "-m", "followup", "import", "--quiet", str(visits)],
                          env=env_for(full)).returncode == 0
    return time.monotonic() - started


# 8 kills of the import, in 2 groups of 4 that the test workers share out
@pytest.mark.slow
@pytest.mark.parametrize("group", range(2))
def test_import_killed_at_8_random_moments(clinic, import_run, tmp_path, group):
    pristine, visits, rows = clinic
    cmd = [sys.executable, "-m", "followup", "import", "--quiet", str(visits)]
    duration = import_run
    rng = random.Random(SEED * 10 + group)
    seen = {"none": 0, "all": 0}
    for i in range(4 * group, 4 * group + 4):
        path = copy(pristine, tmp_path / f"kill{i}.db")
        code = killed(cmd, env_for(path), rng.uniform(0.05, duration))
        conn = checked(path)
        n = conn.execute("SELECT count(*) FROM visits WHERE visit_id LIKE 'N%'").fetchone()[0]
        conn.close()
        assert n in (0, rows), f"kill {i}: {n} of {rows} rows (seed {SEED})"
        seen["all" if n else "none"] += 1
        if code == -signal.SIGKILL or n == 0:  # run again: it completes
            assert subprocess.run(cmd, env=env_for(path), capture_output=True).returncode == 0, f"seed {SEED}"
            conn = checked(path)
            assert conn.execute("SELECT count(*) FROM visits WHERE visit_id LIKE 'N%'").fetchone()[0] == rows
            conn.close()
        for suffix in ("", "-wal", "-shm", ".lock"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    print(f"\nimport of {rows} rows ({duration:.1f} s) killed 4 times (group {group}, seed {SEED}): "
          f"{seen['none']} before its commit, {seen['all']} after; every time intact and re-run to completion")


def _listed(path: Path) -> list[dict]:
    out = subprocess.run([sys.executable, "-m", "followup", "today", "--format", "json"], env=env_for(path),
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


# 5 kills each of done and survey
@pytest.mark.slow
@pytest.mark.parametrize("group", range(1))
def test_done_and_survey_killed_at_random_moments(clinic, tmp_path, group):
    pristine, _, _ = clinic
    base = copy(pristine, tmp_path / "base.db")
    entries = [e for e in _listed(base) if e["channel"] == "call" and not e["household"]]
    assert len(entries) >= 10
    rng = random.Random(SEED * 10 + group)
    seen = {"none": 0, "all": 0}
    durations: dict[str, float] = {}
    for i, e in list(enumerate(entries[:10]))[5 * group:5 * group + 5]:
        path = copy(base, tmp_path / f"done{i}.db")
        pid = e["patient_id"]
        # declined: a contact and a withdrawal of consent, in one transaction
        done = [sys.executable, "-m", "followup", "done", e["entry_id"], "--outcome", "declined", "--note", f"crash{i}"]
        survey = [sys.executable, "-m", "followup", "survey", pid, "--score", "7", "--doctor", "Новикова",
                  "--comment", f"crash{i}"]
        for cmd in (done, survey):
            kind = "done" if cmd is done else "survey"
            if kind not in durations:  # how long a whole run takes, once a kind: kills are drawn within it
                start = time.monotonic()
                subprocess.run(cmd, env=env_for(copy(path, tmp_path / "timing.db")), capture_output=True)
                durations[kind] = time.monotonic() - start
            killed(cmd, env_for(path), rng.uniform(0.02, durations[kind]))
            conn = checked(path)
            if cmd is done:
                contact = conn.execute("SELECT count(*) FROM contacts WHERE note = ?", (f"crash{i}",)).fetchone()[0]
                withdrawn = conn.execute("SELECT count(*) FROM consents WHERE patient_id = ? AND granted = 0 "
                                         "AND recorded_by = 'crash'", (pid,)).fetchone()[0]
                assert (contact == 0) == (withdrawn == 0), f"done {i}: half written (seed {SEED})"
                written = contact > 0
            else:
                sids = [r[0] for r in conn.execute("SELECT id FROM surveys WHERE comment = ?", (f"crash{i}",))]
                doctors = conn.execute("SELECT count(*) FROM survey_doctors WHERE survey_id IN "
                                       "(SELECT value FROM json_each(?))", (json.dumps(sids),)).fetchone()[0]
                assert (not sids) == (doctors == 0), f"survey {i}: half written (seed {SEED})"
                written = bool(sids)
            conn.close()
            seen["all" if written else "none"] += 1
            if not written:
                again = subprocess.run(cmd, env=env_for(path), capture_output=True, text=True)
                assert again.returncode == 0, (again.stdout + again.stderr)[-300:]
            for p in tmp_path.glob("timing.db*"):
                p.unlink()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    assert checked(base)
    print(f"\ndone and survey killed 5 times each (group {group}, seed {SEED}): {seen['none']} before the commit, "
          f"{seen['all']} after; every time intact, and the command run again completed")


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_an_import_stopped_by_a_signal_says_so_and_records_it(clinic, tmp_path, sig):
    """Ctrl-C or SIGTERM while a file is being written: one line, exit 130, nothing of the file
    written, and the run's record says "interrupted" (never "ok", never a file left "running")."""
    pristine, visits, _ = clinic
    path = copy(pristine, tmp_path / "stopped.db")
    proc = subprocess.Popen([sys.executable, "-m", "followup", "import", "--quiet", str(visits)], env=env_for(path),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while True:  # until the file's own transaction is under way
        conn = sqlite3.connect(path)
        running = conn.execute("SELECT count(*) FROM import_files WHERE outcome = 'running'").fetchone()[0]
        conn.close()
        if running or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    time.sleep(0.2)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (proc.returncode, err)
    assert err.strip().splitlines() == [
        "Interrupted: the file being imported was not written (each file is all or nothing); the run is recorded "
        "as interrupted (followup import --history)."]
    conn = checked(path)
    assert conn.execute("SELECT count(*) FROM visits WHERE visit_id LIKE 'N%'").fetchone()[0] == 0
    assert conn.execute("SELECT outcome FROM import_runs ORDER BY id DESC LIMIT 1").fetchone() == ("interrupted",)
    assert conn.execute("SELECT outcome FROM import_files ORDER BY id DESC LIMIT 1").fetchone() == ("interrupted",)
    conn.close()
