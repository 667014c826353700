"""Files followup writes are created safely: a temporary file renamed over the target, never through
a planted link, an existing file replaced only with --force, leftovers of killed runs removed, never
onto the database's own files; patient data readable by its owner only. Out-of-range values in
options are one line, never an internal error."""

import os
import subprocess
import sys

import pytest


@pytest.fixture
def clinic(cli, patients_csv):
    assert cli("import", patients_csv).exit_code == 0
    return cli


def test_an_export_never_follows_a_planted_link_nor_overwrites_without_force(clinic, tmp_path):
    victim = tmp_path / "someone-elses.txt"
    victim.write_text("precious")
    out = tmp_path / "export.json"
    out.symlink_to(victim)
    r = clinic("patient", "export", "000101", "--out", out)
    assert r.exit_code == 2 and "exists; add --force to replace it" in r.stderr
    r = clinic("patient", "export", "000101", "--out", out, "--force")
    assert r.exit_code == 0, r.output
    assert victim.read_text() == "precious"  # the link was replaced, its target never written
    assert not out.is_symlink() and '"patient_id": "000101"' in out.read_text(encoding="utf-8")
    assert out.stat().st_mode & 0o777 == 0o600
    r = clinic("patient", "export", "000101", "--out", tmp_path / "nope" / "x.json")
    assert r.exit_code == 2 and r.stderr.strip().endswith("nope: no such directory")
    assert [p.name for p in tmp_path.iterdir() if ".tmp-" in p.name] == []


def test_a_backup_is_never_written_onto_the_database_and_cleans_up_after_a_killed_one(clinic, tmp_path):
    db_file = clinic.db_path
    for companion in ("", "-wal", "-shm", ".lock"):
        r = clinic("backup", f"{db_file}{companion}", "--force")
        assert r.exit_code == 2 and "is the database or one of its own files" in r.stderr, companion
    dest = tmp_path / "b.db"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    leftover = tmp_path / f".b.db.tmp-{dead.stdout.strip()}-0000"  # a backup killed halfway, its process gone
    leftover.write_bytes(b"half a copy")
    assert clinic("backup", dest).exit_code == 0
    assert not leftover.exists() and dest.stat().st_mode & 0o777 == 0o600
    r = clinic("backup", dest)
    assert r.exit_code == 2 and "add --force" in r.stderr
    assert clinic("backup", dest, "--force").exit_code == 0
    assert clinic("check").exit_code == 0


def test_the_demo_files_are_private_whatever_the_umask(cli, tmp_path):
    old = os.umask(0o022)
    try:
        assert cli("demo", "--dir", tmp_path / "demo", "--patients", "20").exit_code == 0
    finally:
        os.umask(old)
    found = [tmp_path / "demo", *(tmp_path / "demo").rglob("*")]
    assert {p.name: oct(p.stat().st_mode & 0o777) for p in found if p.is_dir()} == {"demo": "0o700",
                                                                                    "exports": "0o700"}
    assert {oct(p.stat().st_mode & 0o777) for p in found if p.is_file()} == {"0o600"}


@pytest.mark.parametrize("args", [
    ["today", "--date", "9999-12-31"], ["today", "--date", "0001-01-01"], ["why", "000101", "--date", "31.12.9999"],
    ["flagged", "--date", "0001-01-01"], ["done", "000101", "--outcome", "reached", "--date", "0001-01-01"],
    ["themes", "unassign", "1" * 40, "x"], ["complaint", "informed", "9" * 40], ["report", "--year", "99999"],
    ["patient", "find", "a", "--limit", "0"],
])
def test_out_of_range_values_in_options_are_one_line(clinic, args):
    r = clinic(*args)
    assert r.exit_code == 2, (args, r.output)
    assert len(r.stderr.strip().splitlines()) == 1 and "internal error" not in r.stderr
