"""`followup send` against real parts: an SMTP server (aiosmtpd) and a local HTTP server that speaks
SMS.ru's documented API (the only stand-in: the gateway itself is out of reach), both on 127.0.0.1.
The code under test runs unchanged with the real URL."""

import email.policy
import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from freezegun import freeze_time

from conftest import Cli, built_once, copied, write_csv

# 2026-11-23 10:00 in Moscow (UTC+3): inside the default sending hours
AT_TEN = "2026-11-23 07:00:00"


class SmsRu(BaseHTTPRequestHandler):
    """POST /sms/send (api_id, to, msg, json=1) as SMS.ru answers it: per number a status and an
    sms_id; 207 for a number it cannot send to; a wrong api_id is status_code 200."""

    received: list = []
    mode = "ok"
    fates: dict = {}  # sms_id -> delivery status code (/sms/status); 103 (delivered) unless told
    lock = threading.Lock()

    def do_POST(self):
        form = dict(urllib.parse.parse_qsl(self.rfile.read(int(self.headers["Content-Length"])).decode()))
        if self.path == "/sms/status":
            sms_id = form["sms_id"]
            code = self.fates.get(sms_id, 103)
            return self._answer(json.dumps({"status": "OK", "status_code": 100, "sms": {
                sms_id: {"status": "OK", "status_code": code, "status_text": "..."}}}))
        if self.mode == "garbage":
            return self._answer(b"<html>502 Bad Gateway</html>")
        if form.get("api_id") != "test-key":
            return self._answer(json.dumps({"status": "ERROR", "status_code": 200, "status_text": "wrong api_id"}))
        to = form["to"]
        if to.endswith("99"):
            answer = {"status": "OK", "status_code": 100,
                      "sms": {to: {"status": "ERROR", "status_code": 207, "status_text": "cannot send"}}}
        else:
            with self.lock:
                self.received.append((to, form["msg"]))
                n = len(self.received)
            answer = {"status": "OK", "status_code": 100, "sms": {to: {"status": "OK", "status_code": 100,
                                                                       "sms_id": f"000000-{n:08d}"}}, "balance": 10}
        self._answer(json.dumps(answer, ensure_ascii=False))

    def _answer(self, body):
        body = body.encode() if isinstance(body, str) else body
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def sms_gateway():
    SmsRu.received, SmsRu.mode, SmsRu.fates = [], "ok", {}
    server = ThreadingHTTPServer(("127.0.0.1", 0), SmsRu)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    yield SmsRu, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture
def mail_server():
    from aiosmtpd.controller import Controller

    class Keep:
        messages: list = []

        async def handle_DATA(self, server, session, envelope):
            self.messages.append((envelope.rcpt_tos, envelope.content))
            return "250 OK"

    import socket

    with socket.socket() as probe:  # a free port (the controller checks its server by connecting to it)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    handler = Keep()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield handler, port
    controller.stop()


@pytest.fixture(scope="module")
def clinic_file(tmp_path_factory):
    """Six patients with their consents and the clinic's settings, built once for the run."""
    def build(where):
        path = where / "send.db"
        cli = Cli(path)
        with freeze_time(AT_TEN):
            rows = [[f"S{k}", f"Пациентова{k} Анна Петровна", f"8916000{k:04d}", f"s{k}@example.ru", "10.05.2026"]
                    for k in range(1, 6)] + [["S9", "Недоступная Вера Ивановна", "89160000099", "", "10.05.2026"]]
            assert cli("--db", path, "import", write_csv(where / "p.csv", ["Номер карты", "ФИО", "Телефон", "E-mail"],
                                                         [r[:4] for r in rows], encoding="utf-8"),
                       write_csv(where / "v.csv", ["Номер визита", "Номер карты", "Врач", "Дата визита", "Вид приёма"],
                                 [[f"V{r[0]}", r[0], "Козлов Дмитрий Игоревич", r[4], "Профгигиена"] for r in rows],
                                 encoding="utf-8")).exit_code == 0
            for pid in ("S1", "S2", "S3", "S9"):
                assert cli("--db", path, "consent", pid, "--purpose", "recall", "--channel", "sms").exit_code == 0
            assert cli("--db", path, "consent", "S4", "--purpose", "recall", "--channel", "email").exit_code == 0
            assert cli("--db", path, "consent", "S5", "--purpose", "recall", "--channel", "sms", "--window",
                       "18:00-20:00").exit_code == 0
            for key, value in {"send.email.host": "127.0.0.1", "send.email.security": "none",
                               "send.email.from": "clinic@example.ru", "clinic_name": "Клиника Улыбка",
                               "language": "ru"}.items():
                assert cli("--db", path, "config", "set", key, value).exit_code == 0, key
        return path

    return built_once(tmp_path_factory, "send-clinic", build)


@pytest.fixture
def clinic(clinic_file, cli, db_path, sms_gateway, mail_server, monkeypatch):
    _, url = sms_gateway
    _, port = mail_server
    monkeypatch.setenv("FOLLOWUP_SMS_KEY", "test-key")
    copied(clinic_file, db_path)
    with freeze_time(AT_TEN):
        for key, value in {"send.sms.url": url, "send.email.port": str(port)}.items():
            assert cli("config", "set", key, value).exit_code == 0, key
    return cli


def test_the_days_messages_go_out_once_and_close_their_entries(clinic, sms_gateway, mail_server):
    gateway, _ = sms_gateway
    mail, _ = mail_server
    with freeze_time(AT_TEN):
        assert "[символов: 128, частей: 2]" in " ".join(clinic("today", "--channel", "sms").stdout.split())
        dry = clinic.json("send", "--dry-run")
        due = {m["patient_id"]: m for m in dry["messages"]}
        assert due["S1"]["state"] == "due" and due["S1"]["encoding"] == "ucs2" and due["S1"]["parts"] == 2
        assert due["S5"]["state"] == "held" and "the patient's window is 18:00-20:00" in due["S5"]["why"]
        assert gateway.received == [] and mail.messages == []  # a dry run sends nothing
        r = clinic("send")
        assert r.exit_code == 1  # S9's number is refused
        assert sorted(to for to, _ in gateway.received) == ["79160000001", "79160000002", "79160000003"]
        assert all("Анна Петровна" in text and "Клиника Улыбка" in text for _, text in gateway.received)
        [(rcpt, content)] = mail.messages
        import email

        message = email.message_from_bytes(content, policy=email.policy.default)
        assert rcpt == ["s4@example.ru"] and message["From"] == "Клиника Улыбка <clinic@example.ru>"
        assert "Пациентова4" not in message.get_content() and "Анна Петровна" in message.get_content()
        assert "Клиника Улыбка" in message["Subject"]
        assert "Отправлено: 4; не отправлено: 1; судьба неизвестна: 0; отложено: 1." in r.stdout
        assert "Пациентова" not in r.stdout + r.stderr and "7916" not in r.stdout + r.stderr
        listed = {e["patient_id"] for e in clinic.json("today")}
        assert listed == {"S5", "S9"}  # sent entries are closed; the refused one stays due
        assert [c["outcome"] for c in clinic.json("log", "S1")] == ["sent"]
        again = clinic("send", "--quiet")  # a re-run: nothing twice; the refused one tried again, refused again
        assert again.exit_code == 1 and again.stdout == "" and len(again.stderr.strip().splitlines()) == 1
        assert len(gateway.received) == 3 and len(mail.messages) == 1


def test_nothing_goes_out_outside_the_clinics_hours(clinic, sms_gateway):
    gateway, _ = sms_gateway
    for utc, expected in [
        ("2026-11-23 01:40:00", "before the sending hours (09:00-20:00): from 09:00"),       # 04:40 in Moscow
        ("2026-11-23 05:59:00", "before the sending hours (09:00-20:00): from 09:00"),       # 08:59
        ("2026-11-23 17:00:00", "after the sending hours (09:00-20:00): tomorrow's list"),   # 20:00
        ("2026-11-23 06:00:00", None),                                                      # 09:00
    ]:
        with freeze_time(utc):
            r = clinic("--lang", "en", "send", "--channel", "sms", "--format", "json")
        messages = {m["patient_id"]: m for m in json.loads(r.stdout)["messages"]}
        if expected is None:
            assert messages["S1"]["state"] == "sent" and len(gateway.received) == 3
        else:
            assert messages["S1"] == dict(messages["S1"], state="held", why=expected) and gateway.received == []


def test_nothing_goes_out_on_a_day_the_clinic_does_not_send(clinic, sms_gateway):
    gateway, _ = sms_gateway
    assert clinic("config", "set", "send.days", "понедельник").exit_code != 0  # a day, not a word
    assert clinic("config", "set", "send.days", "пн-пт").exit_code == 0
    assert ["send.days", "mon,tue,wed,thu,fri"] in [[r["key"], r["value"]] for r in clinic.json("config", "list")]
    with freeze_time("2026-11-28 07:00:00"):  # a Saturday, 10:00 in Moscow
        r = clinic("--lang", "en", "send", "--channel", "sms", "--format", "json")
        held = {m["patient_id"]: m["why"] for m in json.loads(r.stdout)["messages"]}
        assert held["S1"] == "not a sending day (send.days: mon,tue,wed,thu,fri)" and gateway.received == []
    with freeze_time("2026-11-30 07:00:00"):  # Monday
        assert clinic("send", "--channel", "sms").exit_code == 1 and len(gateway.received) == 3  # S9 refused


def test_an_answer_that_makes_no_sense_is_never_resent(clinic, sms_gateway):
    gateway, _ = sms_gateway
    gateway.mode = "garbage"
    with freeze_time(AT_TEN):
        r = clinic("--lang", "en", "send", "--channel", "sms", "--quiet")
        assert r.exit_code == 1 and r.stderr.count("answer-not-json") == 4
        gateway.mode = "ok"
        assert clinic("send", "--channel", "sms").exit_code == 0 and gateway.received == []  # not resent
        unknown = clinic.json("send", "--unknown")
        assert sorted(u["patient_id"] for u in unknown) == ["S1", "S2", "S3", "S9"]
        assert {"S1", "S2", "S3"} <= {e["patient_id"] for e in clinic.json("today")}  # still for a person


def test_settings_and_secrets_are_checked(clinic, monkeypatch, tmp_path):
    assert clinic("config", "set", "send.email.security", "tls").exit_code == 2
    assert clinic("config", "set", "clinic.timezone", "Mars/Olympus").exit_code == 2
    assert clinic("config", "set", "send.hours", "20:00-09:00").exit_code == 2
    monkeypatch.delenv("FOLLOWUP_SMS_KEY")
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('sms_key = "test-key"\n')
    secrets.chmod(0o644)
    monkeypatch.setenv("FOLLOWUP_SECRETS", str(secrets))
    with freeze_time(AT_TEN):
        r = clinic("--lang", "en", "send", "--channel", "sms")
        assert r.exit_code == 2 and "can be read by others: chmod 600 it first" in r.stderr
        secrets.chmod(0o600)
        assert clinic("send", "--channel", "sms").exit_code == 1  # sent, but for S9's refused number
    assert "test-key" not in clinic("config", "list").stdout
    # a channel not set up holds its messages; the others go
    assert clinic("config", "set", "send.email.host", "--default").exit_code == 0
    with freeze_time(AT_TEN):
        r = clinic("--lang", "en", "send", "--format", "json")
        [mail] = [m for m in json.loads(r.stdout)["messages"] if m["channel"] == "email"]
        assert mail["state"] == "held" and "set send.email.host first" in mail["why"]
        r = clinic("--lang", "en", "send", "--channel", "email")
        assert r.exit_code == 2 and "set send.email.host first" in r.stderr


@pytest.mark.slow
def test_a_send_killed_at_random_moments_sends_nothing_twice(cli, tmp_path, sms_gateway):
    """500 SMS; `followup send` killed with SIGKILL 12 times at random moments (after a random number of
    messages, 1-40, and a random fraction of a message's round trip: before the call, during it,
    between the gateway's answer and the commit), then run to the end: no number receives a message
    twice, and every message the gateway received is recorded as sent or listed as of unknown fate
    (never resent by itself)."""
    import datetime as dt
    import os
    import random
    import signal
    import subprocess
    import sys
    import time

    from followup import db

    gateway, url = sms_gateway
    now = dt.datetime.now(dt.timezone.utc)
    if now.hour == 23 and now.minute >= 55:
        pytest.skip("the sending hours below end at 23:59 UTC")
    n, kills = 500, 12  # 20 before: each kill is a fresh process (0.8 s); the moments differ every run
    hygiene = (dt.date.today() - dt.timedelta(days=190)).strftime("%d.%m.%Y")
    assert cli("import", write_csv(tmp_path / "p.csv", ["Номер карты", "ФИО", "Телефон"],
                                   [[f"K{k:03d}", f"Пациент{k} Анна Петровна", f"8916100{k:04d}"] for k in range(n)],
                                   encoding="utf-8"),
               write_csv(tmp_path / "v.csv", ["Номер визита", "Номер карты", "Врач", "Дата визита", "Вид приёма"],
                         [[f"V{k}", f"K{k:03d}", "Козлов Дмитрий Игоревич", hygiene, "Профгигиена"] for k in range(n)],
                         encoding="utf-8")).exit_code == 0
    conn = db.connect(cli.db_path)
    db.add_consents(conn, [{"patient_id": f"K{k:03d}", "purpose": "recall", "channel": "sms", "granted": 1,
                            "address": None, "window": None, "days": None, "how": "in-person", "note": None,
                            "source": "followup", "recorded_by": "t", "recorded_at": f"{dt.date.today()} 08:00:00"}
                           for k in range(n)])
    conn.close()
    for key, value in {"send.sms.url": url, "clinic.timezone": "UTC", "send.hours": "00:00-23:59"}.items():
        assert cli("config", "set", key, value).exit_code == 0
    env = dict(os.environ, FOLLOWUP_DB=str(cli.db_path), FOLLOWUP_SMS_KEY="test-key", FOLLOWUP_USER="cron")
    cmd = [sys.executable, "-m", "followup", "send", "--quiet"]
    rng, runs = random.Random(), []
    for _ in range(kills):
        before = len(gateway.received)
        target = before + rng.randint(1, 40)
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while len(gateway.received) < target and proc.poll() is None:
            time.sleep(0.0002)
        time.sleep(rng.uniform(0, 0.004))  # a message's round trip here is 2-3 ms
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        runs.append(len(gateway.received) - before)
    assert subprocess.run(cmd, env=env, capture_output=True).returncode in (0, 1)
    received = [to for to, _ in gateway.received]
    assert len(received) == len(set(received)), "a number received a message twice"
    states = dict(cli.rows("SELECT '7' || substr(address, 3), state FROM outbox WHERE state != 'failed'"))
    sent = {e for e, s in states.items() if s == "sent"}
    unknown = {e for e, s in states.items() if s == "sending"}
    assert set(received) <= sent | unknown and sent <= set(received)
    refused = {e for (e,) in cli.rows("SELECT '7' || substr(address, 3) FROM outbox WHERE state = 'failed'")}
    # the gateway refuses numbers ending in 99: each one failed, or (killed before the answer came) is of
    # unknown fate; never sent
    refusing = {f"7916100{k:04d}" for k in range(99, n, 100)}
    assert refused <= refusing and refusing - refused <= unknown and not refusing & sent
    # every other message sent, or listed for a person to check
    assert len((sent | unknown) - refusing) == n - len(refusing)
    assert sum(1 for k in runs if k) >= kills // 2  # the kills fell during the send, not after it
    print(f"\n{n} SMS, {kills} kills (messages received between them: {runs}): {len(sent)} sent and recorded, "
          f"{len(unknown)} of unknown fate ({len(unknown & set(received))} of them received by the gateway), 0 twice")


def test_sms_sent_by_hand_are_closed_at_once(clinic):
    """For a clinic that uploads `today --channel sms --format csv` to a bulk-SMS site."""
    with freeze_time(AT_TEN):
        r = clinic("done", "--all", "--outcome", "sent")
        assert r.exit_code == 2 and "--all --channel" in r.stderr
        r = clinic("--lang", "ru", "done", "--all", "--channel", "sms", "--outcome", "отправлено")
        assert r.exit_code == 0 and ": 5." in r.stdout
        assert {e["channel"] for e in clinic.json("today")} == {"email"}
        assert clinic.json("today", "--summary")["outcomes"] == {"sent": 5}
        assert clinic("done", "--all", "--channel", "sms", "--outcome", "sent").stdout.startswith(
            "Записано «отправлено» для открытых записей (SMS) на 23.11.2026: 0.")


def test_a_message_not_delivered_comes_back_with_a_warning(clinic, sms_gateway):
    gateway, _ = sms_gateway
    with freeze_time(AT_TEN):
        clinic("send", "--channel", "sms")
        numbers = [to for to, _ in gateway.received]
        gateway.fates[f"000000-{numbers.index('79160000002') + 1:08d}"] = 106  # the phone is unreachable
        r = clinic("--lang", "en", "send", "--status")
        assert r.exit_code == 0 and "Delivered 2; not delivered 1" in r.stdout
        assert clinic.json("send", "--status") == {"delivered": 0, "undelivered": 0, "pending": 0}  # all known
        assert [c["outcome"] for c in clinic.json("log", "S2")] == ["sent", "undelivered"]
        [s1] = clinic.json("log", "S1")
        assert s1["outcome"] == "sent" and s1["delivery"] == "delivered"  # closed when sent; the gateway's word kept
        assert "отправлено, доставлено" in clinic("log", "S1").stdout
    with freeze_time("2026-11-24 07:00:00"):  # the next day: due again, with why
        [entry] = [e for e in clinic.json("--lang", "en", "today") if e["patient_id"] == "S2"]
        assert "not delivered on 2026-11-23 (sms): number unreachable" in entry["warnings"]
        assert "S1" not in {e["patient_id"] for e in clinic.json("today")}  # delivered: closed


class SmsAero(BaseHTTPRequestHandler):
    """SMS Aero's API v2 as documented: basic auth (login e-mail, API key); POST /sms/send with number,
    text, sign -> {"success": true, "data": {"id": ...}}; /sms/status with id -> data.status (1 delivered,
    2 not delivered)."""

    received: list = []

    def do_POST(self):
        import base64

        form = dict(urllib.parse.parse_qsl(self.rfile.read(int(self.headers["Content-Length"])).decode()))
        auth = base64.b64decode(self.headers.get("Authorization", "Basic ").split()[1] or b"").decode()
        if auth != "clinic@example.ru:aero-key":
            return self._answer(401, {"success": False, "data": None, "message": "Unauthorized"})
        if self.path == "/sms/status":
            return self._answer(200, {"success": True, "data": {"id": int(form["id"]),
                                                                "status": 2 if form["id"] == "2" else 1}})
        self.received.append((form["number"], form["text"], form["sign"]))
        self._answer(200, {"success": True, "data": {"id": len(self.received), "status": 8}, "message": None})

    def _answer(self, code, data):
        body = json.dumps(data).encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_sms_aero_too(clinic, monkeypatch):
    SmsAero.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), SmsAero)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    try:
        for key, value in {"send.sms.provider": "smsaero", "send.sms.sender": "Ulybka",
                           "send.sms.url": f"http://127.0.0.1:{server.server_address[1]}"}.items():
            assert clinic("config", "set", key, value).exit_code == 0
        monkeypatch.setenv("FOLLOWUP_SMS_KEY", "wrong")
        monkeypatch.setenv("FOLLOWUP_SMS_LOGIN", "clinic@example.ru")
        with freeze_time(AT_TEN):
            r = clinic("--lang", "en", "send", "--channel", "sms", "--format", "json")
            assert r.exit_code == 1 and {m["why"] for m in json.loads(r.stdout)["messages"] if m["state"] == "failed"} \
                == {"http-401"} and SmsAero.received == []
            monkeypatch.setenv("FOLLOWUP_SMS_KEY", "aero-key")
            assert clinic("send", "--channel", "sms").exit_code == 0
            assert sorted(n for n, _, _ in SmsAero.received) == ["79160000001", "79160000002", "79160000003",
                                                                 "79160000099"]
            assert {sign for _, _, sign in SmsAero.received} == {"Ulybka"}
            assert clinic.json("send", "--status") == {"delivered": 3, "undelivered": 1, "pending": 0}
    finally:
        server.shutdown()


def test_a_template_that_can_cost_more_parts_than_the_clinic_sends_is_warned_of(clinic):
    cli = clinic
    r = cli("config", "set", "template.hygiene_recall", "{greeting}! Пора на гигиену ({date}). {clinic}")
    assert r.exit_code == 0 and r.stderr == ""
    long = "{greeting}! " + "Очень длинный текст напоминания о профессиональной гигиене. " * 4
    r = cli("config", "set", "template.hygiene_recall", long)
    assert r.exit_code == 0 and "займёт частей SMS: 5, больше send.sms.max_parts (2)" in r.stderr


def _tls_server(handler, **server):
    """An aiosmtpd server on a free port of 127.0.0.1 (STARTTLS with ``tls_context``, implicit TLS with
    ``ssl_context``)."""
    import socket

    from aiosmtpd.controller import Controller

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(handler, hostname="127.0.0.1", port=port, **server)
    controller.start()
    return controller, port


@pytest.mark.parametrize("security", ["starttls", "ssl"])
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_e_mail_over_tls_with_a_login(clinic, monkeypatch, tmp_path, security):
    """The clinic's mail server as most are: TLS (STARTTLS on 587 or implicit on 465), a login, and a
    certificate the client verifies; a certificate it cannot trust is refused, and nothing is sent."""
    import ssl

    import trustme
    from aiosmtpd.smtp import AuthResult

    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)

    class Keep:
        def __init__(self):
            self.messages, self.logins = [], []

        async def handle_DATA(self, server, session, envelope):
            tls = server.transport.get_extra_info("ssl_object") is not None
            self.messages.append((envelope.rcpt_tos, envelope.content, tls))
            return "250 OK"

    handler = Keep()

    def login(server, session, envelope, mechanism, auth_data):
        handler.logins.append((auth_data.login, auth_data.password))
        return AuthResult(success=auth_data.login == b"clinic@example.ru" and auth_data.password == b"s3cret")

    tls = ({"tls_context": server_ctx, "require_starttls": True} if security == "starttls"
           else {"ssl_context": server_ctx, "auth_require_tls": False})  # aiosmtpd sees no TLS in implicit TLS
    controller, port = _tls_server(handler, authenticator=login, auth_required=True, **tls)
    try:
        for key, value in {"send.email.security": security, "send.email.port": str(port),
                           "send.email.user": "clinic@example.ru"}.items():
            assert clinic("config", "set", key, value).exit_code == 0
        monkeypatch.setenv("FOLLOWUP_SMTP_PASSWORD", "s3cret")
        with freeze_time(AT_TEN):
            # the server's certificate comes from a CA the client does not know: refused, nothing sent
            monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "none.pem"))
            r = clinic("send", "--channel", "email")
            assert r.exit_code != 0 and "SSLCertVerificationError" in r.stdout + r.stderr
            assert "почему" in r.stdout and "why" not in r.stdout  # the table's headings in Russian
            assert handler.messages == [] and handler.logins == []
            assert [e["patient_id"] for e in clinic.json("today", "--channel", "email")] == ["S4"]
            # the clinic's CA known (SSL_CERT_FILE is OpenSSL's own variable): sent over TLS after a login
            ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
            monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))
            r = clinic("send", "--channel", "email")
            assert r.exit_code == 0, r.stdout + r.stderr
            [(rcpt, content, over_tls)] = handler.messages
            assert rcpt == ["s4@example.ru"] and over_tls
            assert handler.logins == [(b"clinic@example.ru", b"s3cret")]
            import email

            body = email.message_from_bytes(content, policy=email.policy.default).get_content()
            assert "Анна Петровна" in body
            assert clinic.json("today", "--channel", "email") == []
    finally:
        controller.stop()


def test_every_default_text_fits_two_sms_parts_in_russian():
    """Cyrillic SMS are UCS-2 (70 characters in one part, 67 a part after that): each default text, with a
    patronymic, a doctor's full name and a long stage title, fits the default send.sms.max_parts (2)."""
    from followup import i18n, rules, settings

    values = {"greeting": "Здравствуйте, Людмила Михайловна", "clinic": "Клиника Улыбка",
              "doctor": "Смирнова Анна Петровна", "with_doctor": ", врач Смирнова Анна Петровна",
              "doctor_or_we": "Смирнова Анна Петровна", "date": "25.09.2026", "time": "17:30",
              "title": "Фиксация мостовидного протеза", "text": "уточнить, как прижилась новая коронка"}
    most = int(settings.get({}, "send.sms.max_parts"))
    with i18n.using("ru"):
        texts = {code: rules.fill(template, values) for code, template in rules.default_templates().items()}
    assert most == 2 and len(texts) == len(rules.DEFAULT_TEMPLATES)
    for code, text in texts.items():
        assert text.count("Людмила") == 1 and rules.sms_parts(text)[:1] == ("ucs2",), code
        assert rules.sms_parts(text)[2] <= most, (code, len(text))


def test_a_campaign_goes_out_only_with_the_marketing_consent_and_keeps_it(clinic, sms_gateway):
    gateway, _ = sms_gateway
    with freeze_time(AT_TEN):
        for pid in ("S1", "S2"):
            assert clinic("consent", pid, "--purpose", "marketing", "--channel", "sms").exit_code == 0
        assert clinic("campaign", "add", "Зима", "--text", "{greeting}! Зимой гигиена со скидкой. {clinic}",
                      "--channel", "sms").exit_code == 0
        clinic("send", "--quiet")  # today's recalls (a campaign's message goes alone: another day)
        assert not any("Зимой" in text for _, text in gateway.received)
    with freeze_time("2026-11-24 07:00:00"):
        gateway.received.clear()
        clinic("send", "--quiet")
    assert sorted(to for to, text in gateway.received if "Зимой гигиена" in text) == ["79160000001", "79160000002"]
    kept = clinic.rows("SELECT c.patient_id, k.purpose, k.channel, k.granted FROM contacts c JOIN consents k "
                       "ON k.id = c.consent_id WHERE c.reasons LIKE '%campaign%' ORDER BY 1")
    assert kept == [("S1", "marketing", "sms", 1), ("S2", "marketing", "sms", 1)]


def test_every_occasion_text_fits_two_sms_parts_in_russian():
    from followup import i18n, rules

    values = {"greeting": "Здравствуйте, Людмила Михайловна", "clinic": "Клиника Улыбка", "date": "25.09.2026",
              "doctor_or_we": "Смирнова Анна Петровна", "occasion": "Международный женский день",
              "amount": "1\u00a0250\u00a0000", "percent": "15"}
    with i18n.using("ru"):
        for occasion, texts in rules.OCCASION_TEXTS.items():
            for key, template in texts.items():
                text = rules.fill(i18n.tr(template), values)
                assert text.count("Людмила") == 1 and rules.sms_parts(text)[2] <= 2, (occasion, key, len(text))
