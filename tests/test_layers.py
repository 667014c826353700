"""The code's shape, held by tests: the layers' import contracts (pyproject.toml, [tool.importlinter])
and the one table of exit statuses that the README documents."""

import os
import re
import subprocess
import sys
from pathlib import Path

from followup.errors import ExitStatus

ROOT = Path(__file__).resolve().parent.parent


def test_imports_point_down_the_layers():
    """cli -> web -> actions -> importing/demo -> db -> settings -> rules/reports -> records -> base; only the
    faces import Typer or Rich, only the web face Starlette; the rules, reports, records and settings never
    touch the database."""
    lint = Path(sys.executable).with_name("lint-imports.exe" if os.name == "nt" else "lint-imports")
    result = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "4 kept, 0 broken" in result.stdout


def test_the_readmes_exit_codes_are_the_enums():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    documented = {int(code) for code in re.findall(r"^\| (\d+) \|", table, re.M)}
    assert documented == {int(s) for s in ExitStatus}


def test_every_error_class_exits_with_a_documented_status():
    from followup import errors

    classes = [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, errors.FollowupError)]
    assert len(classes) >= 8
    for c in classes:
        assert isinstance(c.exit_code, ExitStatus), c
