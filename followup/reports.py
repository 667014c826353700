"""Survey statistics and report rows: pure functions of records (no clock, no database, no CLI).

A doctor's results count only once there are enough answers to mean something: at
least ``threshold`` (20) respondents treated by that doctor. Answers are taken in
waves of ``threshold``: a wave closes when it is full and the next one starts; a
doctor is ``stable`` once the last two closed waves are both positive, ``repeat``
while they are not, and ``collecting`` before the first wave closes.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from followup.i18n import N_
from followup.text import fold


@dataclass(frozen=True)
class Response:
    """One answered survey, as it counts for one doctor."""

    survey_id: int
    date: dt.date
    score: int
    recommend: int | None
    expectations: str | None
    comment: str | None
    themes: tuple[str, ...] = ()   # the problems the comment raises (or the manager assigned)
    praise: tuple[str, ...] = ()   # the themes it praises


@dataclass(frozen=True)
class Thresholds:
    respondents: int = 20        # a wave
    positive_mean: float = 8.0   # a wave is positive with a mean score at least this ...
    positive_nps: float = 30.0   # ... and an NPS at least this


def nps(recommends: Sequence[int]) -> tuple[float, tuple[float, float]] | None:
    """Net Promoter Score (promoters 9-10 minus detractors 0-6, in %) with its 95 % confidence interval.

    The score shown is promoters minus detractors. The interval is the adjusted Wald interval
    (B. Rocks, "Interval estimation for the 'net promoter score'", The American Statistician 70(4),
    2016; checked on real data by J. Lewis and J. Sauro, MeasuringU, 2021): add 3/4 of a promoter,
    3/2 of a passive and 3/4 of a detractor (n + 3 answers), then the normal interval of a difference
    of two proportions of one sample, var = (p + d - (p - d)^2) / (n + 3), around (p - d); clipped
    to [-100, 100]. Unlike the plain interval it never collapses to one point (all 20 answers
    promoters: [69.7, 100], not [100, 100]) and keeps its 95 % coverage at small n.
    """
    n = len(recommends)
    if n == 0:
        return None
    promoters = sum(1 for r in recommends if r >= 9)
    detractors = sum(1 for r in recommends if r <= 6)
    score = 100 * (promoters - detractors) / n
    m = n + 3
    p, d = (promoters + 0.75) / m, (detractors + 0.75) / m
    centre, half = 100 * (p - d), 1.96 * 100 * math.sqrt((p + d - (p - d) ** 2) / m)
    return round(score, 1), (round(max(centre - half, -100.0), 1), round(min(centre + half, 100.0), 1))


def summarize(responses: Sequence[Response], min_answers: int = 1) -> dict:
    """Mean, median, distribution, NPS with its interval, share of expectations met.

    The recommendation and expectations questions may go unanswered: NPS and the expectations share
    are given only from at least ``min_answers`` answers to that question (the wave size in the
    reports), else None, with the number of answers they would come from."""
    scores = [r.score for r in responses]
    recs = [r.recommend for r in responses if r.recommend is not None]
    exp = [r.expectations for r in responses if r.expectations]
    promoter = nps(recs) if len(recs) >= min_answers else None
    return {
        "responses": len(responses),
        "mean_score": round(statistics.fmean(scores), 2),
        "median_score": statistics.median(scores),
        "distribution": {str(k): scores.count(k) for k in range(1, 11)},
        "nps": promoter[0] if promoter else None,
        "nps_ci": list(promoter[1]) if promoter else None,
        "nps_answers": len(recs),
        "expectations_met": round(exp.count("yes") / len(exp), 3) if exp and len(exp) >= min_answers else None,
        "expectations_answers": len(exp),
    }


def positive(summary: dict, t: Thresholds) -> bool:
    """A wave is positive with a mean at least ``positive_mean`` and, where it has an NPS (enough answers
    to that question), an NPS at least ``positive_nps`` (any value from -100 to 100, 0 included)."""
    return summary["mean_score"] >= t.positive_mean and (summary["nps"] is None or summary["nps"] >= t.positive_nps)


def doctor_report(doctor: str, responses: Iterable[Response], t: Thresholds = Thresholds(),
                  date_from: dt.date | None = None, date_to: dt.date | None = None) -> dict:
    """The per-doctor report (the JSON contract of `followup report --doctor`).

    Below the threshold: status ``collecting`` and the count, no figures — a figure from 12
    answers is not a result. At or above it: the figures over the closed waves, each closed
    wave side by side, and the status (``stable`` / ``repeat``).
    """
    chosen = sorted((r for r in responses if (date_from is None or r.date >= date_from)
                     and (date_to is None or r.date <= date_to)), key=lambda r: (r.date, r.survey_id))
    size = t.respondents
    closed = [chosen[i:i + size] for i in range(0, len(chosen) - len(chosen) % size, size)]
    current = len(chosen) - len(closed) * size
    report = {"doctor": doctor, "responses": len(chosen), "threshold": size,
              "current_wave": {"responses": current, "of": size}}
    if not closed:
        report["status"] = N_("collecting")
        return report
    waves = []
    for i, wave in enumerate(closed, 1):
        s = summarize(wave, size)
        waves.append({"wave": i, "from": wave[0].date.isoformat(), "to": wave[-1].date.isoformat(),
                      "mean_score": s["mean_score"], "nps": s["nps"], "positive": positive(s, t),
                      "nps_ci": s["nps_ci"], "distribution": s["distribution"]})
    in_waves = [r for wave in closed for r in wave]
    report.update(summarize(in_waves, size))
    report["responses"] = len(chosen)
    report["answers_used"] = len(in_waves)  # the closed waves': the figures come from these
    report["status"] = N_("stable") if len(waves) >= 2 and waves[-1]["positive"] and waves[-2]["positive"] \
        else N_("repeat")
    report["waves"] = waves
    report["trend"] = (None if len(waves) < 2 else
                       round(waves[-1]["mean_score"] - waves[-2]["mean_score"], 2))
    report["themes"] = theme_counts([(r.comment, list(r.themes), list(r.praise)) for r in in_waves if r.comment])
    return report


# ---------------------------------------------------------------------------
# Themes of comments: keywords (stems, folded) per theme; editable in the settings


# Each theme's words, as lemmas (dictionary forms: "болело" is "болеть"), with what a mention says:
# -1 a problem ("больно", "долго"), +1 praise ("вежливый", "чисто"), 0 neither ("врач", "цена").
# A negation next to a word turns it round: "не больно", "без очереди", "больно не было", "ждала
# недолго" praise; "не вежливо" is a problem. A clinic's own words (`themes add`) name problems.
THEMES = {
    N_("service"): {"сервис": 0, "обслуживание": 0, "отношение": 0, "внимательный": 1, "внимательно": 1,
                    "вежливый": 1, "вежливо": 1, "хамство": -1, "хамить": -1, "грубо": -1, "грубый": -1,
                    "service": 0, "rude": -1, "polite": 1, "friendly": 1},
    N_("prices"): {"цена": 0, "стоимость": 0, "оплата": 0, "скидка": 0, "дорого": -1, "дорогой": -1,
                   "дешево": 1, "дешевый": 1, "price": 0, "expensive": -1, "cost": 0, "cheap": 1},
    N_("quality of treatment"): {"качество": 0, "пломба": 0, "коронка": 0, "результат": 0, "выпасть": -1,
                                 "переделывать": -1, "переделать": -1, "треснуть": -1, "quality": 0,
                                 "filling": 0, "crown": 0, "redo": -1},
    N_("pain"): {"боль": -1, "больно": -1, "болеть": -1, "болезненный": -1, "болезненно": -1, "анестезия": 0,
                 "обезболивание": 0, "безболезненно": 1, "безболезненный": 1, "pain": -1, "hurt": -1,
                 "painful": -1, "painless": 1},
    N_("waiting time"): {"ждать": -1, "ожидание": -1, "очередь": -1, "опоздание": -1, "опоздать": -1,
                         "долго": -1, "задержка": -1, "задержать": -1, "недолго": 1, "wait": -1, "late": -1,
                         "queue": -1, "delay": -1},
    N_("staff"): {"администратор": 0, "ассистент": 0, "медсестра": 0, "персонал": 0, "врач": 0, "доктор": 0,
                  "staff": 0, "receptionist": 0, "nurse": 0, "doctor": 0},
    N_("cleanliness"): {"чисто": 1, "чистый": 1, "чистота": 1, "грязно": -1, "грязный": -1, "грязь": -1,
                        "стерильно": 1, "стерильный": 1, "clean": 1, "dirty": -1},
}

# words that turn a mention round when just before it ("не больно", "без очереди", "not painful")
NEGATIONS = {"не", "ни", "без", "нет", "not", "no", "without", "never"}


def theme_keywords(settings: dict[str, str]) -> dict[str, dict[tuple[str, ...], int]]:
    """Built-in themes with the clinic's additions (`theme.NAME` = comma-separated words or phrases,
    each a problem): theme -> {phrase as lemmas: -1 problem, +1 praise, 0 a mere mention}."""
    out = {name: {(fold(w),): polarity for w, polarity in words.items()} for name, words in THEMES.items()}
    for key, value in settings.items():
        if key.startswith("theme."):
            name = key.removeprefix("theme.")
            for phrase in value.split(","):
                lemmas = tuple(lemmatize(phrase))
                if lemmas:
                    out.setdefault(name, {}).setdefault(lemmas, -1)
    return out


def lemmatize(text: str | None) -> list[str]:
    """The words of a text as lemmas (Russian by pymorphy3's dictionaries; other words as written),
    lower case, ё as е."""
    import re

    return [_lemma(w) for w in re.findall(r"[а-яёa-z]+", (text or "").lower())]


@functools.lru_cache(maxsize=20_000)
def _lemma(word: str) -> str:
    if not ("а" <= word[0] <= "я" or word[0] == "ё"):
        return word
    return fold(_morph().parse(word)[0].normal_form)


@functools.lru_cache(maxsize=1)
def _morph():
    import pymorphy3  # only where comments are read: about 0.16 s to load its dictionaries

    return pymorphy3.MorphAnalyzer()


def judge(comment: str | None, keywords: dict[str, dict[tuple[str, ...], int]]) -> dict[str, int]:
    """Theme -> what the comment says of it: -1 a problem, +1 praise, 0 mentioned only. A theme with
    both a problem and praise counts as a problem (a complaint is not cancelled by a compliment)."""
    words = lemmatize(comment)
    verdict: dict[str, int] = {}
    for name, phrases in keywords.items():
        for phrase, polarity in phrases.items():
            n = len(phrase)
            for i in range(len(words) - n + 1):
                if tuple(words[i:i + n]) != phrase:
                    continue
                turned = bool(NEGATIONS & set(words[max(0, i - 2):i])) or words[i + n:i + n + 2] in (["не", "быть"], ["не", "прийтись"])
                said = -polarity if turned else polarity
                near = words[max(0, i - 2):i] + words[i + n:i + n + 2]
                if said < 0 and any(phrases.get((w,)) == 1 for w in near):
                    said = 1  # "ждала недолго": the theme's praise word right beside it
                if turned and polarity == 0:
                    said = 1  # "без очереди", "no wait": the absence of the thing
                before = verdict.get(name, said)
                verdict[name] = min(before, said) if -1 in (before, said) else max(before, said)
    return verdict


def classify(comment: str | None, keywords, assigned: Iterable[str] = ()) -> list[str]:
    """The themes a comment is about, either way: by its words, plus any the manager assigned."""
    found = list(dict.fromkeys(assigned))
    return found + [name for name in judge(comment, keywords) if name not in found]


def problems(comment: str | None, keywords) -> list[str]:
    """The problem themes a comment raises ("Не больно, аккуратно" raises none: it praises)."""
    return sorted(name for name, said in judge(comment, keywords).items() if said < 0)


def praise(comment: str | None, keywords) -> list[str]:
    """The themes a comment praises ("без очереди", "ждала недолго", "вежливый персонал")."""
    return sorted(name for name, said in judge(comment, keywords).items() if said > 0)


def theme_counts(comments: Sequence[tuple[str, list[str], list[str]]], examples: int = 2) -> list[dict]:
    """(comment, problem themes, praised themes) -> per theme: the problems raised (``count``), with a
    couple of different example comments, and the praise beside (``praise``); most problems first."""
    raised: dict[str, list[str]] = {}
    praised: dict[str, int] = {}
    for text, bad, good in comments:
        for t in bad:
            raised.setdefault(t, []).append(text)
        for t in good:
            praised[t] = praised.get(t, 0) + 1
    names = set(raised) | set(praised)
    return [{"theme": t, "count": len(raised.get(t, [])), "praise": praised.get(t, 0),
             "examples": list(dict.fromkeys(raised.get(t, [])))[:examples]}
            for t in sorted(names, key=lambda t: (-len(raised.get(t, [])), -praised.get(t, 0), t))]


# ---------------------------------------------------------------------------
# The clinic report


def conversion(counts: Iterable[tuple[str, str, int, int, int]], by: str = "doctor") -> list[dict]:
    """First-time patients who came back, per doctor of the first visit and quarter, from the counts
    (doctor, quarter, first-time, returned, pending: db.conversion_counts). ``conversion`` is returned /
    first-time so far; a quarter's figure is ``final`` once none is pending (a first visit less than
    the window ago that has not returned yet may still)."""
    return [{by: doctor, "quarter": quarter, "first_time": n, "returned": returned, "pending": pending,
             "conversion": round(returned / n, 3), "final": pending == 0}
            for doctor, quarter, n, returned, pending in counts]


def summed(counts: Iterable[tuple], keep: int) -> list[tuple[str, str, int, int, int]]:
    """Counts grouped by several things at once (db.conversion_counts by doctor and source: (doctor,
    source, quarter, first-time, returned, pending)) summed to the ``keep``-th of them alone: (it,
    quarter, first-time, returned, pending), in its order and the quarter's, as the database sorts."""
    totals: dict[tuple[str, str], list[int]] = {}
    for row in counts:
        *groups, quarter, n, returned, pending = row
        t = totals.setdefault((groups[keep], quarter), [0, 0, 0])
        t[0], t[1], t[2] = t[0] + n, t[1] + returned, t[2] + pending
    return [(group, quarter, *t) for (group, quarter), t in sorted(totals.items())]


def dead_soul_cutoff(today: dt.date, months: int = 24) -> dt.date:
    """Active patients with no visit since this day (and nothing booked ahead) are "dead souls"."""
    from dateutil.relativedelta import relativedelta

    return today - relativedelta(months=months)


def dead_souls(patients: Iterable[tuple[str, str | None]]) -> list[dict]:
    """(patient, last visit or None: db.dead_souls) as the report lists them."""
    return [{"patient_id": pid, "last_visit": last} for pid, last in patients]


def funnel(contacts: Iterable[tuple[str, str]], due: dict[str, int]) -> list[dict]:
    """Per reason, the stages of a period, each within the one before: ``due`` (on the day's lists,
    summed over the period's days), ``attempted`` (contacts made), ``reached`` (the patient spoken to:
    reached, booked or declined), ``booked``; ``declined`` beside them. Input: (reason code, outcome)
    for each reason of each contact of the period, and the due counts per reason."""
    codes = ("appointment_reminder", "plan_stage_missed", "control_overdue", "survey_call", "hygiene_recall",
             "agreed_contact")

    def row(code):
        return {"reason": code, "due": due.get(code, 0), "attempted": 0, "reached": 0, "booked": 0, "declined": 0}

    rows = {c: row(c) for c in codes}
    for code, outcome in contacts:
        r = rows.setdefault(code, row(code))
        r["attempted"] += 1
        if outcome in ("reached", "booked", "declined"):
            r["reached"] += 1
        if outcome in ("booked", "declined"):
            r[outcome] += 1
    return list(rows.values())


def consent_coverage(active: int, decided: dict[str, int], purposes: Sequence[str]) -> list[dict]:
    """Share of active patients with a recorded contact decision (granted or withdrawn), per purpose."""
    return [{"purpose": p, "patients": decided.get(p, 0),
             "share": round(decided.get(p, 0) / active, 3) if active else None} for p in purposes]


def complaint_stats(complaints: Iterable[tuple[dt.date, dt.date | None, bool]]) -> dict:
    """(opened, resolved or None, informed) -> opened, resolved, median days to resolve, informed."""
    items = list(complaints)
    days = [(r - o).days for o, r, _ in items if r]
    return {"opened": len(items), "resolved": len(days), "open": len(items) - len(days),
            "median_days_to_resolve": statistics.median(days) if days else None,
            "informed": sum(1 for *_, informed in items if informed)}
