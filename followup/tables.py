"""Tables of records as files a spreadsheet opens: an .xlsx workbook and CSV lines. Shared by the
faces (the commands' `--format xlsx|csv`, the web pages' downloads): numbers stay numbers, ISO dates
become dates, shares percentages, and no text is ever read as a formula."""

from __future__ import annotations

import datetime as dt
import json
import re

from followup.text import visible

SHARES = {"expectations_met", "conversion", "share"}  # fractions shown as percentages


def xlsx_value(value):
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    text = visible(str(value))  # (a control character is not even allowed in a workbook)
    if len(text) in (10, 16, 19) and text[4:5] == "-" and text[7:8] == "-":
        try:
            return dt.datetime.fromisoformat(text) if len(text) > 10 else dt.date.fromisoformat(text)
        except ValueError:
            pass
    return text


def workbook(sheets: list[tuple[str, list[dict], list[str]]]) -> bytes:
    """Sheets of records (title, rows, columns) as an .xlsx workbook."""
    import io

    from openpyxl import Workbook

    book = Workbook()
    book.remove(book.active)
    for title, rows, columns in sheets:
        sheet = book.create_sheet(re.sub(r"[\\/*?:\[\]]", "_", str(title))[:31] or "data")
        sheet.append(columns)
        for r in rows:
            sheet.append([xlsx_value(r.get(c)) for c in columns])
            for cell, c in zip(sheet[sheet.max_row], columns):
                if c in SHARES and isinstance(cell.value, float):
                    cell.number_format = "0.0%"
                elif isinstance(cell.value, dt.datetime):
                    cell.number_format = "yyyy-mm-dd hh:mm"
                elif isinstance(cell.value, dt.date):
                    cell.number_format = "yyyy-mm-dd"
                elif isinstance(cell.value, str) and cell.value[:1] == "=":
                    cell.data_type = "s"  # a text that looks like a formula stays text
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def excel_safe(value) -> str:
    """A CSV cell Excel shows as text: '=', '+', '-', '@', tab or CR first gets a leading quote
    ('+79161234567 stays readable as a phone), and so does every part of it after a comma or a
    semicolon, where an Excel that splits on the other one would start a cell. Shown safely
    (text.visible): a CSV is read on terminals too."""
    if value is None:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)  # a number stays a number (-45.0 is no formula)
    text = visible(str(value))
    return re.sub(r"(^|[;,])(\s*)([=+\-@\t\r])", r"\1\2'\3", text)


def csv_line(cells: list[str], delimiter: str) -> str:
    """One CSV record (RFC 4180), a cell quoted when it holds a quote, a line break, or any of the
    delimiters a spreadsheet may split on (a comma, a semicolon, a tab), whichever this file uses."""
    def cell(text: str) -> str:
        return '"' + text.replace('"', '""') + '"' if any(ch in text for ch in ',;\t"\r\n') else text
    return delimiter.join(cell(c) for c in cells) + "\r\n"


def csv_text(rows: list[dict], columns: list[str], delimiter: str = ",") -> str:
    """Records as a CSV document: a header of the field names, a line a record."""
    return csv_line(columns, delimiter) + "".join(csv_line([excel_safe(r.get(c)) for c in columns], delimiter)
                                                   for r in rows)
