"""What each kind of export holds, and how its headers and values are named.

Built-in aliases cover the usual English and Russian headers of clinic
systems; a TOML mapping file covers any other layout.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from followup.errors import DataError, UsageError
from followup.i18n import N_, tr
from followup.text import fold

KINDS = ("patients", "visits", "appointments", "plans")
MAX_HEADER_ROW = 30  # title rows above a report's header: the header is looked for this far down

# Our field -> header aliases (compared after normalise_header).
ALIASES: dict[str, dict[str, tuple[str, ...]]] = {
    "patients": {
        "patient_id": ("patient_id", "patient id", "id пациента", "код пациента", "номер карты",
                       "№ карты", "карта", "мед карта", "медкарта", "номер медкарты", "card", "card no"),
        "full_name": ("full_name", "full name", "name", "patient", "фио", "ф.и.о", "пациент",
                      "фио пациента"),
        "last_name": ("last_name", "last name", "surname", "фамилия"),
        "first_name": ("first_name", "first name", "имя"),
        "middle_name": ("middle_name", "middle name", "patronymic", "отчество"),
        "birth_date": ("birth_date", "birth date", "date of birth", "dob", "дата рождения",
                       "д р", "др"),
        "phone": ("phone", "mobile", "mobile phone", "телефон", "моб телефон", "мобильный телефон",
                  "мобильный", "сотовый", "тел", "телефон 1", "phone1"),
        "phone2": ("phone2", "phone 2", "other phone", "телефон 2", "доп телефон",
                   "дополнительный телефон", "домашний телефон", "раб телефон"),
        "email": ("email", "e-mail", "e mail", "mail", "эл почта", "электронная почта", "почта"),
        "household_id": ("household_id", "household", "family", "семья", "код семьи", "id семьи"),
        "status": ("status", "статус", "состояние"),
        "first_visit": ("first_visit", "first visit", "первый визит", "дата первого визита",
                        "дата первичного приема", "первичный прием"),
        "consent": ("consent", "contact consent", "согласие", "согласие на связь", "согласие на звонки",
                    "согласие на контакт", "согласие на информирование"),
        "source": ("source", "referral source", "how did you hear", "источник", "откуда узнали", "как узнали",
                   "откуда узнал", "источник обращения", "источник привлечения", "рекламный источник",
                   "канал привлечения"),
        "referrer": ("referrer", "referred by", "по рекомендации", "кто рекомендовал", "рекомендатель",
                     "рекомендовал"),
        "address": ("address", "postal address", "адрес", "почтовый адрес", "адрес проживания",
                    "адрес регистрации", "домашний адрес"),
    },
    "visits": {
        "visit_id": ("visit_id", "visit id", "id визита", "код визита", "номер визита", "№ визита",
                     "id посещения", "код посещения"),
        "patient_id": ("patient_id", "patient id", "id пациента", "код пациента", "номер карты",
                       "№ карты", "карта", "медкарта", "card"),
        "doctor": ("doctor", "dentist", "врач", "доктор", "лечащий врач", "специалист"),
        "date": ("date", "visit date", "дата", "дата визита", "дата посещения", "дата приема"),
        "kind": ("kind", "type", "visit type", "тип", "тип визита", "вид", "вид приема", "услуга",
                 "тип посещения"),
        "control_due": ("control_due", "control date", "control due", "дата контроля",
                        "контроль", "контрольный осмотр до", "дата контрольного осмотра"),
        "amount": ("amount", "sum", "paid", "total", "сумма", "стоимость", "оплачено", "сумма оплаты",
                   "сумма визита", "итого", "к оплате", "сумма руб"),
    },
    "appointments": {
        "appointment_id": ("appointment_id", "appointment id", "id записи", "код записи",
                           "номер записи", "№ записи"),
        "patient_id": ("patient_id", "patient id", "id пациента", "код пациента", "номер карты",
                       "№ карты", "карта", "медкарта", "card"),
        "doctor": ("doctor", "dentist", "врач", "доктор", "специалист"),
        "start": ("start", "appointment", "starts at", "дата и время", "время приема",
                  "дата записи", "начало", "дата время", "дата и время приема"),
        "status": ("status", "статус", "состояние записи", "состояние"),
    },
    "plans": {
        "plan_id": ("plan_id", "plan id", "plan", "id плана", "код плана", "номер плана", "№ плана",
                    "план"),
        "patient_id": ("patient_id", "patient id", "id пациента", "код пациента", "номер карты",
                       "№ карты", "карта", "медкарта", "card"),
        "doctor": ("doctor", "dentist", "врач", "доктор", "лечащий врач"),
        "stage": ("stage", "stage no", "этап", "№ этапа", "номер этапа"),
        "stage_title": ("stage_title", "stage title", "description", "название этапа",
                        "описание этапа", "описание", "содержание этапа"),
        "due_date": ("due_date", "due", "due date", "срок", "дата этапа", "плановая дата",
                     "срок выполнения"),
        "status": ("status", "статус", "состояние"),
        "signed_date": ("signed_date", "signed", "signed on", "дата подписания", "подписан",
                        "дата согласования"),
    },
}

# What each field means and what it takes: the field reference (`followup import --fields`, the README).
MEANING: dict[str, dict[str, str]] = {
    "patients": {
        "patient_id": N_("the patient's card number; the key every other file refers to"),
        "full_name": N_("surname, first name and patronymic in one cell (or the three fields below)"),
        "last_name": N_("surname"),
        "first_name": N_("first name"),
        "middle_name": N_("patronymic"),
        "birth_date": N_("date of birth (a two-digit year is never in the future)"),
        "phone": N_("phone cell: one number or several, words and extensions allowed; the first mobile "
                    "number is the one used"),
        "phone2": N_("another phone cell, read the same way"),
        "email": N_("e-mail address"),
        "household_id": N_("family code: members sharing a phone get one call"),
        "status": N_("active, archived or deceased (default active)"),
        "first_visit": N_("date of the first visit"),
        "consent": N_("consent to contact: yes, no, or the channels (звонок, смс, email, мессенджер)"),
        "source": N_("what brought the patient: recommendation, mailing, search, map, passing by, insurance, "
                     "social, advert (in Russian too); other words are kept as said"),
        "referrer": N_("who recommended the clinic (the source is then a recommendation)"),
        "address": N_("postal address, for letters (the channel post)"),
    },
    "visits": {
        "visit_id": N_("the visit's number"),
        "patient_id": N_("the patient's card number"),
        "doctor": N_("the doctor's name"),
        "date": N_("the visit's date"),
        "kind": N_("consultation, treatment, treatment_end, hygiene, control or other (unknown values count "
                   "as other)"),
        "control_due": N_("date by which a control exam is due"),
        "amount": N_("what the visit cost, in roubles (12 345,50 or 12345.5; ₽ and руб. allowed)"),
    },
    "appointments": {
        "appointment_id": N_("the appointment's number"),
        "patient_id": N_("the patient's card number"),
        "doctor": N_("the doctor's name"),
        "start": N_("date and time of the appointment (or two columns: date, time)"),
        "status": N_("booked, cancelled, no_show or done (default booked)"),
    },
    "plans": {
        "plan_id": N_("the treatment plan's number"),
        "patient_id": N_("the patient's card number"),
        "doctor": N_("the doctor's name"),
        "stage": N_("the stage's number within the plan"),
        "stage_title": N_("what the stage is"),
        "due_date": N_("date by which the stage is due"),
        "status": N_("planned, done or cancelled (default planned)"),
        "signed_date": N_("date the patient signed the plan"),
    },
}

REQUIRED: dict[str, tuple[str, ...]] = {
    "patients": ("patient_id",),
    "visits": ("visit_id", "patient_id", "date"),
    "appointments": ("appointment_id", "patient_id", "start"),
    "plans": ("plan_id", "patient_id", "stage"),
}

# Fields that identify a kind when detecting it from the headers.
SIGNATURE: dict[str, tuple[str, ...]] = {
    "patients": ("full_name", "last_name", "birth_date", "phone"),
    "visits": ("visit_id",),
    "appointments": ("appointment_id", "start"),
    "plans": ("plan_id", "stage", "due_date"),
}

# Their value (folded) -> our value, per kind and field. An empty cell takes the default.
VALUES: dict[str, dict[str, dict[str, str]]] = {
    "patients": {
        "status": {
            "active": "active", "активен": "active", "активный": "active", "действующий": "active",
            "да": "active", "archived": "archived", "archive": "archived", "архив": "archived",
            "в архиве": "archived", "неактивен": "archived", "inactive": "archived",
            "deceased": "deceased", "умер": "deceased", "умерла": "deceased", "скончался": "deceased",
        },
    },
    "visits": {
        "kind": {
            "consultation": "consultation", "консультация": "consultation", "осмотр": "consultation",
            "первичный прием": "consultation", "первичная консультация": "consultation",
            "treatment": "treatment", "лечение": "treatment", "прием": "treatment",
            "treatment_end": "treatment_end", "окончание лечения": "treatment_end",
            "завершение лечения": "treatment_end", "лечение завершено": "treatment_end",
            "hygiene": "hygiene", "гигиена": "hygiene", "профгигиена": "hygiene",
            "профессиональная гигиена": "hygiene", "чистка": "hygiene",
            "control": "control", "контроль": "control", "контрольный осмотр": "control",
            "other": "other", "прочее": "other", "другое": "other",
        },
    },
    "appointments": {
        "status": {
            "booked": "booked", "записан": "booked", "запланирован": "booked",
            "подтвержден": "booked", "ожидается": "booked",
            "cancelled": "cancelled", "canceled": "cancelled", "отменен": "cancelled",
            "отмена": "cancelled", "отменена": "cancelled",
            "no_show": "no_show", "no show": "no_show", "неявка": "no_show", "не пришел": "no_show",
            "done": "done", "выполнен": "done", "пришел": "done", "завершен": "done", "состоялся": "done",
        },
    },
    "plans": {
        "status": {
            "planned": "planned", "запланирован": "planned", "запланировано": "planned",
            "в плане": "planned", "done": "done", "выполнен": "done", "выполнено": "done",
            "cancelled": "cancelled", "canceled": "cancelled", "отменен": "cancelled",
            "отменено": "cancelled",
        },
    },
}

DEFAULTS: dict[str, dict[str, str]] = {
    "patients": {"status": "active"},
    "visits": {"kind": "other"},
    "appointments": {"status": "booked"},
    "plans": {"status": "planned"},
}

# Values outside the map: "other" for a visit's kind (counted in the summary); a row error elsewhere.
LENIENT_VALUES = {("visits", "kind"): "other"}

# A consent column: yes / no / the channels agreed ("звонок, смс"). Its values, folded.
CONSENT_YES = {"да", "yes", "y", "1", "+", "согласен", "согласна", "согласие", "true"}
CONSENT_NO = {"нет", "no", "n", "0", "-", "отказ", "не согласен", "не согласна", "false"}
CONSENT_CHANNELS = {"звонок": "call", "звонки": "call", "телефон": "call", "call": "call", "phone": "call",
                    "смс": "sms", "sms": "sms", "email": "email", "e-mail": "email", "почта": "email",
                    "эл почта": "email", "мессенджер": "messenger", "messenger": "messenger",
                    "whatsapp": "messenger", "telegram": "messenger", "вотсап": "messenger"}


def parse_consent(text: str, custom: dict[str, str] | None = None) -> tuple[bool, tuple[str, ...]] | None:
    """A consent cell -> (granted, channels), None when empty; ValueError when unreadable.

    'да' grants calls; 'нет' withdraws every channel; 'звонок, смс' grants those channels.
    """
    key = fold(text)
    if not key:
        return None
    if custom and key in custom:
        key = fold(custom[key])
    if key in CONSENT_YES:
        return True, ("call",)
    if key in CONSENT_NO:
        return False, ("call", "sms", "email", "messenger")
    channels = []
    for part in re.split(r"[,;/+]| и ", key):
        part = part.strip()
        if part not in CONSENT_CHANNELS:
            raise ValueError(tr("unknown consent value (yes, no, or channels such as 'звонок, смс')"))
        channels.append(CONSENT_CHANNELS[part])
    return True, tuple(dict.fromkeys(channels))


DATE_FIELDS = {"birth_date", "first_visit", "date", "control_due", "due_date", "signed_date"}
DATETIME_FIELDS = {"start"}

_HEADER_JUNK = re.compile(r"[\s._:;,\-/\\()\"'№#]+")


def field_reference() -> list[dict]:
    """Every field of every kind: whether it is required, its meaning (a message id), and the
    headers recognised without a mapping file."""
    return [{"kind": kind, "field": f, "required": f in REQUIRED[kind], "meaning": MEANING[kind][f],
             "headers": list(ALIASES[kind][f])} for kind in KINDS for f in ALIASES[kind]]


def normalise_header(text: str) -> str:
    """'Моб. телефон' and 'моб телефон' compare equal; so do 'Дата приёма' and 'дата приема'."""
    folded = fold(str(text or "")).lstrip("\ufeff")
    keep_no = folded.startswith("№")
    core = _HEADER_JUNK.sub(" ", folded).strip()
    return ("№ " + core) if keep_no and core else core


_ALIAS_INDEX = {
    kind: {normalise_header(alias): name for name, aliases in fields.items() for alias in aliases}
    for kind, fields in ALIASES.items()
}


@dataclass(frozen=True)
class Mapping:
    """How one file is read: its kind, encoding, delimiter and column names."""

    kind: str | None = None
    encoding: str | None = None
    delimiter: str | None = None
    date_format: str | None = None
    columns: dict[str, str | tuple[str, ...]] = field(default_factory=dict)  # our field -> their header(s)
    values: dict[str, dict[str, str]] = field(default_factory=dict)  # field -> their -> ours
    source: str | None = None
    formats: dict[str, str] = field(default_factory=dict)   # our field -> its date format
    files: str | None = None        # a file-name pattern ("zapisi*.csv"): the files this mapping is for
    sheet: str | None = None        # the workbook's sheet to read
    header_row: int | None = None   # the row (from 1) that holds the headers

    def spec(self) -> list:
        """Everything in the mapping that changes how a file is read (for the file's fingerprint)."""
        return [self.kind, self.encoding, self.delimiter, self.date_format, self.columns, self.values,
                self.formats, self.sheet, self.header_row]


def load_mapping(path: Path) -> Mapping:
    """Read a TOML mapping file; its mistakes are usage errors naming the key."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(N_("mapping file not found: {path}"), path=path) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(N_("mapping file {path} is not valid TOML: {reason}"), path=path, reason=exc) from None
    known = {"kind", "encoding", "delimiter", "date_format", "columns", "values", "formats", "files", "sheet",
             "header_row"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise UsageError(N_("mapping file {path}: unknown key {key!r}"), path=path, key=unknown[0])
    kind = data.get("kind")
    if kind is not None and kind not in KINDS:
        raise UsageError(N_("mapping file {path}: kind must be one of {allowed}"), path=path, allowed=", ".join(KINDS))
    columns = data.get("columns", {})
    values = data.get("values", {})
    formats = data.get("formats", {})

    def header_names(v) -> bool:
        return isinstance(v, str) or (isinstance(v, list) and len(v) >= 2 and all(isinstance(x, str) for x in v))
    if not isinstance(columns, dict) or not all(header_names(v) for v in columns.values()):
        raise UsageError(N_("mapping file {path}: [columns] must map our field names to header texts (or to a "
                            "list of two headers whose values are joined, such as date and time)"), path=path)
    if not isinstance(values, dict) or not all(isinstance(v, dict) for v in values.values()):
        raise UsageError(N_("mapping file {path}: [values.FIELD] tables map their values to ours"), path=path)
    if not isinstance(formats, dict) or not all(isinstance(v, str) for v in formats.values()):
        raise UsageError(N_("mapping file {path}: [formats] must map our field names to date formats"), path=path)
    date_fields = DATE_FIELDS | DATETIME_FIELDS
    for name, fmt in [("date_format", data.get("date_format")), *formats.items()]:
        if name != "date_format" and name not in date_fields:
            raise UsageError(N_("mapping file {path}: [formats] names {field!r}, which is not a date field (date "
                                "fields: {fields})"), path=path, field=name, fields=", ".join(sorted(date_fields)))
        if fmt is not None and (not isinstance(fmt, str) or "%" not in fmt):
            raise UsageError(N_("mapping file {path}: a date format is written with strftime codes, such as "
                                "\"%d.%m.%Y\""), path=path)
    if kind:
        bad = sorted(set(columns) - set(ALIASES[kind]))
        if bad:
            raise UsageError(N_("mapping file {path}: {kind} have no field {field!r} (fields: {fields})"), path=path,
                                kind=kind, field=bad[0], fields=", ".join(ALIASES[kind]))
    delimiter = data.get("delimiter")
    if delimiter is not None and (not isinstance(delimiter, str) or len(delimiter.replace("\\t", "\t")) != 1):
        raise UsageError(N_("mapping file {path}: delimiter must be one character"), path=path)
    encoding = data.get("encoding")
    if encoding is not None:
        import codecs

        try:
            codecs.lookup(encoding)
        except LookupError:
            raise UsageError(N_("mapping file {path}: unknown encoding {encoding!r}"), path=path, encoding=encoding) from None
    files, sheet, header_row = data.get("files"), data.get("sheet"), data.get("header_row")
    if files is not None and (not isinstance(files, str) or not files.strip()):
        raise UsageError(N_("mapping file {path}: files is a file-name pattern, such as \"zapisi*.csv\""), path=path)
    if sheet is not None and not isinstance(sheet, (str, int)):
        raise UsageError(N_("mapping file {path}: sheet is the name of a workbook's sheet"), path=path)
    if header_row is not None and (not isinstance(header_row, int) or isinstance(header_row, bool)
                                   or not 1 <= header_row <= MAX_HEADER_ROW):
        raise UsageError(N_("mapping file {path}: header_row is the row number of the headers, 1 to {most}"),
                         path=path, most=MAX_HEADER_ROW)
    return Mapping(
        kind=kind,
        encoding=encoding,
        delimiter=delimiter.replace("\\t", "\t") if delimiter else None,
        date_format=data.get("date_format"),
        columns={f: (tuple(v) if isinstance(v, list) else v) for f, v in columns.items()},
        values={f: {fold(str(k)): str(v) for k, v in m.items()} for f, m in values.items()},
        source=str(path),
        formats=dict(formats),
        files=files.strip() if files else None,
        sheet=str(sheet) if sheet is not None else None,
        header_row=header_row,
    )


def detect_kind(headers: list[str], mapping: Mapping | None = None) -> str | None:
    """The kind whose identifying fields the headers name best (with the fields a mapping names for
    its columns), or None."""
    best, best_score = None, 0
    for kind in KINDS:
        names = {_ALIAS_INDEX[kind].get(normalise_header(h)) for h in headers}
        if mapping and mapping.columns:
            if not set(mapping.columns) <= set(ALIASES[kind]):
                continue
            names |= set(mapping.columns)
        if not all(req in names for req in REQUIRED[kind]):
            continue
        score = sum(1 for f in SIGNATURE[kind] if f in names)
        if score > best_score:
            best, best_score = kind, score
    return best


def resolve_columns(kind: str, headers: list[str], mapping: Mapping, source: str) -> dict[str, int | tuple[int, ...]]:
    """Our field -> column index (a tuple of indexes for a field joined from several columns).
    A missing required column is a structural error."""
    norm = [normalise_header(h) for h in headers]
    index: dict[str, int | tuple[int, ...]] = {}
    for our, theirs in mapping.columns.items():
        found = []
        for name in (theirs if isinstance(theirs, tuple) else (theirs,)):
            want = normalise_header(name)
            if want not in norm:
                raise DataError(N_("{source}: the mapping names column {column!r} for {field}, but the file has no "
                                   "such column"), source=source, column=name, field=our)
            found.append(norm.index(want))
        index[our] = tuple(found) if isinstance(theirs, tuple) else found[0]
    aliases = _ALIAS_INDEX[kind]
    taken = set(used_columns(index))
    for i, h in enumerate(norm):
        name = aliases.get(h)
        if name and name not in index and i not in taken:
            index[name] = i
            taken.add(i)
    missing = [f for f in REQUIRED[kind] if f not in index]
    if "patients" == kind and "full_name" not in index and "last_name" not in index:
        missing.append(tr("full_name or last_name"))
    if missing:
        raise DataError(N_("{source}: no column for {fields} in a {kind} file (name it in a mapping file: followup "
                           "import --mapping FILE)"), source=source, fields=", ".join(missing), kind=kind)
    return index


def used_columns(index: dict[str, int | tuple[int, ...]]) -> list[int]:
    """Every column index a field reads."""
    out: list[int] = []
    for at in index.values():
        out.extend(at if isinstance(at, tuple) else (at,))
    return out


def fits(mapping: Mapping, kind: str | None, headers: list[str]) -> bool:
    """Whether a mapping's columns are all among these headers (and its kind fits them)."""
    if mapping.kind and kind and mapping.kind != kind:
        return False
    norm = {normalise_header(h) for h in headers}
    names = [n for v in mapping.columns.values() for n in (v if isinstance(v, tuple) else (v,))]
    return bool(names) and all(normalise_header(n) in norm for n in names)
