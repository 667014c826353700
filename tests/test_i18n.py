"""The Russian interface: every string the code shows is in the catalogue, every catalogue entry
is used and translated, plural forms and dates are right, and a whole session is in Russian."""

import ast
import datetime as dt
import re
from pathlib import Path

import pytest

import followup
from followup import i18n

PO = Path(i18n.LOCALE_DIR) / "ru" / "LC_MESSAGES" / "followup.po"


def _catalogue():
    from babel.messages.pofile import read_po

    with open(PO, "rb") as fh:
        return read_po(fh)


def _messages() -> dict:
    """msgid (or (singular, plural), or (context, msgid)) -> its Russian text (or forms)."""
    out = {}
    for m in _catalogue():
        if not m.id:
            continue  # the header
        key = m.id if isinstance(m.id, tuple) else (m.context, m.id) if m.context else m.id
        out[key] = m.string
    return out

SOURCE = Path(followup.__file__).parent
# calls whose text argument a user reads: it must come from the catalogue (tr / ntr), not a literal
SHOWN = {"echo", "print", "ask", "confirm", "UsageError", "NotFound", "DataError", "DatabaseError", "Busy", "FollowupError",
         "RowsRejected", "BadValue", "Exit", "Finding", "Reason"}
WORDS = re.compile(r"[A-Za-z]{2,}")
ALLOWED = {"followup "}  # the product's name


def _name(func) -> str | None:
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None


def _literal_text(node) -> str | None:
    """The words of a literal (or f-string) argument, if it has any."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value if WORDS.search(node.value) and node.value not in ALLOWED else None
    if isinstance(node, ast.JoinedStr):
        text = "".join(v.value for v in node.values if isinstance(v, ast.Constant))
        return text if WORDS.search(text) else None
    if isinstance(node, ast.BinOp):
        return _literal_text(node.left) or _literal_text(node.right)
    return None


def scan():
    """(msgids the code shows, literals shown without the catalogue)"""
    msgids, raw = set(), []
    for path in sorted(SOURCE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                name = _name(node.func)
                args = [a.value for a in node.args[:2] if isinstance(a, ast.Constant) and isinstance(a.value, str)]
                if name in ("tr", "N_", "msg") and args:
                    msgids.add(args[0])
                elif name in ("trc", "NC_") and len(args) == 2:
                    msgids.add(tuple(args))  # (context, msgid)
                elif name == "trg" and args:  # a sentence about a person: neutral, female, male
                    msgids.update([args[0], ("female", args[0]), ("male", args[0])])
                elif name in ("ntr", "nmsg") and len(args) == 2:
                    msgids.add(tuple(args))
                for kw in node.keywords:
                    if kw.arg == "help" and isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, str):
                        msgids.add(kw.value.value)
                    if kw.arg in ("title", "help", "text") and _literal_text(kw.value) and not (
                            isinstance(kw.value, ast.Constant) and kw.arg == "help"):
                        raw.append(f"{path.name}:{node.lineno} {kw.arg}={_literal_text(kw.value)!r}")
                if name in SHOWN:
                    shown = node.args[2:3] if name in ("Finding", "Reason") else node.args[:1]
                    for a in shown:
                        text = _literal_text(a)
                        if text:
                            raw.append(f"{path.name}:{node.lineno} {name}({text!r})")
            if isinstance(node, ast.FunctionDef) and any(
                    isinstance(d, ast.Call) and _name(d.func) in ("command", "callback") for d in node.decorator_list):
                doc = ast.get_docstring(node)
                if doc:
                    msgids.add(doc)
    for path in sorted((SOURCE / "web" / "templates").glob("*.html")):  # the web pages' texts
        text = path.read_text(encoding="utf-8")
        msgids.update(m.group(2) for m in TEMPLATE_TR.finditer(text))
        msgids.update((m.group(2), m.group(4)) for m in TEMPLATE_TRC.finditer(text))
        bare = WORDS.findall(re.sub(r"<[^>]*>|&[#\w]+;", " ", re.sub(r"{{.*?}}|{%.*?%}|{#.*?#}", " ", text, flags=re.S)))
        raw.extend(f"{path.name}: {word!r}" for word in bare if word not in ("followup", "NPS"))
    return msgids, raw


# tr("…") and trc("…", "…") in the web pages' templates (Jinja2)
TEMPLATE_TR = re.compile(r"""\btr\(\s*(["'])(.*?)\1""")
TEMPLATE_TRC = re.compile(r"""\btrc\(\s*(["'])(.*?)\1\s*,\s*(["'])(.*?)\3""")


def test_every_string_shown_is_in_the_catalogue():
    msgids, raw = scan()
    assert not raw, "shown without the catalogue (wrap in tr/ntr):\n" + "\n".join(raw)
    messages = _messages()
    missing = sorted(map(str, (m for m in msgids if m not in messages)))
    assert not missing, f"not in {PO.name}:\n" + "\n".join(missing)


def test_the_catalogue_is_complete_and_used():
    msgids, _ = scan()
    messages = _messages()
    plurals = {k for k in messages if isinstance(k, tuple) and isinstance(messages[k], tuple)}
    unused = sorted(map(str, (k for k in messages if k not in msgids)))
    assert not unused, "in the catalogue but not in the code:\n" + "\n".join(unused)
    for key, value in messages.items():
        if key in plurals:
            assert len(value) == 3 and all(value), key  # 1 / 2-4 / 5+
        else:
            assert isinstance(value, str) and value.strip(), key
            msgid = key[1] if isinstance(key, tuple) else key
            fields = set(re.findall(r"(?<!\{)\{(\w*)", msgid))
            assert fields == set(re.findall(r"(?<!\{)\{(\w*)", value)), (key, value)  # the same {fields}
    assert not any(m.fuzzy for m in _catalogue() if m.id), "fuzzy entries are not used by gettext"


def test_the_compiled_catalogue_is_the_po_compiled():
    """The .mo that runs is the .po compiled (pybabel compile -d followup/locale -D followup)."""
    import io

    from babel.messages.mofile import write_mo

    compiled = io.BytesIO()
    write_mo(compiled, _catalogue())
    assert compiled.getvalue() == PO.with_suffix(".mo").read_bytes(), "run: pybabel compile -d followup/locale -D followup"


def test_the_plural_rule_is_the_catalogues():
    header = _catalogue().plural_forms
    assert header.startswith("nplurals=3;")


@pytest.mark.parametrize("n, form", [(1, "пациент"), (2, "пациента"), (4, "пациента"), (5, "пациентов"),
                                     (11, "пациентов"), (12, "пациентов"), (14, "пациентов"), (21, "пациент"),
                                     (22, "пациента"), (25, "пациентов"), (101, "пациент"), (111, "пациентов"),
                                     (0, "пациентов")])
def test_russian_plural_forms(n, form):
    try:
        i18n.set_language("ru")
        assert i18n.ntr("{n} patient", "{n} patients", n) == f"{n} {form}"
    finally:
        i18n.set_language("en")


def test_dates_and_language_choice(monkeypatch):
    try:
        i18n.set_language("ru")
        assert i18n.day(dt.date(2026, 12, 3)) == "03.12.2026"
        i18n.set_language("en")
        assert i18n.day(dt.date(2026, 12, 3)) == "2026-12-03"
    finally:
        i18n.set_language("en")
    env = {"LANG": "ru_RU.UTF-8"}
    assert i18n.choose(None, None, env) == "ru"
    assert i18n.choose(None, "en", env) == "en"  # the clinic's setting before the locale
    assert i18n.choose(None, "en", dict(env, FOLLOWUP_LANG="ru")) == "ru"
    assert i18n.choose("en", "ru", dict(env, FOLLOWUP_LANG="ru")) == "en"  # --lang first
    assert i18n.choose(None, None, {"LANG": "de_DE.UTF-8"}) == "en"
    assert i18n.choose(None, None, {}) == "en"


# Latin words a Russian screen may show: file names and formats, codes a script types, channel names
LATIN_OK = {"patients", "visits", "appointments", "plans", "csv", "xlsx", "cp1251", "SMS", "NPS", "demo", "db",
            "exports", "followup", "json", "md", "table", "mon", "fri", "sat", "sun",
            "report", "clinic", "complaint", "informed", "today", "done", "log", "check", "import", "format",  # commands
            "admin", "petrova", "ivanova", "test"}  # staff logins (the demo's, and the tests' test-admin)


def _english_words(text: str, tmp_path) -> list[str]:
    text = text.replace(str(tmp_path), "")
    words = []
    for line in text.splitlines():
        if line.strip().startswith("followup "):  # a command to type
            continue
        line = re.sub(r"\bfollowup [a-z-]+", "", line)  # a command named in a sentence ("(followup flagged)")
        for w in re.findall(r"(?<![-\w])[A-Za-z][A-Za-z_]{2,}", line):
            if w not in LATIN_OK and not re.fullmatch(r"[a-f0-9]+", w):
                words.append(w)
    return words


class _Recording:
    """The Russian catalogue, noting every text looked up that it lacks (a word passed to tr() at run time)."""

    def __init__(self, translations):
        self.t, self.missed = translations, set()

    def _seen(self, key):
        if key not in self.t._catalog:
            self.missed.add(key)

    def gettext(self, msgid):
        self._seen(msgid)
        return self.t.gettext(msgid)

    def pgettext(self, context, msgid):
        self._seen(f"{context}\x04{msgid}")
        return self.t.pgettext(context, msgid)

    def ngettext(self, singular, plural, n):
        self._seen((singular, 0))
        return self.t.ngettext(singular, plural, n)


def test_a_whole_session_in_russian(cli, tmp_path, monkeypatch):
    recording = _Recording(i18n.catalogue("ru"))
    monkeypatch.setitem(i18n._translations, "ru", recording)
    demo = cli("--lang", "ru", "demo", "--dir", tmp_path / "demo")
    assert demo.exit_code == 0, demo.output
    assert "Демо-клиника: 2000 пациентов" in demo.output and "Список на сегодня:" in demo.output
    assert not _english_words(demo.output, tmp_path)
    path = tmp_path / "demo" / "demo.db"
    listed = cli.json("--db", path, "today")  # the demo keeps the clinic's language: no --lang needed below
    someone = listed[0]["patient_id"]
    for args in (["today"], ["why", someone], ["report"], ["report", "clinic"], ["log", someone],
                 ["consent", "show", someone], ["complaint", "list"], ["import", "--history"], ["flagged"],
                 ["patient", "show", someone], ["patient", "find", "Иванов"], ["db", "info"], ["themes"],
                 ["report", "--doctor", "Смирнова"], ["next", someone, "--on", "2099-12-01", "--reason", "снимок", "--consent"],
                 ["complaint", "add", someone, "--text", "Долго ждал"], ["complaint", "list"]):
        out = cli("--db", path, *args)
        assert out.exit_code == 0, (args, out.output)
        assert not _english_words(out.output, tmp_path), (args, _english_words(out.output, tmp_path)[:10])
    assert "23.11.2026" in cli("--db", path, "today", "--date", "2026-11-23").output  # dd.mm.yyyy
    assert not re.search(r"\d{4}-\d{2}-\d{2}", cli("--db", path, "patient", "show", someone).output)  # tables too
    wrong = cli("--db", path, "done", "zzzzzz", "--outcome", "maybe")
    assert wrong.exit_code == 2 and wrong.stderr.startswith("Ошибка: неизвестный исход 'maybe'")
    help_page = cli("--db", path, "today", "--help").output
    assert "Параметры" in help_page and "Показать эту справку и выйти." in help_page
    # the contracts stay: field names and codes as in English
    assert set(listed[0]) == {"entry_id", "patient_id", "patient", "phone", "channel", "section", "window", "reasons",
                              "warnings", "household", "message"}
    assert {r["code"] for e in listed for r in e["reasons"]} <= {
        "appointment_reminder", "plan_stage_missed", "control_overdue", "survey_call", "hygiene_recall",
        "agreed_contact", "thanks", "birthday", "holiday", "campaign", "discount_step"}
    assert {e["section"] for e in listed} <= {"care", "occasions", "marketing"}
    assert {e["channel"] for e in listed} <= {"call", "sms", "email", "messenger"}
    sms = next(e for e in listed if e["channel"] == "sms")
    assert sms["message"].startswith("Здравствуйте, ")
    csv_out = cli("--db", path, "today", "--format", "csv").stdout
    assert csv_out.splitlines()[0] == "\ufeffentry,window,patient,phone,channel,reasons,doctor,warnings,message"
    assert ",call," in csv_out or ",sms," in csv_out
    english = cli("--db", path, "--lang", "en", "why", someone).output  # --lang wins over the setting
    assert "rule" in english and "правило" not in english
    assert not recording.missed  # no word shown at run time is missing from the catalogue


def test_the_language_comes_from_flag_env_setting_locale(cli, patients_csv, monkeypatch):
    assert cli("import", patients_csv).exit_code == 0
    missing = ["patient", "show", "nobody"]

    def says(*args):
        return cli(*args, *missing).stderr

    assert says().startswith("Error: no patient")
    monkeypatch.setenv("LANG", "ru_RU.UTF-8")
    assert says().startswith("Ошибка: нет пациента")  # the locale
    assert cli("config", "set", "language", "en").exit_code == 0
    assert says().startswith("Error: no patient")  # the clinic's setting beats the locale
    monkeypatch.setenv("FOLLOWUP_LANG", "ru")
    assert says().startswith("Ошибка: нет пациента")  # the environment beats the setting
    assert says("--lang", "en").startswith("Error: no patient")  # --lang beats everything
    assert cli("--lang", "de", "today").exit_code == 2
    assert cli("config", "set", "language", "de").exit_code == 2


@pytest.mark.parametrize("group", ["db", "patient", "config", "complaint"])
def test_a_command_group_alone_prints_its_help_once_in_the_language(cli, group, monkeypatch):
    for lang, usage, options in (("ru", "Использование:", "Параметры"), ("en", "Usage:", "Options"),
                                 ("ru", "Использование:", "Параметры")):
        out = cli("--lang", lang, group)
        assert out.exit_code == 2 and out.output.count(usage) == 1 and options in out.output, out.output
    monkeypatch.setenv("FOLLOWUP_LANG", "ru")
    top = cli()
    assert top.exit_code == 2 and top.output.count("Использование:") == 1 and "Команды" in top.output
    assert cli("--lang", "ru").stderr.startswith("Ошибка: Не указана команда.")


@pytest.mark.parametrize("args, start", [
    (["--lang", "ru", "today", "--colour"], "Ошибка: Нет такого параметра: --colour"),
    (["--lang", "ru", "todya"], "Ошибка: Нет такой команды 'todya'."),
    (["--lang", "ru", "done", "abcdef"], "Ошибка: Не указан параметр '--outcome'."),
    (["--lang", "ru", "why"], "Ошибка: Не указан аргумент 'patient'."),
])
def test_click_usage_errors_in_russian(cli, args, start):
    out = cli(*args)
    assert out.exit_code == 2 and out.stderr.startswith(start), out.stderr
