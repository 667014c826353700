"""How the committed workbooks in this directory were made: LibreOffice (Debian's
libreoffice-calc, Russian locale) saves each as a clinic's sysadmin would. Run by hand
(`python tests/exports/make.py`), never by the tests: the tests read the committed files.

- lo_patients.xlsx: a patients CSV opened in LibreOffice and saved as .xlsx; card numbers
  000123 become the numbers 123, dates become date cells, "01.01.27" becomes 2027.
- lo_visits.xlsx, lo_appointments.xlsx: the same for visits and appointments (date-time cells).
- lo_zero_format.xlsx: card numbers stored as numbers in cells formatted 000000.
- lo_report.xlsx: a 1C-style report: a summary sheet first, then "Пациенты" with title rows
  above its header.
- lo_unicode.txt: "Unicode text" (UTF-16 with a byte-order mark, tab-separated).
- strict.xlsx: lo_patients.xlsx with its workbook part in the Strict Open XML namespaces (no
  Excel here to save one; the namespaces are what Excel's "Strict Open XML" writes).
- malformed.xlsx: lo_patients.xlsx with its sheet's XML cut short.
"""

import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path

HERE = Path(__file__).parent
RU_CSV = "CSV:59,34,76,1,,1049"   # ';', '"', UTF-8, from line 1, Russian locale

PATIENTS = """Номер карты;ФИО;Телефон;Дата рождения;E-mail
000123;Иванова Анна Петровна;8 (916) 123-45-03, 8 (495) 765-43-21;01.02.1980;
000124;Петров Пётр Ильич;+7 916 123-45-09 моб.;01.01.27;
000125;Сидорова Мария Ивановна;8 916 123-45-10 (жена);15.03.1990;
000126;Козлов Дмитрий Сергеевич;+7 (495) 123-45-67, доб. 123;12.12.1975;
000127;Волкова Елена Андреевна;не указан;05.05.1985;
000128;Орлов Иван Петрович;-;06.06.1966;
000129;Смирнова Ольга Викторовна;79161234567;07.07.1977;
000130;Морозов Олег Павлович;8-800-555-35-35;08.08.1988;
"""

VISITS = """ID визита;Номер карты;Врач;Дата визита;Тип визита;Дата контроля
V1;000123;Козлов Д.С.;16.06.2026;лечение;
V2;000123;Козлов Д.С.;20.06.2026;окончание лечения;20.12.2026
V3;000124;Смирнова А.А.;01.12.2025;гигиена;01.01.0001
V4;000125;Смирнова А.А.;02.02.2026;консультация;
"""

APPOINTMENTS = """ID записи;Номер карты;Врач;Дата и время;Статус
A1;000123;Козлов Д.С.;04.12.2026 10:30;записан
A2;000124;Смирнова А.А.;04.12.2026 9:05;записан
A3;000125;Смирнова А.А.;05.12.2026 16:00:00;записан
"""


def soffice(args, cwd):
    subprocess.run(["soffice", "--headless", *args], cwd=cwd, check=True, capture_output=True)


def from_csv(text: str, name: str, tmp: Path) -> Path:
    src = tmp / (Path(name).stem + ".csv")
    src.write_text(text, encoding="utf-8")
    soffice([f"--infilter={RU_CSV}", "--convert-to", "xlsx", src.name], tmp)
    shutil.copy(tmp / (Path(name).stem + ".xlsx"), HERE / name)
    return HERE / name


def through_libreoffice(build, name: str, tmp: Path) -> None:
    """A workbook made with openpyxl, opened and saved again by LibreOffice."""
    src = tmp / "src" / name
    src.parent.mkdir(exist_ok=True)
    build(src)
    soffice(["--convert-to", "xlsx", "--outdir", str(tmp / "out"), str(src)], tmp)
    shutil.copy(tmp / "out" / name, HERE / name)


def zero_format(path: Path) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["Номер карты", "ФИО", "Телефон"])
    for n, name in ((125, "Сидорова Мария Ивановна"), (126, "Козлов Дмитрий Сергеевич")):
        ws.append([n, name, "+79161234510"])
        ws.cell(ws.max_row, 1).number_format = "000000"
    wb.save(path)


def report(path: Path) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    summary = wb.active
    summary.title = "Сводка"
    summary.append(["Отчёт сформирован 01.12.2026"])
    summary.append(["Всего пациентов", 3])
    ws = wb.create_sheet("Пациенты")
    ws.append(["Список пациентов"])
    ws.append(["Период: 01.11.2026 - 30.11.2026"])
    ws.append([])
    ws.append(["№ карты", "Пациент", "Мобильный телефон", "Дата рождения"])
    ws.append(["000201", "Лебедев Артём Олегович", "+7 916 200-00-01", "03.03.1983"])
    ws.append(["000202", "Лебедева Ирина Юрьевна", "+7 916 200-00-02", "04.04.1984"])
    ws.append(["000203", "Егоров Никита Андреевич", "8 916 200 00 03", "05.05.2005"])
    ws.append([])
    ws.append(["Итого: 3"])
    wb.save(path)


def rewritten(name: str, change) -> None:
    """lo_patients.xlsx copied to ``name`` with each part's bytes passed through ``change(part, data)``."""
    with zipfile.ZipFile(HERE / "lo_patients.xlsx") as zin, zipfile.ZipFile(HERE / name, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            zout.writestr(item, change(item.filename, zin.read(item)))


def strict(part: str, data: bytes) -> bytes:
    if not part.endswith((".xml", ".rels")):
        return data
    return (data.replace(b"http://schemas.openxmlformats.org/spreadsheetml/2006/main",
                         b"http://purl.oclc.org/ooxml/spreadsheetml/main")
            .replace(b"http://schemas.openxmlformats.org/officeDocument/2006/relationships",
                     b"http://purl.oclc.org/ooxml/officeDocument/relationships"))


def malformed(part: str, data: bytes) -> bytes:
    return data[: len(data) * 2 // 3] if part == "xl/worksheets/sheet1.xml" else data


def unicode_text(tmp: Path) -> None:
    src = tmp / "lo_unicode.csv"
    src.write_text(PATIENTS, encoding="utf-8")
    soffice([f"--infilter={RU_CSV}", "--convert-to", "xlsx", src.name], tmp)
    # "Unicode text": tab-separated, UTF-16 (LibreOffice's character set 65535)
    soffice(["--convert-to", "txt:Text - txt - csv (StarCalc):9,34,65535,1", "--outdir", str(tmp / "u"),
             "lo_unicode.xlsx"], tmp)
    shutil.copy(tmp / "u" / "lo_unicode.txt", HERE / "lo_unicode.txt")


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        from_csv(PATIENTS, "lo_patients.xlsx", tmp)
        from_csv(VISITS, "lo_visits.xlsx", tmp)
        from_csv(APPOINTMENTS, "lo_appointments.xlsx", tmp)
        through_libreoffice(zero_format, "lo_zero_format.xlsx", tmp)
        through_libreoffice(report, "lo_report.xlsx", tmp)
        unicode_text(tmp)
        rewritten("strict.xlsx", strict)
        rewritten("malformed.xlsx", malformed)


if __name__ == "__main__":
    main()
