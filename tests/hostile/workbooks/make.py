"""Damaged workbooks made from a LibreOffice-written one: each a way a real file gets damaged."""
import io, re, sys, zipfile
from pathlib import Path

SRC = Path(sys.argv[1]).read_bytes()
OUT = Path(sys.argv[2]); OUT.mkdir(exist_ok=True)

def parts():
    z = zipfile.ZipFile(io.BytesIO(SRC))
    return {i.filename: z.read(i.filename) for i in z.infolist()}

def rezip(ps, compression=zipfile.ZIP_DEFLATED):
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", compression) as z:
        for k, v in ps.items():
            z.writestr(k, v)
    return b.getvalue()

def sheet_name(ps):
    return next(k for k in ps if k.startswith("xl/worksheets/sheet"))

cases = {}
for frac in (0.1, 0.3, 0.5, 0.7, 0.9, 0.99):
    cases[f"truncated_{int(frac*100)}.xlsx"] = SRC[:int(len(SRC) * frac)]
cases["zero_bytes_tail.xlsx"] = SRC[:-22] + b"\0" * 22
cases["flipped_bytes.xlsx"] = bytes(b ^ 0xFF if 200 < i < 260 else b for i, b in enumerate(SRC))
ps = parts(); s = sheet_name(ps)
for name, change in {
    "sheet_truncated_xml.xlsx": lambda p: p.update({s: p[s][: len(p[s]) // 2]}),
    "sheet_not_xml.xlsx": lambda p: p.update({s: b"\x00\x01garbage"}),
    "sheet_missing.xlsx": lambda p: p.pop(s),
    "workbook_missing.xlsx": lambda p: p.pop("xl/workbook.xml"),
    "workbook_truncated.xlsx": lambda p: p.update({"xl/workbook.xml": p["xl/workbook.xml"][:60]}),
    "content_types_missing.xlsx": lambda p: p.pop("[Content_Types].xml"),
    "content_types_broken.xlsx": lambda p: p.update({"[Content_Types].xml": b"<Types"}),
    "rels_missing.xlsx": lambda p: p.pop("xl/_rels/workbook.xml.rels"),
    "rels_broken.xlsx": lambda p: p.update({"xl/_rels/workbook.xml.rels": b"<Relationships><Rel"}),
    "root_rels_missing.xlsx": lambda p: p.pop("_rels/.rels"),
    "styles_missing.xlsx": lambda p: p.pop("xl/styles.xml", None),
    "styles_broken.xlsx": lambda p: p.update({"xl/styles.xml": b"<styleSheet><numFmts count='1'><numFmt/>"}),
    "shared_strings_missing.xlsx": lambda p: p.pop("xl/sharedStrings.xml", None),
    "shared_strings_broken.xlsx": lambda p: p.update({"xl/sharedStrings.xml": b"<sst><si><t>abc"}),
    "shared_string_index_out_of_range.xlsx": lambda p: p.update({s: re.sub(rb'(t="s"[^>]*><v>)\d+', rb"\g<1>99999", p[s])}),
    "cell_ref_garbage.xlsx": lambda p: p.update({s: re.sub(rb'r="([A-Z]+)(\d+)"', rb'r="!!\2"', p[s], count=3)}),
    "dimension_huge.xlsx": lambda p: p.update({s: re.sub(rb'<dimension ref="[^"]*"', b'<dimension ref="A1:XFD1048576"', p[s])}),
    "number_cell_text.xlsx": lambda p: p.update({s: re.sub(rb'(<c [^>]*t="n"[^>]*><v>)[^<]*', rb"\g<1>abc", p[s])}),
    "date_style_huge_number.xlsx": lambda p: p.update({s: re.sub(rb"<v>(\d{5})(\.\d+)?</v>", b"<v>99999999999</v>", p[s], count=2)}),
    "entity_expansion.xlsx": lambda p: p.update({"xl/sharedStrings.xml": b'<?xml version="1.0"?><!DOCTYPE s [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><si><t>&c;</t></si></sst>'}),
    "external_entity.xlsx": lambda p: p.update({"xl/sharedStrings.xml": b'<?xml version="1.0"?><!DOCTYPE s [<!ENTITY x SYSTEM "file:///etc/passwd">]><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><si><t>&x;</t></si></sst>'}),
    "wrong_namespace.xlsx": lambda p: p.update({s: p[s].replace(b"http://schemas.openxmlformats.org/spreadsheetml/2006/main", b"urn:nothing")}),
    "vba_macro_part.xlsx": lambda p: p.update({"xl/vbaProject.bin": b"\xd0\xcf\x11\xe0" + b"\0" * 500}),
    "chart_part_broken.xlsx": lambda p: p.update({"xl/charts/chart1.xml": b"<c:chartSpace"}),
}.items():
    p = dict(ps); change(p); cases[name] = rezip(p)
cases["stored_not_deflated.xlsx"] = rezip(ps, zipfile.ZIP_STORED)
cases["encrypted_ole.xlsx"] = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 4000
cases["xls_biff.xlsx"] = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x09\x08" + b"\0" * 2000
cases["html_as_xlsx.xlsx"] = "<html><table><tr><td>Номер карты</td></tr></table></html>".encode()
cases["csv_as_xlsx.xlsx"] = "Номер карты;ФИО\r\n1;Иванов\r\n".encode("cp1251")
cases["zip_of_nothing.xlsx"] = rezip({"readme.txt": b"hi"})
cases["zip_crc_error.xlsx"] = bytearray(rezip(ps, zipfile.ZIP_STORED))
i = bytes(cases["zip_crc_error.xlsx"]).find(b"<sheetData") ; cases["zip_crc_error.xlsx"][i+3] ^= 0x20; cases["zip_crc_error.xlsx"] = bytes(cases["zip_crc_error.xlsx"])
cases["empty_zip.xlsx"] = rezip({})
cases["zip_bomb_like.xlsx"] = rezip({**ps, "xl/worksheets/sheet9.xml": b"<a>" + b" " * 50_000_000 + b"</a>"})
for name, data in cases.items():
    (OUT / name).write_bytes(data)
print(len(cases))
