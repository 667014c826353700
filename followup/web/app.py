"""The desks' web pages: a Starlette application on the same use cases as the commands.

Each request runs in a worker thread with that thread's own connection to the database, reads who
is logged in from the session's signed cookie (checked against the account on every request: a
disabled account or a changed password ends its sessions), checks the role on the server, checks
the CSRF token of every POST, and renders in the reader's language. Pages and their hooks:

    /login      the login form (fields `username`, `password`)
    /           the day's list: filters, progress, entries (`data-entry-id`), outcome buttons
                (`data-outcome`, the JSON code); refreshed every few seconds without a reload
    /report     the manager's reports (manager, admin)
    /admin      the staff's accounts (admin)

No patient data in URLs or log lines: filters and searches are sent as forms (POST), an entry is
named by its id on the list, and the access log has the method, the path, the status and the time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import secrets
import sqlite3
import threading
import time
from pathlib import Path
from typing import Callable, Optional

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from followup import i18n
from followup.errors import FollowupError
from followup.i18n import N_

HERE = Path(__file__).parent
SESSION_HOURS = 12       # a session ends after this long without a request
PAGE = 50                # entries on one page of the list, as `followup today` shows them
REFRESH_SECONDS = 2      # how often the list refreshes itself (the other desks' outcomes, who has what open)

log = logging.getLogger("followup.web")

SECURITY_HEADERS = [
    (b"content-security-policy", b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                                 b"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
]


class _Headers:
    """Security headers on every response, and one access-log line a request: method, path (never the
    query), status, milliseconds. (Pure ASGI: no cost of a BaseHTTPMiddleware.)"""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started, status = time.perf_counter(), [0]

        async def sending(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                headers = [h for h in message.get("headers", []) if h[0].lower() != b"cache-control"
                           or not scope["path"].startswith("/static/")]
                extra = SECURITY_HEADERS if not scope["path"].startswith("/static/") else SECURITY_HEADERS[:4]
                message["headers"] = headers + extra
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            log.info("%s %s %s %.0f ms", scope["method"], scope["path"], status[0],
                     (time.perf_counter() - started) * 1000)


class Web:
    """What the pages share: the database's path, a connection per worker thread, the templates, the clock."""

    def __init__(self, path: Path, clock: Callable[[], dt.datetime]):
        import jinja2

        self.path, self.clock = path, clock
        self.local = threading.local()
        self.env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                                      trim_blocks=True, lstrip_blocks=True)
        self.env.filters["date"] = dt.date.fromisoformat
        self.env.globals.update(tr=i18n.tr, trc=i18n.trc, ntr=i18n.ntr, day=i18n.day, phone=_phone,
                                refresh=REFRESH_SECONDS)

    def conn(self):
        conn = getattr(self.local, "conn", None)
        if conn is None:
            from followup import db

            conn = self.local.conn = db.connect(self.path, create=False, migrate=False)
        return conn

    def render(self, name: str, status: int = 200, **context) -> HTMLResponse:
        return HTMLResponse(self.env.get_template(name).render(**context), status_code=status)


def _phone(number: Optional[str]) -> str:
    """A stored number for people, as the commands show it ("+74951234567 доб. 123")."""
    from followup.phones import shown_phone

    return shown_phone(number, i18n.tr("ext."))


class Page:
    """One request as the page code sees it: the user, the form, the clock, the database."""

    def __init__(self, web: Web, request: Request, form: dict, user):
        self.web, self.request, self.form, self.user = web, request, form, user
        self.now = web.clock()
        self.today = self.now.date()
        self.conn = web.conn()

    def render(self, name: str, status: int = 200, **context) -> HTMLResponse:
        from followup import roles

        return self.web.render(name, status, user=self.user, csrf=self.request.session.get("c", ""),
                               path=self.address(name),
                               may=lambda ability: roles.may(self.user.role if self.user else None, ability),
                               language=i18n.language(), **context)

    def address(self, template: str) -> str:
        """Where the page shown can be opened again (where a language button brings the reader back): its
        own address, or after a form was sent, the page that form belongs to."""
        if self.request.method == "GET":
            return self.request.url.path
        home = PAGES.get(template, "/")
        return home.format(**self.request.path_params) if "{" in home else home

    @property
    def htmx(self) -> bool:
        return self.request.headers.get("hx-request") == "true"


# the page each template is, to open it again after a form was sent (Page.address)
PAGES = {"list.html": "/", "card.html": "/entry/{entry}/card/{member}", "done.html": "/done", "admin.html": "/admin",
         "complaints.html": "/complaints", "flagged.html": "/flagged", "survey.html": "/entry/{entry}/survey",
         "occasions.html": "/occasions"}


def _language_of(web: Web, request: Request, user) -> str:
    """The account's language, else the clinic's (setting `language`), else the browser's, else English."""
    if user is not None and user.language:
        return user.language
    from followup import db

    setting = db.get_settings(web.conn()).get("language")
    if setting in i18n.LANGUAGES:
        return setting
    for part in request.headers.get("accept-language", "").split(","):
        code = part.split(";")[0].strip().split("-")[0].lower()
        if code in i18n.LANGUAGES:
            return code
    return "en"


def _acted(p: "Page", template: str, context: Callable[[], dict], action: Callable[[], str]) -> Response:
    """A form's action (it returns the sentence to show above the page), then the page as it is now; an
    error a person caused: the page as it was, with its one line and the status that says what kind."""
    try:
        notice = action()
    except FollowupError as exc:
        return p.render(template, _status(exc), **{**context(), "error": str(exc)})
    return p.render(template, **{**context(), "notice": notice})


def _status(exc: FollowupError) -> int:
    """The HTTP status of an error a person or a file caused: 404 not found, 409 the records' state
    forbids it, 503 the database cannot be used now, else 400."""
    from followup.errors import ExitStatus

    return {ExitStatus.NOT_FOUND: 404, ExitStatus.FAILURE: 409, ExitStatus.DATABASE_ERROR: 503,
            ExitStatus.BUSY: 503}.get(exc.exit_code, 400)


class _Empty(dict):
    def getlist(self, key):
        return []


_NO_FORM = _Empty()


def page(web: Web, ability: Optional[str]):
    """An endpoint for people: the session's user (none: to /login), the role (else 403), the CSRF
    token of a POST (else 403), the reader's language; the page's own code runs in a worker thread."""
    def wrap(fn):
        async def endpoint(request: Request):
            form = await request.form() if request.method == "POST" else _NO_FORM
            return await run_in_threadpool(_handle, web, request, form, fn, ability)
        endpoint.__name__ = fn.__name__
        return endpoint
    return wrap


def _handle(web: Web, request: Request, form: dict, fn, ability: Optional[str]) -> Response:
    from followup import roles
    from followup.actions.users import session_user

    session = request.session
    user = None
    if "u" in session:
        user = session_user(web.conn(), session["u"], session.get("s", -1))
        if user is None:
            session.clear()
    i18n.set_language(_language_of(web, request, user))
    if ability is not None and user is None:
        if request.headers.get("hx-request") == "true":
            return Response(status_code=204, headers={"HX-Redirect": "/login"})
        return RedirectResponse("/login", status_code=303)
    p = Page(web, request, form, user)
    if request.method == "POST":
        given = form.get("csrf") or request.headers.get("x-csrf-token") or ""
        if not session.get("c") or not secrets.compare_digest(str(given), session["c"]):
            return p.render("error.html", 403, message=i18n.tr("The form has expired: reload the page and try again."))
    if ability is not None and not roles.may(user.role, ability):
        return p.render("error.html", 403, message=i18n.tr("Your role ({role}) may not open this page.",
                                                           role=i18n.tr(user.role)))
    try:
        return fn(p)
    except FollowupError as exc:
        return p.render("error.html", _status(exc), message=str(exc))
    except sqlite3.DatabaseError as exc:  # busy (an import writing), a full disk: one line, as the commands say it
        from followup.db import as_error

        error = as_error(exc)
        if error is None:
            return _bug(p, exc)
        return p.render("error.html", _status(error), message=str(error))
    except Exception as exc:  # a bug: its message may hold a value from the data, so it is never shown or logged
        return _bug(p, exc)


def _bug(p: "Page", exc: BaseException) -> Response:
    """A bug in followup: the log says where (files, lines, functions) and the exception's type, never its
    message; the page says so in one line."""
    import os
    import traceback

    where = "; ".join(f"{os.path.basename(f.filename)}:{f.lineno} in {f.name}"
                      for f in traceback.extract_tb(exc.__traceback__)[-6:])
    log.error("internal error (%s) at %s %s: %s", type(exc).__name__, p.request.method, p.request.url.path, where)
    return p.render("error.html", 500, message=i18n.tr("An internal error in followup ({kind}): nothing more was "
                                                       "done. The server's log says where, without patient data.",
                                                       kind=type(exc).__name__))


# ---------------------------------------------------------------------------
# the pages


def create_app(path: Path, *, secret: str, https: bool = False,
               clock: Callable[[], dt.datetime] = lambda: dt.datetime.now().replace(microsecond=0)) -> Starlette:
    web = Web(Path(path), clock)

    @page(web, None)
    def login_form(p: Page):
        if p.user is not None:
            return RedirectResponse("/", status_code=303)
        p.request.session["c"] = p.request.session.get("c") or secrets.token_urlsafe(24)
        return p.render("login.html")

    @page(web, None)
    def login(p: Page):
        from followup.actions.users import LoginRefused, log_in

        address = p.request.client.host if p.request.client else ""
        try:
            user = log_in(p.conn, str(p.form.get("username", "")), str(p.form.get("password", "")),
                          address=address, now=p.now)
        except LoginRefused as exc:
            return p.render("login.html", 401, message=str(exc), username=str(p.form.get("username", ""))[:64])
        p.request.session.clear()  # a new session: new token, nothing carried over from before the login
        p.request.session.update({"u": user.name, "s": user.sessions, "c": secrets.token_urlsafe(24)})
        return RedirectResponse("/", status_code=303)

    @page(web, None)
    def logout(p: Page):
        p.request.session.clear()
        return RedirectResponse("/login", status_code=303)

    @page(web, None)
    def language(p: Page):
        from followup.actions.users import set_user_language

        if p.user is not None:
            set_user_language(p.conn, p.user.name, str(p.form.get("language", "")))
        back = str(p.form.get("back") or "/")
        return RedirectResponse(back if back.startswith("/") and not back.startswith("//") else "/", status_code=303)

    @page(web, "list")
    def day_list(p: Page):
        return p.render("list.html", **_list_context(p))

    @page(web, "list")
    def list_part(p: Page):
        context = _list_context(p)
        if p.form.get("version") == context["version"]:  # the list refreshing itself, and nothing changed
            return Response(status_code=204)
        return p.render("_list.html", **context)

    @page(web, "list")
    def open_entry(p: Page):
        from followup.actions.users import close_entry, open_entry as claim

        found = _entry(p, p.request.path_params["entry"])
        if found is not None:
            if p.form.get("close"):
                close_entry(p.conn, p.today, found["patient_id"], found["channel"], by=p.user.name)
            else:
                claim(p.conn, p.today, found["patient_id"], found["channel"], by=p.user.name, now=p.now)
        return p.render("_list.html", **_list_context(p))

    @page(web, "outcome")
    def outcome(p: Page):
        from followup.actions.contacts import record_outcome
        from followup.actions.users import close_entry

        entry = p.request.path_params["entry"]
        found = _entry(p, entry)
        try:
            done = record_outcome(p.conn, entry, str(p.form.get("outcome", "")), day=p.today, callback=_callback(p),
                                  note=str(p.form.get("note") or "").strip() or None, by=p.user.name, now=p.now)
        except FollowupError as exc:
            return p.render("_list.html", _status(exc), **_list_context(p, error=str(exc)))
        if found is not None:
            close_entry(p.conn, p.today, found["patient_id"], found["channel"])
        notice = i18n.tr("Recorded {outcome} for entry {entry} ({pid}): {step}.", outcome=i18n.tr(done.outcome),
                         entry=done.entry, pid=done.patient_id, step=done.step)
        return p.render("_list.html", **_list_context(p, notice=notice))

    @page(web, "card")
    def card(p: Page):
        return p.render("card.html", **_card_context(p))

    @page(web, "consent")
    def card_consent(p: Page):
        from followup.actions.contacts import record_consent

        f = p.form

        def act() -> str:
            done = record_consent(p.conn, _card_patient(p)[0], purposes=f.getlist("purpose"),
                                  channels=f.getlist("channel"), granted=f.get("granted") != "0",
                                  window=str(f.get("window") or "").strip() or None, how=str(f.get("how") or "in-person"),
                                  note=str(f.get("note") or "").strip() or None, by=p.user.name, now=p.now)
            return (i18n.tr("Consent granted for {pid}.", pid=done.patient_id) if done.granted
                    else i18n.tr("Consent withdrawn for {pid}.", pid=done.patient_id))
        return _acted(p, "card.html", lambda: _card_context(p), act)

    @page(web, "source")
    def card_source(p: Page):
        from followup.actions.patients import record_source

        def act() -> str:
            done = record_source(p.conn, _card_patient(p)[0], str(p.form.get("source") or ""),
                                 detail=str(p.form.get("detail") or "") or None, by=p.user.name, now=p.now)
            return i18n.tr("Recorded for {pid}: {source}{detail}.", pid=done.patient_id, source=i18n.tr(done.source),
                           detail=f" ({done.detail})" if done.detail else "")
        return _acted(p, "card.html", lambda: _card_context(p), act)

    @page(web, "outcome")
    def letters_page(p: Page):
        from followup.actions.sending import letterhead, letters
        from followup.web.letters import letters_html

        clinic, head = letterhead(p.conn)
        return HTMLResponse(letters_html(letters(p.conn, p.today, today=p.today), clinic=clinic, letterhead=head,
                                         day=p.today, standalone=False))

    @page(web, "outcome")
    def letters_posted(p: Page):
        from followup.actions.sending import letters_posted as posted

        n = posted(p.conn, p.today, today=p.today, by=p.user.name, now=p.now)
        return p.render("done.html", **{**_done_context(p), "notice": i18n.ntr(
            "{n} letter recorded as sent.", "{n} letters recorded as sent.", n)})

    @page(web, "occasions")
    def occasions(p: Page):
        return p.render("occasions.html", **_occasions_context(p))

    @page(web, "occasions")
    def occasions_act(p: Page):
        from followup.actions import occasions as use

        f, step = p.form, p.request.path_params["step"]

        def text(key: str) -> str:
            return str(f.get(key) or "")

        def act() -> str:
            if step == "holiday":
                found = use.add_holiday(p.conn, text("name"), on=text("on"), sex=text("sex") or None,
                                        texts=tuple(t for t in (text("text"),) if t.strip()), by=p.user.name, now=p.now)
                return i18n.tr("Holiday {name} added.", name=found.name)
            if step == "text":
                found, tid = use.add_text(p.conn, text("occasion"), text("text"), by=p.user.name, now=p.now)
                return i18n.tr("Text #{id} added.", id=tid)
            if step == "retire":
                use.retire_text(p.conn, _number(text("id")), by=p.user.name, now=p.now)
                return i18n.tr("Text #{id} retired.", id=text("id"))
            if step == "remove":
                found = use.remove_holiday(p.conn, text("name"), by=p.user.name, now=p.now)
                return i18n.tr("Holiday {name} removed: no more greetings on it.", name=found.name)
            if step == "campaign":
                shown = use.add_campaign(p.conn, text("name"), text=text("text"), channel=text("channel"),
                                         audience=text("audience") or "all", starts=_day_of(text("from")),
                                         ends=_day_of(text("to")), by=p.user.name, now=p.now, today=p.today)
                return i18n.tr("Campaign {name} added: on {day} it reaches {n}.", name=shown.campaign.name,
                               day=i18n.day(shown.day), n=len(shown.would_get))
            if step == "stop":
                row = use.stop_campaign(p.conn, text("id"), by=p.user.name, now=p.now)
                return i18n.tr("Campaign {name} stopped.", name=row["name"])
            from followup.errors import NotFound

            raise NotFound(N_("no such page"))
        return _acted(p, "occasions.html", lambda: _occasions_context(p), act)

    @page(web, "occasions")
    def campaign_page(p: Page):
        from followup.actions.occasions import campaign_preview

        row, shown = campaign_preview(p.conn, str(p.request.path_params["campaign"]), today=p.today)
        return p.render("campaign.html", campaign=row, preview=shown)

    @page(web, "next-contact")
    def card_next(p: Page):
        from followup.actions.contacts import agree_next_contact
        from followup.errors import UsageError

        f = p.form

        def act() -> str:
            try:
                on = dt.date.fromisoformat(str(f.get("on") or ""))
            except ValueError:
                raise UsageError(N_("Give the day of the next contact as a date.")) from None
            done = agree_next_contact(p.conn, _card_patient(p)[0], on=on, reason=str(f.get("reason") or ""),
                                      channel=str(f.get("channel") or "") or None, consent=bool(f.get("consent")),
                                      by=p.user.name, now=p.now)
            return i18n.tr("Next contact with {pid} agreed for {date}.", pid=done.patient_id, date=i18n.day(done.due))
        return _acted(p, "card.html", lambda: _card_context(p), act)

    @page(web, "survey")
    def survey_form(p: Page):
        return p.render("survey.html", **_survey_context(p))

    @page(web, "survey")
    def survey(p: Page):
        from followup.actions.surveys import record_survey

        context = _survey_context(p)
        f = p.form
        decline = f.get("declined") == "1"

        def number(key):
            value = str(f.get(key) or "").strip()
            return int(value) if value.lstrip("-").isdigit() else None

        answers = None if decline else {"score": number("score"), "recommend": number("recommend"),
                                        "expectations": str(f.get("expectations") or "") or None,
                                        "comment": str(f.get("comment") or "").strip() or None}
        try:
            done = record_survey(p.conn, context["call"], answers, decline=decline,
                                 open_complaint=bool(f.get("complaint")), day=p.today, by=p.user.name, now=p.now)
        except FollowupError as exc:
            return p.render("survey.html", _status(exc), **{**context, "error": str(exc), "answers": answers or {}})
        if done.declined:
            notice = i18n.trg(context["call"].gender, "Survey #{id}: {pid} declined; the survey call for this "
                              "treatment is closed.", id=done.id, pid=done.patient_id)
        else:
            notice = i18n.tr("Survey #{id} recorded for {pid} (counts for {doctors}).", id=done.id,
                             pid=done.patient_id, doctors=", ".join(done.doctors))
            if done.complaint:
                notice += " " + i18n.tr("Complaint #{id} opened from the comment.", id=done.complaint)
        return p.render("list.html", **_list_context(p, notice=notice),
                        suggest=done.suggest_complaint and {"entry": p.request.path_params["entry"],
                                                            "comment": (answers or {}).get("comment") or ""})

    @page(web, "complaint")
    def card_complaint(p: Page):
        from followup.actions.complaints import open_complaint

        def act() -> str:
            cid, pid = open_complaint(p.conn, _card_patient(p)[0], str(p.form.get("text") or ""), by=p.user.name,
                                      now=p.now)
            return i18n.tr("Complaint #{id} opened for {pid}.", id=cid, pid=pid)
        return _acted(p, "card.html", lambda: _card_context(p), act)

    @page(web, "outcome")
    def done_today(p: Page):
        return p.render("done.html", **_done_context(p))

    @page(web, "outcome")
    def correct(p: Page):
        from followup.actions.contacts import correct_outcome

        f = p.form

        def act() -> str:
            done = correct_outcome(p.conn, p.request.path_params["entry"], str(f.get("outcome") or ""),
                                   day=_done_day(p), callback=_callback(p),
                                   note=str(f.get("note") or "").strip() or None, by=p.user.name, now=p.now)
            return i18n.tr("Corrected entry {entry} ({pid}) to {outcome}: {step}.", entry=done.entry,
                           pid=done.patient_id, outcome=i18n.tr(done.outcome), step=done.step)
        return _acted(p, "done.html", lambda: _done_context(p), act)

    @page(web, "rights")
    def card_export(p: Page):
        from followup.actions.patients import patient_data

        pid = _card_patient(p)[0]
        text = json.dumps(patient_data(p.conn, pid), ensure_ascii=False, indent=2, default=str)
        # (the file's name is the day, not the card number: a download list is no place for it either)
        return Response(text + "\n", media_type="application/json; charset=utf-8", headers={
            "content-disposition": f'attachment; filename="followup-patient-{p.today.isoformat()}.json"'})

    @page(web, "rights")
    def card_forget(p: Page):
        from followup.actions.patients import forget_patient

        context = _card_context(p)
        pid = context["patient"]["patient_id"]
        if str(p.form.get("confirm") or "").strip() != pid:
            return p.render("card.html", 400, **{**context, "error": i18n.tr(
                "To erase the patient, type the card number {pid} in the box first.", pid=pid)})
        done = forget_patient(p.conn, pid, by=p.user.name, now=p.now, wait_s=10)
        message = i18n.tr("Erased (erasure #{id}): {records}; {scores} kept without the patient.", id=done["erasure"],
                          records=i18n.ntr("{n} record", "{n} records", done["rows_erased"]),
                          scores=i18n.ntr("{n} survey score", "{n} survey scores", done["surveys_kept"]))
        return p.render("error.html", 200, message=message)

    @page(web, "report")
    def report(p: Page):
        from followup.web import charts

        doctors, clinic, _ = _report_tables(p)
        drawn = {}
        for r in doctors:
            mine = [c for c in clinic["conversion"] if c["doctor"] == r["doctor"]]
            drawn[r["doctor"]] = {
                "scores": charts.distribution(r.get("waves", []), i18n.tr("Scores by wave")) if r.get("waves") else "",
                "nps": charts.nps_by_wave(r.get("waves", []), i18n.tr("NPS by wave")) if r.get("waves") else "",
                "conversion": charts.conversion(mine, i18n.tr("Conversion by quarter")) if mine else ""}
        return p.render("report.html", doctors=doctors, clinic=clinic, charts=drawn, tables=REPORT_TABLES)

    @page(web, "report")
    def report_table(p: Page):
        from followup import db, tables
        from followup.settings import delimiter_char
        from followup.errors import NotFound

        name, fmt = p.request.path_params["table"], p.request.path_params["fmt"]
        if name not in REPORT_TABLES + OTHER_TABLES or fmt not in ("csv", "xlsx"):
            raise NotFound(N_("no table {value!r}"), value=f"{name}.{fmt}")
        rows, columns = _other_table(p, name) if name in OTHER_TABLES else _report_tables(p)[2][name]
        filename = f"followup-{name}-{p.today.isoformat()}.{fmt}"
        headers = {"content-disposition": f'attachment; filename="{filename}"'}
        if fmt == "xlsx":
            return Response(tables.workbook([(name, rows, columns)]), headers=headers, media_type=XLSX)
        delimiter = delimiter_char(db.get_settings(p.conn).get("csv.delimiter"))
        # (with a byte-order mark: Excel then reads the Cyrillic as UTF-8)
        return Response("\ufeff" + tables.csv_text(rows, columns, delimiter), headers=headers,
                        media_type="text/csv; charset=utf-8")

    @page(web, "users")
    def admin(p: Page):
        return p.render("admin.html", **_admin_context(p))

    @page(web, "settings")
    def admin_setting(p: Page):
        from followup import settings
        from followup.actions.config import change_setting, template_cost

        def act() -> str:
            key, value = str(p.form.get("key") or ""), None if p.form.get("default") else str(p.form.get("value") or "")
            settings.setting(key)
            if value is not None:
                settings.check(key, value)  # the same validation as `config set`
            notice = f"{key} = {change_setting(p.conn, key, value, by=p.user.name, now=p.now)}"
            cost = template_cost(p.conn, key)
            if cost:
                notice += " " + i18n.tr("Warning: with long names this text takes {parts} SMS parts, more than "
                                        "send.sms.max_parts ({most}): followup send will hold such messages",
                                        parts=cost[0], most=cost[1])
            return notice
        return _acted(p, "admin.html", lambda: _admin_context(p), act)

    @page(web, "report")
    def complaints(p: Page):
        return p.render("complaints.html", **_manager_context(p))

    @page(web, "report")
    def complaint_step(p: Page):
        from followup.actions.complaints import complaint_informed, resolve_complaint

        cid = p.request.path_params["complaint"]

        def act() -> str:
            if p.request.path_params["step"] == "resolve":
                resolve_complaint(p.conn, cid, str(p.form.get("action") or ""), by=p.user.name, now=p.now)
                return i18n.tr("Complaint #{id} resolved.", id=cid)
            complaint_informed(p.conn, cid, by=p.user.name, now=p.now)
            return i18n.tr("Complaint #{id}: the patient was informed.", id=cid)
        return _acted(p, "complaints.html", lambda: _manager_context(p), act)

    @page(web, "flagged")
    def flagged(p: Page):
        return p.render("flagged.html", **_flagged_context(p))

    @page(web, "flagged")
    def flagged_decide(p: Page):
        from followup.actions.contacts import decide_flagged

        f = p.form

        def act() -> str:
            done = decide_flagged(p.conn, str(f.get("patient") or ""), str(f.get("rule") or ""),
                                  str(f.get("decision") or ""), ref=str(f.get("ref") or "") or None,
                                  note=str(f.get("note") or "").strip() or None, day=p.today, by=p.user.name,
                                  now=p.now)
            if done.action == "requeue":
                return i18n.tr("{rule} of {pid} ({ref}): put back on the list.", rule=i18n.tr(done.code),
                               pid=done.patient_id, ref=done.ref)
            return i18n.tr("{rule} of {pid} ({ref}): closed.", rule=i18n.tr(done.code), pid=done.patient_id,
                           ref=done.ref)
        return _acted(p, "flagged.html", lambda: _flagged_context(p), act)

    @page(web, "report")
    def imports(p: Page):
        from followup.actions.clinic import import_history

        return p.render("imports.html", runs=import_history(p.conn, limit=30), render=i18n.render)

    @page(web, "users")
    def admin_user(p: Page):
        from followup.actions.users import add_user, disable_user

        action, name = p.form.get("action"), str(p.form.get("name", ""))

        def act() -> str:
            if action == "add":
                user = add_user(p.conn, name, str(p.form.get("role", "")), str(p.form.get("password", "")),
                                by=p.user.name, now=p.now)
                return i18n.tr("User {name} added ({role}).", name=user.name, role=i18n.tr(user.role))
            enable = action == "enable"
            disable_user(p.conn, name, now=p.now, enable=enable)
            return (i18n.tr("User {name} can log in again.", name=name.strip()) if enable else
                    i18n.tr("User {name} disabled; their sessions ended.", name=name.strip()))
        return _acted(p, "admin.html", lambda: _admin_context(p), act)

    routes = [
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/language", language, methods=["POST"]),
        Route("/", day_list, methods=["GET", "POST"]),
        Route("/list", list_part, methods=["POST"]),
        Route("/entry/{entry:str}/open", open_entry, methods=["POST"]),
        Route("/entry/{entry:str}/outcome", outcome, methods=["POST"]),
        Route("/entry/{entry:str}/card/{member:int}", card, methods=["GET"]),
        Route("/entry/{entry:str}/card/{member:int}/consent", card_consent, methods=["POST"]),
        Route("/entry/{entry:str}/card/{member:int}/next", card_next, methods=["POST"]),
        Route("/entry/{entry:str}/card/{member:int}/source", card_source, methods=["POST"]),
        Route("/occasions", occasions, methods=["GET"]),
        Route("/letters", letters_page, methods=["GET"]),
        Route("/letters", letters_posted, methods=["POST"]),
        Route("/occasions/{step:str}", occasions_act, methods=["POST"]),
        Route("/campaigns/{campaign:int}", campaign_page, methods=["GET"]),
        Route("/entry/{entry:str}/survey", survey_form, methods=["GET"]),
        Route("/entry/{entry:str}/survey", survey, methods=["POST"]),
        Route("/entry/{entry:str}/card/{member:int}/complaint", card_complaint, methods=["POST"]),
        Route("/entry/{entry:str}/card/{member:int}/export", card_export, methods=["GET"]),
        Route("/entry/{entry:str}/card/{member:int}/forget", card_forget, methods=["POST"]),
        Route("/done", done_today, methods=["GET"]),
        Route("/done/{entry:str}/correct", correct, methods=["POST"]),
        Route("/report", report, methods=["GET"]),
        Route("/report/{table:str}.{fmt:str}", report_table, methods=["GET"]),
        Route("/admin", admin, methods=["GET"]),
        Route("/admin/user", admin_user, methods=["POST"]),
        Route("/admin/setting", admin_setting, methods=["POST"]),
        Route("/complaints", complaints, methods=["GET"]),
        Route("/complaints/{complaint:int}/{step:str}", complaint_step, methods=["POST"]),
        Route("/flagged", flagged, methods=["GET"]),
        Route("/flagged", flagged_decide, methods=["POST"]),
        Route("/imports", imports, methods=["GET"]),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    middleware = [
        Middleware(_Headers),
        Middleware(SessionMiddleware, secret_key=secret, session_cookie="followup", max_age=SESSION_HOURS * 3600,
                   same_site="strict", https_only=https),
    ]
    return Starlette(routes=routes, middleware=middleware)


def _filters(p: Page) -> dict:
    """The list's filters, from the form (never from the URL: a name or a phone searched for is the
    patient's data)."""
    from followup.entryids import CHANNELS

    channel = str(p.form.get("channel") or "") or None
    doctor = str(p.form.get("doctor") or "").strip() or None
    find = str(p.form.get("find") or "").strip()[:100] or None
    try:
        page_no = max(1, min(int(p.form.get("page") or 1), 10_000))
    except ValueError:
        page_no = 1
    return {"channel": channel if channel in CHANNELS else None, "doctor": doctor, "find": find, "page": page_no}


def _list_context(p: Page, *, notice: str = "", error: str = "") -> dict:
    """The day's list as `followup today` has it (the same entries, order and ids), a page of it, with
    who has which entry open."""
    from followup import db, rules
    from followup.actions.day import day_page, day_progress, with_id
    from followup.actions.users import open_entries
    from followup.entryids import CHANNELS

    f = _filters(p)
    try:
        pairs, total, first = day_page(p.conn, p.today, f["channel"], today=p.today, page=f["page"], size=PAGE,
                                       doctor=f["doctor"], find=f["find"])
    except FollowupError as exc:  # an unknown doctor, say: the message, and the whole list
        error = str(exc)
        f["doctor"] = None
        pairs, total, first = day_page(p.conn, p.today, f["channel"], today=p.today, page=f["page"], size=PAGE)
    entries = [json.loads(with_id(shown, payload)) for shown, payload in pairs]
    progress = day_progress(p.conn, p.today, total, f["channel"], today=p.today) \
        if not (f["doctor"] or f["find"]) else None
    opened = open_entries(p.conn, p.today, now=p.now)
    for e in entries:
        e["open_by"] = opened.get((e["patient_id"], e["channel"]))
        e["outcomes"] = rules.desk_outcomes(e["channel"])
    # what the page shows, as a digest: the list refreshing itself is redrawn only when it changes (a
    # desk's half-typed note survives, and an unchanged list costs the browser nothing)
    version = hashlib.blake2b(json.dumps([pairs, sorted(opened.items()), total, first, progress and progress.data(),
                                          i18n.language()], ensure_ascii=False).encode(), digest_size=12).hexdigest()
    return {"entries": entries, "total": total, "version": version, "first": first, "page": f["page"],
            "pages": -(-total // PAGE), "filters": f, "progress": progress, "channels": CHANNELS, "doctors": db.doctor_names(p.conn),
            "today": p.today, "tomorrow": (p.today + dt.timedelta(days=1)).isoformat(), "notice": notice,
            "error": error}


def _card_patient(p: Page) -> tuple[str, list[str]]:
    """The card number of the patient a card's address names (an entry of today's list, a member of it),
    and everyone on that entry."""
    from followup.actions.day import entry_patients
    from followup.errors import NotFound

    entry, member = p.request.path_params["entry"], p.request.path_params["member"]
    patients = entry_patients(p.conn, p.today, entry)
    if not 0 <= member < len(patients):
        raise NotFound(N_("no entry {entry!r} on the list of {day} (see followup today)"), entry=entry, day=p.today)
    return patients[member], patients


def _card_context(p: Page) -> dict:
    """One patient of an entry of today's list (open or closed today; ``member`` 0 is the patient, then
    the household on the call): details, why they are or are not due, consents, agreed contacts, log."""
    from followup.actions.contacts import agreed_contacts, consent_state, contact_log, explain
    from followup.actions.patients import patient_card, source_vocabulary
    from followup.entryids import CHANNELS
    from followup.records import HOW, PURPOSES

    entry, member = p.request.path_params["entry"], p.request.path_params["member"]
    pid, patients = _card_patient(p)
    state = consent_state(p.conn, pid)
    return {"entry": entry, "member": member, "patient": patient_card(p.conn, pid),
            "members": [(i, other) for i, other in enumerate(patients) if i != member],
            "findings": explain(p.conn, pid, day=p.today, today=p.today).findings,
            "consents": state.current, "history": state.history, "agreed": agreed_contacts(p.conn, pid),
            "log": contact_log(p.conn, pid)[1], "purposes": PURPOSES, "channels": CHANNELS, "hows": HOW,
            "sources": source_vocabulary(p.conn),
            "today": p.today, "notice": "", "error": ""}


def _occasions_context(p: Page) -> dict:
    """The occasions with the clinic's texts, the campaigns with what each did, and the form's choices."""
    from followup.actions.occasions import campaigns, occasions
    from followup.records import AUDIENCES, MESSAGES, SEXES

    return {"occasions": occasions(p.conn), "campaigns": campaigns(p.conn), "channels": MESSAGES,
            "audiences": AUDIENCES, "sexes": SEXES, "today": p.today, "notice": "", "error": ""}


def _number(text: str) -> int:
    from followup.errors import UsageError

    if not text.strip().isdigit():
        raise UsageError(N_("give the text's number"))
    return int(text)


def _day_of(text: str) -> Optional[dt.date]:
    """A day a form sent (an <input type="date">: ISO), or None when left empty."""
    from followup.errors import UsageError

    if not text.strip():
        return None
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(N_("{value!r} is not a date"), value=text) from None


def _survey_context(p: Page) -> dict:
    """The survey call of an entry (the treatment it is about, its doctors, the clinic's questions) and
    how the caller introduces themselves (the name set for the login, else the login)."""
    from followup.actions.config import display_name
    from followup.actions.surveys import survey_call

    call = survey_call(p.conn, p.request.path_params["entry"], day=p.today)
    return {"call": call, "caller": display_name(p.conn, p.user.name) or p.user.name, "entry":
            p.request.path_params["entry"], "answers": {}, "error": ""}


# the manager's tables, each downloadable as CSV or xlsx: /report/NAME.csv, /report/NAME.xlsx
REPORT_TABLES = ("doctors", "waves", "conversion", "sources", "campaigns", "funnel", "consent_coverage",
                 "dead_souls")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_DOCTOR_COLUMNS = ["doctor", "status", "responses", "answers_used", "mean_score", "median_score", "nps", "nps_ci",
                   "nps_answers", "expectations_met", "expectations_answers", "trend"]


OTHER_TABLES = ("complaints", "imports")  # the manager's other pages' tables, downloadable alike


def _columns(rows: list[dict], default: list[str]) -> list[str]:
    return list(dict.fromkeys(k for r in rows for k in r)) or default


def _other_table(p: Page, name: str) -> tuple[list[dict], list[str]]:
    """The complaints (as `complaint list` gives them), or the import history a file a row."""
    if name == "complaints":
        from followup.actions.complaints import list_complaints

        rows = list_complaints(p.conn, day=p.today)
        return rows, _columns(rows, ["id"])
    from followup.actions.clinic import import_history

    rows = [{"run": run["id"], "started_at": run["started_at"], "user": run["user"], "run_outcome": run["outcome"],
             **{k: v for k, v in f.items() if k not in ("run_id", "rejects", "message")},
             "message": i18n.render(f["message"]) if f["message"] else None}
            for run in import_history(p.conn, limit=100) for f in run["files"]]
    return rows, _columns(rows, ["run"])


def _report_tables(p: Page) -> tuple[list, dict, dict]:
    """The reports as the commands give them (`report`, `report clinic` of this year), and each of their
    tables as (rows, columns)."""
    from followup.actions.reporting import clinic_report, doctor_reports

    doctors = doctor_reports(p.conn, today=p.today)
    clinic = clinic_report(p.conn, year=p.today.year, today=p.today)
    waves = [{"doctor": r["doctor"], **{k: v for k, v in w.items() if k != "distribution"},
              **{f"score_{k}": n for k, n in w["distribution"].items()}} for r in doctors for w in r.get("waves", [])]

    found = {
        "doctors": ([{c: r.get(c) for c in _DOCTOR_COLUMNS} for r in doctors], _DOCTOR_COLUMNS),
        "waves": (waves, _columns(waves, ["doctor", "wave"])),
        **{name: (clinic[name], _columns(clinic[name], ["none"])) for name in REPORT_TABLES[2:]},
    }
    return doctors, clinic, found


def _admin_context(p: Page) -> dict:
    from followup.actions.config import list_settings
    from followup.actions.users import users

    return {"users": users(p.conn), "settings": list_settings(p.conn), "notice": "", "error": ""}


def _manager_context(p: Page) -> dict:
    from followup.actions.complaints import list_complaints

    return {"complaints": list_complaints(p.conn, day=p.today), "notice": "", "error": ""}


def _flagged_context(p: Page) -> dict:
    """The reasons that lapsed after the unanswered-attempt limit, for the manager to requeue or close."""
    from followup.actions.contacts import flagged

    return {"flagged": [{"patient_id": pt.patient_id, "patient": pt.name, "rule": f.code,
                         "ref": f.reason.ref if f.reason else "", "text": str(f.text)}
                        for pt, f in flagged(p.conn, day=p.today)], "notice": "", "error": ""}


def _callback(p: Page) -> Optional[dt.date]:
    """The day to call back that a form gives with its outcome: a call-back without one is refused (the
    command's own message names its --on option)."""
    from followup.errors import UsageError

    on = str(p.form.get("on") or "")
    try:
        day = dt.date.fromisoformat(on) if on else None
    except ValueError:
        day = None
    if p.form.get("outcome") == "call-back" and day is None:
        raise UsageError(N_("Give the day to call back as a date."))
    return day


def _done_day(p: Page) -> dt.date:
    """The list whose outcomes the Done page shows: today's, or an earlier day a manager names
    (`?day=2026-12-01`: a date, nothing about a patient)."""
    from followup import roles
    from followup.errors import UsageError

    given = p.request.query_params.get("day")
    if not given:
        return p.today
    try:
        day = dt.date.fromisoformat(given)
    except ValueError:
        raise UsageError(N_("{value!r} is not a date (YYYY-MM-DD)"), value=given) from None
    if day != p.today and not roles.may(p.user.role, "correct-earlier"):
        raise UsageError(N_("a desk corrects today's outcomes; an earlier day's are the manager's"))
    return min(day, p.today)


def _done_context(p: Page) -> dict:
    """What the desks recorded for a day's list, an entry a row (the patient first, the household on
    the call after), each with the outcomes it may be corrected to. Today's; a manager may name an
    earlier day (`?day=2026-12-01`: a date, nothing about a patient)."""
    from followup import roles, rules
    from followup.actions.contacts import day_log

    day = _done_day(p)
    entries: dict[str, dict] = {}
    for row in day_log(p.conn, day=day):
        e = entries.setdefault(row["entry_id"], {**row, "members": [], "outcomes": rules.desk_outcomes(row["channel"])})
        if e["patient_id"] != row["patient_id"]:
            e["members"].append(row)
    return {"list_day": day, "today": p.today, "entries": list(entries.values()),
            "earlier": roles.may(p.user.role, "correct-earlier"),
            "notice": "", "error": ""}


def _entry(p: Page, entry: str) -> Optional[dict]:
    """An entry of today's stored list by the id it shows (or None)."""
    from followup.actions.day import entry_by_id

    return entry_by_id(p.conn, p.today, entry, today=p.today)
