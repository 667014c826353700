"""A database this account may read but not write (a file owned by the clinic's service account, a copy
on a read-only share): the commands that read work and give the same answers; those that write say in
one line that nothing can be written here, and write nothing.

The commands run in a process that file permissions bind: as the tests' own user, or, when the tests
run as root (CI, containers), as root without the capabilities that override file permissions
(setpriv), so that a directory of mode 0555 and a file of mode 0444 are read-only for it too."""

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys

import pytest

# Runs each command with typer's runner in one process (one start-up for them all) and prints what
# each gave: [exit code, stdout, stderr].
DRIVER = """
import json, sys
from typer.testing import CliRunner
from followup.cli import app
runner, out = CliRunner(), []
for args in json.loads(sys.argv[1]):
    r = runner.invoke(app, args, env={"COLUMNS": "200", "_TYPER_FORCE_DISABLE_TERMINAL": "1"})
    out.append([r.exit_code, r.stdout, r.stderr])
print(json.dumps(out))
"""


def _bound_by_permissions() -> list[str]:
    if os.name == "nt":
        pytest.skip("POSIX file modes")
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.fail("the tests run as root and need setpriv (util-linux) to drop the override of file modes")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search,-fowner,-chown"]


def run_bound(*commands: list[str]) -> list[tuple[int, str, str]]:
    """Each command as an account bound by the file modes would run it."""
    env = dict(os.environ, FOLLOWUP_LANG="en", FOLLOWUP_USER="desk")
    r = subprocess.run([*_bound_by_permissions(), sys.executable, "-c", DRIVER, json.dumps(commands)],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    return [tuple(x) for x in json.loads(r.stdout)]


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def clinic(cli, patients_csv, visits_csv, tmp_path):
    """A small clinic with consents, and a copy of it in a directory nobody may write (0555, file 0444)."""
    assert cli("import", patients_csv, visits_csv).exit_code == 0
    import datetime as dt

    for pid in ("000101", "000102"):
        assert cli("consent", pid, "--purpose", "recall,control,plan,survey,agreed", "--channel", "call,sms").exit_code == 0
        assert cli("next", pid, "--on", dt.date.today().isoformat(), "--reason", "ask how the crown feels",
                   "--channel", "sms" if pid == "000102" else "call").exit_code == 0
    shelf = tmp_path / "shelf"
    shelf.mkdir()
    copy = shelf / "clinic.db"
    from conftest import copied

    copied(cli.db_path, copy)
    conn = sqlite3.connect(copy)
    conn.execute("PRAGMA journal_mode = WAL")  # as followup keeps it
    conn.close()
    assert not (shelf / "clinic.db-wal").exists()
    copy.chmod(0o444)
    shelf.chmod(0o555)
    yield copy
    shelf.chmod(0o755)


def test_reading_works_and_writing_says_why_in_a_read_only_directory(cli, clinic):
    before = digest(clinic)
    db = ["--db", str(clinic)]
    expected = cli.json("today")  # the original, beside the copy
    assert expected, "the clinic has a list today"
    today, why, report, check, done, consent, send, imported, serve = run_bound(
        [*db, "today", "--format", "json"], [*db, "why", "000101"], [*db, "report", "clinic", "--format", "json"],
        [*db, "check"], [*db, "done", expected[0]["entry_id"], "--outcome", "reached"],
        [*db, "consent", "000102", "--purpose", "recall", "--channel", "sms"], [*db, "send"],
        [*db, "import", str(cli.db_path.parent / "in" / "patients.csv")], [*db, "serve", "--port", "1"])
    assert today[0] == 0 and json.loads(today[1]) == expected
    assert why[0] == 0 and "000101" in why[1]
    assert report[0] == 0 and json.loads(report[1])
    assert check[0] == 0 and check[1].startswith("ok")
    for code, out, err in (done, consent):
        assert code == 74 and out == "" and err.count("\n") == 1, err
        assert "the database cannot be written here (a read-only file or directory, or no access)" in err
    for code, out, err in (send, imported):
        assert code == 74 and err.count("\n") == 1 and "cannot create the lock file" in err, err
    # the desks' pages would record outcomes: refused before they start
    assert serve[0] == 74 and serve[2].count("\n") == 1 and "cannot be written by this account" in serve[2], serve
    assert all("Traceback" not in x[2] for x in (today, why, report, check, done, consent, send, imported, serve))
    assert digest(clinic) == before and sorted(p.name for p in clinic.parent.iterdir()) == ["clinic.db"]


def test_a_schema_it_cannot_upgrade_is_named(tmp_path, clinic):
    """A copy made by an older followup, on a read-only shelf: reading it needs an upgrade that cannot
    be written, and the message says who can do it."""
    clinic.parent.chmod(0o755)
    clinic.chmod(0o644)
    conn = sqlite3.connect(clinic)
    conn.execute("DELETE FROM _sqlite_migrations WHERE name = (SELECT max(name) FROM _sqlite_migrations)")
    conn.commit()
    conn.close()
    before = digest(clinic)
    clinic.chmod(0o444)
    clinic.parent.chmod(0o555)
    [(code, out, err)] = run_bound(["--db", str(clinic), "today"])
    assert code == 74 and err.count("\n") == 1, err
    assert "needs an upgrade of its schema, and it cannot be written here" in err
    assert digest(clinic) == before


def test_a_lock_file_of_another_account(cli, patients_csv, tmp_path):
    """The import's lock file, made by another account: readable, it serves (a lock needs no writing);
    unreadable, the message names its owner."""
    assert cli("import", patients_csv).exit_code == 0
    lock = tmp_path / "followup.db.lock"
    lock.touch()
    lock.chmod(0o444)
    db = ["--db", str(cli.db_path)]
    [(code, _, err)] = run_bound([*db, "import", str(patients_csv)])
    assert code == 0, err
    lock.chmod(0o000)
    [(code, _, err)] = run_bound([*db, "import", str(patients_csv)])
    import pwd

    owner = pwd.getpwuid(os.geteuid()).pw_name
    assert code == 74 and err.count("\n") == 1 and f"belongs to {owner}" in err, err
