"""The day's letters as one printable page a letter (HTML: any browser prints it, on any desk's PC)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

HERE = Path(__file__).parent


def letters_html(letters: list[dict], *, clinic: str, letterhead: str, day: dt.date, standalone: bool) -> str:
    """The letters with the clinic's header, each on a page of its own. ``standalone``: the style inside
    the file (a file opened from the disk); else linked (served under the pages' CSP)."""
    import jinja2

    from followup import i18n

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True)
    css = (HERE / "static" / "letters.css").read_text(encoding="utf-8") if standalone else None
    return env.get_template("letters.html").render(letters=letters, clinic=clinic, letterhead=letterhead.splitlines(),
                                                   day=i18n.day(day), css=css, tr=i18n.tr, language=i18n.language())
