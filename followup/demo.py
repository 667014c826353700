"""A realistic, deterministic demo clinic, written as a practice-management system writes its exports.

Files are Windows-1251 CSV with ';', Russian headers and dd.mm.yyyy dates, phones in
the usual messy forms; they are then imported through the real importer. The
benchmark uses the same generator at 50,000 patients.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import random
from dataclasses import dataclass
from pathlib import Path

from followup.i18n import N_, tr

DOCTORS = (
    "Смирнова Анна Петровна",      # therapist, long with the clinic
    "Козлов Дмитрий Игоревич",     # orthopaedist
    "Новикова Елена Сергеевна",    # hygienist
    "Морозов Артём Викторович",    # surgeon, new to the clinic
)
HYGIENIST = DOCTORS[2]

MALE_LAST = ("Иванов", "Петров", "Сидоров", "Кузнецов", "Попов", "Васильев", "Соколов", "Михайлов",
             "Новиков", "Фёдоров", "Морозов", "Волков", "Алексеев", "Лебедев", "Семёнов", "Егоров",
             "Павлов", "Козлов", "Степанов", "Николаев", "Орлов", "Андреев", "Макаров", "Никитин")
MALE_FIRST = ("Александр", "Сергей", "Дмитрий", "Андрей", "Алексей", "Максим", "Иван", "Евгений",
              "Михаил", "Артём", "Николай", "Владимир", "Павел", "Олег", "Игорь", "Юрий")
FEMALE_FIRST = ("Елена", "Ольга", "Наталья", "Татьяна", "Ирина", "Анна", "Мария", "Светлана",
                "Екатерина", "Юлия", "Людмила", "Галина", "Анастасия", "Марина", "Дарья", "Ксения")
PATRONYMIC_ROOTS = ("Александров", "Сергеев", "Дмитриев", "Андреев", "Алексеев", "Иванов",
                    "Михайлов", "Николаев", "Владимиров", "Павлов", "Олегов", "Игорев", "Юрьев", "Петров")
STAGE_TITLES = ("Лечение кариеса 36", "Эндодонтия 46", "Удаление 18", "Имплантация 36",
                "Установка формирователя", "Коронка на имплант 36", "Профгигиена перед протезированием",
                "Снятие слепков", "Примерка каркаса", "Фиксация мостовидного протеза")

PATIENT_HEADERS = ("Номер карты", "Фамилия", "Имя", "Отчество", "Дата рождения", "Моб. телефон",
                   "Телефон 2", "E-mail", "Код семьи", "Статус", "Дата первого визита", "Откуда узнали")
VISIT_HEADERS = ("Номер визита", "Номер карты", "Врач", "Дата визита", "Вид приёма", "Дата контроля", "Сумма")
# what brought the demo's patients, as a registrar types it (weights), and what a visit of each kind costs
SOURCES_SAID = (("По рекомендации", 30), ("По рекомендации Ивановой", 6), ("Яндекс", 12), ("2ГИС", 8),
                ("Проходил мимо", 10), ("Наша рассылка", 4), ("ДМС", 6), ("Вывеска", 3), ("", 21))
PRICES = {"consultation": (1_000, 2_500), "treatment": (4_000, 30_000), "treatment_end": (6_000, 45_000),
          "hygiene": (4_500, 6_500), "control": (0, 1_500), "other": (1_000, 5_000)}
APPOINTMENT_HEADERS = ("Номер записи", "Номер карты", "Врач", "Дата и время", "Статус")
PLAN_HEADERS = ("Номер плана", "Номер карты", "Врач", "Этап", "Название этапа", "Срок", "Статус",
                "Дата подписания")
KIND_LABELS = {"consultation": "Консультация", "treatment": "Лечение", "treatment_end": "Окончание лечения",
               "hygiene": "Профгигиена", "control": "Контрольный осмотр", "other": "Прочее"}
APPT_LABELS = {"booked": "Записан", "done": "Пришёл", "no_show": "Неявка", "cancelled": "Отменён"}
PLAN_LABELS = {"planned": "Запланирован", "done": "Выполнен", "cancelled": "Отменён"}


@dataclass(frozen=True)
class DemoFiles:
    patients: Path
    visits: Path
    appointments: Path
    plans: Path
    counts: dict


def _d(day: dt.date) -> str:
    return day.strftime("%d.%m.%Y")


def _phone(rng: random.Random) -> str:
    op = rng.choice(("916", "903", "926", "915", "985", "909", "965", "977", "999", "925"))
    a, b, c = rng.randrange(1000), rng.randrange(100), rng.randrange(100)
    style = rng.random()
    if style < 0.45:
        return f"8 ({op}) {a:03d}-{b:02d}-{c:02d}"
    if style < 0.7:
        return f"+7 {op} {a:03d} {b:02d} {c:02d}"
    if style < 0.85:
        return f"8{op}{a:03d}{b:02d}{c:02d}"
    if style < 0.93:
        return f"+7({op}){a:03d}{b:02d}{c:02d}"
    if style < 0.96:
        return f"8 (495) {a:03d}-{b:02d}-{c:02d}"
    if style < 0.985:
        return f"{a:03d}-{b:02d}"          # incomplete: kept, flagged, never dialled
    return ""


def private_dir(path: Path) -> Path:
    """A directory (and the missing ones above it) that only its owner can enter."""
    for d in reversed([path, *path.parents]):
        if not d.exists():
            d.mkdir(mode=0o700)
            d.chmod(0o700)  # whatever the umask
    path.chmod(0o700)
    return path


class _Writer:
    def __init__(self, path: Path, headers):
        # names, phones and birth dates, however made up: readable by their owner only
        path.unlink(missing_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self.fh = os.fdopen(fd, "w", encoding="cp1251", newline="")
        self.w = csv.writer(self.fh, delimiter=";", lineterminator="\r\n")
        self.w.writerow(headers)
        self.n = 0

    def row(self, *cells):
        self.w.writerow(cells)
        self.n += 1

    def close(self):
        self.fh.close()


def write_clinic(out_dir: Path, *, today: dt.date, patients: int = 2000, visits_per_patient: float = 5.0,
                 years: float = 2.0, seed: int = 20261123) -> DemoFiles:
    """Write patients.csv, visits.csv, appointments.csv and plans.csv into ``out_dir``."""
    out_dir = Path(out_dir)
    private_dir(out_dir)
    rng = random.Random(seed)
    span = int(365 * years)
    start = today - dt.timedelta(days=span)
    files = {k: out_dir / f"{k}.csv" for k in ("patients", "visits", "appointments", "plans")}
    pw = _Writer(files["patients"], PATIENT_HEADERS)
    vw = _Writer(files["visits"], VISIT_HEADERS)
    aw = _Writer(files["appointments"], APPOINTMENT_HEADERS)
    lw = _Writer(files["plans"], PLAN_HEADERS)
    visit_no = appt_no = plan_no = 0
    household_phone: dict[str, str] = {}
    extra = random.Random(seed + 7)  # sources and prices: apart, so that the rest of the clinic stays as it was
    try:
        for n in range(1, patients + 1):
            pid = f"{n:06d}"
            male = rng.random() < 0.45
            last = rng.choice(MALE_LAST)
            root = rng.choice(PATRONYMIC_ROOTS)
            if male:
                first, middle = rng.choice(MALE_FIRST), root + "ич"
            else:
                last = last + "а"
                first, middle = rng.choice(FEMALE_FIRST), root + "на"
            birth = dt.date(1945, 1, 1) + dt.timedelta(days=rng.randrange(365 * 63))
            household = ""
            phone = _phone(rng)
            if rng.random() < 0.12:
                household = f"С{(n + 1) // 2:05d}"
                phone = household_phone.setdefault(household, phone)  # spouses share the home phone
            phone2 = _phone(rng) if rng.random() < 0.1 else ""
            email = f"p{pid}@example.ru" if rng.random() < 0.3 else ""
            r = rng.random()
            status = "Активен" if r < 0.97 else ("Архив" if r < 0.99 else "Умер")
            # the first visit: most patients are long-standing, some came recently
            first_day = start + dt.timedelta(days=int(span * rng.random() ** 1.5))
            count = max(1, int(rng.expovariate(1 / visits_per_patient)) + 1)
            day = first_day
            main_doctor = rng.choice(DOCTORS[:2] + DOCTORS[3:]) if rng.random() < 0.9 else DOCTORS[0]
            in_treatment = False
            last_visit = first_day
            for i in range(count):
                if day > today - dt.timedelta(days=1):
                    break
                if i == 0:
                    kind = "consultation"
                    in_treatment = True
                elif in_treatment and rng.random() < 0.35:
                    kind, in_treatment = "treatment_end", False
                elif in_treatment:
                    kind = "treatment"
                else:
                    kind = rng.choices(("hygiene", "consultation", "control", "other"), (5, 3, 2, 1))[0]
                    in_treatment = kind == "consultation"
                doctor = HYGIENIST if kind == "hygiene" else main_doctor
                control = ""
                if kind == "treatment_end" and rng.random() < 0.35:
                    control = _d(day + dt.timedelta(days=rng.choice((30, 60, 90, 180))))
                visit_no += 1
                low, high = PRICES[kind]
                price = f"{extra.randrange(low, high + 1, 100):,}".replace(",", " ") if high else ""
                vw.row(f"В{visit_no:07d}", pid, doctor, _d(day), KIND_LABELS[kind], control, price)
                last_visit = day
                day = day + dt.timedelta(days=int(rng.expovariate(1 / (span / max(count, 1)))) + 1)
            said = extra.choices([w for w, _ in SOURCES_SAID], [n for _, n in SOURCES_SAID])[0]
            pw.row(pid, last, first, middle, _d(birth), phone, phone2, email, household, status, _d(first_day), said)
            # appointments: a few booked ahead, and past ones with their outcome
            if rng.random() < 0.08:
                when = dt.datetime.combine(today + dt.timedelta(days=rng.randrange(0, 15)),
                                           dt.time(rng.randrange(9, 20), rng.choice((0, 30))))
                appt_no += 1
                aw.row(f"З{appt_no:07d}", pid, main_doctor, when.strftime("%d.%m.%Y %H:%M"), APPT_LABELS["booked"])
            if rng.random() < 0.25:
                when = dt.datetime.combine(last_visit, dt.time(rng.randrange(9, 20), rng.choice((0, 30))))
                appt_no += 1
                aw.row(f"З{appt_no:07d}", pid, main_doctor, when.strftime("%d.%m.%Y %H:%M"),
                       APPT_LABELS[rng.choices(("done", "no_show", "cancelled"), (8, 1, 1))[0]])
            # treatment plans with stages; some stages are missed
            if rng.random() < 0.12:
                plan_no += 1
                signed = last_visit
                due = signed + dt.timedelta(days=rng.randrange(7, 30))
                for stage in range(1, rng.randrange(2, 5) + 1):
                    status_p = "done" if due < today - dt.timedelta(days=20) and rng.random() < 0.7 else "planned"
                    lw.row(f"П{plan_no:05d}", pid, main_doctor, stage, rng.choice(STAGE_TITLES), _d(due),
                           PLAN_LABELS[status_p], _d(signed))
                    due = due + dt.timedelta(days=rng.randrange(14, 60))
    finally:
        for w in (pw, vw, aw, lw):
            w.close()
    return DemoFiles(files["patients"], files["visits"], files["appointments"], files["plans"],
                     {"patients": pw.n, "visits": vw.n, "appointments": aw.n, "plans": lw.n})


def staff_records(patient_ids: list[str], *, today: dt.date, seed: int = 20261123) -> tuple[list[dict], list[dict]]:
    """What the staff of the demo clinic recorded in followup: consents and agreed next contacts.

    About half of the patients agreed at their final visit (most to calls, some to SMS only), many of
    them to thank-you notes and greetings by SMS, a few to advertising; a few withdrew later; a few have
    a next contact agreed for today.
    """
    rng = random.Random(seed + 1)
    asked = random.Random(seed + 3)  # thanks, greetings, marketing: apart, the care consents stay as they were
    purposes = ("reminder", "plan", "control", "survey", "recall", "agreed")
    windows = (None, None, "10:00-13:00", "14:00-17:00", "18:00-20:00")
    consents, nexts = [], []
    for pid in patient_ids:
        if rng.random() > 0.55:
            continue
        when = dt.datetime.combine(today - dt.timedelta(days=rng.randrange(30, 600)), dt.time(rng.randrange(9, 20)))
        channels = ["sms"] if rng.random() < 0.2 else (["call", "sms"] if rng.random() < 0.3 else ["call"])
        window = rng.choice(windows)
        note = rng.choice((None, None, None, N_("prefers SMS to calls"), N_("dislikes anaesthesia"),
                           N_("call the mobile only")))
        note = tr(note) if note else None  # what the desk wrote, in the clinic's language
        for purpose in purposes:
            if purpose == "survey" and rng.random() < 0.2:
                continue
            for ch in channels:
                consents.append({"patient_id": pid, "purpose": purpose, "channel": ch, "granted": 1,
                                 "address": None, "window": window if ch == "call" else None,
                                 "days": "mon,tue,wed,thu,fri" if rng.random() < 0.1 else None,
                                 "how": rng.choice(("in-person", "form")), "note": note, "source": "followup",
                                 "recorded_by": rng.choice(("admin.ivanova", "admin.petrova")),
                                 "recorded_at": when.isoformat(sep=" ")})
        # asked for by name: thank-you notes and greetings (many), advertising (a few), each by SMS
        for purpose, share in (("greetings", 0.45), ("thanks", 0.35), ("marketing", 0.15)):
            if asked.random() < share:
                consents.append({"patient_id": pid, "purpose": purpose, "channel": "sms", "granted": 1,
                                 "address": None, "window": None, "days": None, "how": "form", "note": None,
                                 "source": "followup", "recorded_by": "admin.ivanova",
                                 "recorded_at": when.isoformat(sep=" ")})
        if rng.random() < 0.03:
            consents.append({"patient_id": pid, "purpose": "recall", "channel": channels[0], "granted": 0,
                             "address": None, "window": None, "days": None, "how": "phone",
                             "note": tr("asked not to be reminded"), "source": "followup",
                             "recorded_by": "admin.ivanova",
                             "recorded_at": (when + dt.timedelta(days=20)).isoformat(sep=" ")})
        if rng.random() < 0.01:
            nexts.append({"patient_id": pid, "due": today.isoformat(),
                          "reason": tr(rng.choice((N_("discuss the implant plan after the X-ray"),
                                                   N_("ask how the new crown feels"),
                                                   N_("agree the date of the next stage")))),
                          "channel": channels[0], "doctor": rng.choice(DOCTORS),
                          "recorded_by": "admin.petrova", "recorded_at": when.isoformat(sep=" ")})
    return consents, nexts


# How the demo's doctors fare in surveys: answers per doctor and their scores. Смирнова has two
# positive waves (stable), Козлов one (reported, still to repeat), Морозов — new — is collecting.
SURVEY_PLAN = {DOCTORS[0]: (44, (9, 10)), DOCTORS[1]: (26, (6, 10)), DOCTORS[3]: (12, (7, 10))}
COMMENTS = ("Всё понравилось, спасибо", "Долго ждал в коридоре", "Дорого, но качественно", "Не больно, аккуратно",
            "Хотелось бы запись онлайн", "Администратор была очень внимательна", None, None, None)


def survey_answers(treatment_ends: list[tuple[str, str, str, str]], *, today: dt.date,
                   seed: int = 20261123) -> list[dict]:
    """Answered surveys for past treatments (patient, end visit, date, doctor), as a caller records them."""
    rng = random.Random(seed + 2)
    out = []
    for doctor, (wanted, (lo, hi)) in SURVEY_PLAN.items():
        ends = [e for e in treatment_ends if e[3] == doctor and dt.date.fromisoformat(e[2]) < today - dt.timedelta(14)]
        ends.sort(key=lambda e: e[2])
        for pid, visit_id, day, _ in ends[-wanted:]:
            when = dt.date.fromisoformat(day) + dt.timedelta(days=rng.randrange(7, 14))
            score = rng.randint(lo, hi)
            out.append({"patient_id": pid, "visit_id": visit_id, "status": "answered", "score": score,
                        "recommend": min(10, score + rng.choice((0, 0, 1))),
                        "expectations": "yes" if score >= 8 else rng.choice(("partly", "no")),
                        "comment": rng.choice(COMMENTS), "questions": "v1", "recorded_by": "admin.petrova",
                        "recorded_at": f"{when.isoformat()} 12:00:00"})
    return out
