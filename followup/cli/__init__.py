"""The command line: thin Typer commands that parse options, call the API and render.

Heavy modules (sqlite-utils, rich.table, rich.progress, openpyxl, phonenumbers,
dateutil) are imported inside the commands that need them: `followup today`
is typed dozens of times a day. Each module below registers its commands on `app`.
"""

from followup.cli.core import app
# registered in this order, which is the order `followup --help` lists them in
from followup.cli import imports  # noqa: E402,F401
from followup.cli import demo  # noqa: E402,F401
from followup.cli import contacts  # noqa: E402,F401
from followup.cli import surveys  # noqa: E402,F401
from followup.cli import send  # noqa: E402,F401
from followup.cli import occasions  # noqa: E402,F401
from followup.cli import patients, database  # noqa: E402,F401
from followup.cli import web  # noqa: E402,F401

__all__ = ["app", "main"]


def main() -> None:
    app()
